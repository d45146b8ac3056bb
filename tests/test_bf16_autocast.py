"""bf16 autocast on CPU (``train.cpu_bf16_autocast``, ``eval.cpu_bf16_autocast``) on tiny random models (seconds).

With the flag on, the forward passes (a CPT training step and its held-out loss, decoding in eval and pref's
sampling) run under ``torch.autocast("cpu", bfloat16)``: the outputs of the Linear layers are bfloat16,
captured by a global forward hook; in training the weights (and the optimizer state) stay float32, while
decoding casts the weights to bfloat16 once (the decoding model is loaded for that alone). With it off,
everything is float32. The eval's bits-per-byte is computed in float32 either way: the same value.
The training step runs the real ``_Worker`` (DeepSpeed engine, gloo, world size 1) in this process, with
Ray Train's context replaced by a one-worker stand-in: no Ray cluster.

Run: .venv/bin/pytest -q tests/test_bf16_autocast.py
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 256, "tie_word_embeddings": True}


def _params(*overrides: str):
    from langadapt.config import parse_params

    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    return parse_params(raw, "params.yaml", list(overrides))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Qwen3 with a BPE tokenizer trained on TALPCo Thai sentences, saved in HF format."""
    from langadapt.train.modeling import build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    lines = (REPO / "samples/data/th-en/data_tha.txt").read_text(encoding="utf-8").splitlines()
    sents = [ln.split("\t", 1)[1] for ln in lines if "\t" in ln]
    tok = train_bpe_tokenizer(sents[:400], vocab_size=300, min_frequency=2)
    model = build_tiny_qwen3(TINY, vocab_size=len(tok), seed=5, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
    return save_hf(model, tok, tmp_path_factory.mktemp("bf16") / "model")


@pytest.fixture(autouse=True)
def native_bf16(monkeypatch):
    """These tests are about what runs under autocast when it is on, on any CPU: pretend native bf16
    (``langadapt.hardware``; on a CPU without it the flag is turned down, tests/test_hardware.py)."""
    from langadapt import hardware

    monkeypatch.setattr(hardware, "cpu_bf16_native", lambda: True)


@pytest.fixture
def linear_calls():
    """Every ``nn.Linear`` call while the fixture is active: phase, output dtype, weight dtype, autocast on."""
    import torch

    calls: list[dict] = []
    phase = {"name": None}

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear) and isinstance(output, torch.Tensor):
            calls.append({"phase": phase["name"], "out": output.dtype, "weight": module.weight.dtype,
                          "autocast": torch.is_autocast_enabled("cpu")})

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield SimpleNamespace(calls=calls, phase=phase)
    finally:
        handle.remove()


def _phased(phase: dict, name: str, fn):
    def wrapped(*a, **kw):
        phase["name"] = name
        try:
            return fn(*a, **kw)
        finally:
            phase["name"] = None
    return wrapped


def _dtypes(calls: list[dict], phase: str, key: str) -> set:
    return {c[key] for c in calls if c["phase"] == phase}


# ---------------------------------------------------------------------------------------------------
# Training (cpt/sft): the worker's step and held-out loss


def test_worker_config_passes_the_flag_on_cpu_only():
    from langadapt.train.trainer import _worker_config

    for on, gpu, expected in ((True, False, True), (False, False, False), (True, True, False)):
        cfg = _params(f"train.cpu_bf16_autocast={str(on).lower()}", f"train.use_gpu={str(gpu).lower()}")
        config = _worker_config(cfg, "cpt", "/tmp/s", "/tmp/init", "/tmp/data", "fp", None, 0)
        assert config["cpu_bf16_autocast"] is expected, (on, gpu)
        assert config["ds_config"]["bf16"]["enabled"] is gpu  # DeepSpeed's own bf16 only on GPU


@pytest.fixture(scope="module")
def one_worker_world():
    """Ray Train's context for one worker (rank 0 of 1) and the env DeepSpeed's gloo init reads. The
    process group lives as long as this module's tests (DeepSpeed caches its groups: a second
    ``deepspeed.initialize`` after the group was destroyed and re-created fails) and is destroyed after."""
    import ray.train
    import torch.distributed as dist

    ctx = SimpleNamespace(get_world_rank=lambda: 0, get_world_size=lambda: 1, get_local_rank=lambda: 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ray.train, "get_context", lambda: ctx)
        for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                     "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
            mp.setenv(k, v)
        try:
            yield
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()


def _optimizer_state_dtypes(engine) -> set:
    import torch

    opt = engine.optimizer
    inner = getattr(opt, "optimizer", opt)  # DeepSpeed's ZeRO optimizer wraps the torch AdamW
    return {v.dtype for st in inner.state.values() for v in st.values()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.ndim > 0}


