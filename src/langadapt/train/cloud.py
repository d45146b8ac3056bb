"""Training with ``train.storage_path`` in object storage (s3://, gs://): inputs, resume, integrity.

The trainer's driver (the RayJob's head, or a laptop) and its workers (pods on a GPU pool) share no
filesystem: the only place both see is the object store. So, when the storage is a URL:

- the driver uploads the tokenized data and the initial model once under
  ``<storage>/<stage>/inputs/`` (``langadapt.storage.stage_dir``, skipped when already there) and hands
  the workers those URLs; each worker downloads and verifies them (``langadapt.storage.localize``);
- a rerun with the same fingerprint resumes from the newest complete checkpoint under
  ``<storage>/<stage>/`` (``run_state``), a different fingerprint starts fresh (the old run is deleted);
- every checkpoint carries per-rank SHA-256 lists (``manifest_rank<r>.json``) written by the job, and a
  checkpoint is loaded only after ``verify_checkpoint`` (DeepSpeed's optimizer state is a pickle).

    langadapt cpt -s train.storage_path=s3://bucket/ckpt -s train.ray_address=auto
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from langadapt import storage
from langadapt.errors import DataError

RUN_FILE = "langadapt_run.json"
STATE_FILE = "train_state.json"


def _manifests(fs: Any, ckpt: str) -> list[dict[str, Any]] | None:
    try:
        m0 = json.loads(fs.cat_file(f"{ckpt}/manifest_rank0.json"))
        return [m0] + [json.loads(fs.cat_file(f"{ckpt}/manifest_rank{r}.json")) for r in range(1, m0["world"])]
    except (OSError, ValueError, KeyError):
        return None


def checkpoint_complete_fs(fs: Any, ckpt: str) -> bool:
    """Every rank's listed files are present with their sizes (an interrupted save is not complete)."""
    mans = _manifests(fs, ckpt)
    if mans is None or not fs.exists(f"{ckpt}/{STATE_FILE}"):
        return False
    for man in mans:
        for rel, size in man["files"].items():
            try:
                if fs.size(f"{ckpt}/{rel}") != size:
                    return False
            except (OSError, FileNotFoundError):
                return False
    return True


def latest_complete_checkpoint_url(run_url: str) -> tuple[str, int] | None:
    """(URL, step) of the newest complete ``checkpoint_*`` under a run prefix, or None."""
    fs, root = storage.url_to_fs(run_url)
    if not fs.exists(root):
        return None
    best: tuple[int, str] | None = None
    for info in fs.ls(root, detail=True):
        name = info["name"].rstrip("/").rsplit("/", 1)[-1]
        if info.get("type") != "directory" or not name.startswith("checkpoint_"):
            continue
        path = info["name"].rstrip("/")
        if checkpoint_complete_fs(fs, path):
            step = int(json.loads(fs.cat_file(f"{path}/{STATE_FILE}"))["step"])
            if best is None or step > best[0]:
                best = (step, path)
    if best is None:
        return None
    protocol = run_url.split("://", 1)[0]
    return f"{protocol}://{best[1]}", best[0]


def run_state(storage_url: str, stage: str, fingerprint: str, echo: Any = print) -> tuple[str | None, int]:
    """Prepare ``<storage>/<stage>`` for a run with ``fingerprint``: (checkpoint URL to resume from, its step).

    A run directory that holds another fingerprint (other params, data or code) is deleted.
    """
    run_url = storage.join(storage_url, stage)
    run_file = storage.join(run_url, RUN_FILE)
    if storage.exists(run_url):
        old = None
        if storage.exists(run_file):
            try:
                old = json.loads(storage.read_text(run_file)).get("fingerprint")
            except ValueError:
                old = None
        if old != fingerprint:
            echo(f"{stage}: {run_url} holds a run with other params/data: starting fresh")
            storage.remove(run_url)
        else:
            latest = latest_complete_checkpoint_url(run_url)
            storage.write_text(run_file, json.dumps({"fingerprint": fingerprint, "stage": stage}))
            if latest:
                echo(f"{stage}: resuming from step {latest[1]} ({latest[0]})")
                return latest
            return None, 0
    storage.write_text(run_file, json.dumps({"fingerprint": fingerprint, "stage": stage}))
    return None, 0


def stage_inputs(storage_url: str, stage: str, init_model: Path, data_dir: Path) -> tuple[str, str]:
    """Upload the initial model and the tokenized data once; return their URLs for the workers."""
    def key(p: Path) -> str:
        return hashlib.sha256(json.dumps(storage.hash_manifest(p), sort_keys=True).encode()).hexdigest()[:16]

    inputs = storage.join(storage_url, stage, "inputs")
    init_url = storage.stage_dir(init_model, storage.join(inputs, f"init-{key(init_model)}"))
    data_url = storage.stage_dir(data_dir, storage.join(inputs, f"data-{key(data_dir)}"))
    return init_url, data_url


def fetch_checkpoint(url: str, local: Path) -> Path:
    """Download a checkpoint and verify it before anything reads it."""
    storage.download(url, local)
    verify_checkpoint(local)
    return local


def rank_hashes(directory: Path, files: list[str]) -> dict[str, str]:
    return {rel: storage.sha256_file(directory / rel) for rel in files}


def verify_checkpoint(directory: str | Path) -> None:
    """Every file every rank listed has the SHA-256 that rank recorded; DataError naming it otherwise."""
    d = Path(directory)
    m0 = d / "manifest_rank0.json"
    if not m0.is_file():
        raise DataError(f"checkpoint {d}: no manifest_rank0.json: refusing to load it")
    world = json.loads(m0.read_text())["world"]
    for r in range(world):
        man = json.loads((d / f"manifest_rank{r}.json").read_text())
        hashes = man.get("sha256")
        if hashes is None:
            raise DataError(f"checkpoint {d}: manifest_rank{r}.json has no SHA-256 list: refusing to load it")
        for rel in man["files"]:
            p = d / rel
            if rel not in hashes:
                raise DataError(f"checkpoint {d}: {rel} has no SHA-256 in manifest_rank{r}.json")
            if not p.is_file() or storage.sha256_file(p) != hashes[rel]:
                raise DataError(f"checkpoint {d}: {rel} does not match its SHA-256 (modified or truncated); "
                                "refusing to load it")
