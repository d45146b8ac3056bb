"""Object storage as the one data plane: fsspec URLs (s3://, gs://, file paths alike) for every stage.

    upload("data/clean", "s3://bucket/runs/x/clean")      # a file or a directory tree
    download("s3://bucket/runs/x/clean", "/tmp/clean")     # refuses keys that escape the target
    write_hash_manifest(ckpt_dir); verify_hash_manifest(ckpt_dir)   # integrity before a load

Credentials and the endpoint come from the environment the SDKs read (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for MinIO / an S3-compatible store; workload identity
on GKE/EKS), so the same code runs against a bucket, a MinIO, the tests' loopback S3 and a local path.

Why a hash manifest: resuming DeepSpeed unpickles optimizer state (``torch.load(weights_only=False)``)
from the checkpoint. A checkpoint read back from a bucket is loaded only when every file's SHA-256 matches
the manifest the training job wrote next to it, so a truncated upload, a partial sync or a file someone
replaced in the bucket stops the resume with the file's name instead of executing it
(docs/cluster.md "Bucket policy" says who may write there).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from pathlib import Path
from typing import Any

from langadapt.errors import DataError, LangadaptError

HASH_MANIFEST = "SHA256SUMS.json"


def is_url(location: str | Path) -> bool:
    """True for ``scheme://...`` locations other than ``file://`` (they are not local paths)."""
    s = str(location)
    return "://" in s and not s.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Join URL or path segments with ``/`` (never ``os.sep``: object keys are POSIX)."""
    out = str(base).rstrip("/")
    for p in parts:
        out = f"{out}/{str(p).strip('/')}"
    return out


def url_to_fs(url: str | Path) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a URL or a local path.

    The listing cache is dropped first: other processes (Ray workers, other pods) write the same
    prefixes, and a cached listing would hide their new objects (s3fs caches directory listings)."""
    import fsspec

    # a fresh instance: fsspec caches filesystems by their arguments, and an S3 filesystem made with no
    # arguments keeps the endpoint/credentials the environment had when it was first made
    fs, path = fsspec.core.url_to_fs(str(url), skip_instance_cache=True)
    fs.invalidate_cache()
    return fs, path


def safe_relpath(key: str, root: str) -> str:
    """The part of object ``key`` below ``root``, refusing anything that would escape a local target
    (``..`` segments, absolute keys, keys outside ``root``): object stores allow such key names."""
    root = root.rstrip("/")
    if not (key == root or key.startswith(root + "/")):
        raise DataError(f"object {key!r} is not under {root!r}")
    rel = key[len(root) + 1:]
    parts = rel.split("/")  # not PurePosixPath: it drops "." and "" segments silently
    if not rel or any(p in ("..", ".", "") for p in parts) or "\\" in rel:
        raise DataError(f"object {key!r}: refusing a key that escapes the download directory")
    return posixpath.normpath(rel)


def upload(local: str | Path, url: str) -> None:
    """Copy a local file or directory tree to ``url`` (a file to a key, a directory under a prefix)."""
    fs, root = url_to_fs(url)
    local = Path(local)
    if not local.exists():
        raise DataError(f"{local}: nothing to upload")
    if local.is_dir():
        for f in sorted(p for p in local.rglob("*") if p.is_file()):
            dest = f"{root.rstrip('/')}/{f.relative_to(local).as_posix()}"
            fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(f), dest)
    else:
        if "/" in root:
            fs.makedirs(root.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(local), root)