@pytest.mark.parametrize("on", [True, False], ids=["autocast", "fp32"])
def test_cpt_train_step_runs_under_cpu_bf16_autocast(on, tiny_model, tmp_path, one_worker_world, linear_calls):
    import torch

    from langadapt.train import trainer as T

    # token data as build_cpt_tokens writes it (uint32 ids, EOS-separated documents packed by PackedTokens)
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train", 4096), ("heldout", 1024)):
        rng.integers(4, 250, size=n, dtype=np.uint32).tofile(data / f"{split}.bin")
    cfg = _params(f"train.cpu_bf16_autocast={str(on).lower()}", "train.num_workers=1", "train.zero_stage=2",
                  "cpt.seq_len=32", "cpt.micro_batch_size=2", "cpt.grad_accum=1", "cpt.max_steps=2",
                  "cpt.eval_batches=1", "cpt.warmup_steps=0")
    config = T._worker_config(cfg, "cpt", str(tmp_path / "ckpt"), str(tiny_model), str(data), "fp", None, 0)

    w = T._Worker(config)
    before = {n: p.detach().clone() for n, p in w.engine.module.named_parameters()}
    w.train_step = _phased(linear_calls.phase, "train", w.train_step)
    w.evaluate = _phased(linear_calls.phase, "eval", w.evaluate)
    for step in range(2):
        loss, tokens = w.train_step(step)
        assert np.isfinite(loss) and tokens == 2 * 32
    eval_loss = w.evaluate()
    assert np.isfinite(eval_loss)
    params = dict(w.engine.module.named_parameters())
    state_dtypes = _optimizer_state_dtypes(w.engine)

    want = torch.bfloat16 if on else torch.float32
    for phase in ("train", "eval"):
        assert _dtypes(linear_calls.calls, phase, "out") == {want}, phase
        assert _dtypes(linear_calls.calls, phase, "autocast") == {on}, phase
        assert _dtypes(linear_calls.calls, phase, "weight") == {torch.float32}, phase
    # weights and AdamW's moments stay float32, and the step did update the weights
    assert {p.dtype for p in params.values()} == {torch.float32}
    assert state_dtypes == {torch.float32}
    assert any(not torch.equal(before[n], p.detach()) for n, p in params.items())
    assert not torch.is_autocast_enabled("cpu")  # nothing leaks out of the step


# ---------------------------------------------------------------------------------------------------
# Eval: decoding in bf16 weights under autocast, bits-per-byte in float32 either way


def _eval_inputs() -> dict:
    from langadapt.evaluation.instruction import build_ifeval_set

    lines = (REPO / "samples/data/th-en/data_tha.txt").read_text(encoding="utf-8").splitlines()
    sents = [ln.split("\t", 1)[1] for ln in lines if "\t" in ln]
    texts = [" ".join(sents[400 + 6 * i : 406 + 6 * i]) for i in range(4)]
    ifeval = build_ifeval_set("th", 2, 0)
    bench = {"sea_ifeval": [], "en_ifeval": [], "flores": [], "notes": []}
    return {"texts": texts, "pairs": [], "ifeval": ifeval, "benchmarks": bench, "overlap": None,
            "multi_turn": [], "notes": []}


def test_eval_decodes_under_autocast_and_bpb_stays_fp32(tiny_model, monkeypatch, linear_calls):
    import torch

    from langadapt.evaluation import lm, runner
    from langadapt.generation import HFGenerator

    monkeypatch.setattr(lm, "bits_per_byte", _phased(linear_calls.phase, "bpb", lm.bits_per_byte))
    monkeypatch.setattr(HFGenerator, "generate", _phased(linear_calls.phase, "generate", HFGenerator.generate))
    inputs = _eval_inputs()
    results = {}
    for on in (True, False):
        linear_calls.calls.clear()
        cfg = _params(f"eval.cpu_bf16_autocast={str(on).lower()}", "eval.bpb_window=32", "eval.bpb_stride=16",
                      "eval.batch_size=4", "eval.max_new_tokens=4")
        metrics, detail, gens = runner.evaluate_model(cfg, "base", tiny_model, inputs)
        assert len(gens) == 2 and detail["lm"]["tokens"] > 0
        results[on] = metrics
        want = torch.bfloat16 if on else torch.float32
        assert _dtypes(linear_calls.calls, "generate", "out") == {want}
        assert _dtypes(linear_calls.calls, "generate", "autocast") == {on}
        assert _dtypes(linear_calls.calls, "bpb", "out") == {torch.float32}  # scored in float32 either way
        assert _dtypes(linear_calls.calls, "bpb", "autocast") == {False}
        assert _dtypes(linear_calls.calls, "bpb", "weight") == {torch.float32}
        # decoding casts the weights to bf16 once (autocast alone re-casts them at every new token)
        assert _dtypes(linear_calls.calls, "generate", "weight") == {want}
    assert results[True]["bpb"] == results[False]["bpb"]
    assert results[True]["token_ppl"] == results[False]["token_ppl"]


