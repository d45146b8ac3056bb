"""Honest metrics: the constant-answer baseline, metric flags, the held-out/train overlap check, and the
report columns that show them.

    python -m pytest -q tests/test_eval_honesty.py
"""

from __future__ import annotations

from langadapt.evaluation.honesty import constant_baseline, drop_train_overlap, metric_flags
from langadapt.evaluation.report import comparison_rows, flagged_summary

IFEVAL = [
    {"key": 1, "prompt": "ตอบโดยไม่ใช้เครื่องหมายจุลภาค", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 2, "prompt": "ตอบอย่างน้อย 50 คำ", "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{"relation": "at least", "num_words": 50}]},
    {"key": 3, "prompt": "ตอบเป็นภาษาไทยเท่านั้น", "instruction_id_list": ["langadapt:target_script_only"], "kwargs": [{}]},
    {"key": 4, "prompt": "ไม่มีจุลภาค และอย่างน้อย 50 คำ",
     "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
     "kwargs": [{}, {"relation": "at least", "num_words": 50}]},
]


def test_constant_baseline_scores_trivial_answers_with_the_same_verifiers():
    b = constant_baseline(IFEVAL, [], "th", answers=["ได้", "ok"])
    # "ได้": no comma (1, 4a), Thai only (3); never 50 words (2, 4b) -> prompts 1 and 3 pass
    assert b["per_answer"]["ได้"]["ifeval_prompt_strict"] == 0.5
    assert b["per_answer"]["ได้"]["ifeval_inst_strict"] == 0.6
    # "ok": no comma but not Thai script -> prompt 1 only
    assert b["per_answer"]["ok"]["ifeval_prompt_strict"] == 0.25
    assert b["metrics"]["ifeval_prompt_strict"] == 0.5 and b["best_answer"]["ifeval_prompt_strict"] == "ได้"
    assert not any(k.startswith("multiturn") for k in b["metrics"])


def test_flags_name_what_is_not_a_result():
    base = {"ifeval_prompt_strict": 0.5}
    m = {"ifeval_prompt_strict": 0.5, "ifeval_truncated_share": 0.9, "chrf_to_en": 12.0,
         "translation_truncated_share": 0.25, "bpb": 1.1, "stability": 1.0, "truncated_share": 0.6}
    assert metric_flags(m, base) == {
        "ifeval_prompt_strict": ["not above the constant baseline", "90% of answers truncated"],
        "ifeval_truncated_share": ["90% of answers truncated"],
        "stability": ["60% of answers truncated"],
    }
    assert metric_flags({"ifeval_prompt_strict": 0.51, "ifeval_truncated_share": 0.5}, base) == {}
    results = {"base": {"ifeval_prompt_strict": 0.25}, "sft": {"ifeval_prompt_strict": 0.75}}
    flags = {"base": metric_flags(results["base"], base), "sft": metric_flags(results["sft"], base)}
    h, rows = comparison_rows(results, base, flags)
    assert h == ["metric", "base", "SFT", "SFT - base", "constant baseline", "flags"]
    assert rows == [["IFEval prompt strict (higher is better)", "0.2500", "0.7500", "+0.5000", "0.5000",
                     "base: not above the constant baseline"]]
    assert flagged_summary(results, flags) == ["base: IFEval prompt strict (not above the constant baseline)"]
    assert comparison_rows(results)[0] == ["metric", "base", "SFT", "SFT - base"]


def test_heldout_overlap_with_training_text_is_found_and_dropped():
    shared = "การประชุมคณะรัฐมนตรีวันนี้ได้อนุมัติงบประมาณช่วยเหลือเกษตรกรผู้ประสบภัยแล้ง"  # 71 chars
    assert len(shared) > 50
    fresh = "นักวิจัยพบพันธุ์กล้วยไม้ชนิดใหม่ในป่าดิบเขาทางภาคเหนือ ซึ่งยังไม่เคยมีรายงานมาก่อนเลย"
    heldout = [fresh, shared + "  และกำชับให้เร่งดำเนินการ", "สั้น"]
    train = ["ข่าวเช้า " + shared.replace("วันนี้", "วันนี้") + " ต่อ", "อื่น ๆ"]
    kept, rep = drop_train_overlap(heldout, train)
    assert kept == [fresh, "สั้น"]
    assert rep["docs_with_overlap"] == 1 and rep["dropped"] == 1 and rep["train_docs"] == 2
    assert rep["max_overlap_share_kept"] == 0.0
    # whitespace differences do not hide copied text; a shorter shared run than the window is not overlap
    spaced = shared.replace("วันนี้", "วันนี้ ")
    kept2, rep2 = drop_train_overlap([spaced], [spaced.replace(" ", " \n\t ")])
    assert kept2 == [] and rep2["docs_with_overlap"] == 1
    kept3, rep3 = drop_train_overlap([shared], [shared[:49]])
    assert kept3 == [shared] and rep3["docs_with_overlap"] == 0


def test_goal_rows_measure_the_adaptation_goals():
    from langadapt.evaluation.report import goal_rows

    stages = {"reference": {"label": "imported base", "bpb": 2.0},
              "tokenizer": {"lang": "th", "added_tokens": 3000, "fertility_before": {"tokens_per_char": 1.8},
                            "fertility_after": {"tokens_per_char": 0.6}}}
    results = {"base": {"bpb": 2.6, "ifeval_prompt_strict": 0.25}, "cpt": {"bpb": 1.5},
               "sft": {"ifeval_prompt_strict": 0.5}}
    assert goal_rows(stages, results, {"ifeval_prompt_strict": 0.5}) == [
        ["CPT cuts held-out bits per byte by >= 30% (from imported base)", "2.00 -> 1.50 (+25.0% cut)", "no"],
        ["the tokenizer at least halves th tokens per character", "1.800 -> 0.600 (0.33x; 3000 tokens added)", "yes"],
        ["SFT raises IFEval (prompt strict) over base and over the constant baseline",
         "base 0.2500 -> SFT 0.5000; constant baseline 0.5000", "no"],
    ]
    # no reference: measured from base; a worse CPT says so
    rows = goal_rows({}, {"base": {"bpb": 1.0}, "cpt": {"bpb": 1.2}}, None)
    assert rows == [["CPT cuts held-out bits per byte by >= 30% (from base)", "1.00 -> 1.20 (worse by 20.0%)", "no"]]
