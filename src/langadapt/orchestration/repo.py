"""The project checkout the orchestration commands work on: its root, git SHA and data.dvc hash.

The project root holds dvc.yaml, params.yaml, components/ (the image: Dockerfile, constraints) and
pipelines/ (the compiled pipeline). No module is loaded from them by path: the pipeline and its
components are modules of this package (``orchestration.pipeline``, ``orchestration.kfp_components``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from langadapt.errors import ConfigError


def find_root(start: str | Path = ".") -> Path:
    """The nearest directory at or above ``start`` holding dvc.yaml and components/."""
    here = Path(start).resolve()
    for d in (here, *here.parents):
        if (d / "dvc.yaml").exists() and (d / "components").is_dir() and (d / "pipelines").is_dir():
            return d
    raise ConfigError(f"{here}: not inside a langadapt project (no dvc.yaml with components/ and pipelines/)")


def git_sha(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def git_dirty(root: Path) -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(out.stdout.strip())


def data_md5(root: Path, dvc_file: str = "data.dvc") -> str | None:
    """The md5 data.dvc pins the snapshot at (``outs[0].md5``), or None without a data.dvc."""
    path = root / dvc_file
    if not path.exists():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return str(doc["outs"][0]["md5"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as e:
        raise ConfigError(f"{path}: cannot read outs[0].md5 ({e})") from None
