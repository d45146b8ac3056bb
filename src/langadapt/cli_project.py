"""Project-level commands (not pipeline stages): the end-of-run summary and the DVC deps check.

    langadapt summary
    langadapt dvc-deps --check        # exit 1 listing what dvc.yaml's deps miss or list in excess
    langadapt dvc-deps --write        # rewrite the deps lists in dvc.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, handles_errors, load


def register(app: typer.Typer) -> None:
    """Add the project commands to the root app."""

    @app.command("summary")
    @handles_errors
    def summary_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """One screen after a run: corpus kept/dropped per stage, tokens, bpb and IF accuracy per model,
        the report's path; names any metrics file that is missing (exit 0 all the same)."""
        from langadapt.evaluation.summary import run_summary

        cfg = load(params, sets)
        text, _ = run_summary(cfg.paths.metrics, cfg.paths.report, cfg.language.code)
        typer.echo(text, nl=False)

    @app.command("dvc-deps")
    @handles_errors
    def dvc_deps_cmd(
        check: Annotated[bool, typer.Option("--check", help="Exit 1 listing missing/extra src/ deps.")] = False,
        write: Annotated[bool, typer.Option("--write", help="Rewrite the src/ deps lists of dvc.yaml.")] = False,
        dvc_yaml: Annotated[Path, typer.Option("--dvc-yaml", help="The dvc.yaml to read (and rewrite).")] = Path(
            "dvc.yaml"
        ),
    ) -> None:
        """The source files each dvc.yaml stage imports (static closure from its CLI command), vs its deps.

        Without flags: print the derived src/ deps per stage. A directory entry in dvc.yaml stands for every
        file under it, so one holding files the stage never imports is reported as extra.
        """
        from langadapt.orchestration import depcheck

        root = dvc_yaml.resolve().parent
        if check and write:
            raise typer.BadParameter("--check and --write are exclusive")
        if write:
            results = depcheck.write(root, dvc_yaml, app=app)
            changed = [r.stage for r in results if r.missing or r.extra]
            typer.echo(f"{dvc_yaml}: deps rewritten for {', '.join(changed)}" if changed else f"{dvc_yaml}: up to date")
            return
        results = depcheck.derive(root, dvc_yaml, app=app)
        if check:
            problems = depcheck.check_report(results)
            for line in problems:
                typer.echo(line)
            if problems:
                typer.echo(f"{dvc_yaml}: {len(problems)} deps differ from the imports; "
                           "fix with `langadapt dvc-deps --write`", err=True)
                raise typer.Exit(1)
            typer.echo(f"{dvc_yaml}: the src/ deps of {len(results)} stages match their imports")
            return
        for r in results:
            typer.echo(f"{r.stage} ({r.command}):")
            for d in r.derived:
                typer.echo(f"  - {d}")
