"""Evaluation metrics on tiny fixed inputs with hand-computed values (seconds).

Run: .venv/bin/pytest -q tests/test_eval_metrics.py
"""

from __future__ import annotations

import json
import math

import pytest

from langadapt.errors import DataError
from langadapt.evaluation.lm import Window, bits_per_byte, rolling_windows, score_windows
from langadapt.evaluation.stability import language_stability
from langadapt.evaluation.translation import clean_translation, translation_prompt, translation_scores
from langadapt.generation import Generation, truncation


class CharTokenizer:
    """One token per character; id 0 is BOS (the prefix every document is scored after)."""

    bos_token_id, eos_token_id, pad_token_id = 0, 1, 1

    def __init__(self, alphabet: str):
        self.ids = {c: i + 2 for i, c in enumerate(alphabet)}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.ids[c] for c in text]}


def uniform_forward(vocab: int):
    """A 'model' whose next-token distribution is uniform over ``vocab`` ids: every NLL is ln(vocab)."""
    import torch

    def forward(ids, select):
        return torch.zeros(int(select.sum()), vocab)

    return forward


# -- bits per byte ----------------------------------------------------------------------------------


def test_bits_per_byte_uniform_model_is_hand_computed():
    tok = CharTokenizer("abcdกข")
    # 4 ASCII chars (4 bytes) + 2 Thai chars (3 bytes each): 6 tokens, 10 bytes, each NLL = ln 8.
    res = bits_per_byte(None, tok, ["abcd", "กข"], window=3, stride=2, batch_size=2, forward=uniform_forward(8))
    assert res["tokens"] == 6 and res["bytes"] == 10
    assert res["nll_nats"] == pytest.approx(6 * math.log(8))
    assert res["bpb"] == pytest.approx(6 * math.log(8) / (math.log(2) * 10))  # = 1.8 bits per byte
    assert res["bpb"] == pytest.approx(1.8)
    assert res["token_ppl"] == pytest.approx(8.0)


def test_bits_per_byte_bigram_stub():
    """P(next) depends on the previous token only: P(a|BOS)=1/2, P(b|a)=1/4, P(a|b)=1 (hand-computed)."""
    import torch

    tok = CharTokenizer("ab")  # a=2, b=3
    table = torch.full((4, 4), -1e9)
    table[0, 2], table[0, 3] = math.log(0.5), math.log(0.5)
    table[2, 3], table[2, 2] = math.log(0.25), math.log(0.75)
    table[3, 2] = 0.0

    def forward(ids, select):
        return table[ids][select]

    # "aba": -ln(1/2) - ln(1/4) - ln(1) = ln 8 nats over 3 bytes = 1 bit per byte, any window >= 2
    for window, stride in ((8, 8), (2, 1), (2, 2), (3, 1)):
        res = bits_per_byte(None, tok, ["aba"], window=window, stride=stride, forward=forward)
        assert res["nll_nats"] == pytest.approx(math.log(8)), (window, stride)
        assert res["bpb"] == pytest.approx(1.0)


def test_rolling_windows_score_every_token_once_with_maximal_context():
    toks = list(range(10, 20))  # 10 tokens, prefix 0
    ws = rolling_windows(toks, 0, window=4, stride=2)
    assert [(w.inputs, w.n_scored) for w in ws] == [
        ([0, 10, 11, 12], 4),  # the first window scores all it sees (10..13), after the prefix
        ([11, 12, 13, 14], 2),  # then `stride` new tokens each, with window - stride tokens of context
        ([13, 14, 15, 16], 2),
        ([15, 16, 17, 18], 2),
    ]
    scored = [t for w in ws for t in w.targets[-w.n_scored:]]
    assert scored == toks  # each token exactly once, in order
    for w in ws:  # targets are the inputs shifted by one
        assert w.targets[:-1] == w.inputs[1:]
    assert all(len(w.inputs) == 4 for w in ws[1:])  # later windows always see a full window
    # stride == window is lm-eval's loglikelihood_rolling: disjoint windows, the first after the prefix
    ws = rolling_windows(toks, 0, window=4, stride=4)
    assert [w.inputs for w in ws] == [[0, 10, 11, 12], [13, 14, 15, 16], [15, 16, 17, 18]]
    assert [w.n_scored for w in ws] == [4, 4, 2]
    assert rolling_windows([], 0, 4, 2) == []
    with pytest.raises(ValueError):
        rolling_windows(toks, 0, window=4, stride=5)


