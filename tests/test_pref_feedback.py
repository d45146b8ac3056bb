"""Verifier feedback, prompt selection and training rows of the `pref` stage (pure functions, < 1 s).

Run: .venv/bin/pytest -q tests/test_pref_feedback.py
"""

from __future__ import annotations

import pytest

from langadapt.pref.feedback import (
    LANGUAGE_STEP,
    dpo_pairs,
    feedback,
    kto_class_weights,
    kto_rows,
    prompt_messages,
    round_stats,
    select_prompts,
    skip_reason,
    stepwise_weight,
)
from langadapt.records import SFTExample, is_heldout

FEW_WORDS = {"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 4}}
NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}}
THAI_SHORT = "สวัสดีครับ"                  # 2 Thai words, no comma
THAI_COMMA = "สวัสดีครับ, ยินดีที่ได้รู้จัก"
ENGLISH = "hello there"


def test_feedback_per_constraint_and_language():
    fb = feedback(THAI_SHORT, [FEW_WORDS, NO_COMMA], "th", 0.5)
    assert fb == {"constraints": [{"id": FEW_WORDS["id"], "ok": True}, {"id": NO_COMMA["id"], "ok": True}],
                  "language_ok": True, "passed": 2, "checks": 3, "truncated": False, "desirable": True}
    fb = feedback(THAI_COMMA, [FEW_WORDS, NO_COMMA], "th", 0.5)
    assert [c["ok"] for c in fb["constraints"]] == [False, False] and fb["language_ok"] and not fb["desirable"]
    # follows every constraint but is in the wrong language: undesirable
    fb = feedback(ENGLISH, [FEW_WORDS, NO_COMMA], "th", 0.5)
    assert fb["passed"] == 2 and fb["language_ok"] is False and fb["desirable"] is False
    assert stepwise_weight(fb) == pytest.approx(1 / 3)


def test_unknown_constraint_is_a_failed_check_not_a_crash():
    fb = feedback(THAI_SHORT, [{"id": "no_such:constraint", "kwargs": {}}], "th", 0.5)
    assert fb["constraints"][0]["ok"] is False and "unknown constraint id" in fb["constraints"][0]["error"]
    assert fb["desirable"] is False


def test_stepwise_weight():
    good = feedback(THAI_SHORT, [FEW_WORDS, NO_COMMA], "th", 0.5)
    one_bad = feedback("สวัสดี, ครับ", [FEW_WORDS, NO_COMMA], "th", 0.5)   # short but has a comma
    all_bad = feedback("hello, there my dear friend", [FEW_WORDS, NO_COMMA], "th", 0.5)
    assert [stepwise_weight(f) for f in (good, one_bad, all_bad)] == [1.0, pytest.approx(1 / 3), 1.0]


def _rec(pid: str, sample: int, response: str, cons=(FEW_WORDS, NO_COMMA)) -> dict:
    return {"prompt_id": pid, "sample": sample, "messages": [{"role": "user", "content": f"q {pid}"}],
            "response": response, "finish_reason": "stop", "feedback": feedback(response, list(cons), "th", 0.5)}


def test_round_stats_and_rows():
    recs = [_rec("a", 0, THAI_SHORT), _rec("a", 1, THAI_COMMA), _rec("b", 0, ENGLISH), _rec("b", 1, ENGLISH)]
    s = round_stats(recs)
    assert s["samples"] == 4 and s["prompts"] == 2 and s["desirable"] == 1 and s["desirable_share"] == 0.25
    assert s["pass_rate"] == {FEW_WORDS["id"]: 0.75, LANGUAGE_STEP: 0.5, NO_COMMA["id"]: 0.75}
    assert s["constraint_pass_rate"] == 0.75 and s["language_stability"] == 0.5
    rows = kto_rows(recs, stepwise=True)
    assert [r["label"] for r in rows] == [True, False, False, False]
    assert [r["weight"] for r in rows] == [1.0, pytest.approx(2 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3)]
    assert rows[0]["completion"] == [{"role": "assistant", "content": THAI_SHORT}]
    pairs = dpo_pairs(recs, seed=0)  # only prompt a has both kinds
    assert pairs == [{"prompt": recs[0]["messages"], "chosen": [{"role": "assistant", "content": THAI_SHORT}],
                      "rejected": [{"role": "assistant", "content": THAI_COMMA}],
                      "chosen_truncated": False, "rejected_truncated": False}]
    assert [r["truncated"] for r in rows] == [False] * 4 and s["truncated_passing"] == 0
    assert skip_reason(recs, "kto") is None and skip_reason(recs, "dpo") is None


