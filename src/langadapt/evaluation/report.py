"""The ``report`` stage: one Markdown/HTML report a person can read, and an HF model card.

    langadapt report        # reads metrics/*.json, plots/*.csv, paths.eval, paths.diff
    open reports/report/report.html

Writes to ``paths.report``:
- ``report.md`` (PNG links relative to it) and ``report.html`` (self-contained: PNGs inlined);
- ``eval_comparison.png`` (base/CPT/SFT bars per metric group), ``loss_curves.png`` (CPT/SFT training
  and validation loss from ``plots/*.csv``), the checkpoint-diff PNGs copied from ``paths.diff``;
- ``MODEL_CARD.md``: the final model's (SFT, else CPT, else base) Hugging Face card, YAML front matter
  with ``model-index`` eval results, ``language``, ``license``, ``base_model``, ``datasets``.
Whatever an upstream stage did not produce is left out with a note, so the report runs on any subset.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from langadapt.config import Params
from langadapt.text import language_name, profile_value

STAGE_ORDER = ("extract", "filter", "dedup", "tokenizer", "cpt", "synth", "sft", "pref", "diff", "eval")
# Optional {paths.metrics}/reference.json: {"label": ..., "bpb": ...}: the model before the tokenizer stage
# (make demo-real: the imported base), the reference the CPT bits-per-byte goal is measured from.
REFERENCE = "reference"
MODEL_LABELS = {"base": "base", "cpt": "CPT", "sft": "SFT", "pref": "pref"}
COLORS = {"base": "#9e9e9e", "cpt": "#1f77b4", "sft": "#d62728", "pref": "#2ca02c"}

# The bar-chart panels: (title, [(metric key, label)], y-axis label, lower is better)
PANELS: list[tuple[str, list[tuple[str, str]], str, bool]] = [
    ("Language modelling (held-out)", [("bpb", "bits/byte")], "bits per byte (lower is better)", True),
    ("Translation (held-out TALPCo)", [("chrf_to_en", "chrF\n->en"), ("chrf_from_en", "chrF\nen->"),
                                      ("chrfpp_to_en", "chrF++\n->en"), ("chrfpp_from_en", "chrF++\nen->"),
                                      ("bleu_to_en", "BLEU\n->en"), ("bleu_from_en", "BLEU\nen->")],
     "score (0-100, higher is better)", False),
    ("Instruction following", [("ifeval_prompt_strict", "IFEval\nprompt\nstrict"),
                               ("ifeval_prompt_loose", "IFEval\nprompt\nloose"),
                               ("ifeval_inst_strict", "IFEval\ninstr.\nstrict"),
                               ("multiturn_turn2_prompt_strict", "turn 2\nprompt\nstrict"),
                               ("multiturn_turn2_prompt_loose", "turn 2\nprompt\nloose")],
     "accuracy (higher is better)", False),
    ("Published benchmarks", [("ifeval_sea_prompt_strict", "SEA-IFEval\n(IFEval-Th)\nstrict"),
                              ("ifeval_sea_lang_normalized", "SEA-IFEval\nlang-\nnormalised"),
                              ("ifeval_en_prompt_strict", "IFEval\nEnglish\nstrict"),
                              ("flores_chrfpp_to_en", "FLORES\nchrF++\n->en"),
                              ("flores_chrfpp_from_en", "FLORES\nchrF++\nen->")],
     "accuracy (0-1) / chrF++ (0-100), higher is better", False),
    ("Language stability", [("stability", "answers in\ntarget script"), ("code_switch_rate", "code-\nswitched"),
                            ("foreign_token_share", "foreign-\nscript tokens"),
                            ("multiturn_turn2_stability", "turn 2\nstability")],
     "share of answers / tokens", False),
]


# ---------------------------------------------------------------------------------------------------
# Inputs


def read_stage_metrics(metrics_dir: Path) -> dict[str, Any]:
    """``{stage: metrics}`` for every ``<stage>.json`` present (pipeline order, then others by name)."""
    found = {p.stem: p for p in sorted(metrics_dir.glob("*.json"))} if metrics_dir.is_dir() else {}
    order = [s for s in STAGE_ORDER if s in found] + [s for s in found if s not in STAGE_ORDER]
    out = {}
    for s in order:
        try:
            out[s] = json.loads(found[s].read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            out[s] = {"error": f"{found[s]}: unreadable ({e})"}
    return out


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c`` keys (lists are summarised by their length)."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list):
        out[prefix] = f"[{len(d)} items]"
    else:
        out[prefix] = d
    return out


def read_loss_curves(plots_dir: Path) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``{file stem: {column: [(step, value)]}}`` for CSVs with a step column and loss columns."""
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    if not plots_dir.is_dir():
        return curves
    for p in sorted(plots_dir.glob("*.csv")):
        with p.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        cols = list(rows[0])
        step = next((c for c in cols if c.lower() in ("step", "global_step", "iteration", "steps")), None)
        losses = [c for c in cols if "loss" in c.lower()]
        if step is None or not losses:
            continue
        series: dict[str, list[tuple[float, float]]] = {}
        for c in losses:
            pts = []
            for r in rows:
                try:
                    x, y = float(r[step]), float(r[c])
                except (TypeError, ValueError):
                    continue
                if math.isfinite(y):
                    pts.append((x, y))
            if pts:
                series[c] = pts
        if series:
            curves[p.stem] = series
    return curves


