"""`langadapt pipeline run-local` (kfp.local.SubprocessRunner) on the embedded default matches `dvc repro`.

Integration, ~1.5 min on 2 cores: in a temporary copy of the project, `dvc repro dedup`, then the KFP
pipeline up to dedup through kfp.local on the same snapshot; the extract/filter/dedup outputs must be
the same files with the same content.

Run: .venv/bin/pytest -q tests/test_orchestration_local.py
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from langadapt.orchestration.pipeline import run_local
from langadapt.orchestration.stage import dvc_md5

REPO = Path(__file__).resolve().parents[1]
DATA_STAGES = {"extract": "extracted", "filter": "filtered", "dedup": "clean"}
# per-shard completion markers of the corpus stages record wall-clock seconds and the absolute input
# paths (different under dvc and kfp by construction); everything else must be byte-identical
VOLATILE = ".done.json"


def _files(d: Path) -> dict[str, str]:
    return {f.relative_to(d).as_posix(): hashlib.md5(f.read_bytes()).hexdigest()
            for f in sorted(d.rglob("*")) if f.is_file() and not f.name.endswith(VOLATILE)}


def _all_names(d: Path) -> list[str]:
    return sorted(f.relative_to(d).as_posix() for f in d.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project with the snapshot, as a user has it after `dvc pull`."""
    root = tmp_path_factory.mktemp("project")
    for name in ("dvc.yaml", "params.yaml", "data.dvc"):
        if not (REPO / name).exists():
            pytest.skip(f"{name} not in the project yet")
        shutil.copy2(REPO / name, root / name)
    for name in ("src", "components", "pipelines", "samples"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "dvc-remote"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, check=True, env=env)
    raw = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]
    if (REPO / raw["path"]).is_dir():
        shutil.copytree(REPO / raw["path"], root / raw["path"])
    elif (REPO / "samples" / "dvc-remote").is_dir():  # a fresh clone: pull from the repo-local remote
        subprocess.run(["dvc", "remote", "add", "-d", "local", str(REPO / "samples" / "dvc-remote")],
                       cwd=root, check=True, env=env)
        subprocess.run(["dvc", "pull", "-q", "data.dvc"], cwd=root, check=True, env=env)
    else:
        pytest.skip("no snapshot: data/raw absent and no samples/dvc-remote")
    assert dvc_md5(root / raw["path"]) == raw["md5"], "the snapshot is not the one data.dvc pins"
    return root


@pytest.fixture(scope="module")
def dvc_outputs(project):
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["dvc", "repro", "-q", "dedup"], cwd=project, check=True, env=env)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    out = {}
    for stage, key in DATA_STAGES.items():
        path = project / lock["stages"][stage]["outs"][0]["path"]
        out[key] = {"files": _files(path), "names": _all_names(path), "md5": lock["stages"][stage]["outs"][0]["md5"],
                    "our_md5": dvc_md5(path)}
    return out


@pytest.mark.integration
def test_run_local_data_stages_equal_dvc_repro(project, dvc_outputs, tmp_path):
    run_dir, outs = run_local(project, project / "params.yaml", until="dedup", pipeline_root=tmp_path / "kfp")
    assert set(outs) >= {"fetch-inputs/raw", "extract/extracted", "filter/filtered", "dedup/clean",
                         "extract/metrics", "dedup/metrics", "push-outputs/outputs_index"}
    raw_md5 = yaml.safe_load((project / "data.dvc").read_text())["outs"][0]["md5"]
    assert dvc_md5(outs["fetch-inputs/raw"]) == raw_md5
    for stage, key in DATA_STAGES.items():
        ours = outs[f"{stage}/{key}"]
        theirs = dvc_outputs[key]
        assert theirs["our_md5"] == theirs["md5"]  # our md5 is DVC's md5 (dvc.lock)
        assert _all_names(ours) == theirs["names"], stage
        assert _files(ours) == theirs["files"], f"{stage}: outputs differ from dvc repro's"
        assert theirs["files"], f"{stage} wrote no data files"
    # the KFP dashboard sees the counts
    import json

    meta = json.loads((run_dir / "dedup" / "executor_output.json").read_text())
    clean_meta = meta["artifacts"]["clean"]["artifacts"][0]["metadata"]
    assert clean_meta["records"] == sum(
        1 for f in outs["dedup/clean"].glob("*.jsonl") if not f.name.endswith(".excluded.jsonl")
        for line in f.read_text().splitlines() if line.strip())
    assert clean_meta["paths_key"] == "clean"


# every stage of dvc.yaml at toy size; ~5 min on 2 cores, so opt-in: LANGADAPT_FULL_PIPELINE=1
TINY = ["cpt.max_steps=4", "cpt.eval_every=2", "cpt.checkpoint_every=2", "sft.max_steps=4", "sft.eval_every=2",
        "sft.checkpoint_every=2", "train.num_workers=1", "synth.back_translation=20", "synth.translation_pairs=20",
        "eval.bpb_docs=4", "eval.translation_pairs=4", "eval.ifeval_prompts=4", "eval.multi_turn=2",
        "eval.max_new_tokens=8", "eval.sea_ifeval_prompts=2", "eval.en_ifeval_prompts=2", "eval.flores_pairs=2",
        "diff.probe_texts=2", "pref.prompts=4", "pref.samples_per_prompt=2",
        "pref.max_steps=2", "pref.checkpoint_every=2", "pref.max_new_tokens=8"]


@pytest.mark.integration
@pytest.mark.skipif(os.environ.get("LANGADAPT_FULL_PIPELINE") != "1",
                    reason="the whole graph takes minutes: set LANGADAPT_FULL_PIPELINE=1")
def test_run_local_whole_graph_at_toy_size(project, tmp_path):
    from langadapt.orchestration.codegen import runnable
    from langadapt.orchestration.dvcgraph import read_stages

    stages, dropped = runnable(read_stages(project / "dvc.yaml"))
    assert dropped == {}
    _, outs = run_local(project, project / "params.yaml", pipeline_root=tmp_path / "kfp", overrides=TINY)
    for s in stages:
        for key in s.outputs:
            assert outs[f"{s.name}/{key}"].exists(), f"{s.name} wrote no {key}"
    for key in ("tokenizer", "base"):
        assert any(outs[f"tokenizer/{key}"].iterdir())
    for stage in ("cpt", "sft", "pref"):
        assert (outs[f"{stage}/{stage}"] / "config.json").exists()
