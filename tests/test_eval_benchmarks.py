"""The eval stage's published benchmarks (langadapt.evaluation.benchmarks): SEA-HELM's FLORES-200
prompts and answer extraction, the IFEval-Th subset, the trivial baselines.

Run: .venv/bin/pytest -q tests/test_eval_benchmarks.py   (a few seconds)

FLORES-200 devtest record 0 (CC BY-SA 4.0, via SEA-HELM) is inlined.
"""

from __future__ import annotations

from pathlib import Path

from langadapt.config import load_params
from langadapt.evaluation.benchmarks import load_benchmarks, round_robin, trivial_baseline
from langadapt.evaluation.translation import benchmark_prompt, extract_answer, translation_scores

EN0 = "\"We now have 4-month-old mice that are non-diabetic that used to be diabetic,\" he added."
TH0 = "\"ขณะนี้เรามีหนูอายุ 4 เดือนที่ไม่เป็นโรคเบาหวานซึ่งแต่ก่อนเคยเป็น\" เขากล่าวเพิ่มเติม"


def test_seahelm_prompts_and_answer_tag():
    msg = benchmark_prompt(EN0, "th", "from_en")[0]["content"]
    assert msg == ("แปลข้อความต่อไปนี้เป็นภาษาไทย\n\nจงตอบตามรูปแบบดังต่อไปนี้:\n\"คำแปล: TRANSLATION\"\n"
                   "โดยจะต้องแทนที่ TRANSLATION ด้วยข้อความที่แปลแล้ว\n\nข้อความ:\n```\n" + EN0 + "\n```")
    assert benchmark_prompt(TH0, "th", "to_en")[0]["content"].startswith("แปลข้อความต่อไปนี้เป็นภาษาอังกฤษ")
    # SEA-HELM's extraction: after the tag, past spaces, backticks and stars, to the end of the line
    assert extract_answer("คำแปล: ** " + TH0 + "\nหมายเหตุ", "th", "from_en") == (TH0, True)
    assert extract_answer(TH0 + "\n(แปลแล้ว)", "th", "from_en") == (TH0, False)
    # a language without SEA-HELM templates falls back to the plain prompt
    assert benchmark_prompt("x", "bo", "to_en")[0]["content"] == "Translate to English: x"


def test_thai_scores_segment_words_for_bleu():
    s = translation_scores([TH0], [TH0], "th")
    assert round(s["bleu"], 6) == 100.0 and round(s["chrf"], 6) == 100.0
    assert "tok:none+seg:th-words" in s["signatures"]["bleu"]


def test_ifeval_th_subset_covers_every_id_and_baselines(repo_root: Path):
    cfg = load_params(repo_root / "params.yaml", ["eval.sea_ifeval_prompts=21", "eval.en_ifeval_prompts=3",
                                                  "eval.flores_pairs=2"])
    b = load_benchmarks(cfg, repo_root)
    assert len(b["sea_ifeval"]) == 21 and len({it.ids[0] for it in b["sea_ifeval"]}) == 21
    assert [p["id"] for p in b["flores"]] == [0, 1] and b["flores"][0]["th"] == TH0
    base = b["baseline"]
    # the constant "OK": no SEA-IFEval id but quotation-free/number-free ones can pass; never Thai
    assert base["ifeval_sea_lang_normalized"] == 0.0 and base["ifeval_sea_correct_language"] == 0.0
    assert 0.0 <= base["ifeval_sea_prompt_strict"] < 0.2
    assert base == trivial_baseline(b, "th")
    assert round_robin([1, 2, 3, 4, 5], lambda x: x % 2, 3) == [1, 2, 3]