# ---------------------------------------------------------------------------------------------------
# Figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 12, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 110})
    return plt


def plot_eval_comparison(results: dict[str, dict[str, Any]], out: Path, title: str) -> Path | None:
    """Grouped bars, one colour per checkpoint, one panel per metric group; values written on bars."""
    panels = [(t, [(k, lab) for k, lab in ms if any(isinstance(results[m].get(k), (int, float)) for m in results)],
               yl, low) for t, ms, yl, low in PANELS]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    plt = _plt()
    models = [m for m in ("base", "cpt", "sft", "pref") if m in results] + [m for m in results if m not in MODEL_LABELS]
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.0 * nrows + 0.6), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    bw = 0.8 / len(models)
    for ax, (ptitle, ms, ylabel, _low) in zip(flat, panels):
        top = 0.0
        for j, m in enumerate(models):
            vals = [results[m].get(k) for k, _ in ms]
            xs = [i + (j - (len(models) - 1) / 2) * bw for i in range(len(ms))]
            ys = [v if isinstance(v, (int, float)) else 0.0 for v in vals]
            bars = ax.bar(xs, ys, bw * 0.95, color=COLORS.get(m, None), label=MODEL_LABELS.get(m, m))
            for b, v in zip(bars, vals):
                if isinstance(v, (int, float)):
                    label = "0" if v == 0 else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
                    ax.annotate(label, (b.get_x() + b.get_width() / 2, v),
                                ha="center", va="bottom", fontsize=7, xytext=(0, 1), textcoords="offset points")
                    top = max(top, v)
        ax.set_xticks(range(len(ms)))
        ax.set_xticklabels([lab for _, lab in ms], fontsize=8)
        ax.set_title(ptitle)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, top * 1.18 if top > 0 else 1)
        ax.set_xlim(-0.6, len(ms) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(models), frameon=False, fontsize=10)
    fig.suptitle(title, fontsize=13, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_loss_curves(curves: dict[str, dict[str, list[tuple[float, float]]]], out: Path) -> Path | None:
    """One panel per CSV (CPT, SFT, ...), train and validation loss against step."""
    if not curves:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 3.8), squeeze=False)
    for ax, (name, series) in zip(axes[0], curves.items()):
        for col, pts in series.items():
            style = "o-" if len(pts) < 30 else "-"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, ms=3, lw=1.4, label=col)
        ax.set_title(f"{name}: loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.legend(frameon=False, fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------------
# Markdown / HTML


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


class Doc:
    """The report built once, rendered to Markdown and to HTML."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def img(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", (path, alt)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def markdown(self) -> str:
        out = []
        for kind, b in self.blocks:
            if kind == "h":
                out.append("#" * b[0] + " " + b[1])
            elif kind == "p":
                out.append(b)
            elif kind == "table":
                header, rows = b
                esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
                out.append("\n".join(["| " + " | ".join(esc(h) for h in header) + " |",
                                      "|" + "|".join("---" for _ in header) + "|"]
                                     + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]))
            elif kind == "img":
                out.append(f"![{b[1]}]({b[0].name})")
            elif kind == "code":
                out.append("```\n" + b + "\n```")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        parts = []
        for kind, b in self.blocks:
            if kind == "h":
                parts.append(f"<h{b[0]}>{html.escape(b[1])}</h{b[0]}>")
            elif kind == "p":
                t = html.escape(b)
                t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
                t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
                parts.append(f"<p>{t}</p>")
            elif kind == "table":
                header, rows = b
                th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
                parts.append(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode(b[0].read_bytes()).decode("ascii")
                parts.append(f'<figure><img alt="{html.escape(b[1])}" src="data:image/png;base64,{data}">'
                             f"<figcaption>{html.escape(b[1])}</figcaption></figure>")
            elif kind == "code":
                parts.append(f"<pre>{html.escape(b)}</pre>")
        css = ("body{font-family:system-ui,-apple-system,'Noto Sans Thai','Noto Sans',sans-serif;max-width:1100px;"
               "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;"
               "margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
               "th{background:#f3f3f3}td:not(:first-child){font-variant-numeric:tabular-nums}"
               "img{max-width:100%;border:1px solid #eee}figcaption{color:#666;font-size:13px}"
               "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px}code{background:#f3f3f3}")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f"<style>{css}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _delta(base: Any, new: Any) -> str:
    if not isinstance(base, (int, float)) or not isinstance(new, (int, float)):
        return "–"
    return f"{new - base:+.4f}" if abs(new - base) < 1 else f"{new - base:+.2f}"


def comparison_rows(results: dict[str, dict[str, Any]], baseline: dict[str, float] | None = None,
                    flags: dict[str, dict[str, list[str]]] | None = None) -> tuple[list[str], list[list[str]]]:
    """The base/CPT/SFT table: one row per headline metric present, with the change from base; with
    ``baseline`` (a constant answer's scores) and ``flags`` (``honesty.metric_flags`` per model), two more
    columns: the baseline beside every IF number, and why a number must not be read as a result."""
    from langadapt.evaluation.runner import HEADLINE

    models = [m for m in ("base", "cpt", "sft", "pref") if m in results]
    header = ["metric"] + [MODEL_LABELS[m] for m in models]
    final = models[-1] if models else None
    has_delta = "base" in results and final and final != "base"
    if has_delta:
        header.append(f"{MODEL_LABELS[final]} - base")
    honest = baseline is not None or flags is not None
    if honest:
        header += ["constant baseline", "flags"]
    rows = []
    for key, label, higher in HEADLINE:
        if not any(key in results[m] for m in models):
            continue
        row = [f"{label} ({'higher' if higher else 'lower'} is better)"] + [_fmt(results[m].get(key)) for m in models]
        if has_delta:
            row.append(_delta(results["base"].get(key), results[final].get(key)))
        if honest:
            row.append(_fmt((baseline or {}).get(key)))
            fl = [f"{MODEL_LABELS[m]}: {', '.join((flags or {}).get(m, {}).get(key, []))}" for m in models
                  if (flags or {}).get(m, {}).get(key)]
            row.append("; ".join(fl) or "–")
        rows.append(row)
    return header, rows


def flagged_summary(results: dict[str, dict[str, Any]], flags: dict[str, dict[str, list[str]]]) -> list[str]:
    """One line per model whose headline metrics carry flags: what not to read as a gain. Metrics with
    the same flags are listed together ("A, B (flag 1, flag 2)"), in the order they first appear."""
    from langadapt.evaluation.runner import HEADLINE

    labels = {k: lab for k, lab, _ in HEADLINE}
    out = []
    for m in results:
        groups: dict[tuple[str, ...], list[str]] = {}
        for k, v in flags.get(m, {}).items():
            if k in labels:
                groups.setdefault(tuple(v), []).append(labels[k])
        if groups:
            out.append(f"{MODEL_LABELS.get(m, m)}: "
                       + "; ".join(f"{', '.join(ms)} ({', '.join(f)})" for f, ms in groups.items()))
    return out


def goal_rows(stages: dict[str, Any], results: dict[str, dict[str, Any]], baseline: dict[str, float] | None
              ) -> list[list[str]]:
    """The adaptation goals, measured: CPT cuts held-out bits per byte by >= 30% (from the reference model
    when there is one, else from base); the tokenizer at least halves tokens per character; SFT raises
    IFEval over base and over the constant baseline. Each row: goal, measured, met?"""
    rows = []
    ref = stages.get(REFERENCE) or {}
    start = ref.get("bpb") if isinstance(ref.get("bpb"), (int, float)) else results.get("base", {}).get("bpb")
    start_label = ref.get("label", "base") if ref.get("bpb") is not None else "base"
    cpt = results.get("cpt", {}).get("bpb")
    if isinstance(start, (int, float)) and isinstance(cpt, (int, float)) and start > 0:
        cut = 1 - cpt / start
        rows.append([f"CPT cuts held-out bits per byte by >= 30% (from {start_label})",
                     f"{_fmt(start)} -> {_fmt(cpt)} ({cut:+.1%} cut)" if cut >= 0 else
                     f"{_fmt(start)} -> {_fmt(cpt)} (worse by {-cut:.1%})", "yes" if cut >= 0.3 else "no"])
    tok = stages.get("tokenizer") or {}
    fb = (tok.get("fertility_before") or {}).get("tokens_per_char")
    fa = (tok.get("fertility_after") or {}).get("tokens_per_char")
    if isinstance(fb, (int, float)) and isinstance(fa, (int, float)) and fb > 0 and tok.get("added_tokens"):
        rows.append([f"the tokenizer at least halves {tok.get('lang', '')} tokens per character",
                     f"{fb:.3f} -> {fa:.3f} ({fa / fb:.2f}x; {tok['added_tokens']} tokens added)",
                     "yes" if fa <= fb / 2 else "no"])
    rows += _if_goal_rows(results, baseline)
    return rows


def _if_goal_rows(results: dict[str, dict[str, Any]], baseline: dict[str, float] | None) -> list[list[str]]:
    """SFT over base (and pref over SFT) on IFEval-Th (SEA-IFEval) when it was run, else on the generated
    Thai IFEval set: above the reference model and the constant-answer baseline, with the paired prompt
    wins/losses and the sign test. A gain that the sign test cannot tell from noise (p >= 0.05) is said so."""
    if any(isinstance(r.get("ifeval_sea_prompt_strict"), (int, float)) for r in results.values()):
        key, label = "ifeval_sea_prompt_strict", "IFEval-Th (SEA-IFEval, prompt strict)"
    else:
        key, label = "ifeval_prompt_strict", "IFEval (prompt strict)"
    rows = []
    for model, ref in (("sft", "base"), ("pref", "sft")):
        b, f = results.get(ref, {}).get(key), results.get(model, {}).get(key)
        if not (isinstance(b, (int, float)) and isinstance(f, (int, float))):
            continue
        floor = results.get(model, {}).get(f"{key}_baseline", (baseline or {}).get(key))
        measured = f"{ref} {_fmt(b)} -> {model} {_fmt(f)}; constant answer {_fmt(floor)}"
        prefix = key.rsplit("_prompt_strict", 1)[0]
        w, lo, p = (results[model].get(f"{prefix}_vs_{ref}_{k}") for k in ("wins", "losses", "sign_p"))
        if w is not None:
            measured += f"; paired: {w} prompt{'' if w == 1 else 's'} gained, {lo} lost (sign test p = {p:.3g})"
        rep = results[model].get(f"{prefix}_repetitive_share")
        if isinstance(rep, (int, float)):
            measured += f"; {rep:.0%} of {model}'s answers are repetition loops"
        up = f > b and (floor is None or f > floor)
        met = ("yes" if (p is None or p < 0.05) else "gain, not significant") if up else "no"
        if up and isinstance(rep, (int, float)) and rep > 0.5:  # markers that pass a checker, in a loop
            met = "no: a checker gain in mostly degenerate answers"
        what = "SFT raises" if model == "sft" else "pref raises"
        rows.append([f"{what} {label} over {ref} and over the constant baseline", measured, met])
    return rows


def evidence_rows(summary: dict[str, Any], detail: dict[str, Any]) -> list[list[str]]:
    """What each number rests on: documents, bytes, tokens per model, prompts, the overlap check."""
    c = summary.get("counts", {})
    rows = []
    if c.get("heldout_docs"):
        toks = ", ".join(f"{MODEL_LABELS.get(m, m)} {_fmt(d.get('lm', {}).get('tokens'))}" for m, d in detail.items()
                         if d.get("lm"))
        rows.append(["bits per byte, token perplexity", (f"{c['heldout_docs']} held-out documents, "
                     f"{_fmt(c.get('heldout_bytes'))} UTF-8 bytes; tokens: {toks or '–'}")])
    ov = summary.get("heldout_overlap")
    if ov:
        rows.append(["held-out vs training text", (
            f"{ov['docs_with_overlap']} of {ov['heldout_docs']} held-out documents "
            f"share a {ov['window_chars']}-character run with the {ov['train_docs']} training documents; "
            f"{ov['dropped']} dropped (over {ov['max_share']:.0%} of their characters shared); "
            f"mean shared share {ov['mean_overlap_share']:.2%}")])
    if c.get("translation_pairs"):
        rows.append(["chrF / chrF++ / BLEU", f"{c['translation_pairs']} held-out pairs per direction"])
    if c.get("ifeval_prompts"):
        rows.append(["IFEval", f"{c['ifeval_prompts']} prompts"])
    if c.get("multi_turn"):
        rows.append(["multi-turn", f"{c['multi_turn']} two-turn conversations"])
    rows += _benchmark_evidence(c, detail)
    b = summary.get("baseline")
    if b:
        answers = ", ".join(repr(a) for a in b.get("answers", []))
        rows.append(["constant baseline", (f"best of the constant answers {answers}, per metric, scored by the "
                     "same verifiers")])
    return rows


_BENCH_EVIDENCE = (("sea_ifeval", "sea_ifeval_prompts", "IFEval-Th (SEA-IFEval)"),
                   ("en_ifeval", "en_ifeval_prompts", "IFEval English"))


def _benchmark_evidence(counts: dict[str, Any], detail: dict[str, Any]) -> list[list[str]]:
    """Prompts each public benchmark's numbers rest on: generated, scored (a prompt whose every instruction
    the benchmark's semantics leave unscored in this language is not counted) and what was left out."""
    rows = []
    for key, count_key, label in _BENCH_EVIDENCE:
        if not counts.get(count_key):
            continue
        d = next((m.get("benchmarks", {}).get(key) for m in detail.values()
                  if isinstance(m.get("benchmarks", {}).get(key), dict)), None) or {}
        text = f"{counts[count_key]} prompts"
        if d.get("n_prompts") is not None and d["n_prompts"] != counts[count_key]:
            text += f", {d['n_prompts']} scored"
        if d.get("n_instructions") is not None:
            text += f" ({d['n_instructions']} instructions)"
        if d.get("excluded"):
            text += "; not scored in this language: " + ", ".join(f"{k} x{v}" for k, v in d["excluded"].items())
        rows.append([label, text])
    if counts.get("flores_pairs"):
        rows.append(["FLORES-200", f"{counts['flores_pairs']} devtest pairs per direction"])
    return rows


_IN_KEYS = ("docs_in", "records_in", "examples_in", "pages_in")
_OUT_KEYS = ("docs_out", "records_out", "examples", "examples_out", "pages_out")
_SKIP = {"stage", "lang", "shards", "seconds", "base"}


def pipeline_row(stage: str, m: dict[str, Any]) -> list[str]:
    """One funnel row: documents (or examples) in and out, the most frequent drop reasons, and up to
    four other top-level numbers of the stage's metrics."""
    flat = flatten(m)
    n_in = next((flat[k] for k in _IN_KEYS if k in flat), None)
    n_out = next((flat[k] for k in _OUT_KEYS if k in flat), None)
    drops = sorted(((k.split(".", 1)[1], v) for k, v in flat.items()
                    if k.startswith("dropped.") and isinstance(v, (int, float))), key=lambda kv: -kv[1])
    dropped = ", ".join(f"{k} {_fmt(v)}" for k, v in drops[:3]) + (f" (+{len(drops) - 3} more)" if len(drops) > 3 else "")
    used = set(_IN_KEYS) | set(_OUT_KEYS) | _SKIP
    other = [f"{k} {_fmt(v)}" for k, v in m.items()
             if k not in used and isinstance(v, (int, float)) and not isinstance(v, bool)][:4]
    return [stage, _fmt(n_in), _fmt(n_out), dropped or "–", ", ".join(other) or "–"]


def final_model(results: dict[str, Any]) -> str | None:
    for m in ("pref", "sft", "cpt", "base"):
        if m in results:
            return m
    return None


# ---------------------------------------------------------------------------------------------------
# Model card


def model_card(cfg: Params, results: dict[str, dict[str, Any]], eval_detail: dict[str, Any],
               summary: dict[str, Any] | None = None) -> str:
    """A Hugging Face model card for the final checkpoint: YAML front matter (``model-index`` with the
    eval results) and a short body saying how it was made and how it scores against its base."""
    lang = cfg.language.code
    final = final_model(results)
    m = results.get(final, {}) if final else {}
    name = cfg.report.model_name or f"{re.sub(r'[^A-Za-z0-9._-]+', '-', cfg.model.base.split('/')[-1])}-{lang}-sft"
    lname = language_name(lang)

    def metric(t: str, v: Any, label: str) -> dict[str, Any] | None:
        return {"type": t, "value": round(float(v), 4), "name": label} if isinstance(v, (int, float)) else None

    results_yaml = []

    def add(task_type: str, task_name: str, ds_name: str, ds_type: str, ms: list[dict | None]) -> None:
        ms = [x for x in ms if x]
        if ms:
            results_yaml.append({"task": {"type": task_type, "name": task_name},
                                 "dataset": {"name": ds_name, "type": ds_type}, "metrics": ms})

    add("text-generation", f"{lname} language modelling", f"langadapt held-out {lname} web text", "langadapt-heldout",
        [metric("bits_per_byte", m.get("bpb"), "bits per byte"), metric("perplexity", m.get("token_ppl"), "token perplexity")])
    add("translation", f"{lname} -> English", "TALPCo (held-out pairs)", "matbahasa/TALPCo",
        [metric("chrf", m.get("chrf_to_en"), "chrF"), metric("chrf", m.get("chrfpp_to_en"), "chrF++"),
         metric("bleu", m.get("bleu_to_en"), "BLEU")])
    add("translation", f"English -> {lname}", "TALPCo (held-out pairs)", "matbahasa/TALPCo",
        [metric("chrf", m.get("chrf_from_en"), "chrF"), metric("chrf", m.get("chrfpp_from_en"), "chrF++"),
         metric("bleu", m.get("bleu_from_en"), "BLEU")])
    add("text-generation", f"{lname} instruction following (IFEval-style)", f"langadapt IFEval-{lang}", "langadapt-ifeval",
        [metric("accuracy", m.get("ifeval_prompt_strict"), "prompt-level strict accuracy"),
         metric("accuracy", m.get("ifeval_prompt_loose"), "prompt-level loose accuracy"),
         metric("accuracy", m.get("ifeval_inst_strict"), "instruction-level strict accuracy"),
         metric("accuracy", m.get("ifeval_inst_loose"), "instruction-level loose accuracy")])
    add("text-generation", f"{lname} multi-turn constraint following", f"langadapt multi-turn-{lang}", "langadapt-multiturn",
        [metric("accuracy", m.get("multiturn_turn2_prompt_strict"), "turn-2 strict accuracy"),
         metric("accuracy", m.get("multiturn_turn2_prompt_loose"), "turn-2 loose accuracy"),
         metric("language_stability", m.get("stability"), "answers in the target script"),
         metric("code_switching_rate", m.get("code_switch_rate"), "code-switching rate")])

    front: dict[str, Any] = {"language": [profile_value(lang, "hf_code", default=lang), "en"], "license": cfg.report.license}
    base = cfg.model.base
    hub_base = base.count("/") == 1 and not base.startswith((".", "/")) and not Path(base).exists()
    if hub_base:
        front["base_model"] = base
    front.update({
        "datasets": ["matbahasa/TALPCo"],
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["langadapt", "continual-pretraining", "sft", *(["preference-optimization"] if final == "pref" else []),
                 lname.lower().replace(" ", "-")],
        "model-index": [{"name": name, "results": results_yaml}],
    })
    fm = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)

    summary = summary or {}
    baseline = summary.get("baseline", {}).get("metrics")
    flags = summary.get("flags")
    table_h, table_r = comparison_rows(results, baseline, flags) if (baseline or flags) else comparison_rows(results)
    flagged = flagged_summary(results, flags or {})
    lines = [
        "---", fm.rstrip(), "---", "",
        f"# {name}", "",
        f"A {lname} adaptation of `{base}` made with langadapt: continual pre-training (CPT) on a cleaned, "
        f"deduplicated {lname} web crawl, then supervised fine-tuning (SFT) on verified synthetic instructions "
        "and TALPCo translation pairs. "
        + ("Then preference optimisation (`pref`: KTO or DPO with TRL) on the SFT model's own answers, "
           "labelled by the code that verifies each instruction's constraints and the answer's language. "
           if final == "pref" else "")
        + ("" if hub_base else
                                           f"The base `{base}` is not a Hugging Face hub id, so `base_model` is not set. "),
        "",
        f"Checkpoint evaluated: **{final}** (`{getattr(cfg.paths, final) if final else '-'}`).", "",
        "## Evaluation", "",
        ("Held-out data only (documents and translation pairs split off by id hash before training). "
        "Greedy decoding, at most "
        f"{cfg.eval.max_new_tokens} new tokens; truncated answers are counted in `truncated_share`."), "",
        "| " + " | ".join(table_h) + " |", "|" + "|".join("---" for _ in table_h) + "|",
        *["| " + " | ".join(r) + " |" for r in table_r], "",
    ]
    if flagged:
        lines += [("**Not results** (a number at or below a constant answer scored by the same code, or from "
                   "mostly truncated answers, is not a gain):"), "", *[f"- {x}" for x in flagged], ""]
    ev = evidence_rows(summary, eval_detail)
    if ev:
        lines += ["Sample sizes:", "", *[f"- {a}: {b}" for a, b in ev], ""]
    sigs = eval_detail.get(final, {}).get("translation", {}) if final else {}
    if sigs:
        lines += ["sacrebleu signatures:", "",
                  f"- ->en: `{sigs['to_en']['signatures'].get('bleu', '')}`, `{sigs['to_en']['signatures'].get('chrf', '')}`",
                  f"- en->: `{sigs['from_en']['signatures'].get('bleu', '')}`, `{sigs['from_en']['signatures'].get('chrf', '')}`", ""]
    lines += [
        "## Use", "", "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'tok = AutoTokenizer.from_pretrained("{getattr(cfg.paths, final) if final else "."}")',
        f'model = AutoModelForCausalLM.from_pretrained("{getattr(cfg.paths, final) if final else "."}")',
        "```", "",
        "## Limitations", "",
        ("Scores are on small held-out sets; the default pipeline trains a tiny model for minutes, as a "
        "reproducibility check, not a useful assistant. Check the answers in `generations.jsonl` before "
        "trusting any number."), "",
        "## Data and licenses", "",
        "TALPCo (CC BY 4.0): Nomoto, Okano, Moeljadi, Sawada (2018), TUFS Asian Language Parallel Corpus.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The stage


def run_report(cfg: Params, root: str | Path = ".") -> dict[str, Any]:
    """Build the report from whatever upstream stages produced; returns what it wrote."""
    from langadapt.io import atomic_dir
    from langadapt.pref.report import pref_section

    root = Path(root)
    stages = read_stage_metrics(root / cfg.paths.metrics)
    results = {k: v for k, v in stages.get("eval", {}).items() if isinstance(v, dict)}
    eval_dir = root / cfg.paths.eval
    detail, summary = _read_eval_outputs(eval_dir, results)
    title = cfg.report.title or f"langadapt: {language_name(cfg.language.code)} adaptation of {cfg.model.base}"
    notes: list[str] = []

    with atomic_dir(root / cfg.paths.report) as out:
        doc = Doc()
        doc.h(1, title)
        lname = language_name(cfg.language.code)
        doc.p(f"Language: **{lname}** (`{cfg.language.code}`). Base model: `{cfg.model.base}`. "
              f"Checkpoints compared: {', '.join(MODEL_LABELS.get(m, m) for m in results) or 'none'}. "
              "Every number below is on held-out data the training stages never saw.")
        doc.h(2, " vs ".join(MODEL_LABELS.get(m, m) for m in results) if len(results) > 1 else "Evaluation")
        if results:
            _comparison_section(doc, cfg, stages, results, detail, summary, out)
        else:
            notes.append(f"{root / cfg.paths.metrics / 'eval.json'}: missing, no evaluation in this report")
        notes.extend(summary.get("notes", []) + list(summary.get("skipped", {}).values()))
        _loss_section(doc, read_loss_curves(root / cfg.paths.plots), out)
        _diff_section(doc, cfg, root / cfg.paths.diff, out)
        _stage_sections(doc, stages)
        if detail:
            _details_section(doc, cfg, results, detail, eval_dir)
        pref_section(doc, cfg, stages, results, eval_dir, notes)
        if notes:
            doc.h(2, "Notes")
            doc.p("\n".join(f"- {n}" for n in notes))

        (out / "report.md").write_text(doc.markdown(), encoding="utf-8")
        (out / "report.html").write_text(doc.html(title), encoding="utf-8")
        (out / "MODEL_CARD.md").write_text(model_card(cfg, results, detail, summary), encoding="utf-8")
        files = sorted(p.name for p in out.iterdir())
    return {"files": files, "models": list(results), "stages": list(stages), "notes": notes,
            "table": comparison_rows(results) if results else None}


def _read_eval_outputs(eval_dir: Path, results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(each evaluated model's ``detail.json``, the eval ``summary.json``), empty where missing."""
    detail: dict[str, Any] = {}
    for mname in results:
        p = eval_dir / mname / "detail.json"
        if p.exists():
            detail[mname] = json.loads(p.read_text(encoding="utf-8"))
    summary = {}
    if (eval_dir / "summary.json").exists():
        summary = json.loads((eval_dir / "summary.json").read_text(encoding="utf-8"))
    return detail, summary


def _comparison_section(doc: Doc, cfg: Params, stages: dict[str, Any], results: dict[str, Any],
                        detail: dict[str, Any], summary: dict[str, Any], out: Path) -> None:
    """The base vs CPT vs SFT table, its baseline and flags, sample sizes, goals, plot and truncation."""
    baseline = summary.get("baseline", {}).get("metrics")
    flags = summary.get("flags")
    h, rows = comparison_rows(results, baseline, flags) if (baseline or flags) else comparison_rows(results)
    doc.table(h, rows)
    if baseline:
        doc.p("`constant baseline`: the best score of a constant answer ("
              + ", ".join(repr(a) for a in summary["baseline"]["answers"])
              + ") scored by the same verifiers: an instruction-following number at or below it is no "
              "evidence of instruction following.")
    flagged = flagged_summary(results, flags or {})
    if flagged:
        doc.p("**Not results:** " + " ".join(f"{x}." for x in flagged))
    ev = evidence_rows(summary, detail)
    if ev:
        doc.p("What each number rests on:")
        doc.table(["numbers", "sample"], ev)
    goals = goal_rows(stages, results, baseline)
    if goals:
        doc.h(3, "Adaptation goals")
        doc.table(["goal", "measured", "met"], goals)
    png = plot_eval_comparison(results, out / "eval_comparison.png", f"{cfg.report.title}: base vs CPT vs SFT")
    if png:
        doc.img(png, "Evaluation metrics for each checkpoint (bars), by metric group.")
    trunc_rows = [[MODEL_LABELS.get(m, m)] + [
        f"{_fmt(r.get(f'{t}_truncated'))} ({_fmt(r.get(f'{t}_truncated_share'))})" if f"{t}_truncated" in r
        else "–" for t in ("translation", "ifeval", "multiturn")] + [f"{_fmt(r.get('truncated'))} / {_fmt(r.get('generated'))}"]
        for m, r in results.items()]
    doc.p(f"Answers cut off at `eval.max_new_tokens` = {cfg.eval.max_new_tokens} (count, share): they are "
          "scored as they are, so read accuracies next to these.")
    doc.table(["model", "translation", "IFEval", "multi-turn", "all answers"], trunc_rows)


def _loss_section(doc: Doc, curves: Any, out: Path) -> None:
    if curves:
        doc.h(2, "Training loss")
        png = plot_loss_curves(curves, out / "loss_curves.png")
        if png:
            doc.img(png, "Loss against optimizer step for each training stage (from plots/*.csv).")


def _diff_section(doc: Doc, cfg: Params, diff_dir: Path, out: Path) -> None:
    diff_pngs = sorted(diff_dir.glob("*.png")) if diff_dir.is_dir() else []
    if diff_pngs:
        doc.h(2, "Where training changed the weights (checkpoint diff)")
        for p in diff_pngs:
            dst = out / f"diff_{p.name}"
            shutil.copyfile(p, dst)
            doc.img(dst, f"{p.stem.replace('_', ' ')} (from {cfg.paths.diff})")


def _stage_sections(doc: Doc, stages: dict[str, Any]) -> None:
    """Pipeline counts of every stage but eval, and each stage's flattened metrics."""
    stage_tables = {s: m for s, m in stages.items() if s not in ("eval", REFERENCE)}
    if not stage_tables:
        return
    doc.h(2, "Pipeline counts")
    doc.p("What each stage read, kept and dropped (top reasons), and its headline numbers.")
    doc.table(["stage", "in", "out", "dropped (top reasons)", "other"],
              [pipeline_row(s, m) for s, m in stage_tables.items() if isinstance(m, dict)])
    doc.h(3, "All stage metrics")
    doc.p("Each stage's metrics file (`dvc metrics show`), flattened (first 40 keys per stage).")
    rows = []
    for s, m in stage_tables.items():
        for k, v in list(flatten(m).items())[:40]:
            rows.append([s, k, _fmt(v)])
    doc.table(["stage", "metric", "value"], rows)


def _details_section(doc: Doc, cfg: Params, results: dict[str, Any], detail: dict[str, Any],
                     eval_dir: Path) -> None:
    """sacrebleu signatures and per-constraint IFEval of the final model, and an example answer per task."""
    doc.h(2, "Details")
    final = final_model(results)
    tr = detail.get(final, {}).get("translation")
    if tr:
        doc.p("sacrebleu signatures (into the target language, text segmented with `langadapt.text.words` "
              "before BLEU and chrF++ where the script has no spaces):")
        doc.code("\n".join(f"{d} {k}: {tr[d]['signatures'].get(k, '')}" for d in ("to_en", "from_en")
                           for k in ("bleu", "chrf", "chrfpp")))
    per = detail.get(final, {}).get("ifeval", {}).get("per_instruction", {})
    if per:
        doc.p(f"Instruction following of {MODEL_LABELS.get(final, final)}, per constraint:")
        doc.table(["constraint", "n", "strict", "loose"],
                  [[k, v["n"], _fmt(v["strict"]), _fmt(v["loose"])] for k, v in per.items()])
    ex_rows = [row for mname in results for row in _example_rows(mname, eval_dir / mname / "generations.jsonl")]
    if ex_rows:
        doc.p(f"Example answers (first of each task; all of them in `{cfg.paths.eval}/<model>/generations.jsonl`):")
        doc.table(["model", "task", "prompt", "answer", "finish"], ex_rows)


def _example_rows(mname: str, gp: Path) -> list[list[Any]]:
    """The first generation of each task (judge calls aside) in one model's ``generations.jsonl``."""
    if not gp.exists():
        return []
    rows = []
    seen: set[str] = set()
    for line in gp.read_text(encoding="utf-8").splitlines():
        g = json.loads(line)
        if g["task"] in seen or g["task"] == "judge":
            continue
        seen.add(g["task"])
        q = g["messages"][-1]["content"] if g.get("messages") else ""
        rows.append([MODEL_LABELS.get(mname, mname), g["task"], _short(q), _short(g["response"]),
                     g["finish_reason"]])
    return rows


def _short(s: str, n: int = 160) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"
