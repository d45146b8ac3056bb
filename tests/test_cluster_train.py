"""CPT then SFT through the RayJob entrypoint on a local multi-node Ray cluster, checkpoints on S3.

    .venv/bin/pytest -q tests/test_cluster_train.py      # a few minutes on 2 shared cores

The cluster in a box (tests/cluster_harness.py): moto's S3 on loopback; a Ray head that only runs the
driver (num-cpus 0, as the RayJob's head) and two 1-CPU worker nodes, each in a private mount
namespace where the driver's scratch directory is an empty tmpfs. The step side (``stage_job``) stages params + inputs to
S3, ``langadapt pipeline rayjob-entry`` (what the RayJob runs) trains, and the step side collects the
outputs from S3. Asserted: the workers never read a driver-local path (they would find nothing); the
tokenized data and the initial model are staged once under the run's storage; the checkpoints are on
S3 with SHA-256 manifests; killing the node that runs the training worker after the first checkpoint
moves training to the other node, which resumes from that S3 checkpoint (Ray Train FailureConfig) to the planned step; SFT then trains from
the CPT output the same way; a rerun of CPT with the same inputs re-exports from S3 without training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cluster_harness import RayNodes, S3Server
from conftest import thai_news
from langadapt.config import dump_params, parse_params
from langadapt.io import write_jsonl
from langadapt.records import Document, SFTExample

pytestmark = pytest.mark.integration

CPT_STEPS, CPT_EVERY = 8, 2


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("moto"))
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    server.stop()


def _params(step_side: Path, bucket: str, endpoint: str) -> dict:
    return {
        "seed": 5,
        "paths": {k: str(step_side / k) for k in ("clean", "tokenizer", "base", "synth", "metrics", "plots")},
        "model": {"tiny": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
                           "max_position_embeddings": 128, "tie_word_embeddings": True}},
        "tokenizer": {"vocab_size": 400},
        "train": {"cpus_per_worker": 1, "zero_stage": 1, "max_failures": 2},
        "cpt": {"seq_len": 32, "micro_batch_size": 2, "grad_accum": 1, "lr": 0.01, "warmup_steps": 1,
                "max_steps": CPT_STEPS, "eval_every": CPT_EVERY, "checkpoint_every": CPT_EVERY, "eval_batches": 1},
        "sft": {"seq_len": 128, "micro_batch_size": 2, "grad_accum": 1, "lr": 0.003, "warmup_steps": 1,
                "max_steps": 2, "eval_every": 2, "checkpoint_every": 2, "eval_batches": 1},
        "cluster": {"artifact_store": f"{bucket}/runs", "storage_endpoint": endpoint,
                    "worker": {"replicas": 1, "cpu": "1", "memory": "2Gi", "gpu": 0}},
    }


@pytest.fixture(scope="module")
def box(s3, tmp_path_factory):
    root = tmp_path_factory.mktemp("box")
    scratch = root / "driver-scratch"  # the head's disk: workers must never need anything in it
    step_side = root / "step"          # the KFP step's disk
    (scratch / "tmp").mkdir(parents=True)
    docs = [Document(id=r["id"], text=r["text"], lang="th") for r in thai_news(40, max_chars=1200)]
    write_jsonl(step_side / "clean" / "shard-00000.jsonl", docs)
    examples = []
    for i, d in enumerate(docs[:12]):
        lines = [x for x in d.text.split("\n") if x.strip()]
        examples.append(SFTExample(id=f"ex{i}", lang="th", source="test", messages=[
            {"role": "user", "content": "ตั้งชื่อข่าวนี้: " + lines[-1][:30]},
            {"role": "assistant", "content": lines[0][:20]}]))
    write_jsonl(step_side / "synth" / "test.jsonl", examples)
    bucket = s3.bucket("langadapt-box")
    params = _params(step_side, bucket, s3.endpoint)
    from langadapt.train.tokenizer import run_tokenizer

    run_tokenizer(parse_params(params))
    nodes = RayNodes(root / "ray", scratch, s3.env)
    if not nodes.isolated:  # not root and no user namespaces: separate working/temp dirs only
        print("cluster harness: no private mount namespace here; workers could see the driver's scratch")
    try:
        nodes.add_worker("w1", 1)
        nodes.wait_for_cpus(1)
        nodes.add_worker("w2", 1)  # the pool's second node: where training goes when the first one dies
        nodes.wait_for_cpus(2)
        yield {"root": root, "scratch": scratch, "step": step_side, "params": params, "nodes": nodes}
    finally:
        nodes.stop()


def _entry(box, stage: str, staging: str, log_name: str, extra_env: dict | None = None) -> subprocess.Popen:
    """What KubeRay runs on the head: the RayJob entrypoint, its temp files in the driver's scratch."""
    env = {**box["nodes"].env, "TMPDIR": str(box["scratch"] / "tmp"), "PYTHONUNBUFFERED": "1",
           **(extra_env or {})}
    log = open(box["root"] / log_name, "w")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "langadapt", "pipeline", "rayjob-entry", stage, "--staging",
                             staging], cwd=box["scratch"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stage(box, stage: str, inputs: dict[str, str], outputs: dict[str, str]):
    from langadapt.orchestration.rayjob import stage_job

    text = dump_params(parse_params(box["params"]))
    cfg = parse_params(yaml.safe_load(text))
    name, staging = stage_job(cfg, stage, text, inputs, outputs)
    return cfg, name, staging


def _log(box, name: str) -> str:
    return (box["root"] / name).read_text()


def test_cpt_on_s3_survives_losing_its_worker_node_then_sft(box):
    from langadapt.orchestration.rayjob import collect_outputs
    from langadapt.storage import url_to_fs
    from langadapt.train.cloud import latest_complete_checkpoint_url

    step = box["step"]
    outputs = {"cpt": str(step / "out" / "cpt"), "cpt_checkpoints": str(step / "out" / "cpt_ckpt")}
    cfg, name, staging = _stage(box, "cpt", {"base": str(step / "base"), "clean": str(step / "clean")}, outputs)
    storage = f"{cfg.cluster.artifact_store}/checkpoints/{name}"
    proc = _entry(box, "cpt", staging, "cpt.log", {"LANGADAPT_STEP_SLEEP": "1.5"})
    try:
        deadline = time.time() + 400
        first = None
        while first is None:
            assert proc.poll() is None, _log(box, "cpt.log")[-4000:]
            assert time.time() < deadline, "no complete checkpoint on S3 in time:\n" + _log(box, "cpt.log")[-4000:]
            first = latest_complete_checkpoint_url(f"{storage}/cpt")
            time.sleep(0.5)
        assert first[1] < CPT_STEPS
        victim = box["nodes"].node_running("RayTrainWorker")
        assert victim in ("w1", "w2")
        box["nodes"].kill(victim)  # the training worker's node is gone (a preempted GPU node)
        assert proc.wait(600) == 0, _log(box, "cpt.log")[-6000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    log = _log(box, "cpt.log")
    metrics = collect_outputs("cpt", staging, outputs, step / "out" / "metrics")
    assert metrics["steps"] == CPT_STEPS
    assert metrics["resumed_from_steps"] and metrics["resumed_from_steps"][0] >= first[1], log[-3000:]
    assert (step / "out" / "cpt" / "model.safetensors").is_file()
    assert (step / "out" / "cpt_ckpt" / "STORAGE_PATH.txt").read_text().strip() == storage

    fs, root = url_to_fs(storage)
    found = [p.split(f"{root}/", 1)[1] for p in fs.find(root)]
    # inputs staged once to shared storage, each with its hash manifest
    assert any(p.startswith("cpt/inputs/init-") and p.endswith("/model.safetensors") for p in found)
    assert any(p.startswith("cpt/inputs/data-") and p.endswith("/train.bin") for p in found)
    assert sum(p.endswith("/_COMPLETE") for p in found) == 2
    latest = latest_complete_checkpoint_url(f"{storage}/cpt")
    assert latest[1] == CPT_STEPS
    man = json.loads(fs.cat_file(f"{latest[0].split('://', 1)[1]}/manifest_rank0.json"))
    assert set(man["sha256"]) == set(man["files"]) and "train_state.json" in man["sha256"]

    # SFT from the CPT output, through the same entrypoint
    sft_out = {"sft": str(step / "out" / "sft"), "sft_checkpoints": str(step / "out" / "sft_ckpt")}
    _, _, sft_staging = _stage(box, "sft", {"cpt": outputs["cpt"], "synth": str(step / "synth")}, sft_out)
    proc = _entry(box, "sft", sft_staging, "sft.log")
    assert proc.wait(600) == 0, _log(box, "sft.log")[-6000:]
    sft = collect_outputs("sft", sft_staging, sft_out, step / "out" / "metrics")
    assert sft["steps"] == 2 and (step / "out" / "sft" / "model.safetensors").is_file()

    # the same CPT inputs again: the finished run on S3 is exported, not retrained
    proc = _entry(box, "cpt", staging, "cpt-again.log")
    assert proc.wait(600) == 0, _log(box, "cpt-again.log")[-6000:]
    # (the re-downloaded inputs have new mtimes: the tokenized-data key is by content, so the training
    # fingerprint is the same and the finished run is found)
    assert f"cpt: already trained to step {CPT_STEPS}" in _log(box, "cpt-again.log"), _log(box, "cpt-again.log")[-6000:]
