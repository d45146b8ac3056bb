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


def test_repetition_loops_are_counted_and_flag_benchmark_metrics():
    from langadapt.evaluation.honesty import repetition_share, repetitive

    assert repetitive("[ชื่อ]: " * 20) and repetitive("<<จดย.>>\n\n" * 10)
    assert not repetitive("ป.ป.ล. ณป.ป.ล.")                  # short: never a loop
    assert not repetitive("วันนี้ (13 พฤษภาคม 2561) เวลา 13.30 น. ณ ห้องประชุม 301 ตึกบัญชาการ 1 ทำเนียบรัฐบาล")
    assert repetition_share(["[ชื่อ]: " * 20, "ok", "", "กะ" * 30]) == 0.5 and repetition_share([]) is None
    # benchmark metrics read their own answers' shares and their own constant-answer baseline
    m = {"ifeval_sea_prompt_strict": 0.2, "ifeval_sea_prompt_strict_baseline": 0.1, "ifeval_sea_truncated_share": 0.9,
         "ifeval_sea_repetitive_share": 0.6, "ifeval_en_prompt_strict": 0.1, "ifeval_en_prompt_strict_baseline": 0.1,
         "ifeval_en_truncated_share": 0.2, "ifeval_sea_vs_base_sign_p": 0.125}
    assert metric_flags(m, {}) == {
        "ifeval_sea_prompt_strict": ["90% of answers truncated", "60% of answers are repetition loops"],
        "ifeval_sea_truncated_share": ["90% of answers truncated", "60% of answers are repetition loops"],
        "ifeval_sea_repetitive_share": ["90% of answers truncated"],
        "ifeval_en_prompt_strict": ["not above the constant baseline"],
    }


def test_paired_sign_test_counts_prompts_won_and_lost():
    from langadapt.evaluation.honesty import paired_sign_test

    sft = {str(i): i < 8 for i in range(40)}           # passes prompts 0-7
    base = {str(i): 2 <= i < 6 or i == 39 for i in range(40)}  # passes 2-5 and 39
    assert paired_sign_test(sft, base) == {"prompts": 40, "wins": 4, "losses": 1, "sign_p": 0.375}
    assert paired_sign_test(base, base) == {"prompts": 40, "wins": 0, "losses": 0, "sign_p": 1.0}
    assert paired_sign_test({"a": True}, {"b": False})["prompts"] == 0   # only shared prompts count


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
         "base 0.2500 -> sft 0.5000; constant answer 0.5000", "no"],
    ]
    # IFEval-Th (SEA-IFEval) when it was run, with the paired prompt comparison: +4 prompts of 40 and none
    # lost is p = 0.125 (a gain, not significant); pref over SFT is a row of its own
    sea = {"base": {"ifeval_sea_prompt_strict": 0.1, "ifeval_prompt_strict": 0.9},
           "sft": {"ifeval_sea_prompt_strict": 0.2, "ifeval_sea_prompt_strict_baseline": 0.1,
                   "ifeval_sea_vs_base_wins": 4, "ifeval_sea_vs_base_losses": 0, "ifeval_sea_vs_base_sign_p": 0.125},
           "pref": {"ifeval_sea_prompt_strict": 0.5, "ifeval_sea_prompt_strict_baseline": 0.1,
                    "ifeval_sea_vs_sft_wins": 12, "ifeval_sea_vs_sft_losses": 0, "ifeval_sea_vs_sft_sign_p": 0.0005,
                    "ifeval_sea_repetitive_share": 0.25}}
    assert goal_rows({}, sea, None) == [
        ["SFT raises IFEval-Th (SEA-IFEval, prompt strict) over base and over the constant baseline",
         "base 0.1000 -> sft 0.2000; constant answer 0.1000; paired: 4 prompts gained, 0 lost (sign test p = 0.125)",
         "gain, not significant"],
        ["pref raises IFEval-Th (SEA-IFEval, prompt strict) over sft and over the constant baseline",
         ("sft 0.2000 -> pref 0.5000; constant answer 0.1000; paired: 12 prompts gained, 0 lost (sign test p = 0.0005); "
          "25% of pref's answers are repetition loops"), "yes"],
    ]
    # the same gain where most answers are loops (a P.S. marker repeated to the token limit) is not met
    sea["pref"]["ifeval_sea_repetitive_share"] = 0.9
    assert goal_rows({}, sea, None)[1][2] == "no: a checker gain in mostly degenerate answers"
    sea["pref"].update(ifeval_sea_prompt_strict=0.175, ifeval_sea_vs_sft_wins=1, ifeval_sea_vs_sft_losses=2,
                       ifeval_sea_vs_sft_sign_p=1.0)
    assert "paired: 1 prompt gained, 2 lost (sign test p = 1)" in goal_rows({}, sea, None)[1][1]
    # no reference: measured from base; a worse CPT says so
    rows = goal_rows({}, {"base": {"bpb": 1.0}, "cpt": {"bpb": 1.2}}, None)
    assert rows == [["CPT cuts held-out bits per byte by >= 30% (from base)", "1.00 -> 1.20 (worse by 20.0%)", "no"]]


def test_evidence_rows_name_the_benchmark_prompts_each_number_rests_on():
    from langadapt.evaluation.report import evidence_rows

    summary = {"counts": {"sea_ifeval_prompts": 42, "en_ifeval_prompts": 12, "flores_pairs": 6}}
    detail = {"base": {"benchmarks": {
        "sea_ifeval": {"n_prompts": 40, "n_instructions": 40, "excluded": {"length_constraints:number_words": 2}},
        "en_ifeval": {"n_prompts": 12, "n_instructions": 20}}}}
    assert evidence_rows(summary, detail) == [
        ["IFEval-Th (SEA-IFEval)", ("42 prompts, 40 scored (40 instructions); not scored in this language: "
                                    "length_constraints:number_words x2")],
        ["IFEval English", "12 prompts (20 instructions)"],
        ["FLORES-200", "6 devtest pairs per direction"],
    ]
    assert evidence_rows({"counts": {"sea_ifeval_prompts": 0}}, {}) == []
