"""File I/O every stage shares: JSONL readers that name the file and line of a malformed record
(``DataError``, never a traceback), and atomic writers: a killed run never leaves a half-written file or
directory that looks complete (``atomic_write``, ``atomic_dir``, ``replace_dir``, ``write_json``).

    for rec in read_jsonl("data/synth/train.jsonl"): ...
    write_jsonl("out.jsonl.gz", records)          # dicts, or records with ``to_dict()``
    with atomic_dir("reports/eval") as out: (out / "x.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from langadapt.errors import DataError

# ---------------------------------------------------------------------------------------------------
# JSONL


def _open_text(path: Path, mode: str):
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line; a malformed line is a ``DataError`` naming file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with _open_text(path, "r") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
                if not isinstance(rec, dict):
                    raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
                yield rec
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise DataError(f"{path}: file not found") from None
        raise DataError(f"{path}: cannot read ({e})") from None


def jsonl_files(path: str | Path) -> list[Path]:
    """The JSONL files a path stands for: itself, or the sorted ``*.jsonl``/``*.jsonl.gz`` inside it
    (exclusion files, named ``*.excluded.jsonl*``, are skipped)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz")) and ".excluded." not in p.name
        )
        if not files:
            raise DataError(f"{path}: no *.jsonl files in this directory")
        return files
    if not path.exists():
        raise DataError(f"{path}: file not found")
    return [path]


def dumps(rec: dict[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records (dicts, or records with ``to_dict()``: ``Document``, ``SFTExample``) atomically;
    returns the count."""
    n = 0
    with atomic_write(path) as f:
        for r in records:
            if not isinstance(r, dict):
                r = r.to_dict()
            f.write(dumps(r) + "\n")
            n += 1
    return n


# ---------------------------------------------------------------------------------------------------
# Atomic outputs


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w"):
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``; on error remove it.

    ``.gz`` paths are gzip-compressed text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if "b" in mode:
            f = open(tmp, mode)  # noqa: SIM115 (closed by the `with f` below)
        elif str(path).endswith(".gz"):
            f = gzip.open(tmp, "wt", encoding="utf-8")  # noqa: SIM115
        else:
            f = open(tmp, mode, encoding="utf-8")  # noqa: SIM115
        with f:
            yield f
            f.flush()
            if hasattr(f, "fileno"):
                with contextlib.suppress(Exception):
                    os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a fresh staging directory; on success it replaces ``path`` whole, on error it is removed.

    Readers therefore see either the previous complete directory or the new complete one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700: the mode a plain mkdir would give
        replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@functools.cache
def _umask() -> int:
    """The process umask, read once: reading it means setting it, which must not race with other
    threads creating files (Ray, the teacher's request pool) on every atomic write."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_dir(staging: str | Path, path: str | Path) -> None:
    """Put the complete directory ``staging`` at ``path``, replacing any previous one whole.

    The old directory is moved aside first (one rename each), so readers never see a mix of both.
    """
    staging, path = Path(staging), Path(path)
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    """Atomic, pretty JSON (metrics files are read by people and by ``dvc metrics show``)."""
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------------
# Hashes


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes, read in 1 MiB chunks (what DVC records for a file)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
