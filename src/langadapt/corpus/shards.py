"""Sharded, resumable stage execution shared by extract, filter and dedup.

A stage is a list of ``ShardTask``s (fixed by the inputs, never by the number of workers) and a function
that turns one task into files in a directory. ``run_shards(..., rank, world_size)`` processes the tasks
``rank::world_size``; any executor (one process, a process pool, Ray tasks, Slurm array jobs) just
calls it with its rank.

Layout and the "complete or not at all" rule:

- Work goes to a staging directory beside the output, ``<parent>/.<name>.partial/``: a shard writes
  ``shard-XXXXX.jsonl`` (+ ``shard-XXXXX.excluded.jsonl``) atomically, then its completion marker
  ``shard-XXXXX.done.json`` (its counts and a fingerprint of its inputs and params).
- A relaunch (after a crash or ``kill``) skips shards whose marker matches the fingerprint, so only
  unfinished shards are redone; a changed input or param invalidates the marker.
- When every marker is present, the rank that notices (under a file lock) renames the staging
  directory over the output directory. Readers and DVC therefore see the previous complete output or
  the new complete one, never half of one. (DVC deletes a stage's outputs before it reruns it, which
  is why the resumable work lives in the staging directory and not in the output itself.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langadapt.io import replace_dir, write_json

MARKER_SUFFIX = ".done.json"


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: output shard ``index`` made from ``inputs`` (``part`` of ``parts`` of them)."""

    index: int
    inputs: tuple[str, ...]
    part: int = 0
    parts: int = 1

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"


@dataclass
class StageRun:
    """What ``run_shards`` returns: the shards this call processed and skipped, and, when the stage
    completed (this call or an earlier one made the output whole), every shard's stats."""

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    complete: bool = False
    shard_stats: list[dict[str, Any]] = field(default_factory=list)


def staging_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.partial"


def _markers_dir(out_dir: Path) -> Path:
    """Where a finished stage keeps its shard markers: beside the output, not inside it."""
    return out_dir.parent / f".{out_dir.name}.markers"


def fingerprint(task: ShardTask, params: dict[str, Any]) -> str:
    """Hash of the task's inputs (path, size, mtime) and the params that shape its output."""
    h = hashlib.blake2b(digest_size=12)
    for p in task.inputs:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{task.index}|{task.part}|{task.parts}\n".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def read_marker(directory: Path, task: ShardTask, fp: str) -> dict[str, Any] | None:
    path = directory / f"{task.name}{MARKER_SUFFIX}"
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return marker if marker.get("fingerprint") == fp else None


def run_shards(
    tasks: Sequence[ShardTask],
    out_dir: str | Path,
    process: Callable[[ShardTask, Path], dict[str, Any]],
    params: dict[str, Any],
    *,
    rank: int = 0,
    world_size: int = 1,
    on_complete: Callable[[Path, list[dict[str, Any]]], None] | None = None,
    finalize: bool = True,
) -> StageRun:
    """Process this rank's tasks into the staging directory, then finalize if every shard is done.

    ``process(task, directory)`` writes the task's files into ``directory`` (atomically) and returns
    its stats (JSON-able). ``on_complete(staging, stats)`` runs once, under the lock, just before the
    staging directory becomes the output (dedup's global step uses it). ``finalize=False``: only
    process (the Ray executor's tasks; its driver finalizes once every task has returned).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
    out_dir = Path(out_dir)
    staging = staging_dir(out_dir)
    staging.mkdir(parents=True, exist_ok=True)
    run = StageRun()
    fps = {t.name: fingerprint(t, params) for t in tasks}
    for task in tasks[rank::world_size]:
        if read_marker(staging, task, fps[task.name]) is not None:
            run.skipped.append(task.name)
            continue
        stats = process(task, staging)
        stats = {"shard": task.name, "inputs": list(task.inputs), **stats, "fingerprint": fps[task.name]}
        write_json(staging / f"{task.name}{MARKER_SUFFIX}", stats)
        run.processed.append(task.name)
    if not finalize:
        return run
    return _finalize(tasks, out_dir, staging, fps, run, on_complete)


def _finalize(tasks, out_dir: Path, staging: Path, fps, run: StageRun, on_complete) -> StageRun:
    with _locked(out_dir.parent / f".{out_dir.name}.lock"):
        if not staging.exists():  # another rank finalized already
            run.complete = out_dir.exists()
            if run.complete:
                run.shard_stats = [m for t in tasks if (m := read_marker(_markers_dir(out_dir), t, fps[t.name]))]
            return run
        markers = [read_marker(staging, t, fps[t.name]) for t in tasks]
        if any(m is None for m in markers):
            return run  # other ranks still working
        stats = [m for m in markers if m is not None]
        # Files of shards that are no longer tasks (fewer inputs than last time) must not survive.
        keep = {t.name for t in tasks}
        for p in staging.iterdir():
            stale = p.name.startswith("shard-") and p.name.split(".")[0] not in keep
            if stale or p.name.startswith("."):  # also temp files of a killed writer
                p.unlink() if p.is_file() else shutil.rmtree(p)
        if on_complete is not None:
            on_complete(staging, stats)
        # Markers (timings, absolute input paths) leave the output so its content hash depends on the
        # documents alone: `dvc repro` and the KFP run then produce byte-identical stage outputs.
        markers_dir = _markers_dir(out_dir)
        shutil.rmtree(markers_dir, ignore_errors=True)
        markers_dir.mkdir(parents=True)
        for p in staging.glob(f"*{MARKER_SUFFIX}"):
            os.replace(p, markers_dir / p.name)
        replace_dir(staging, out_dir)
        run.complete = True
        run.shard_stats = stats
    return run


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def merge_stats(shard_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the numeric counters of every shard (nested dicts of counts are summed key by key)."""
    total: dict[str, Any] = {}
    for s in shard_stats:
        for k, v in s.items():
            if k in ("shard", "inputs", "fingerprint"):
                continue
            if isinstance(v, dict):
                c = total.setdefault(k, Counter())
                c.update({kk: vv for kk, vv in v.items() if isinstance(vv, int | float)})
            elif isinstance(v, int | float) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    return {
        k: (dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) if isinstance(v, Counter) else v)
        for k, v in total.items()
    }


