"""CLI commands of langadapt.evaluation (registered on the root app by langadapt.cli)."""

from __future__ import annotations

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, progress, summary


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("eval")
    @handles_errors
    def eval_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Evaluate the base, CPT and SFT checkpoints side by side (a missing one is skipped).

        Metrics: bits-per-byte and perplexity on held-out documents; chrF, chrF++ and BLEU
        both ways on held-out TALPCo pairs; IFEval strict/loose accuracy on target-language
        constraint prompts; two-turn constraint following; language stability and
        code-switching; truncated answers; an LLM judge when eval.judge is set. Published
        benchmarks: SEA-IFEval (IFEval-Th) with SEA-HELM's checkers, English IFEval with lm-eval's,
        FLORES-200 both ways with SEA-HELM's prompts; each beside a trivial baseline.

        Writes metrics/eval.json, plots/eval.csv and paths.eval/<model>/generations.jsonl.
        """
        from langadapt.evaluation.runner import run_eval

        cfg = load(params, sets)
        t = Timer()
        res = run_eval(cfg, progress=progress, log=lambda s: typer.echo(s, err=True))
        models = res["models"]
        keys = ("bpb", "chrf_from_en", "ifeval_prompt_strict", "ifeval_sea_prompt_strict", "flores_chrfpp_from_en",
                "stability")
        parts = []
        for m, ms in models.items():
            vals = ", ".join(f"{k}={ms[k]:.3f}" for k in keys if isinstance(ms.get(k), (int, float)))
            parts.append(f"{m}: {vals}")
        skipped = f"; skipped {', '.join(res['skipped'])}" if res["skipped"] else ""
        summary("eval", "; ".join(parts) + skipped, t.seconds)

    @app.command("report")
    @handles_errors
    def report_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Write the report: report.md, report.html and PNG charts in paths.report.

        Also the final model's Hugging Face model card (MODEL_CARD.md), from metrics/*.json,
        plots/*.csv and the eval and diff outputs.
        """
        from langadapt.evaluation.report import run_report

        cfg = load(params, sets)
        t = Timer()
        res = run_report(cfg)
        if res["table"]:
            header, rows = res["table"]
            typer.echo(" | ".join(header))
            for r in rows:
                typer.echo(" | ".join(r))
        for n in res["notes"]:
            typer.echo(f"note: {n}", err=True)
        summary("report", f"{cfg.paths.report}/report.html, MODEL_CARD.md, {len(res['files'])} files "
                f"(stages: {', '.join(res['stages']) or 'none'})", t.seconds)
