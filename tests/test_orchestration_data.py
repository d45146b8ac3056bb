"""The pipeline's data ends on the cluster code path, offline: fetch the data.dvc snapshot from a DVC
remote at a git revision, and push a run's outputs so that `dvc pull` at that revision (with the run's
dvc.lock) reproduces them. A local git repository and a directory DVC remote stand in for GitHub and S3.

Run: .venv/bin/pytest -q tests/test_orchestration_data.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from langadapt.orchestration.data import fetch_inputs, is_local, push_outputs
from langadapt.orchestration.stage import dvc_md5

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
           GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


def sh(*cmd, cwd):
    subprocess.run(list(cmd), cwd=cwd, check=True, env=ENV, capture_output=True)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A git repo whose data.dvc snapshot lives only on a DVC remote (like GitHub + S3)."""
    base = tmp_path_factory.mktemp("gitops")
    root, remote = base / "origin", base / "remote"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "crawl-00000.warc.gz").write_bytes(b"not really a warc, only bytes to track")
    sh("git", "init", "-q", cwd=root)
    sh("dvc", "init", "-q", cwd=root)
    sh("dvc", "remote", "add", "-d", "store", str(remote), cwd=root)
    sh("dvc", "add", "-q", "data/raw", cwd=root)
    # the project keeps the snapshot's .dvc file at the root, as data.dvc
    pinned = yaml.safe_load((root / "data" / "raw.dvc").read_text())
    pinned["outs"][0]["path"] = "data/raw"
    (root / "data.dvc").write_text(yaml.safe_dump(pinned))
    (root / "data" / "raw.dvc").unlink()
    sh("dvc", "push", "-q", "data.dvc", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "snapshot", cwd=root)
    shutil.rmtree(root / ".dvc" / "cache")  # the data is only on the remote now
    shutil.rmtree(root / "data" / "raw")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    md5 = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]["md5"]
    return root, sha, md5


@pytest.mark.integration
def test_fetch_reads_the_snapshot_from_the_dvc_remote_at_rev(origin, tmp_path):
    root, sha, md5 = origin
    params_yaml = (root / "params.yaml").read_text()
    assert not is_local(str(root), sha)
    got = fetch_inputs(params_yaml, str(root), sha, {"raw": str(tmp_path / "raw")})
    assert got == {"raw": f"{root}@{sha}:data/raw"}
    assert dvc_md5(tmp_path / "raw") == md5


@pytest.mark.integration
def test_push_makes_dvc_pull_at_rev_reproduce_the_outputs(origin, tmp_path):
    root, sha, _ = origin
    # the run's outputs go to the remote cluster.dvc_remote names (here the origin's "store", a directory
    # standing in for S3; unset, it would be <artifact_store>/dvc), never to a path inside the clone
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["cluster"]["dvc_remote"] = "store"
    params_yaml = yaml.safe_dump(params, sort_keys=False, allow_unicode=True)
    out = tmp_path / "extracted"
    out.mkdir()
    (out / "shard-00000.jsonl").write_text('{"id": "d1", "text": "สวัสดี"}\n')
    (tmp_path / "extract.json").write_text('{"docs_out": 1}')
    result = push_outputs(params_yaml, str(root), sha, {"extracted": str(out)}, ["extract"],
                          metrics={"extract": str(tmp_path / "extract.json")})
    assert result["pushed"] is True and result["rev"] == sha and result["remote"] == "store"
    lock = yaml.safe_load(result["dvc_lock"])
    assert lock["stages"]["extract"]["outs"][0] == {
        "path": "data/extracted", "hash": "md5", "md5": dvc_md5(out), "size": 43, "nfiles": 1}
    # a user, later: the revision + the run's dvc.lock + `dvc pull` = the run's outputs
    user = tmp_path / "user"
    sh("git", "clone", "-q", str(root), str(user), cwd=tmp_path)
    sh("git", "checkout", "-q", sha, cwd=user)
    (user / "dvc.lock").write_text(result["dvc_lock"])
    sh("dvc", "pull", "-q", "extract", cwd=user)
    assert (user / "data" / "extracted" / "shard-00000.jsonl").read_text() == '{"id": "d1", "text": "สวัสดี"}\n'
    assert "metrics/extract.json" in result["dvc_lock"]


def test_local_runs_do_not_push(tmp_path):
    assert push_outputs("seed: 1\n", str(tmp_path), "", {}, ["extract"])["pushed"] is False