def test_an_answer_cut_at_the_token_limit_is_not_desirable():
    fb = feedback(THAI_SHORT, [FEW_WORDS, NO_COMMA], "th", 0.5, truncated=True)
    assert fb["passed"] == 2 and fb["language_ok"] and fb["truncated"] is True and fb["desirable"] is False
    assert stepwise_weight(fb) == 0.0   # every check holds: the stepwise variant does not push it down
    assert feedback(THAI_SHORT, [FEW_WORDS, NO_COMMA], "th", 0.5, truncated=True, truncated_desirable=True)["desirable"]
    cut = {**_rec("a", 1, THAI_SHORT), "finish_reason": "length"}
    cut["feedback"] = feedback(THAI_SHORT, [FEW_WORDS, NO_COMMA], "th", 0.5, truncated=True)
    recs = [_rec("a", 0, THAI_SHORT), cut, _rec("a", 2, THAI_COMMA)]
    s = round_stats(recs)
    assert (s["desirable"], s["truncated_share"], s["truncated_passing"]) == (1, pytest.approx(1 / 3), 1)
    assert [(r["label"], r["truncated"]) for r in kto_rows(recs)] == [(True, False), (False, True), (False, False)]
    pairs = dpo_pairs(recs, seed=0)
    assert [(p["chosen_truncated"], p["rejected_truncated"]) for p in pairs] == [(False, True), (False, False)]
    # a cut that split a Thai letter's bytes decodes to U+FFFD: not trained as such
    split = {**cut, "response": THAI_SHORT + "\ufffd\ufffd"}
    assert kto_rows([split])[0]["completion"][0]["content"] == THAI_SHORT
    assert kto_rows([{**split, "finish_reason": "stop"}])[0]["completion"][0]["content"] == THAI_SHORT + "\ufffd\ufffd"


@pytest.mark.parametrize("overrides,msg", [
    (["pref.sft_weight=1.0"], "pref.sft_weight: the NLL term on chosen answers is a DPO option"),
    (["pref.loss=dpo", "pref.sft_weight=-1"], "pref.sft_weight: must be >= 0"),
    (["pref.loss=dpo", "pref.stepwise=true"], "pref.stepwise: the stepwise weighting is a KTO variant"),
    (["pref.pairing=score"], "pref.pairing: pairs are a DPO option"),
])
def test_bad_pref_params_name_the_key(overrides, msg):
    from pathlib import Path

    import yaml

    from langadapt.config import parse_params
    from langadapt.errors import ConfigError
    from langadapt.pref.stage import _check_params

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError, match=msg):
        _check_params(parse_params(raw, "params.yaml", overrides))


def test_score_pairs_give_partial_credit():
    three = [FEW_WORDS, NO_COMMA]
    a = [_rec("a", 0, THAI_COMMA, three),              # 1 of 3 checks (language)
         _rec("a", 1, "สวัสดี, ครับ", three),          # 2 of 3 (short, has a comma)
         _rec("a", 2, "hello, there my dear friend", three),   # 0 of 3
         _rec("a", 3, "สวัสดี, ครับ", three)]          # 2 of 3: ties are not paired with each other
    assert not any(r["feedback"]["desirable"] for r in a)
    assert dpo_pairs(a, seed=0) == []                  # no passing answer: no desirable pair
    pairs = dpo_pairs(a, seed=0, pairing="score")
    rejected = [p["rejected"][0]["content"] for p in pairs]
    chosen = [p["chosen"][0]["content"] for p in pairs]
    assert rejected == [THAI_COMMA, "hello, there my dear friend"]   # the top-scoring samples never rejected
    assert chosen[0] == "สวัสดี, ครับ" and chosen[1] in (THAI_COMMA, "สวัสดี, ครับ")
    assert dpo_pairs(a, seed=0, pairing="score") == pairs              # seeded
    assert skip_reason(a, "dpo") is not None and skip_reason(a, "dpo", "score") is None
    assert "different verifier scores" in skip_reason(a[1:2] + a[3:], "dpo", "score")


