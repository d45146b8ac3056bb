"""The report's preference-optimisation section (called by langadapt.evaluation.report.run_report).

It reads metrics/pref.json (per-round verifier pass rates, KTO/DPO training numbers) and the eval
results of sft and pref, and says plainly what moved from sft to pref, and what a tiny random model's
numbers can and cannot show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (eval metric, label, higher is better) compared sft -> pref
COMPARED = [
    ("ifeval_prompt_strict", "IFEval prompt strict", True),
    ("ifeval_inst_strict", "IFEval instruction strict", True),
    ("multiturn_turn2_prompt_strict", "multi-turn turn-2 strict", True),
    ("stability", "language stability", True),
    ("bpb", "bits per byte (forgetting)", False),
    ("chrf_from_en", "chrF en->target", True),
    ("chrf_to_en", "chrF target->en", True),
    ("llm_judge_mean", "LLM judge mean (0-5)", True),
    ("llm_judge_fluency", "LLM judge fluency (0-5)", True),
]


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.4f}" if abs(x) < 100 else f"{x:,.1f}"
    return str(x)


def _cut(r: dict[str, Any]) -> str:
    """Truncated share, and how many truncated answers passed every check (not desirable by default)."""
    share = r.get("truncated_share")
    if share is None:
        return "–"
    n = r.get("truncated_passing")
    return f"{share:.3f}" + (f" ({n})" if n is not None else "")


def pref_section(doc: Any, cfg: Any, stages: dict[str, Any], results: dict[str, dict[str, Any]],
                 eval_dir: Path, notes: list[str]) -> None:
    """Append the section when the pref stage ran (metrics/pref.json present)."""
    pm = stages.get("pref")
    if not isinstance(pm, dict) or "per_round" not in pm:
        return
    doc.h(2, "Preference optimisation from verifier feedback (sft -> pref)")
    rpo = f" + {pm['sft_weight']:g} x NLL of the chosen answers (RPO)" if pm.get("sft_weight") else ""
    doc.p(f"{pm['rounds']} round(s) of {pm['loss'].upper()}{' (stepwise weights)' if pm.get('stepwise') else ''}{rpo} "
          f"with TRL on Ray Train: each round samples {pm['samples_per_prompt']} answers to each of "
          f"{pm['prompts']} held-out synthetic prompts with constraints, checks every constraint and the "
          "answer's language, and trains on the labels (desirable = every check holds"
          + ("" if cfg.pref.truncated_desirable else f" and the answer ended within {cfg.pref.max_new_tokens} tokens")
          + "). "
          f"{pm['rounds_trained']} round(s) trained, {pm['rounds_skipped']} skipped.")
    rows = []
    for r in pm["per_round"]:
        rows.append([r["round"], _fmt(r.get("samples")), _fmt(r.get("desirable_share")),
                     _fmt(r.get("constraint_pass_rate")), _fmt(r.get("language_stability")), _cut(r),
                     _fmt(r.get("train_loss")), _fmt(r.get("kl")), _fmt(r.get("rewards_margins")),
                     r.get("skipped") or "trained"])
    if pm.get("final"):
        f = pm["final"]
        rows.append(["final policy", _fmt(f.get("samples")), _fmt(f.get("desirable_share")),
                     _fmt(f.get("constraint_pass_rate")), _fmt(f.get("language_stability")), _cut(f), "–", "–", "–",
                     "sampled after the last round"])
    doc.table(["round", "samples", "desirable share", "constraint pass rate", "language stability",
               "truncated (of them passing every check)", "final loss", "KL (mean)", "reward margin (mean)", "status"], rows)
    if "sft" in results and "pref" in results:
        s, p = results["sft"], results["pref"]
        comp = [[label + (" (higher is better)" if hi else " (lower is better)"), _fmt(s.get(k)), _fmt(p.get(k)),
                 _fmt(p[k] - s[k]) if isinstance(s.get(k), (int, float)) and isinstance(p.get(k), (int, float)) else "–"]
                for k, label, hi in COMPARED if k in s or k in p]
        for k, v in p.items():
            if k.startswith("judge_win_rate_vs_"):
                comp.append([f"LLM judge win rate of pref vs {k.rsplit('_', 1)[-1]} (both orders; 0.5 = even)",
                             "–", _fmt(v), "–"])
        doc.p("sft and pref on the same held-out evaluation sets:")
        doc.table(["metric", "SFT", "pref", "pref - SFT"], comp)
    if cfg.model.base == "tiny-qwen3":
        notes.append("pref: the embedded default trains a tiny random-initialised model for minutes; its pass "
                     "rates move by chance, not by learning. The sft -> pref finding needs a real base model.")
