"""The ``langadapt`` command: one subcommand per stage, ``--help`` on every one.

    langadapt --help
    langadapt config show
    langadapt crawl http://127.0.0.1:8000/ --out data/raw --allow-host 127.0.0.1
    langadapt extract | filter | dedup | tokenizer | cpt | synth | sft | pref | diff | eval | report

Stage commands live beside their logic (``langadapt/<area>/commands.py``) and import heavy libraries
(torch, ray, transformers) inside the command body, so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from langadapt import __version__
from langadapt.cli_common import ParamsOpt, SetOpt, handles_errors, load
from langadapt.config import dump_params

app = typer.Typer(
    name="langadapt",
    help="Adapt an open LLM to a low-resource language: crawl -> clean corpus -> tokenizer -> CPT -> "
    "synthetic SFT data -> SFT -> checkpoint diff -> evaluation -> report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

config_app = typer.Typer(help="Inspect the configuration (params.yaml).", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@handles_errors
def config_show(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
    """Print the resolved configuration: params.yaml validated, defaults filled in, overrides applied."""
    typer.echo(dump_params(load(params, sets)), nl=False)


@config_app.command("validate")
@handles_errors
def config_validate(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
    """Validate params.yaml; exit 2 with the offending key path if it is wrong."""
    load(params, sets)
    typer.echo(f"{params}: ok")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


def _register_all() -> None:
    from langadapt import cli_project
    from langadapt.analysis import commands as analysis_cmds
    from langadapt.corpus import commands as corpus_cmds
    from langadapt.evaluation import commands as eval_cmds
    from langadapt.ifeval import commands as ifeval_cmds
    from langadapt.orchestration import commands as orch_cmds
    from langadapt.pref import commands as pref_cmds
    from langadapt.synth import commands as synth_cmds
    from langadapt.train import commands as train_cmds

    for mod in (corpus_cmds, train_cmds, synth_cmds, pref_cmds, analysis_cmds, eval_cmds, ifeval_cmds, orch_cmds,
                cli_project):
        mod.register(app)


_register_all()

if __name__ == "__main__":  # pragma: no cover
    app()
