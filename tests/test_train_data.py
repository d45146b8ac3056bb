"""Unit tests of langadapt.train: packing, SFT loss mask, data order, LR schedule, checkpoint
completeness, model loading errors. Seconds, no Ray.

    .venv/bin/pytest -q tests/test_train_data.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from langadapt.config import Params
from langadapt.errors import ModelError
from langadapt.train.data import (
    IGNORE_INDEX,
    PackedTokens,
    collate,
    micro_batch_indices,
    pack_tokens,
    sample_index,
    sft_example_tokens,
)
from langadapt.train.modeling import IM_END, build_tiny_qwen3, load_causal_lm
from langadapt.train.tokenizer import train_bpe_tokenizer
from langadapt.train.trainer import (
    checkpoint_complete,
    deepspeed_config,
    latest_complete_checkpoint,
    lr_lambda,
    write_manifest,
)

EOS, PAD = 0, 3


def test_pack_tokens_exact_on_hand_built_corpus():
    docs = [[10, 11, 12], [20, 21], [30, 31, 32, 33, 34]]
    seqs, labels = pack_tokens(docs, seq_len=4, eos_id=EOS, pad_id=PAD)
    # stream: 10 11 12 EOS 20 21 EOS 30 31 32 33 34 EOS  (13 tokens -> 4 windows, 3 pads)
    assert seqs == [[10, 11, 12, EOS], [20, 21, EOS, 30], [31, 32, 33, 34], [EOS, PAD, PAD, PAD]]
    assert labels == [[10, 11, 12, EOS], [20, 21, EOS, 30], [31, 32, 33, 34], [EOS, -100, -100, -100]]


def test_packed_tokens_file_matches_pure_packing(tmp_path: Path):
    docs = [[10, 11, 12], [20, 21], [30, 31, 32, 33, 34]]
    stream = np.asarray([t for d in docs for t in d + [EOS]], dtype=np.uint32)
    (tmp_path / "train.bin").write_bytes(stream.tobytes())
    packed = PackedTokens(tmp_path / "train.bin", seq_len=4, pad_id=PAD)
    seqs, labels = pack_tokens(docs, 4, EOS, PAD)
    assert len(packed) == 4
    for i in range(4):
        ids, lab = packed.get(i)
        assert ids.tolist() == seqs[i] and lab.tolist() == labels[i]
    assert packed.packing_efficiency == pytest.approx(13 / 16)


@pytest.fixture(scope="module")
def tok():
    return train_bpe_tokenizer(["hello world, hello there", "สวัสดีครับ ยินดีต้อนรับ"] * 5, vocab_size=300,
                               min_frequency=1)


TWO_TURNS = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "hello"},
    {"role": "user", "content": "again"},
    {"role": "assistant", "content": "world there"},
]


def _supervised(tok, ids, labels):
    assert len(ids) == len(labels)
    spans, cur = [], []
    for i, lab in zip(ids, labels, strict=True):
        if lab == IGNORE_INDEX:
            if cur:
                spans.append(tok.decode(cur))
                cur = []
        else:
            assert lab == i
            cur.append(i)
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_loss_mask_exact_on_two_turn_conversation(tok):
    ids, labels = sft_example_tokens(tok, TWO_TURNS)
    assert tok.decode(ids) == (
        "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        "hello<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\nworld there<|im_end|>\n")
    # exactly the two assistant contents, each with its end-of-turn token, nothing else
    assert _supervised(tok, ids, labels) == [f"hello{IM_END}", f"world there{IM_END}"]
    n_sup = sum(lab != IGNORE_INDEX for lab in labels)
    assert n_sup == len(tok.encode("hello", add_special_tokens=False)) + len(
        tok.encode("world there", add_special_tokens=False)) + 2


def test_loss_mask_without_generation_markers_uses_prefix_rendering(tok):
    plain = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok2 = train_bpe_tokenizer(["hello world, hello there", "สวัสดีครับ ยินดีต้อนรับ"] * 5, vocab_size=300,
                               min_frequency=1)
    tok2.chat_template = plain
    ids, labels = sft_example_tokens(tok2, TWO_TURNS)
    # a hub template without markers: the assistant turn as rendered, up to the next turn
    assert _supervised(tok2, ids, labels) == [f"hello{IM_END}\n", f"world there{IM_END}\n"]


def test_data_order_is_a_seeded_permutation_per_epoch():
    n = 10
    epoch0 = [sample_index(g, n, seed=7) for g in range(n)]
    epoch1 = [sample_index(g, n, seed=7) for g in range(n, 2 * n)]
    assert sorted(epoch0) == list(range(n)) and sorted(epoch1) == list(range(n))
    assert epoch0 != epoch1
    assert epoch0 == [sample_index(g, n, seed=7) for g in range(n)]  # deterministic
    assert epoch0 != [sample_index(g, n, seed=8) for g in range(n)]


def test_micro_batches_partition_the_global_batch():
    # 2 workers x micro 2 x accum 2 = global batch 8 per step; step 1 covers samples 8..15 exactly once
    got = [micro_batch_indices(1, m, r, 2, 2, 2) for m in range(2) for r in range(2)]
    assert got == [[8, 9], [10, 11], [12, 13], [14, 15]]


def test_collate_pads_right_and_masks():
    b = collate([(np.array([5, 6, 7]), np.array([5, 6, 7])), (np.array([8]), np.array([-100]))], pad_id=PAD)
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, PAD, PAD]]
    assert b["labels"].tolist() == [[5, 6, 7], [-100, -100, -100]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_lr_warmup_then_cosine_to_min():
    f = [lr_lambda(s, warmup=4, max_steps=14, min_lr_ratio=0.1) for s in range(15)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == pytest.approx(1.0) and f[9] == pytest.approx(0.55) and f[14] == pytest.approx(0.1)


def test_deepspeed_config_from_params():
    sp = Params().cpt.model_dump()
    ds = deepspeed_config(sp, zero_stage=2, use_gpu=False)
    assert ds["zero_optimization"]["stage"] == 2 and ds["bf16"]["enabled"] is False
    assert ds["train_micro_batch_size_per_gpu"] == sp["micro_batch_size"]
    assert ds["gradient_accumulation_steps"] == sp["grad_accum"] and ds["gradient_clipping"] == sp["grad_clip"]
    assert deepspeed_config(sp, 3, True)["bf16"]["enabled"] is True


def _fake_checkpoint(d: Path, step: int, world: int = 2) -> None:
    d.mkdir(parents=True)
    (d / "train_state.json").write_text(json.dumps({"step": step}))
    (d / "ds").mkdir()
    for r in range(world):
        (d / "ds" / f"rank{r}.pt").write_bytes(b"x" * (100 + r))
    # each rank lists the files it wrote; here one directory holds both ranks' files
    for r in range(world):
        write_manifest(d, r, world)


def test_killed_checkpoint_save_leaves_previous_checkpoint_in_use(tmp_path: Path):
    run = tmp_path / "cpt"
    _fake_checkpoint(run / "checkpoint_000010", 10)
    _fake_checkpoint(run / "checkpoint_000020", 20)
    assert latest_complete_checkpoint(run) == run / "checkpoint_000020"
    # a save killed half-way: a file shorter than its manifest says
    (run / "checkpoint_000020" / "ds" / "rank1.pt").write_bytes(b"x" * 3)
    assert not checkpoint_complete(run / "checkpoint_000020")
    assert latest_complete_checkpoint(run) == run / "checkpoint_000010"
    # killed before its manifest was written
    (run / "checkpoint_000020" / "manifest_rank1.json").unlink()
    assert latest_complete_checkpoint(run) == run / "checkpoint_000010"


def test_build_tiny_qwen3_is_deterministic():
    import torch

    tiny = Params().model.tiny
    a, b = build_tiny_qwen3(tiny, 500, seed=1), build_tiny_qwen3(tiny, 500, seed=1)
    c = build_tiny_qwen3(tiny, 500, seed=2)
    assert a.config.model_type == "qwen3" and a.config.vocab_size == 500
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters(), strict=True))


def test_load_causal_lm_errors_name_the_path(tmp_path: Path):
    with pytest.raises(ModelError, match="/no/such/model.*does not exist"):
        load_causal_lm("/no/such/model")
    with pytest.raises(ModelError, match=f"{tmp_path}.*no config.json"):
        load_causal_lm(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match="only pickle weights.*pytorch_model.bin"):
        load_causal_lm(tmp_path)
    with pytest.raises(ModelError, match="local HF cache only"):
        load_causal_lm("no-such-org/no-such-model")


def test_an_exported_checkpoint_generates_with_its_kv_cache(tok, tmp_path):
    """Training turns the KV cache off; the export turns it back on (a config saying use_cache=false made
    every generate() of eval and pref sampling re-run the whole sequence for each new token)."""
    from langadapt.train.modeling import save_hf

    model = build_tiny_qwen3(Params().model.tiny, vocab_size=len(tok), seed=1, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
    model.config.use_cache = False
    out = save_hf(model, tok, tmp_path / "m")
    assert json.loads((out / "config.json").read_text())["use_cache"] is True
