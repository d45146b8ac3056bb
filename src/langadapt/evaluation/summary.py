"""One screen at the end of a run: what the corpus kept, what training saw, how each model scores.

    langadapt summary                 # reads {paths.metrics}/*.json and points at {paths.report}
    langadapt summary -p params.yaml

Like the last lines of a good training script: corpus kept/dropped per stage (with the top reasons),
tokenizer fertility and the tokens CPT/SFT trained on, held-out bits-per-byte and instruction-following
accuracy per model (every model found in eval.json, so a new one shows without a code change), and
where the report is. A metrics file that is missing or unreadable is named on a ``missing`` line; the
rest is still shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS_STAGES = ("extract", "filter", "dedup")
METRIC_FILES = (*CORPUS_STAGES, "tokenizer", "cpt", "synth", "sft", "eval")
TOP_REASONS = 3
# (eval.json key, column header, format); a key a model lacks prints "-"
MODEL_COLUMNS = (
    ("bpb", "bpb", "{:.3f}"),
    ("ifeval_prompt_strict", "IF prompt", "{:.3f}"),
    ("ifeval_inst_strict", "IF instr", "{:.3f}"),
    ("stability", "in-lang", "{:.2f}"),
    ("truncated_share", "truncated", "{:.0%}"),
)


def read_metrics(metrics_dir: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The stage metrics found in ``metrics_dir`` and, for the others, why each is missing."""
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for name in METRIC_FILES:
        path = metrics_dir / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            missing.append(f"{path} (run `dvc repro {name}`)")
            continue
        except (OSError, ValueError) as e:
            missing.append(f"{path} (unreadable: {type(e).__name__})")
            continue
        if not isinstance(data, dict):
            missing.append(f"{path} (not a JSON object)")
            continue
        found[name] = data
    return found, missing


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _corpus_lines(m: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for stage in CORPUS_STAGES:
        s = m.get(stage)
        if s is None or not _num(s.get("docs_in")) or not _num(s.get("docs_out")):
            continue
        dropped = {k: v for k, v in (s.get("dropped") or {}).items() if _num(v) and v}
        ranked = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
        why = ", ".join(f"{k} {v}" for k, v in ranked[:TOP_REASONS])
        if len(ranked) > TOP_REASONS:
            why += f", {len(ranked) - TOP_REASONS} more"
        line = f"{stage:<8}{s['docs_in']:>6} -> {s['docs_out']:<6}docs"
        if dropped:
            line += f" (-{sum(dropped.values())}: {why})"
        lines.append(line)
    return lines


def _training_lines(m: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    tok = m.get("tokenizer")
    if tok:
        before = (tok.get("fertility_before") or {}).get("tokens_per_char")
        after = (tok.get("fertility_after") or {}).get("tokens_per_char")
        line = f"tokenizer vocab {tok.get('vocab_size_before', '?')} -> {tok.get('vocab_size_after', '?')}"
        if _num(before) and _num(after):
            line += f", tokens/char {before:.3f} -> {after:.3f} ({tok.get('fertility_docs', '?')} held-out docs)"
        lines.append(line)
    for stage, unit in (("cpt", "train_tokens"), ("sft", "supervised_tokens")):
        s = m.get(stage)
        if not s:
            continue
        line = f"{stage:<10}{s.get('steps', '?')} steps, {s.get('tokens', 0):,} tokens seen"
        if _num(s.get(unit)):
            line += f" ({s[unit]:,} {unit.replace('_', ' ')})"
        if _num(s.get("initial_eval_loss")) and _num(s.get("final_eval_loss")):
            line += f", held-out loss {s['initial_eval_loss']:.3f} -> {s['final_eval_loss']:.3f}"
        lines.append(line)
        if stage == "cpt" and "synth" in m:
            syn = m["synth"]
            by = ", ".join(f"{k} {v}" for k, v in sorted((syn.get("by_source") or {}).items()))
            lines.append(f"{'synth':<10}{syn.get('examples', '?')} verified examples" + (f" ({by})" if by else ""))
    return lines


def _model_lines(ev: dict[str, Any]) -> list[str]:
    models = {k: v for k, v in ev.items() if isinstance(v, dict)}
    if not models:
        return []
    width = max(5, *(len(k) for k in models))
    head = f"{'model':<{width}}" + "".join(f"{h:>11}" for _, h, _ in MODEL_COLUMNS)
    rows = [head]
    for name, ms in models.items():
        cells = [fmt.format(ms[k]) if _num(ms.get(k)) else "-" for k, _, fmt in MODEL_COLUMNS]
        rows.append(f"{name:<{width}}" + "".join(f"{c:>11}" for c in cells))
    return rows


def _report_line(report_dir: Path) -> str:
    files = [n for n in ("report.md", "report.html", "MODEL_CARD.md") if (report_dir / n).exists()]
    if not files:
        return f"report    {report_dir} not written yet (run `dvc repro report`)"
    return f"report    {report_dir / files[0]}" + (f" (also {', '.join(files[1:])})" if files[1:] else "")


def format_summary(
    metrics: dict[str, dict[str, Any]], missing: list[str], report_dir: Path, lang: str = ""
) -> str:
    """The summary screen as text (pure: the metrics are given)."""
    title = f"langadapt run summary{f' ({lang})' if lang else ''}"
    out = [title, "=" * len(title)]
    corpus = _corpus_lines(metrics)
    if corpus:
        out += ["corpus", *(f"  {ln}" for ln in corpus)]
    training = _training_lines(metrics)
    if training:
        out += ["training", *(f"  {ln}" for ln in training)]
    models = _model_lines(metrics.get("eval") or {})
    if models:
        out += ["models (held-out bits-per-byte; IFEval strict accuracy; answers in the target language)"]
        out += [f"  {ln}" for ln in models]
    out.append(_report_line(report_dir))
    if missing:
        out += ["missing", *(f"  {m}" for m in missing)]
    return "\n".join(out) + "\n"


def run_summary(metrics_dir: str | Path, report_dir: str | Path, lang: str = "") -> tuple[str, list[str]]:
    """Read the metrics and format the screen; returns (text, missing files)."""
    metrics, missing = read_metrics(Path(metrics_dir))
    return format_summary(metrics, missing, Path(report_dir), lang), missing