def test_kto_class_weights_balance_the_minority_class():
    rows = [{"label": True}] * 2 + [{"label": False}] * 62
    assert kto_class_weights(rows, 1.0, 1.0, balance=True) == (31.0, 1.0)     # 2 x 31 == 62 x 1
    assert kto_class_weights(rows, 1.0, 1.0, balance=False) == (1.0, 1.0)
    many = [{"label": True}] * 48 + [{"label": False}] * 16
    assert kto_class_weights(many, 1.0, 1.0, balance=True) == (1.0, 3.0)      # the undesirable class scaled up
    assert kto_class_weights(rows[:2], 1.0, 1.0, balance=True) == (1.0, 1.0)  # one class only: as given
    assert kto_class_weights([], 2.0, 0.5, balance=True) == (2.0, 0.5)


def test_skip_reasons():
    good = [_rec("a", 0, THAI_SHORT), _rec("b", 0, THAI_SHORT)]
    bad = [_rec("a", 0, ENGLISH), _rec("b", 0, THAI_COMMA)]
    assert "every one of the 2 samples passes" in skip_reason(good, "kto")
    assert "every one of the 2 samples fails" in skip_reason(bad, "kto")
    assert skip_reason([], "kto") == "no samples"
    assert "no DPO pair" in skip_reason([good[0], bad[1]], "dpo")   # a passes, b fails: no prompt has both
    assert skip_reason([good[0], bad[1]], "kto") is None


def test_select_prompts_held_out_with_constraints_only():
    exs = [SFTExample(id=f"e{i}", messages=[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
                      lang="th", source="t", constraints=[FEW_WORDS] if i % 2 else []) for i in range(40)]
    prompts, counts = select_prompts(exs, 0.5, 0)
    held = [e for e in exs if is_heldout(e.id, 0.5)]
    assert counts["examples"] == 40 and counts["train_split"] == 40 - len(held)
    assert counts["no_constraints"] == sum(1 for e in held if not e.constraints)
    assert [p["id"] for p in prompts] == sorted(e.id for e in held if e.constraints)
    assert prompts[0]["messages"] == [{"role": "user", "content": f"q{prompts[0]['id'][1:]}"}]
    assert len(select_prompts(exs, 0.5, 2)[0]) == 2
    assert select_prompts(exs, 0.0, 0)[0] == []   # nothing held out: no prompt (the stage says so and skips)


def test_prompt_messages_drops_the_final_answer():
    msgs = [{"role": "user", "content": "1"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "2"},
            {"role": "assistant", "content": "b"}]
    assert prompt_messages(msgs) == msgs[:3]
    assert prompt_messages([{"role": "system", "content": "s"}]) == []


def test_report_section_compares_sft_and_pref(tmp_path):
    from langadapt.config import Params
    from langadapt.evaluation.report import Doc
    from langadapt.pref.report import pref_section

    stages = {"pref": {"rounds": 1, "loss": "kto", "stepwise": True, "samples_per_prompt": 4, "prompts": 8,
                       "rounds_trained": 1, "rounds_skipped": 0,
                       "per_round": [{"round": 0, "samples": 32, "desirable_share": 0.5, "constraint_pass_rate": 0.75,
                                      "language_stability": 0.5, "train_loss": 0.4, "kl": 0.1, "rewards_margins": 0.02}],
                       "final": {"samples": 32, "desirable_share": 0.625, "constraint_pass_rate": 0.8,
                                 "language_stability": 0.6, "truncated_share": 0.25, "truncated_passing": 3}}}
    results = {"sft": {"ifeval_prompt_strict": 0.25, "bpb": 3.0},
               "pref": {"ifeval_prompt_strict": 0.5, "bpb": 3.25, "judge_win_rate_vs_sft": 0.75}}
    doc, notes = Doc(), []
    pref_section(doc, Params(), stages, results, tmp_path, notes)
    md = doc.markdown()
    assert "KTO (stepwise weights)" in md and "| final policy | 32 | 0.6250 | 0.8000 | 0.6000 | 0.250 (3) |" in md
    assert "the answer ended within 32 tokens" in md   # a cut answer is not desirable (pref.truncated_desirable)
    assert "| IFEval prompt strict (higher is better) | 0.2500 | 0.5000 | 0.2500 |" in md
    assert "| bits per byte (forgetting) (lower is better) | 3.0000 | 3.2500 | 0.2500 |" in md
    assert "win rate of pref vs sft" in md and "0.7500" in md
    assert any("tiny random-initialised" in n for n in notes)
    doc2 = Doc()
    pref_section(doc2, Params(), {}, results, tmp_path, [])   # no pref stage ran: no section
    assert doc2.markdown().strip() == ""