def run_local(stage_fn: Callable[..., dict[str, Any]], cfg: Any, workers: int = 1) -> dict[str, Any]:
    """Run ``stage_fn(cfg, rank=r, world_size=workers)`` for every rank, in one process or a pool."""
    if workers <= 1:
        return stage_fn(cfg, rank=0, world_size=1)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_call_rank, [(stage_fn, cfg, r, workers) for r in range(workers)]))
    done = [r for r in results if r.get("complete")]
    return done[0] if done else results[0]


def _call_rank(args):
    stage_fn, cfg, rank, world_size, *kw = args
    return stage_fn(cfg, rank=rank, world_size=world_size, **(kw[0] if kw else {}))


def run_stage(stage_fn: Callable[..., dict[str, Any]], cfg: Any, workers: int = 1) -> dict[str, Any]:
    """Run a whole corpus stage with the executor of ``corpus.executor``: ``local`` (``workers``
    processes) or ``ray`` (Ray tasks on the cluster at ``corpus.ray_address`` / ``$RAY_ADDRESS``)."""
    c = getattr(cfg, "corpus", None)
    if c is None or c.executor == "local":
        return run_local(stage_fn, cfg, workers)
    return run_shards_on_ray(
        stage_fn,
        cfg,
        c.ray_tasks or None,
        address=c.ray_address,
        num_cpus_per_task=c.cpus_per_task,
        max_retries=c.max_retries,
    )


# ---------------------------------------------------------------------------------------------------
# Ray


def ray_init(address: str | None = None) -> None:
    """Connect to the Ray cluster at ``address`` (``None``: ``$RAY_ADDRESS``, else start a local Ray)."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:  # a local Ray for this run only: keep its shared memory small
        kwargs["object_store_memory"] = int(os.environ.get("LANGADAPT_RAY_OBJECT_STORE", "200000000"))
    ray.init(address=address, **kwargs)


class RayMapper:
    """``mapper(fn, args_list) -> results``: one Ray task per argument tuple, in order.

    A task whose worker process dies (killed, node lost) is retried ``max_retries`` times by Ray; the
    step functions it runs skip work whose output file already exists, so a retry redoes only the
    unfinished part. Functions must be importable module-level functions (Ray pickles them by name)."""

    def __init__(self, num_cpus: float = 1, max_retries: int = 3):
        self.num_cpus, self.max_retries = num_cpus, max_retries

    def __call__(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> list[Any]:
        import ray

        task = ray.remote(fn).options(num_cpus=self.num_cpus, max_retries=self.max_retries)
        return ray.get([task.remote(*a) for a in args_list])


def local_map(fn: Callable[..., Any], args_list: Sequence[tuple]) -> list[Any]:
    """The in-process mapper: the same step functions, one after the other."""
    return [fn(*a) for a in args_list]


def run_shards_on_ray(
    stage_fn: Callable[..., dict[str, Any]],
    cfg: Any,
    world_size: int | None = None,
    *,
    address: str | None = None,
    num_cpus_per_task: float = 1,
    max_retries: int = 3,
) -> dict[str, Any]:
    """The same stage on a Ray cluster: ``world_size`` Ray tasks (ranks), each
    ``stage_fn(cfg, rank, world_size, finalize=False)``; then the driver finalizes (every shard has
    its marker, so its own call only renames the staging directory and writes the metrics; dedup's
    global steps run there as Ray tasks too, through ``mapper``).

    ``world_size`` ``None``: one rank per CPU of the cluster. A rank whose worker dies is retried by
    Ray and skips the shards it had finished (their markers). The ranks share the staging directory:
    a shared filesystem (a PVC or NFS mount on a KubeRay cluster). Example::

        from langadapt.corpus.extract import run_extract
        run_shards_on_ray(run_extract, cfg, world_size=8, address="auto")
    """
    import ray

    ray_init(address)
    if world_size is None:
        world_size = max(1, int(ray.cluster_resources().get("CPU", 1) // max(num_cpus_per_task, 1e-9)))
    mapper = RayMapper(num_cpus_per_task, max_retries)
    mapper(_call_rank, [((stage_fn, cfg, r, world_size, {"finalize": False}),) for r in range(world_size)])
    return stage_fn(cfg, rank=0, world_size=1, mapper=mapper)
