"""Integration tests of CPT/SFT on a real 2-worker local Ray cluster with DeepSpeed ZeRO-2 on CPU (gloo).

    .venv/bin/pytest -q tests/test_train_ray.py          # ~3 min on 2 cores

A tiny Qwen3 (2 layers, hidden 64) and a 1k BPE vocabulary trained on 300 Thai government news articles
(../shared/data, `shared_data` fixture). Asserted: CPT lowers held-out loss by >= 0.5 nats/token; a run
killed with SIGKILL after a checkpoint, with a half-written later checkpoint left behind and a worker
killed mid-way through the rerun, ends at the same step with a final held-out loss within 0.02 of the
uninterrupted run; the HF export reloads with from_pretrained and generates; SFT runs and lowers its
held-out (assistant-token) loss; a missing base is exit 1 naming it, before any training.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import thai_news
from killing import TAG_ENV, kill_run, new_tag, wait_until_quiet
from langadapt.config import dump_params, parse_params
from langadapt.io import write_jsonl
from langadapt.records import Document, SFTExample

pytestmark = pytest.mark.integration

STEPS, EVERY = 24, 8
LOSS_DROP = 0.5          # CPT must lower held-out loss by at least this (nats/token)
RESUME_TOLERANCE = 0.02  # |final eval loss resumed - uninterrupted|


def _params(work: Path, tag: str) -> dict:
    return {
        "seed": 11,
        "paths": {
            "clean": str(work / "clean"), "tokenizer": str(work / "tokenizer"), "base": str(work / "base"),
            "cpt": str(work / tag / "cpt"), "cpt_checkpoints": str(work / tag / "ckpt_cpt"),
            "synth": str(work / "synth"), "sft": str(work / tag / "sft"),
            "sft_checkpoints": str(work / tag / "ckpt_sft"),
            "metrics": str(work / tag / "metrics"), "plots": str(work / tag / "plots"),
        },
        "model": {"tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                           "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
                           "max_position_embeddings": 256, "tie_word_embeddings": True}},
        "tokenizer": {"vocab_size": 1000},
        "train": {"num_workers": 2, "cpus_per_worker": 1, "zero_stage": 2, "max_failures": 2},
        "cpt": {"seq_len": 64, "micro_batch_size": 4, "grad_accum": 1, "lr": 0.01, "warmup_steps": 4,
                "max_steps": STEPS, "eval_every": EVERY, "checkpoint_every": EVERY, "eval_batches": 4},
        "sft": {"seq_len": 96, "micro_batch_size": 4, "grad_accum": 1, "lr": 0.003, "warmup_steps": 2,
                "max_steps": 10, "eval_every": 5, "checkpoint_every": 5, "eval_batches": 2},
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory, request):
    w = tmp_path_factory.mktemp("train")
    docs = [Document(id=r["id"], text=r["text"], lang="th") for r in thai_news(300, max_chars=3000)]
    write_jsonl(w / "clean" / "shard-00000.jsonl", docs)
    examples = []
    for i, d in enumerate(docs[:80]):
        lines = [x for x in d.text.split("\n") if x.strip()]
        msgs = [{"role": "user", "content": "ตั้งชื่อข่าวนี้: " + lines[-1][:120]},
                {"role": "assistant", "content": lines[0][:80]}]
        if i % 4 == 0:  # some multi-turn
            msgs += [{"role": "user", "content": "อีกครั้ง"}, {"role": "assistant", "content": lines[0][:80]}]
        examples.append(SFTExample(id=f"ex{i}", messages=msgs, lang="th", source="test"))
    write_jsonl(w / "synth" / "test.jsonl", examples)

    from langadapt.train.tokenizer import run_tokenizer

    run_tokenizer(parse_params(_params(w, "a")))
    yield w
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def uninterrupted(work):
    from langadapt.train.trainer import run_stage

    cfg = parse_params(_params(work, "a"))
    return cfg, run_stage(cfg, "cpt")


def test_cpt_lowers_heldout_loss_and_exports_hf(uninterrupted):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg, m = uninterrupted
    print(f"cpt held-out loss {m['initial_eval_loss']} -> {m['final_eval_loss']}")
    assert m["steps"] == STEPS
    assert m["final_eval_loss"] < m["initial_eval_loss"] - LOSS_DROP
    assert m["packing_efficiency"] > 0.99
    assert json.loads(Path(cfg.paths.metrics, "cpt.json").read_text())["steps"] == STEPS
    rows = Path(cfg.paths.plots, "cpt_loss.csv").read_text().splitlines()
    assert rows[0] == "step,train_loss,eval_loss" and len(rows) == 1 + 1 + STEPS

    out = Path(cfg.paths.cpt)
    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("รัฐบาล", return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids["input_ids"].shape[1]
    assert isinstance(tok.decode(gen[0]), str)


def test_cpt_killed_and_worker_failure_resume_to_same_result(work, uninterrupted):
    from langadapt.train import trainer as T

    _, full = uninterrupted
    params = _params(work, "b")
    pfile = work / "params_b.yaml"
    pfile.write_text(dump_params(parse_params(params)), encoding="utf-8")
    run_dir = Path(params["paths"]["cpt_checkpoints"]) / "cpt"

    # 1. the whole run (driver + its Ray processes) killed with SIGKILL after the first checkpoint
    tag = new_tag()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", TAG_ENV: tag}
    with open(work / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "langadapt", "cpt", "-p", str(pfile)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 240
        while time.time() < deadline and T.latest_complete_checkpoint(run_dir) is None:
            assert proc.poll() is None, (work / "killed.log").read_text()[-3000:]
            time.sleep(0.05)
        kill_run(proc, tag)  # its process group, and Ray's processes outside it (they inherited the tag)
    wait_until_quiet(run_dir)
    first = T.latest_complete_checkpoint(run_dir)
    assert first is not None
    step_killed = T.checkpoint_step(first)
    assert step_killed <= 2 * EVERY  # normally EVERY: killed as soon as the first checkpoint was complete

    # 2. a later checkpoint whose save was killed half-way: ignored, the previous one stays intact
    partial = run_dir / f"checkpoint_{step_killed + 1:06d}"
    shutil.copytree(first, partial)
    (partial / "train_state.json").write_text(json.dumps({"step": step_killed + 1}))
    victim = next(p for p in sorted((partial / "ds").iterdir()) if p.stat().st_size > 1000)
    victim.write_bytes(victim.read_bytes()[:1000])
    assert T.latest_complete_checkpoint(run_dir) == first and T.checkpoint_complete(first)

    # 3. rerun in a fresh driver; one worker dies at step 18 (FailureConfig restarts from step 16)
    os.environ[T.FAIL_AT_STEP_ENV] = str(STEPS - 6)
    os.environ[T.FAIL_MARKER_ENV] = str(work / "failed-once")
    messages: list[str] = []
    try:
        m = T.run_stage(parse_params(params), "cpt", echo=messages.append)
    finally:
        os.environ.pop(T.FAIL_AT_STEP_ENV)
        os.environ.pop(T.FAIL_MARKER_ENV)
    assert (work / "failed-once").exists(), "the injected worker failure did not happen"
    assert f"cpt: resuming from step {step_killed} ({first})" in messages
    print(f"resumed: final eval {m['final_eval_loss']} vs uninterrupted {full['final_eval_loss']}")
    assert m["steps"] == STEPS
    # killed run -> step_killed; worker failure at step 18 -> the checkpoint of step 16
    assert m["resumed_from_steps"] == ([step_killed, 16] if step_killed < 16 else [16])
    assert abs(m["final_eval_loss"] - full["final_eval_loss"]) <= RESUME_TOLERANCE
    # the loss history is continuous: every step once, in order
    rows = Path(params["paths"]["plots"], "cpt_loss.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(STEPS + 1))


def test_sft_lowers_assistant_loss(work, uninterrupted):
    from transformers import AutoModelForCausalLM

    from langadapt.train.trainer import run_stage

    cfg, _ = uninterrupted
    m = run_stage(cfg, "sft")
    print(f"sft held-out loss {m['initial_eval_loss']} -> {m['final_eval_loss']}")
    assert m["steps"] == 10 and m["train_examples"] > 50 and m["heldout_examples"] >= 1
    assert m["final_eval_loss"] < m["initial_eval_loss"]
    assert AutoModelForCausalLM.from_pretrained(cfg.paths.sft).config.model_type == "qwen3"


def test_missing_base_is_a_clear_error_before_training(work, tmp_path):
    p = _params(work, "c")
    p["paths"]["base"] = str(tmp_path / "no-such-base")
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(p), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "langadapt", "cpt", "-p", str(pfile)], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 1
    assert f"{tmp_path / 'no-such-base'}" in r.stderr and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr and not Path(p["paths"]["cpt_checkpoints"]).exists()
    r = subprocess.run([sys.executable, "-m", "langadapt", "tokenizer", "-p", str(pfile),
                        "-s", f"model.base={tmp_path / 'nope'}"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and f"{tmp_path / 'nope'}" in r.stderr and "Traceback" not in r.stderr
