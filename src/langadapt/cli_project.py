"""Project-level commands (not pipeline stages): the end-of-run summary and the DVC deps check.

    langadapt summary
    langadapt dvc-deps --check        # exit 1 listing what dvc.yaml's deps miss or list in excess
    langadapt dvc-deps --write        # rewrite the deps lists in dvc.yaml
"""

from __future__ import annotations

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
