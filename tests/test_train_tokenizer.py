"""Tests of the tokenizer stage: the tiny default's BPE + base checkpoint, and extending a real base's
vocabulary (new embedding rows = mean of their old sub-token rows). Inline Thai text, ~20 s.

    .venv/bin/pytest -q tests/test_train_tokenizer.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from langadapt.config import parse_params
from langadapt.errors import ModelError
from langadapt.io import write_jsonl
from langadapt.records import Document
from langadapt.train.modeling import IM_END, IM_START, load_causal_lm
from langadapt.train.tokenizer import run_tokenizer

SENTENCES = [
    "รัฐบาลประกาศมาตรการช่วยเหลือเกษตรกรในปีนี้",
    "นายกรัฐมนตรีเป็นประธานการประชุมคณะรัฐมนตรี",
    "กระทรวงสาธารณสุขแนะนำให้ประชาชนล้างมือบ่อย ๆ",
    "การท่องเที่ยวแห่งประเทศไทยจัดงานเทศกาลอาหาร",
    "ฝนตกหนักในภาคเหนือทำให้น้ำท่วมหลายพื้นที่",
]


def _docs(n: int = 40) -> list[Document]:
    return [Document(id=f"d{i}", text="\n".join(SENTENCES[(i + k) % 5] for k in range(3 + i % 3)), lang="th")
            for i in range(n)]


def _cfg(tmp: Path, **over):
    raw = {
        "paths": {"clean": str(tmp / "clean"), "tokenizer": str(tmp / "tok"), "base": str(tmp / "base"),
                  "metrics": str(tmp / "metrics")},
        "model": {"tiny": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16}},
        "tokenizer": {"vocab_size": 300, "min_frequency": 2},
        "data": {"heldout_fraction": 0.1},
    }
    for k, v in over.items():
        sec, key = k.split("__")
        raw.setdefault(sec, {})[key] = v
    return parse_params(raw)


@pytest.fixture
def tiny_base(tmp_path: Path):
    write_jsonl(tmp_path / "clean" / "shard-00000.jsonl", _docs())
    cfg = _cfg(tmp_path)
    return cfg, run_tokenizer(cfg)


def test_tiny_tokenizer_and_base(tiny_base):
    cfg, m = tiny_base
    assert m["vocab_size_before"] == 256 and m["vocab_size_after"] == 300
    assert m["fertility_after"]["tokens_per_char"] < m["fertility_before"]["tokens_per_char"]
    assert 2.9 < m["fertility_before"]["tokens_per_char"] < 3.0  # Thai: 3 UTF-8 bytes, newlines 1
    assert json.loads(Path(cfg.paths.metrics, "tokenizer.json").read_text())["vocab_size_after"] == 300
    model, tok = load_causal_lm(cfg.paths.base)
    assert model.config.model_type == "qwen3" and model.config.vocab_size == len(tok) == 300
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>"
    assert tok.convert_tokens_to_ids(IM_START) != tok.unk_token_id and "{% generation %}" in tok.chat_template
    text = SENTENCES[0]
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert (Path(cfg.paths.tokenizer) / "tokenizer.json").exists()
    # generation stops at the end of an assistant turn
    assert tok.convert_tokens_to_ids(IM_END) in model.generation_config.eos_token_id


def test_extend_real_base_inits_new_rows_from_subtokens(tiny_base, tmp_path: Path):
    cfg0, _ = tiny_base
    old_model, old_tok = load_causal_lm(cfg0.paths.base)
    cfg = _cfg(tmp_path, model__base=cfg0.paths.base, tokenizer__extend=True, tokenizer__extend_tokens=60,
               paths__tokenizer=str(tmp_path / "tok2"), paths__base=str(tmp_path / "base2"))
    m = run_tokenizer(cfg)
    assert m["vocab_size_before"] == 300 and 0 < m["added_tokens"] <= 60
    assert m["vocab_size_after"] == 300 + m["added_tokens"]
    assert m["fertility_after"]["tokens_per_char"] < m["fertility_before"]["tokens_per_char"]
    model, tok = load_causal_lm(cfg.paths.base)
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)
    emb, old_emb = model.get_input_embeddings().weight, old_model.get_input_embeddings().weight
    assert torch.equal(emb[:300], old_emb)  # old rows untouched
    for piece in m["added_examples"][:5]:
        new_id = tok.convert_tokens_to_ids(piece)
        assert new_id >= 300
        sub = old_tok.encode(piece, add_special_tokens=False)
        assert len(sub) >= 2
        assert torch.allclose(emb[new_id], old_emb[sub].mean(0), atol=1e-6)
        assert tok.encode(piece, add_special_tokens=False) == [new_id]


def test_missing_real_base_is_a_model_error(tmp_path: Path):
    write_jsonl(tmp_path / "clean" / "shard-00000.jsonl", _docs())
    cfg = _cfg(tmp_path, model__base=str(tmp_path / "missing-model"))
    with pytest.raises(ModelError, match="missing-model.*does not exist"):
        run_tokenizer(cfg)
    assert not Path(cfg.paths.base).exists()
