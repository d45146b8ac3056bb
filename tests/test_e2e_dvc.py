"""The embedded default end to end, as a new user runs it: a fresh copy of the repo, `dvc pull data.dvc`
(offline, from the repo-local remote), `dvc repro`, then `dvc metrics show`.

The whole default (`make demo`) trains for ~20 min on 2 cores; this test runs the same DAG on the same
snapshot with the training and generation budgets cut (CI_BUDGET, written into the copy's params.yaml),
so it proves every stage and the DVC wiring in a CI-sized run, not the default's numbers.

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


# the budgets cut for CI (every other value is the embedded default's)
CI_BUDGET = {
    "cpt": {"max_steps": 40, "eval_every": 20, "checkpoint_every": 20},
    "sft": {"max_steps": 20, "eval_every": 10, "checkpoint_every": 10},
    "synth": {"back_translation": 60, "translation_pairs": 60},
    "pref": {"prompts": 4, "samples_per_prompt": 2, "max_steps": 2, "checkpoint_every": 2, "max_new_tokens": 16},
    "eval": {"bpb_docs": 8, "translation_pairs": 6, "ifeval_prompts": 6, "multi_turn": 3, "max_new_tokens": 24,
             "sea_ifeval_prompts": 4, "en_ifeval_prompts": 4, "flores_pairs": 4},
    "diff": {"probe_texts": 4},
}


def _cut_budgets(params: Path) -> None:
    import yaml

    cfg = yaml.safe_load(params.read_text(encoding="utf-8"))
    for section, values in CI_BUDGET.items():
        cfg[section].update(values)
    params.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_fresh_clone_pull_and_repro(repo_root, tmp_path):
    work = _fresh_copy(repo_root, tmp_path / "clone")
    _cut_budgets(work / "params.yaml")
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
