"""The `pref` stage end to end on a random tiny Qwen3 (tests/pref_project.py): on-policy sampling,
verifier feedback, TRL KTO (stepwise) / DPO inside Ray Train workers with DeepSpeed ZeRO-2 on CPU.

    .venv/bin/pytest -q tests/test_pref_stage.py        # ~4-6 min on 2 busy cores

Asserted: per-sample records keep each constraint's outcome; metrics/pref.json and the plots hold the
round's pass rates and the KTO numbers; a worker killed mid-round (Ray restarts the group from the last
HF/Ray checkpoint) still ends at max_steps; the exported policy loads and differs from sft; a rerun with
the same params does not train again; a `langadapt pref` run killed with SIGKILL (driver and Ray) after
its first checkpoint resumes from that step, not from a half-written later one, without sampling again, and
ends with every step once; bad input (no prompt with constraints, all samples passing) skips the round
with its reason and exports the SFT model unchanged.
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

from killing import TAG_ENV, kill_run, new_tag, wait_until_quiet
from pref_project import make_project, project_cfg

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("prefproj"))


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(next(path.glob("*.safetensors"))))


@pytest.fixture(autouse=True)
def _ray_shutdown():
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def test_kto_stepwise_round_with_a_worker_failure(project, tmp_path, monkeypatch):
    from langadapt.pref.stage import run_pref

    monkeypatch.setenv("LANGADAPT_PREF_FAIL_AT_STEP", "3")
    monkeypatch.setenv("LANGADAPT_PREF_FAIL_MARKER", str(tmp_path / "failed"))
    cfg = project_cfg(project, "pref.stepwise=true", "train.max_failures=1")
    m = run_pref(cfg, echo=lambda s: None)
    assert (tmp_path / "failed").exists()                    # the hook fired: a worker died at step 3
    assert m["rounds_trained"] == 1 and m["loss"] == "kto" and m["stepwise"] is True
    r0 = m["per_round"][0]
    assert r0["steps"] == 4 and r0["samples"] == 32 and r0["skipped"] is None
    assert r0["resumed_from_steps"] == [2]                   # Ray restarted the group from step 2's checkpoint
    assert isinstance(r0["train_loss"], float) and isinstance(r0["rewards_margins"], float)
    root = Path(cfg.paths.pref_checkpoints)
    recs = [json.loads(x) for x in (root / "round_0/samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(recs) == 32
    for r in recs:  # every record keeps each constraint's outcome and the language check
        fb = r["feedback"]
        assert [c["id"] for c in fb["constraints"]] == ["length_constraints:number_words"]
        assert fb["desirable"] == (fb["language_ok"] and all(c["ok"] for c in fb["constraints"]))
    share = sum(r["feedback"]["desirable"] for r in recs) / 32
    assert r0["desirable_share"] == share and 0 < share < 1
    n_d = sum(r["feedback"]["desirable"] for r in recs)   # balanced KTO weights: lambda_D n_D = lambda_U n_U
    w = r0["kto_weights"]
    assert w["desirable"] * n_d == pytest.approx(w["undesirable"] * (32 - n_d), rel=1e-5)
    rows = [json.loads(x) for x in (root / "round_0/train_rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(("weight" in r) and (r["weight"] == 1.0 or not r["label"]) for r in rows)
    # the export loads and training moved it
    sft, pref = _weights(Path(cfg.paths.sft)), _weights(Path(cfg.paths.pref))
    assert sft.keys() == pref.keys() and any(not (sft[k] == pref[k]).all() for k in sft)
    from langadapt.train.modeling import load_causal_lm

    load_causal_lm(cfg.paths.pref)
    plots = Path(cfg.paths.plots)
    assert (plots / "pref_rounds.csv").read_text().splitlines()[0].startswith("round,desirable_share")
    assert [ln.split(",")[0] for ln in (plots / "pref_rounds.csv").read_text().splitlines()[1:]] == ["0", "final"]
    assert len((plots / "pref_loss.csv").read_text().splitlines()) == 1 + 4
    saved = json.loads((Path(cfg.paths.metrics) / "pref.json").read_text())
    assert saved["final"]["samples"] == 32
    # same params again: nothing is sampled or trained again, same numbers
    lines: list[str] = []
    m2 = run_pref(cfg, echo=lines.append)
    assert any("round 0 already done (trained)" in s for s in lines)
    assert m2["per_round"] == m["per_round"] and m2["final"] == m["final"]


# plain DPO on passing/failing pairs; DPO + NLL of the chosen answers (RPO) on partial-credit pairs
@pytest.mark.parametrize("sft_weight,pairing", [(0.0, "desirable"), (1.0, "score")])
def test_dpo_one_worker_without_deepspeed(project, tmp_path, sft_weight, pairing):
    from langadapt.pref.stage import run_pref

    cfg = project_cfg(project, "pref.loss=dpo", "train.num_workers=1", "pref.deepspeed=false", "pref.max_steps=2",
                      f"pref.sft_weight={sft_weight}", f"pref.pairing={pairing}",
                      f"paths.pref_checkpoints={tmp_path / 'ck'}", f"paths.pref={tmp_path / 'pref'}",
                      f"paths.metrics={tmp_path / 'm'}", f"paths.plots={tmp_path / 'p'}")
    m = run_pref(cfg, echo=lambda s: None)
    r0 = m["per_round"][0]
    assert m["loss"] == "dpo" and r0["steps"] == 2 and r0["train_rows"] >= 1
    assert (m["pairing"], m["sft_weight"]) == (pairing, sft_weight)
    assert r0["rewards_margins"] is not None


def test_pref_killed_with_sigkill_resumes(project, tmp_path):
    from langadapt.config import dump_params
    from langadapt.pref.stage import run_pref
    from langadapt.pref.train import hf_checkpoint_complete, hf_checkpoint_step, latest_hf_checkpoint

    steps = 10
    cfg = project_cfg(project, "train.num_workers=1", "pref.deepspeed=false", f"pref.max_steps={steps}",
                      f"paths.pref_checkpoints={tmp_path / 'ck'}", f"paths.pref={tmp_path / 'pref'}",
                      f"paths.metrics={tmp_path / 'm'}", f"paths.plots={tmp_path / 'p'}")
    pfile = tmp_path / "params.yaml"
    pfile.write_text(dump_params(cfg), encoding="utf-8")
    root = Path(cfg.paths.pref_checkpoints)
    run_dir = root / "pref_round_0"

    # 1. the whole `langadapt pref` run (driver + its Ray processes) killed once its first checkpoint is complete
    tag = new_tag()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", TAG_ENV: tag}
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "langadapt", "pref", "-p", str(pfile)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 600
        while time.time() < deadline and latest_hf_checkpoint(run_dir) is None:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
        kill_run(proc, tag)
    wait_until_quiet(root)
    first = latest_hf_checkpoint(run_dir)
    assert first is not None, log.read_text()[-3000:]
    step_killed = hf_checkpoint_step(first)
    assert 0 < step_killed < steps
    assert not (root / "round_0/round.json").exists() and not Path(cfg.paths.pref).exists()
    samples = (root / "round_0/samples.jsonl").read_bytes()

    # 2. a later checkpoint whose upload the kill cut short (model weights half there): never loaded
    partial = run_dir / "checkpoint_9999-partial" / first.name
    shutil.copytree(first, partial)
    state = json.loads((partial / "trainer_state.json").read_text())
    (partial / "trainer_state.json").write_text(json.dumps({**state, "global_step": step_killed + 1}))
    man = json.loads((partial / "manifest_rank0.json").read_text())
    man["files"]["trainer_state.json"] = (partial / "trainer_state.json").stat().st_size
    (partial / "manifest_rank0.json").write_text(json.dumps(man))
    weights = next(partial.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    assert not hf_checkpoint_complete(partial) and latest_hf_checkpoint(run_dir) == first
    # and Ray's run snapshot cut short while being written (Ray could not parse it): removed, not a crash
    snap = run_dir / "checkpoint_manager_snapshot.json"
    snap.write_text(snap.read_text()[:40] if snap.exists() else '{"ray_version": "2.')

    # 3. rerun (in this process): resumes at the killed step with the same samples, ends at max_steps
    lines: list[str] = []
    m = run_pref(cfg, echo=lines.append)
    assert any(s.startswith(f"pref: {snap} is half-written") for s in lines)
    assert f"pref: round 0: resuming from step {step_killed} ({first})" in lines
    assert not any("round 0: sampling" in s for s in lines)
    assert (root / "round_0/samples.jsonl").read_bytes() == samples
    r0 = m["per_round"][0]
    assert r0["steps"] == steps and r0["resumed_from_steps"] == [step_killed] and m["rounds_trained"] == 1
    assert json.loads((Path(cfg.paths.metrics) / "pref.json").read_text())["per_round"] == m["per_round"]
    # the loss history is continuous: every step once, in order
    rows = (Path(cfg.paths.plots) / "pref_loss.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, steps + 1))
    from langadapt.train.modeling import load_causal_lm

    load_causal_lm(cfg.paths.pref)
    assert _weights(Path(cfg.paths.pref)).keys() == _weights(project / "models/sft").keys()
    # and once more: the finished round is not redone
    lines.clear()
    assert run_pref(cfg, echo=lines.append)["per_round"] == m["per_round"]
    assert any("round 0 already done (trained)" in s for s in lines)


def test_bad_input_skips_with_a_reason(project, tmp_path):
    from langadapt.pref.stage import run_pref

    out = {k: str(tmp_path / k) for k in ("ck", "pref", "m", "p")}
    sets = [f"paths.pref_checkpoints={out['ck']}", f"paths.pref={out['pref']}", f"paths.metrics={out['m']}",
            f"paths.plots={out['p']}"]
    # nothing held out: no prompt to sample, no Ray started
    lines: list[str] = []
    m = run_pref(project_cfg(project, "data.heldout_fraction=0.0", *sets), echo=lines.append)
    assert m["rounds_trained"] == 0 and "no held-out prompt with constraints" in m["per_round"][0]["skipped"]
    assert any("no held-out prompt with constraints" in s for s in lines)
    assert _weights(Path(out["pref"])).keys() == _weights(project / "models/sft").keys()
    # every sample passes (no language check, a word limit no answer reaches): round skipped, sft exported
    m = run_pref(project_cfg(project, "pref.min_script_ratio=0.0", "pref.max_new_tokens=2", *sets),
                 echo=lines.append)
    assert "every one of the 32 samples passes" in m["per_round"][0]["skipped"]
    assert m["rounds_skipped"] == 1 and m["initial"]["desirable_share"] == 1.0
    sft, pref = _weights(project / "models/sft"), _weights(Path(out["pref"]))
    assert all((sft[k] == pref[k]).all() for k in sft)


def test_diff_adds_sft_to_pref(project, tmp_path):
    """The diff stage's sft -> pref pair (streamed like the others) on a perturbed copy of sft."""
    import torch

    from langadapt.analysis.diff import SpectrumOptions
    from langadapt.analysis.run import _pref_diff
    from langadapt.train.modeling import load_causal_lm, save_hf

    model, tok = load_causal_lm(project / "models/sft")
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight.mul_(1.5)
    save_hf(model, tok, tmp_path / "pref")
    cfg = project_cfg(project, f"paths.pref={tmp_path / 'pref'}")
    out = _pref_diff(cfg, SpectrumOptions.from_params(cfg.diff, cfg.seed), tmp_path / "sft_pref", None)
    assert list(out) == ["sft_pref"] and out["sft_pref"]["top_tensor"].endswith("layers.1.mlp.down_proj.weight")
    assert out["sft_pref"]["rel_change_total"] > 0 and (tmp_path / "sft_pref/layers.csv").exists()
    cfg = project_cfg(project, f"paths.pref={tmp_path / 'nothing'}")
    assert _pref_diff(cfg, SpectrumOptions.from_params(cfg.diff, cfg.seed), tmp_path / "x", None) == {}