def download(url: str, local: str | Path) -> Path:
    """Copy the object or prefix at ``url`` to ``local``; every key must stay inside ``local``."""
    fs, root = url_to_fs(url)
    local = Path(local)
    root = root.rstrip("/")
    if fs.isdir(root):
        base = local.resolve()
        for rpath in sorted(fs.find(root)):
            if rpath.endswith("/"):
                # a zero-byte "directory" marker (Ray Train's pyarrow storage writes them): nothing to copy
                continue
            rel = safe_relpath(rpath, root)
            dest = (local / rel).resolve()
            if base not in dest.parents:  # belt and braces against symlinks in the target
                raise DataError(f"object {rpath!r}: refusing to write outside {local}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(rpath, str(dest))
    elif fs.exists(root):
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(root, str(local))
    else:
        raise LangadaptError(f"{url}: not found in object storage")
    return local


def exists(url: str) -> bool:
    fs, root = url_to_fs(url)
    return fs.exists(root)


def read_text(url: str) -> str:
    fs, root = url_to_fs(url)
    with fs.open(root, "r", encoding="utf-8") as f:
        return f.read()


def write_text(url: str, text: str) -> None:
    fs, root = url_to_fs(url)
    if "/" in root:
        fs.makedirs(root.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(root, "w", encoding="utf-8") as f:
        f.write(text)


def remove(url: str) -> None:
    fs, root = url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


# --- integrity ------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_manifest(directory: str | Path, exclude: tuple[str, ...] = (HASH_MANIFEST,)) -> dict[str, str]:
    """{relative posix path: sha256} of every file under ``directory``."""
    d = Path(directory)
    return {p.relative_to(d).as_posix(): sha256_file(p) for p in sorted(d.rglob("*"))
            if p.is_file() and p.name not in exclude}


def write_hash_manifest(directory: str | Path, name: str = HASH_MANIFEST,
                        exclude: tuple[str, ...] = (HASH_MANIFEST,)) -> dict[str, str]:
    files = hash_manifest(directory, exclude=exclude + (name,))
    (Path(directory) / name).write_text(json.dumps({"sha256": files}, indent=1, sort_keys=True))
    return files


def verify_hash_manifest(directory: str | Path, name: str = HASH_MANIFEST) -> None:
    """Raise DataError naming the first file that is missing or differs from the manifest."""
    d = Path(directory)
    man = d / name
    if not man.is_file():
        raise DataError(f"{d}: no {name}: refusing to load a checkpoint without an integrity manifest")
    try:
        files = json.loads(man.read_text())["sha256"]
    except (ValueError, KeyError) as e:
        raise DataError(f"{man}: unreadable integrity manifest ({e})") from None
    for rel, digest in sorted(files.items()):
        p = d / rel
        if not p.is_file():
            raise DataError(f"{d}: {rel} listed in {name} is missing")
        if sha256_file(p) != digest:
            raise DataError(f"{d}: {rel} does not match its SHA-256 in {name} (modified or truncated)")


# --- training inputs on shared storage -------------------------------------------------------------


def stage_dir(local: str | Path, url: str) -> str:
    """Upload ``local`` to ``url`` once (a ``_COMPLETE`` marker holding its hash manifest makes a rerun
    skip it) and return ``url``: what a driver does so that workers on other nodes can read its data."""
    local = Path(local)
    marker = join(url, "_COMPLETE")
    want = json.dumps(hash_manifest(local), sort_keys=True)
    if exists(marker) and read_text(marker) == want:
        return url
    remove(url)
    upload(local, url)
    write_text(marker, want)
    return url


def localize(location: str, cache_root: str | Path) -> Path:
    """A local directory with the content at ``location``: the path itself when local, else a verified
    download (against the ``_COMPLETE`` manifest written by ``stage_dir``) under ``cache_root``."""
    if not is_url(location):
        return Path(location.removeprefix("file://"))
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    dest = Path(cache_root) / key
    marker = join(location, "_COMPLETE")
    if not exists(marker):
        raise DataError(f"{location}: not staged (no _COMPLETE marker): the driver's upload did not finish")
    want = json.loads(read_text(marker))
    if dest.is_dir() and hash_manifest(dest, exclude=("_COMPLETE",)) == want:
        return dest
    import os
    import shutil

    tmp = Path(f"{dest}.tmp{os.getpid()}")  # two workers on one node download side by side

    shutil.rmtree(tmp, ignore_errors=True)
    download(location, tmp)
    (tmp / "_COMPLETE").unlink(missing_ok=True)
    got = hash_manifest(tmp)
    if got != want:
        bad = sorted(set(got.items()) ^ set(want.items()))[:1]
        raise DataError(f"{location}: downloaded files differ from its _COMPLETE manifest ({bad})")
    try:
        tmp.rename(dest)
    except OSError:  # another worker on this node finished first (same verified content)
        shutil.rmtree(tmp, ignore_errors=True)
        if hash_manifest(dest, exclude=("_COMPLETE",)) != want:
            raise DataError(f"{dest}: stale download cache; delete it") from None
    return dest
