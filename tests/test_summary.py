"""`langadapt summary` on inline metric JSON: the exact screen, a 4th model, missing files named.

    .venv/bin/pytest -q tests/test_summary.py          # < 2 s
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from langadapt.cli import app
from langadapt.evaluation.summary import run_summary

REPO = Path(__file__).resolve().parents[1]

METRICS = {
    "extract": {"docs_in": 10, "docs_out": 8, "dropped": {"prefilter:script_ratio": 2}},
    "filter": {"docs_in": 8, "docs_out": 5,
               "dropped": {"a": 1, "b": 1, "spam:gambling": 0, "quality:too_few_words": 1, "c": 0}},
    "dedup": {"docs_in": 5, "docs_out": 5, "dropped": {}},
    "tokenizer": {"vocab_size_before": 256, "vocab_size_after": 4000, "fertility_docs": 3,
                  "fertility_before": {"tokens_per_char": 2.5}, "fertility_after": {"tokens_per_char": 0.25}},
    "cpt": {"steps": 10, "tokens": 20480, "train_tokens": 1234, "initial_eval_loss": 8.0, "final_eval_loss": 7.5},
    "synth": {"examples": 7, "by_source": {"translation_pairs": 4, "back_translation": 3}},
    "sft": {"steps": 5, "tokens": 999, "supervised_tokens": 500},
    "eval": {
        "base": {"bpb": 1.5, "ifeval_prompt_strict": 0.1, "ifeval_inst_strict": 0.2, "stability": 0.5,
                 "truncated_share": 1.0},
        "cpt": {"bpb": 1.25, "ifeval_prompt_strict": 0.1},
        "sft": {"bpb": 1.125, "ifeval_prompt_strict": 0.25, "ifeval_inst_strict": 0.5, "truncated_share": 0.25},
        "pref": {"bpb": 1.0, "ifeval_prompt_strict": 0.375},
    },
}

EXPECTED = """\
langadapt run summary (th)
==========================
corpus
  extract     10 -> 8     docs (-2: prefilter:script_ratio 2)
  filter       8 -> 5     docs (-3: a 1, b 1, quality:too_few_words 1)
  dedup        5 -> 5     docs
training
  tokenizer vocab 256 -> 4000, tokens/char 2.500 -> 0.250 (3 held-out docs)
  cpt       10 steps, 20,480 tokens seen (1,234 train tokens), held-out loss 8.000 -> 7.500
  synth     7 verified examples (back_translation 3, translation_pairs 4)
  sft       5 steps, 999 tokens seen (500 supervised tokens)
models (held-out bits-per-byte; IFEval strict accuracy; answers in the target language)
  model        bpb  IF prompt   IF instr    in-lang  truncated
  base       1.500      0.100      0.200       0.50       100%
  cpt        1.250      0.100          -          -          -
  sft        1.125      0.250      0.500          -        25%
  pref       1.000      0.375          -          -          -
report    {report}/report.md (also MODEL_CARD.md)
"""


def write_metrics(d: Path, metrics: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, data in metrics.items():
        (d / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def test_summary_screen_exact(tmp_path):
    write_metrics(tmp_path / "metrics", METRICS)
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# r")
    (report / "MODEL_CARD.md").write_text("# c")
    text, missing = run_summary(tmp_path / "metrics", report, "th")
    assert missing == []
    assert text == EXPECTED.format(report=report)


def test_summary_names_missing_and_unreadable_files(tmp_path):
    m = tmp_path / "metrics"
    write_metrics(m, {k: METRICS[k] for k in ("extract", "eval")})
    (m / "dedup.json").write_text("{not json")
    text, missing = run_summary(m, tmp_path / "nope")
    assert missing == [
        f"{m}/filter.json (run `dvc repro filter`)",
        f"{m}/dedup.json (unreadable: JSONDecodeError)",
        f"{m}/tokenizer.json (run `dvc repro tokenizer`)",
        f"{m}/cpt.json (run `dvc repro cpt`)",
        f"{m}/synth.json (run `dvc repro synth`)",
        f"{m}/sft.json (run `dvc repro sft`)",
    ]
    assert "  extract     10 -> 8     docs (-2: prefilter:script_ratio 2)" in text.splitlines()
    assert "training" not in text
    assert f"report    {tmp_path / 'nope'} not written yet (run `dvc repro report`)" in text
    assert text.splitlines()[-6:] == [f"  {x}" for x in missing]


def test_summary_command_without_any_metrics(tmp_path):
    res = CliRunner().invoke(app, ["summary", "-p", str(REPO / "params.yaml"),
                                   "-s", f"paths.metrics={tmp_path}", "-s", f"paths.report={tmp_path}/r"])
    assert res.exit_code == 0, res.output
    assert res.output.count("(run `dvc repro ") == 9  # 8 metric files + the report
    assert f"{tmp_path}/eval.json (run `dvc repro eval`)" in res.output
