"""CLI command of langadapt.pref (registered on the root app by langadapt.cli).

    langadapt pref [-p params.yaml] [-s key=value ...]
    langadapt pref -s pref.loss=dpo -s pref.rounds=2
"""

from __future__ import annotations

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("pref")
    @handles_errors
    def pref_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Preference optimisation of paths.sft from verifier feedback: each of pref.rounds samples
        answers to held-out synth prompts, verifies every constraint and the language, and trains with
        TRL KTO (or DPO) on Ray Train + DeepSpeed; resumable; exports paths.pref, metrics/pref.json and
        plots/pref_*.csv."""
        cfg = load(params, sets)
        t = Timer()
        from langadapt.pref.stage import run_pref

        m = run_pref(cfg, echo=lambda s: typer.echo(s, err=True))
        a, b = m["initial"] or {}, m["final"] or {}
        summary("pref", f"{m['rounds_trained']}/{m['rounds']} round(s) of {m['loss']} trained; desirable share "
                f"{_fmt(a.get('desirable_share'))} -> {_fmt(b.get('desirable_share'))}, constraint pass rate "
                f"{_fmt(a.get('constraint_pass_rate'))} -> {_fmt(b.get('constraint_pass_rate'))}", t.seconds)
