"""The diff stage end to end on three tiny random Qwen3 checkpoints (transformers), probes included.

Run: .venv/bin/pytest -q tests/test_diff_e2e.py        (about 20 s on 2 CPU cores)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from langadapt.config import Params

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
PAIRS = REPO / "samples" / "data" / "th-en"


def _tokenizer():
    from langadapt.records import read_translation_pairs
    from langadapt.train.tokenizer import train_bpe_tokenizer

    pairs = read_translation_pairs(PAIRS, "th")
    texts = [p.target for p in pairs[:400]] + [p.english for p in pairs[:400]]
    return train_bpe_tokenizer(texts, vocab_size=400, min_frequency=2)


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """base (random), cpt (embedding + layer 1 MLP moved), sft (attention of layer 0 moved); bf16, sharded sft."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    root = tmp_path_factory.mktemp("ckpts")
    tok = _tokenizer()
    config = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
                         max_position_embeddings=256)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    paths = {}
    g = torch.Generator().manual_seed(1)
    for stage in ("base", "cpt", "sft"):
        with torch.no_grad():
            sd = model.state_dict()
            if stage == "cpt":
                sd["model.embed_tokens.weight"].add_(0.5 * torch.randn(sd["model.embed_tokens.weight"].shape, generator=g))
                sd["model.layers.1.mlp.up_proj.weight"].add_(0.2 * torch.randn(64, 32, generator=g))
            if stage == "sft":
                u, v = torch.randn(32, 1, generator=g), torch.randn(1, 32, generator=g)
                sd["model.layers.0.self_attn.q_proj.weight"].add_(0.3 * (u @ v))  # a rank-1 SFT update
        paths[stage] = root / stage
        model.save_pretrained(paths[stage], max_shard_size="20KB" if stage == "sft" else "50GB")
        tok.save_pretrained(paths[stage])
    assert (paths["sft"] / "model.safetensors.index.json").exists()
    return paths


