"""Kill a whole `python -m langadapt <stage>` run with SIGKILL, Ray's processes included (imported by
tests/test_train_ray.py and tests/test_pref_stage.py).

Start the run with `start_new_session=True` and `LANGADAPT_TEST_RUN=<tag>` in its environment; `kill_run`
kills its process group and then every process carrying the tag (Ray's workers and daemons, which leave
the group but inherit the environment)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

TAG_ENV = "LANGADAPT_TEST_RUN"


def new_tag() -> str:
    return f"langadapt-test-{os.getpid()}-{time.time_ns()}"


def kill_run(proc: subprocess.Popen, tag: str) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    kill_tagged(tag)
    proc.wait()


def kill_tagged(tag: str) -> None:
    """SIGKILL every process whose environment carries ``LANGADAPT_TEST_RUN=tag`` (this test's only)."""
    needle = f"{TAG_ENV}={tag}".encode()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            if needle in (p / "environ").read_bytes().split(b"\0"):
                os.kill(int(p.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def wait_until_quiet(d: Path, quiet: float = 5.0, limit: float = 60.0) -> None:
    """Until no file under ``d`` has appeared or changed size for ``quiet`` seconds (at most ``limit``)."""
    def snapshot():
        return sorted((str(p), p.stat().st_size) for p in d.rglob("*") if p.is_file())

    last, since, t0 = snapshot(), time.time(), time.time()
    while time.time() - since < quiet and time.time() - t0 < limit:
        time.sleep(0.5)
        cur = snapshot()
        if cur != last:
            last, since = cur, time.time()
