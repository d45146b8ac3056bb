"""The embedded default end to end, as a new user runs it: a fresh copy of the repo, `dvc pull data.dvc`
(offline, from the repo-local remote), `dvc repro`, then `dvc metrics show`.

Run: pytest -q tests/test_e2e_dvc.py   (a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _fresh_copy(repo: Path, dest: Path) -> Path:
    """What a fresh clone holds: tracked files plus untracked ones git does not ignore."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = repo / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fresh clone"], cwd=dest, check=True
    )
    return dest


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}"
    return r


def test_fresh_clone_pull_and_repro(repo_root, tmp_path):
    work = _fresh_copy(repo_root, tmp_path / "clone")
    dvc = str(Path(sys.executable).parent / "dvc")
    _run([dvc, "pull", "-q", "data.dvc"], work)
    assert sorted(p.name for p in (work / "data" / "raw").glob("*.warc.gz")), "dvc pull brought no WARC files"

    _run([dvc, "repro"], work)

    metrics = {p.stem: json.loads(p.read_text()) for p in (work / "metrics").glob("*.json")}
    for stage in ("extract", "filter", "dedup", "tokenizer", "cpt", "synth", "sft", "pref", "diff", "eval"):
        assert stage in metrics, f"metrics/{stage}.json missing after dvc repro"
    report = work / "reports" / "report"
    assert (report / "report.md").read_text(encoding="utf-8").strip()
    for ckpt in ("base", "cpt", "sft", "pref"):
        assert (work / "models" / ckpt / "config.json").exists()
        assert list((work / "models" / ckpt).glob("*.safetensors"))

    shown = _run([dvc, "metrics", "show"], work).stdout
    assert "eval.json" in shown or "metrics/eval.json" in shown
    status = _run([dvc, "status"], work).stdout
    assert "changed" not in status, f"pipeline not up to date after repro:\n{status}"