def test_score_windows_batched_with_padding_matches_one_by_one():
    import torch

    torch.manual_seed(0)
    emb = torch.randn(30, 16)

    def forward(ids, select):  # a causal, position-aware stub: logits from the token, its position, the prefix sum
        pos = torch.arange(ids.shape[1]).float().view(1, -1, 1)
        h = emb[ids].cumsum(1) + pos * 0.1
        return (h @ emb.T)[select]

    ws = [w for i, n in enumerate((3, 9, 5, 1)) for w in rolling_windows(list(range(2, 2 + n)), 0, 4, 2, doc=i)]
    one = score_windows(forward, ws, batch_size=1, pad_id=1)
    many = score_windows(forward, ws, batch_size=3, pad_id=1)
    assert many == pytest.approx(one, abs=1e-5)
    assert isinstance(ws[0], Window)


@pytest.mark.integration
def test_bits_per_byte_real_tiny_qwen3_matches_full_context():
    """On a tiny random Qwen3: windows larger than the text equal one full-context forward pass."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from langadapt.evaluation.lm import hf_forward

    cfg = Qwen3Config(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=128)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg).eval()
    tok = CharTokenizer("abcdefghijklmnopqrstuvwxyz ")
    texts = ["hello world", "the quick brown fox jumps", "a"]
    res = bits_per_byte(model, tok, texts, window=64, stride=64, batch_size=3)
    ref = 0.0
    for t in texts:
        ids = torch.tensor([[0] + tok(t)["input_ids"]])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1]
        ref += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
    assert res["nll_nats"] == pytest.approx(ref, rel=1e-5)
    small = bits_per_byte(model, tok, texts, window=6, stride=3, batch_size=2, forward=hf_forward(model))
    assert small["tokens"] == res["tokens"]  # same tokens scored, less context
    assert small["windows"] > res["windows"]


# -- translation ----------------------------------------------------------------------------------


def test_chrf_matches_sacrebleu_reference_values():
    # sacrebleu's own test cases (test/test_chrf.py, effective-order mode, the 2.x default)
    assert translation_scores(["aa"], ["ab"], "en")["chrf"] == pytest.approx(25.0)
    assert translation_scores(["a", "b"], ["a", "c"], "en")["chrf"] == pytest.approx(50.0)
    assert translation_scores(["a b c"], ["abc"], "en")["chrf"] == pytest.approx(100.0)


def test_thai_bleu_uses_word_segmentation_not_13a():
    hyp, ref = "ผมรักภาษาไทยและชอบอาหารไทย", "ผมรักภาษาไทยและชอบอาหารไทยมาก"
    th = translation_scores([hyp], [ref], "th")
    # newmm: 7 hypothesis words all in the 8-word reference: every precision 1, BP = exp(1 - 8/7)
    assert th["bleu"] == pytest.approx(100 * math.exp(1 - 8 / 7))
    assert "tok:none+seg:th-words" in th["signatures"]["bleu"]
    assert th["signatures"]["chrf"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0")
    # 13a leaves Thai unsegmented: one "word" each, no match
    assert translation_scores([hyp], [ref], "en")["bleu"] == 0.0
    # chrF ignores whitespace, so segmentation does not change it
    assert th["chrf"] == pytest.approx(translation_scores([hyp], [ref], "en")["chrf"])


def test_translation_prompt_and_cleanup():
    assert translation_prompt("สวัสดี", "th", "en") == [{"role": "user", "content": "Translate to English: สวัสดี"}]
    assert translation_prompt("Hi", "en", "th")[0]["content"] == "Translate to Thai: Hi"
    assert clean_translation("\n  Hello.  \nNote: literal") == "Hello."
    assert clean_translation("   ") == ""
    assert translation_scores([], [], "th")["n"] == 0


# -- instruction following --------------------------------------------------------------------------


def test_strict_vs_loose_accuracy_on_crafted_responses():
    from langadapt.evaluation.instruction import summarize_ifeval
    from langadapt.ifeval import score_ifeval

    end = {"end_phrase": "ขอบคุณครับ"}
    recs = [
        # strict fails (a trailing markdown line), loose passes (IFEval drops the last line)
        {"key": 1, "prompt": "p", "instruction_id_list": ["startend:end_checker"], "kwargs": [end],
         "response": "วันนี้อากาศดี ขอบคุณครับ\n*หมายเหตุ*"},
        # both pass
        {"key": 2, "prompt": "p", "instruction_id_list": ["startend:end_checker", "punctuation:no_comma"],
         "kwargs": [end, {}], "response": "วันนี้อากาศดี ขอบคุณครับ"},
        # both fail: a comma, and a wrong ending that no loose variant fixes
        {"key": 3, "prompt": "p", "instruction_id_list": ["punctuation:no_comma", "startend:end_checker"],
         "kwargs": [{}, end], "response": "ไม่, ค่ะ"},
    ]
    m = summarize_ifeval(score_ifeval(recs, "th"), "ifeval")
    assert m == {"ifeval_prompt_strict": pytest.approx(1 / 3, abs=1e-4),
                 "ifeval_prompt_loose": pytest.approx(2 / 3, abs=1e-4),
                 "ifeval_inst_strict": pytest.approx(2 / 5, abs=1e-4),
                 "ifeval_inst_loose": pytest.approx(3 / 5, abs=1e-4)}


def test_generated_ifeval_set_is_deterministic_and_valid():
    from langadapt.evaluation.instruction import build_ifeval_set, build_multi_turn
    from langadapt.ifeval import parse_ifeval_record

    a, b = build_ifeval_set("th", 12, seed=7), build_ifeval_set("th", 12, seed=7)
    assert a == b and len(a) == 12
    for i, r in enumerate(a):
        prompt, ids, _ = parse_ifeval_record(r, f"gen:{i}")
        assert ids and prompt.splitlines()[0]
    mt = build_multi_turn("th", 4, seed=7)
    assert [m["mode"] for m in mt] == ["add", "change", "add", "change"]
    assert len(mt[0]["turn2"]["instruction_id_list"]) == 2  # added: both constraints active
    assert len(mt[1]["turn2"]["instruction_id_list"]) == 1  # changed: only the new one
    for lang in ("bo", "zh-Hant"):
        assert len(build_ifeval_set(lang, 3, seed=1)) == 3


def test_ifeval_file_in_wrong_format_names_file_and_line(tmp_path):
    from langadapt.evaluation.instruction import load_ifeval_file

    good = {"key": 1, "prompt": "เขียน", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    sea = {"id": "x", "prompts": [{"text": "เขียน"}], "metadata": {"subcategory": "punctuation:no_comma"},
           "kwargs": [{}]}
    p = tmp_path / "ifeval.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(sea) + "\n", encoding="utf-8")
    recs = load_ifeval_file(p)
    assert [r["instruction_id_list"] for r in recs] == [["punctuation:no_comma"]] * 2
    p.write_text(json.dumps(good) + "\n" + json.dumps({"question": "no ids"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{p}:2: not an IFEval record"):
        load_ifeval_file(p)
    p.write_text(json.dumps(good) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{p}:2: invalid JSON"):
        load_ifeval_file(p)


# -- stability, truncation, judge -------------------------------------------------------------------


def test_language_stability_and_code_switching():
    res = language_stability(["สวัสดีครับ", "Hello there", "สวัสดีครับ OK", ""], "th")
    # Thai; English (unstable, not mixed); Thai with 2 of 12 letters Latin (> 0.1: mixed); empty (unstable)
    assert res == {"stability": 0.5, "code_switch_rate": 0.25,
                   "foreign_token_share": pytest.approx((0 + 1 + 1 / 3 + 0) / 4), "n": 4}
    assert language_stability(["สวัสดีครับ OK"], "th", threshold=0.2)["code_switch_rate"] == 0.0
    assert language_stability([], "th")["stability"] is None


def test_truncation_is_counted():
    gens = [Generation("a", "stop", 3), Generation("b", "length", 96), Generation("c", "length", 96)]
    assert truncation(gens) == {"truncated": 2, "truncated_share": pytest.approx(2 / 3)}
    assert truncation([]) == {"truncated": 0, "truncated_share": 0.0}


def test_judge_rating_parse():
    from langadapt.evaluation.runner import parse_rating

    assert parse_rating("Good answer. Rating: [[7]]") == 7.0
    assert parse_rating("[[8.5]]") == 8.5
    assert parse_rating("no rating") is None
    assert parse_rating("[[11]]") is None