def test_cli_adhoc_three_checkpoints_writes_report(three_checkpoints, tmp_path, monkeypatch):
    from langadapt.cli import app

    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(f"paths:\n  translation_pairs: {PAIRS}\n  clean: {tmp_path / 'no-clean'}\n"
                                   "diff:\n  probe_texts: 6\n  probe_max_tokens: 32\n  top_k: 8\n")
    out = tmp_path / "report"
    ck = three_checkpoints
    res = CliRunner().invoke(app, ["diff", "--base", str(ck["base"]), "--cpt", str(ck["cpt"]),
                                   "--sft", str(ck["sft"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("diff.json", "tensors.csv", "layers_by_module.csv", "layers.csv", "stage_cosine.csv", "cka.csv",
              "logit_lens.csv", "heatmap.png", "top_tensors.png", "cpt_vs_sft.png", "cka.png", "logit_lens.png",
              "summary.md", "metrics.json"):
        assert (out / f).stat().st_size > 0, f
    assert not Path("metrics").exists() and not Path("plots").exists()  # ad-hoc mode touches only --out
    doc = json.loads((out / "diff.json").read_text())
    names = [t["name"] for t in doc["tensors"]]
    assert "lm_head.weight" not in names and names.count("embed_tokens.weight") == 1  # tied: once
    q0 = next(t for t in doc["tensors"] if t["name"] == "layers.0.self_attn.q_proj.weight")
    assert q0["pairs"]["base->cpt"]["dw_norm"] == 0.0
    assert q0["pairs"]["cpt->sft"]["stable_rank"] == pytest.approx(1.0, rel=1e-4)
    assert q0["dtype"] == {"base": "BF16", "cpt": "BF16", "sft": "BF16"}
    m = json.loads((out / "metrics.json").read_text())
    assert m["base_cpt"]["embed_share"] > 0.5  # CPT moved the embedding most
    assert m["cpt_sft"]["mean_rel_change"]["q"] > 0 and m["cpt_sft"]["embed_share"] == 0.0
    # probes: nothing moved before layer 0 in SFT, so the embedding output is identical (CKA 1)
    cka = doc["probes"]["cka"]["cpt->sft"]["target"]
    assert cka["features"] == "tokens" and cka["cka"][0] == pytest.approx(1.0, abs=1e-6)
    assert len(doc["probes"]["logit_lens"]["base"]["target"]) == 3  # embedding output + 2 layers
    rows = list(csv.DictReader((out / "layers_by_module.csv").read_text().splitlines()))
    assert {r["pair"] for r in rows} == {"base->cpt", "cpt->sft", "base->sft"}
    summary = (out / "summary.md").read_text()
    assert "## base->cpt" in summary and "**embed**" in summary and "![heatmap.png](heatmap.png)" in summary


def test_stage_mode_reads_params_paths_and_writes_metrics_and_plots(three_checkpoints, tmp_path, monkeypatch):
    from langadapt.analysis.run import run_diff

    monkeypatch.chdir(tmp_path)
    ck = three_checkpoints
    cfg = Params.model_validate({"paths": {"base": str(ck["base"]), "cpt": str(ck["cpt"]), "sft": str(ck["sft"]),
                                           "diff": "reports/diff"}, "diff": {"probes": False}})
    res = run_diff(cfg)
    assert res["pairs"] == ["base->cpt", "cpt->sft", "base->sft"]
    m = json.loads(Path("metrics/diff.json").read_text())
    assert set(m) >= {"base_cpt", "cpt_sft", "base_sft", "cpt_sft_cosine"}
    layers = list(csv.DictReader(Path("plots/diff_layers.csv").read_text().splitlines()))
    assert [r["layer"] for r in layers] == ["0", "1"] and set(layers[0]) == {"layer", "base_cpt", "cpt_sft", "base_sft"}
    assert Path("plots/diff_cka.csv").read_text() == "layer\n"  # probes off: an empty table
    assert (Path("reports/diff") / "summary.md").exists() and not list(Path("reports").glob(".diff.*"))


def test_cka_of_a_model_with_itself_is_one(three_checkpoints, tmp_path):
    from langadapt.analysis.probes import collect, linear_cka

    acts = collect({"a": three_checkpoints["cpt"]}, {"target": ["สวัสดีครับ วันนี้อากาศดี", "ผมชอบกินข้าว"],
                                                     "en": ["Hello there."]}, "th", 32)
    feats = acts["a"]["target"]["tokens"]
    assert len(feats) == 3
    for f in feats:
        assert linear_cka(f, f) == pytest.approx(1.0, abs=1e-9)
    # CKA is invariant to an orthogonal transform and isotropic scaling of the features
    q, _ = torch.linalg.qr(torch.randn(32, 32, generator=torch.Generator().manual_seed(0)))
    assert linear_cka(feats[1], 3.0 * feats[1] @ q) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 <= acts["a"]["target"]["lens"][0] <= 1.0


def test_probes_skipped_with_a_reason_when_a_checkpoint_has_no_tokenizer(tmp_path, monkeypatch):
    from langadapt.analysis.run import run_diff
    from test_diff_checkpoint import after_tensors, base_tensors, write_ckpt

    monkeypatch.chdir(tmp_path)
    a, b = write_ckpt(tmp_path / "a", base_tensors()), write_ckpt(tmp_path / "b", after_tensors())
    cfg = Params.model_validate({"paths": {"translation_pairs": str(PAIRS)}})
    res = run_diff(cfg, checkpoints={"base": a, "cpt": b}, out=tmp_path / "out", probes=True)
    assert res["probes"] is False and res["n_tensors"] == 3
    assert "Probes skipped: " in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.parametrize("batch", ["packed", "padded", "leaky"])
def test_streamed_probes_match_the_whole_model(three_checkpoints, monkeypatch, batch):
    """Layer-by-layer streaming (weights read per layer, embedding and head in slabs) gives the hidden
    states and logit-lens top-1 of the whole model run in float32, one text at a time: texts packed in one
    row (the default), or in a padded batch; ``leaky``: a model that ignores packed positions (the texts
    would see each other) is caught by the check and falls back to the padded batch."""
    from langadapt.analysis import probes
    from langadapt.train.modeling import load_causal_lm

    texts = ["สวัสดีครับ วันนี้อากาศดี", "ผมชอบกินข้าว", "Hello there, how are you today?", "ผมชอบกินข้าว"]
    monkeypatch.setattr(probes, "HEAD_SLAB_MB", 0.01)  # several slabs even at toy size
    used = []
    for name in ("_packed_states", "_padded_states"):
        fn = getattr(probes, name)
        monkeypatch.setattr(probes, name, lambda sm, flat, fn=fn, name=name: used.append(name) or fn(sm, flat))
    if batch == "padded":
        monkeypatch.setattr(probes, "_packed_states", lambda sm, flat: used.append("_packed_states"))
    if batch == "leaky":
        hidden = probes.StreamedModel.hidden_states
        monkeypatch.setattr(probes.StreamedModel, "hidden_states", lambda self, ids, mask=None, pos=None: hidden(self, ids, mask))
    got = probes.collect({"sft": three_checkpoints["sft"]}, {"target": texts}, "th", 32)["sft"]["target"]
    assert used == (["_packed_states"] if batch == "packed" else ["_packed_states", "_padded_states"])
    model, tok = load_causal_lm(three_checkpoints["sft"], dtype=torch.float32)
    norm, head = probes._final_norm(model), model.get_output_embeddings()
    hits, total = None, 0
    with torch.no_grad():
        for i, text in enumerate(texts):
            ids = tok(text, return_tensors="pt", truncation=True, max_length=32)["input_ids"]
            assert got["ids"][i] == ids[0].tolist()
            hs = model(input_ids=ids, output_hidden_states=True).hidden_states
            hits = hits or [0] * len(hs)
            start = sum(len(x) for x in got["ids"][:i])
            for li, h in enumerate(hs):
                ref = h[0]
                torch.testing.assert_close(got["tokens"][li][start : start + len(ref)], ref, atol=1e-5, rtol=1e-4)
                z = ref if (li == len(hs) - 1 or norm is None) else norm(ref)
                hits[li] += sum(probes._TargetTokens(tok, _script("th"), _ratio())(t) for t in head(z).argmax(-1).tolist())
            total += ids.shape[1]
    assert got["n_tokens"] == total
    assert got["lens"] == [h / total for h in hits]


def test_head_product_takes_one_thread_unless_more_are_clearly_faster():
    from langadapt.analysis.probes import TOP1_SPEEDUP, _faster

    assert _faster({2: 0.06, 1: 0.11}, 2) == 2  # an idle machine: 2 threads nearly twice as fast
    assert _faster({2: 0.11 / TOP1_SPEEDUP * 1.01, 1: 0.11}, 2) == 1  # busy: not worth a second thread
    assert _faster({1: 0.1}, 2) == 2 and _faster({}, 2) == 2 and _faster({1: 0.2, 4: 0.1}, 1) == 1


def _ratio():
    from langadapt.text import script_ratio

    return script_ratio


def _script(lang):
    from langadapt.text import language_script

    return language_script(lang)
