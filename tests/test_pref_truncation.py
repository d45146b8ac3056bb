"""Truncated samples train without the end of turn TRL's chat template would append (langadapt.pref.train):
the real TRL KTO/DPO dataset preparation on a tiny BPE tokenizer and a random tiny Qwen3 (a few seconds).

Run: .venv/bin/pytest -q tests/test_pref_truncation.py
"""

from __future__ import annotations

import pytest

from langadapt.pref.train import end_of_turn_ids, open_ended_truncated, strip_end_of_turn

PROMPT = [{"role": "user", "content": "สวัสดีครับ"}]


def test_strip_end_of_turn():
    assert strip_end_of_turn([5, 6, 7, 1, 2], [1, 2], eos_id=1) == [5, 6, 7]
    assert strip_end_of_turn([5, 6, 1], [1, 2], eos_id=1) == [5, 6]        # a lone EOS
    assert strip_end_of_turn([5, 6, 7], [1, 2], eos_id=1) == [5, 6, 7]     # nothing to strip
    assert strip_end_of_turn([1, 2], [1, 2], eos_id=1) == [1, 2]           # never emptied
    assert strip_end_of_turn([5, 1, 2], [], eos_id=None) == [5, 1, 2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from langadapt.train.modeling import build_tiny_qwen3, load_causal_lm, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer
    from pref_project import TINY, thai_sentences

    tmp = tmp_path_factory.mktemp("trunc")
    tok = train_bpe_tokenizer(thai_sentences()[:200], vocab_size=300, min_frequency=2)
    model = build_tiny_qwen3(TINY, vocab_size=len(tok), seed=3, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
    save_hf(model, tok, tmp / "model")  # TRL builds the reference copy from the model's path
    model, tok = load_causal_lm(tmp / "model")
    return model, tok, tmp


def test_end_of_turn_is_what_the_template_appends(tiny):
    _, tok, _ = tiny
    eot = end_of_turn_ids(tok)
    assert tok.decode(eot) == "<|im_end|>\n"


def _rows(texts_and_cut, key="completion"):
    return [{"prompt": PROMPT, key: [{"role": "assistant", "content": t}], "label": i % 2 == 0, "truncated": cut}
            for i, (t, cut) in enumerate(texts_and_cut)]


def test_kto_truncated_completions_end_where_the_model_was_cut(tiny):
    from datasets import Dataset
    from trl import KTOConfig, KTOTrainer

    model, tok, tmp = tiny
    texts = [("ขอบคุณครับ", False), ("ขอบคุณครับ", True), ("ยินดีครับ", True), ("ยินดีครับ", False)]
    args = KTOConfig(output_dir=str(tmp / "kto"), per_device_train_batch_size=2, use_cpu=True, report_to=[],
                     max_length=64, dataset_num_proc=None)
    plain = KTOTrainer(model=model, args=args, train_dataset=Dataset.from_list(_rows(texts)), processing_class=tok)
    ours = open_ended_truncated(KTOTrainer)(model=model, args=args, train_dataset=Dataset.from_list(_rows(texts)),
                                            processing_class=tok)
    eot = end_of_turn_ids(tok)
    a, b = plain.train_dataset, ours.train_dataset
    for i, (_, cut) in enumerate(texts):
        assert a[i]["completion_ids"][-len(eot):] == eot          # TRL closes every completion
        assert b[i]["completion_ids"] == (a[i]["completion_ids"][: -len(eot)] if cut else a[i]["completion_ids"])
        assert b[i]["prompt_ids"] == a[i]["prompt_ids"]
    # KL pairs: the stripped completions rotated by one within each batch of 2, as TRL builds them
    kl = [r["KL_completion_ids"] for r in b]
    comp = [r["completion_ids"] for r in b]
    assert kl == [comp[1], comp[0], comp[3], comp[2]]


def test_dpo_truncated_rejected_ends_where_the_model_was_cut(tiny):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tok, tmp = tiny
    rows = [{"prompt": PROMPT, "chosen": [{"role": "assistant", "content": "ขอบคุณครับ"}],
             "rejected": [{"role": "assistant", "content": "ยินดีครับ ยินดีครับ"}],
             "chosen_truncated": False, "rejected_truncated": cut} for cut in (True, False)]
    args = DPOConfig(output_dir=str(tmp / "dpo"), per_device_train_batch_size=2, use_cpu=True, report_to=[],
                     max_length=64, dataset_num_proc=None)
    ds = open_ended_truncated(DPOTrainer)(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                          processing_class=tok).train_dataset
    eot = end_of_turn_ids(tok)
    assert ds[0]["chosen_ids"][-len(eot):] == eot and ds[1]["chosen_ids"][-len(eot):] == eot
    assert ds[0]["rejected_ids"] == ds[1]["rejected_ids"][: -len(eot)]
