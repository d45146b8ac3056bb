"""A tiny project for the `pref` tests: a BPE tokenizer and a random tiny Qwen3 saved as paths.sft, and
synth examples with constraints (Thai TALPCo sentences as prompts). Imported by tests/test_pref_*.py."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 256, "tie_word_embeddings": True}
CONSTRAINT = {"id": "length_constraints:number_words", "kwargs": {"relation": "less than", "num_words": 5}}


def thai_sentences() -> list[str]:
    lines = (REPO / "samples/data/th-en/data_tha.txt").read_text(encoding="utf-8").splitlines()
    return [ln.split("\t", 1)[1] for ln in lines if "\t" in ln]


def make_project(root: Path, n_examples: int = 60) -> Path:
    from langadapt.io import write_jsonl
    from langadapt.records import SFTExample
    from langadapt.train.modeling import build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    sents = thai_sentences()
    tok = train_bpe_tokenizer(sents[:400], vocab_size=300, min_frequency=2)
    model = build_tiny_qwen3(TINY, vocab_size=len(tok), seed=3, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
    save_hf(model, tok, root / "models/sft")
    exs = [SFTExample(id=f"ex{i:03d}", messages=[{"role": "user", "content": sents[i]},
                                                 {"role": "assistant", "content": sents[i + 1]}],
                      lang="th", source="test", constraints=[CONSTRAINT]) for i in range(n_examples)]
    write_jsonl(root / "data/synth/examples.jsonl", exs)
    return root


def project_cfg(root: Path, *extra: str):
    from langadapt.config import parse_params

    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    overrides = ["data.heldout_fraction=0.5", "pref.prompts=8", "pref.samples_per_prompt=4", "pref.max_new_tokens=8",
                 "pref.batch_size=16", "pref.max_steps=4", "pref.checkpoint_every=2", "pref.micro_batch_size=4",
                 "pref.max_length=64", "pref.lr=0.001", "train.num_workers=2", "train.cpus_per_worker=1",
                 # a random tiny model rarely ends an answer within 8 tokens: let cut answers count, so rounds
                 # have both labels (and train the truncated rows open-ended)
                 "pref.truncated_desirable=true", *extra]
    cfg = parse_params(raw, "params.yaml", overrides)
    for k in ("synth", "sft", "pref", "pref_checkpoints", "metrics", "plots"):
        setattr(cfg.paths, k, str(root / getattr(cfg.paths, k)))
    return cfg
