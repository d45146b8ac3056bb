"""The pipeline's first and last steps: resolve inputs at the run's git revision; push outputs to DVC.

fetch: the inputs no stage makes (the data.dvc snapshot at ``paths.raw``, the committed samples) are
read through ``dvc.api.DVCFileSystem(repo, rev)``: on a cluster ``repo`` is the git URL and ``rev`` the
run's commit, so the snapshot comes from the DVC remote (S3/MinIO/GCS) exactly as ``data.dvc`` at that
commit pins it. Locally (``repo`` a directory, ``rev`` empty) the working tree is read (the snapshot is
pulled from the repo's default remote first when it is not checked out).

push: on a cluster, the outputs are committed into a clone at ``rev`` (``dvc commit``) and pushed to the
DVC remote (``dvc push``); the resulting dvc.lock is returned, so ``dvc pull`` with that lock at that
revision reproduces the run's outputs (docs/cluster.md). Locally it is a no-op: ``dvc repro`` owns the
workspace and its cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langadapt.errors import DataError, LangadaptError


def is_local(repo: str, rev: str) -> bool:
    return not rev and Path(repo).is_dir()


def fetch_inputs(params_yaml: str, repo: str, rev: str, outputs: Mapping[str, str]) -> dict[str, str]:
    """Copy each input ``paths`` key in ``outputs`` from the repo at ``rev`` to its local location."""
    from langadapt.orchestration.stage import params_from_text

    cfg = params_from_text(params_yaml)
    paths = cfg.paths.model_dump()
    done: dict[str, str] = {}
    if is_local(repo, rev):
        root = Path(repo)
        for key, dest in outputs.items():
            src = root / paths[key]
            if not src.exists() and (root / ".dvc").is_dir():
                _run(["dvc", "pull", "-q", paths[key]], cwd=root, what=f"dvc pull {paths[key]}")
            if not src.exists():
                raise DataError(f"{src}: input paths.{key} not found in {root} (for the snapshot: `dvc pull`)")
            _copy(src, Path(dest))
            done[key] = str(src)
        return done
    from dvc.api import DVCFileSystem

    remote_config = None
    if cfg.cluster.storage_endpoint:
        remote_config = {"endpointurl": cfg.cluster.storage_endpoint}
    try:
        fs = DVCFileSystem(repo, rev=rev or None, remote=cfg.cluster.dvc_remote, remote_config=remote_config)
    except Exception as e:  # noqa: BLE001 - git/DVC/fsspec errors of many kinds: name the repo
        raise DataError(f"{repo}@{rev or 'HEAD'}: cannot open the repository ({e})") from None
    for key, dest in outputs.items():
        rpath = paths[key]
        if not fs.exists(rpath):
            raise DataError(f"{repo}@{rev}: {rpath} (paths.{key}) not in the repository or its DVC remote")
        if fs.isdir(rpath):
            fs.get(rpath, str(dest), recursive=True)
        else:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(rpath, str(dest))
        done[key] = f"{repo}@{rev}:{rpath}"
    return done


def push_outputs(
    params_yaml: str,
    repo: str,
    rev: str,
    outputs: Mapping[str, str],
    stages: list[str],
    metrics: Mapping[str, str] | None = None,
    plots: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Commit the run's outputs into DVC at ``rev`` and push them; a no-op when run locally.

    outputs: paths key -> local dir/file; metrics: stage -> its metrics JSON; plots: stage -> its plots
    dir (``dvc commit`` needs every declared output of a stage, metrics and plots included).
    """
    if is_local(repo, rev):
        return {"pushed": False, "reason": "local run: `dvc repro` / `dvc push` own the workspace"}
    from langadapt.orchestration.stage import params_from_text

    cfg = params_from_text(params_yaml)
    paths = cfg.paths.model_dump()
    clone = Path(tempfile.mkdtemp(prefix="langadapt-push-"))
    _run(["git", "clone", "--quiet", repo, str(clone)], cwd=None, what=f"git clone {repo}")
    _run(["git", "checkout", "--quiet", rev], cwd=clone, what=f"git checkout {rev}")
    (clone / "params.yaml").write_text(params_yaml, encoding="utf-8")
    remote = push_remote(clone, cfg)
    # deps first (the snapshot, from the repo's default remote or cluster.dvc_remote), so `dvc commit`
    # can hash every stage's deps and outs
    _run(["dvc", "pull", "-q", *(["-r", cfg.cluster.dvc_remote] if cfg.cluster.dvc_remote else []),
          paths["raw"]], cwd=clone, what="dvc pull (snapshot)")
    for key, src in outputs.items():
        dest = clone / paths[key]
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        _copy(Path(src), dest)
    for stage, src in (metrics or {}).items():
        _copy(Path(src), clone / paths["metrics"] / f"{stage}.json")
    for src in (plots or {}).values():
        _copy(Path(src), clone / paths["plots"])
    for key in uncached_outputs(clone, stages):
        # Ray Train checkpoints (persist, cache: false) live in object storage, never in the DVC cache;
        # `dvc commit` still needs the declared directory to exist
        dest = clone / paths[key]
        if key not in outputs and not dest.exists():
            dest.mkdir(parents=True)
            (dest / "IN_OBJECT_STORAGE.txt").write_text(
                f"{cfg.cluster.artifact_store.rstrip('/')}/checkpoints/\n", encoding="utf-8")
    _run(["dvc", "commit", "-f", "-q", *stages], cwd=clone, what="dvc commit")
    _run(["dvc", "push", "-q", "-r", remote, *stages], cwd=clone, what=f"dvc push -r {remote}")
    return {"pushed": True, "remote": remote, "dvc_lock": (clone / "dvc.lock").read_text(encoding="utf-8"),
            "rev": rev}


PUSH_REMOTE = "langadapt-run"


def push_remote(clone: Path, cfg: Any) -> str:
    """The DVC remote a run's outputs go to, configured in the clone's local config only.

    ``cluster.dvc_remote`` (a remote named in .dvc/config) when set; otherwise ``<artifact_store>/dvc``:
    never the repository's default remote, which may be a path inside the clone (samples/dvc-remote)
    and would vanish with it. ``cluster.storage_endpoint`` (MinIO, the tests' S3) goes to s3 remotes.
    """
    remote = cfg.cluster.dvc_remote
    if not remote:
        remote = PUSH_REMOTE
        url = cfg.cluster.artifact_store.rstrip("/") + "/dvc"
        _run(["dvc", "remote", "add", "--local", "-f", remote, url], cwd=clone, what="dvc remote add")
    if cfg.cluster.storage_endpoint:
        listing = subprocess.run(["dvc", "remote", "list"], cwd=clone, capture_output=True, text=True,
                                 check=False).stdout
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("s3://"):
                _run(["dvc", "remote", "modify", "--local", parts[0], "endpointurl",
                      cfg.cluster.storage_endpoint], cwd=clone, what="dvc remote modify")
    return remote


def uncached_outputs(root: Path, stages: list[str]) -> list[str]:
    """``paths`` keys of the named stages' ``cache: false`` outs (read from root/dvc.yaml)."""
    import yaml

    doc = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    keys = []
    for name in stages:
        for out in (doc.get("stages", {}).get(name) or {}).get("outs", []):
            if isinstance(out, dict):
                (ref, opts), = out.items()
                if (opts or {}).get("cache") is False and ref.startswith("${paths.") and ref.endswith("}"):
                    keys.append(ref[len("${paths."):-1])
    return keys


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def _run(cmd: list[str], cwd: Path | None, what: str) -> None:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise LangadaptError(f"{what} failed (exit {proc.returncode}): {out}")