# ---------------------------------------------------------------------------------------------------
# pref: sampling the policy (train.cpu_bf16_autocast)


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-native-bf16"])
@pytest.mark.parametrize("on", [True, False], ids=["autocast", "fp32"])
def test_pref_sampling_runs_under_autocast(on, native, tiny_model, linear_calls, monkeypatch, capsys):
    """... and a CPU without native bf16 (AVX2 only: a reference GEMM ~100x slower) samples in fp32."""
    import torch

    from langadapt import hardware
    from langadapt.pref.stage import sample_round

    monkeypatch.setattr(hardware, "cpu_bf16_native", lambda: native)
    monkeypatch.setattr(hardware, "_warned", set())

    cfg = _params(f"train.cpu_bf16_autocast={str(on).lower()}", "pref.samples_per_prompt=2",
                  "pref.max_new_tokens=4", "pref.batch_size=4")
    prompts = [{"id": f"p{i}", "messages": [{"role": "user", "content": f"ตอบสั้น ๆ {i}"}],
                "constraints": [{"id": "length_constraints:number_words",
                                 "kwargs": {"relation": "less than", "num_words": 5}}]} for i in range(2)]
    linear_calls.phase["name"] = "sample"
    records = sample_round(tiny_model, prompts, cfg, seed=1)
    assert len(records) == 4
    bf16 = on and native
    assert _dtypes(linear_calls.calls, "sample", "out") == {torch.bfloat16 if bf16 else torch.float32}
    assert _dtypes(linear_calls.calls, "sample", "autocast") == {bf16}
    assert _dtypes(linear_calls.calls, "sample", "weight") == {torch.bfloat16 if bf16 else torch.float32}
    assert ("no native bf16" in capsys.readouterr().err) == (on and not native)


# ---------------------------------------------------------------------------------------------------
# pref: training (TRL's trainer, HF bf16 mixed precision on CPU) where train.cpu_bf16_autocast asks


def test_pref_training_bf16_only_without_deepspeed_on_cpu(monkeypatch, capsys):
    from langadapt import hardware
    from langadapt.pref.train import _cpu_bf16_training

    for on, ds, gpu, expected in ((True, False, False, True), (False, False, False, False),
                                  (True, True, False, False), (True, False, True, False)):
        cfg = _params(f"train.cpu_bf16_autocast={str(on).lower()}", f"pref.deepspeed={str(ds).lower()}",
                      f"train.use_gpu={str(gpu).lower()}")
        assert _cpu_bf16_training(cfg) is expected, (on, ds, gpu)
    assert "does not apply under DeepSpeed" in capsys.readouterr().err
    monkeypatch.setattr(hardware, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(hardware, "_warned", set())
    assert _cpu_bf16_training(_params("train.cpu_bf16_autocast=true", "pref.deepspeed=false")) is False
    assert "no native bf16" in capsys.readouterr().err


def test_pref_dpo_step_runs_under_cpu_bf16_autocast(tiny_model, tmp_path, linear_calls):
    """What ``bf16: True, use_cpu: True`` (the pref worker's args with the flag on) does in TRL's DPO step:
    the policy's and the reference's Linear layers compute in bf16 under autocast; weights stay fp32."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from langadapt.train.modeling import load_causal_lm

    model, tok = load_causal_lm(tiny_model, dtype=torch.float32)
    prompt = [{"role": "user", "content": "สวัสดีครับ"}]
    rows = [{"prompt": prompt, "chosen": [{"role": "assistant", "content": "ขอบคุณครับ"}],
             "rejected": [{"role": "assistant", "content": "ยินดีครับ ยินดีครับ"}]}] * 2
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), per_device_train_batch_size=2, max_steps=1, use_cpu=True,
                     bf16=True, report_to=[], max_length=64, dataset_num_proc=None, save_strategy="no")
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    linear_calls.calls.clear()
    trainer.train()
    assert linear_calls.calls and _dtypes(linear_calls.calls, None, "autocast") == {True}
    assert _dtypes(linear_calls.calls, None, "out") == {torch.bfloat16}
    assert _dtypes(linear_calls.calls, None, "weight") == {torch.float32}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
