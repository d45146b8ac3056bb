"""corpus.executor ray on a real 2-node Ray cluster (`ray start --head` + a second `ray start --address`):
extract, filter and dedup give byte-identical outputs to the local executor, and a worker process killed
mid-stage costs a retry, not the run (its finished shards are not redone).

    .venv/bin/pytest -q tests/test_corpus_ray.py          # ~2 min on 2 idle cores (6 min on the loaded dev box)

The nodes are started by the fixture on free ports with their own temp dir and a small object store, and
stopped by their process group (never `ray stop`, which would stop every Ray on the machine).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, thai_news
from langadapt.config import load_params
from langadapt.corpus.dedup import run_dedup
from langadapt.corpus.extract import run_extract
from langadapt.corpus.filter import run_filter
from langadapt.corpus.shards import run_stage, staging_dir
from langadapt.corpus.warcs import Page, write_warc

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
ATTEMPTS = 5  # starts of a node before giving up (each has 30 s; a loaded 2-core box can need several)
STAGES = (("extract", run_extract), ("filter", run_filter), ("dedup", run_dedup))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    ray_bin = str(Path(sys.executable).parent / "ray")
    with open(log, "wb") as out:
        return subprocess.Popen([ray_bin, "start", "--block", "--num-cpus=1", "--object-store-memory=80000000",
                                 "--disable-usage-stats", *args], env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    with __import__("contextlib").suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"


def _started(proc: subprocess.Popen, log: Path, timeout: float = 240) -> bool:
    """True once `ray start --block` says the node runs; False if it exited (then it is reaped)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            _stop(proc)
            return False
        if log.exists() and "Ray runtime started" in log.read_text(errors="replace"):
            return True
        time.sleep(0.5)
    _stop(proc)
    return False


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node, 1 CPU each; yields (address, [head, worker] Popen)."""
    temp = tempfile.mkdtemp(prefix="r-ct-", dir="/tmp")  # short: Ray's unix socket paths are length-limited
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0",
           # no token auth on this throwaway cluster: a driver reads RAY_AUTH_MODE when it imports ray
           # (before this fixture runs), and ~/.ray/auth_token is shared with every Ray on the machine
           "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.pop("RAY_ADDRESS", None)
    procs: list[subprocess.Popen] = []
    try:
        gcs = None
        for attempt in range(ATTEMPTS):  # Ray gives a node 30 s to come up; a loaded machine can miss that
            gcs, client, agent, dash, mport, rte = _free_ports(6)
            head = _ray_start(["--head", f"--port={gcs}", f"--ray-client-server-port={client}",
                               f"--temp-dir={temp}", "--include-dashboard=false", f"--dashboard-port={dash}",
                               f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={mport}",
                               f"--runtime-env-agent-port={rte}"], env, Path(temp) / f"head-{attempt}.log")
            if _started(head, Path(temp) / f"head-{attempt}.log"):
                procs.append(head)
                break
        assert procs, "the Ray head did not start: " + _tail(Path(temp) / f"head-{ATTEMPTS - 1}.log")
        address = f"127.0.0.1:{gcs}"
        for attempt in range(ATTEMPTS):
            agent2, mport2, rte2 = _free_ports(3)
            worker = _ray_start([f"--address={address}", f"--dashboard-agent-listen-port={agent2}",
                                 f"--metrics-export-port={mport2}", f"--runtime-env-agent-port={rte2}",
                                 f"--temp-dir={temp}"], env, Path(temp) / f"worker-{attempt}.log")
            if _started(worker, Path(temp) / f"worker-{attempt}.log"):
                procs.append(worker)
                break
        assert len(procs) == 2, "the second Ray node did not start: " + _tail(
            Path(temp) / f"worker-{ATTEMPTS - 1}.log")
        deadline = time.time() + 240
        while True:  # the GCS port opens before the head accepts clients (tens of seconds when loaded)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": env["PYTHONPATH"]}})
                break
            except ConnectionError:
                ray.shutdown()
                assert time.time() < deadline, "the Ray head did not accept the driver"
        deadline = time.time() + 240  # minutes, not seconds, when the machine is loaded
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.time() < deadline, "the second Ray node did not join"
            time.sleep(0.5)
        yield address, procs
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _snapshot(raw: Path, n_pages: int) -> None:
    """Thai news pages (every 5th one re-published with a small edit: near duplicates, and 2 exact
    copies) plus English pages, in 2 WARC files."""
    recs = thai_news(limit=n_pages, max_chars=1500)
    pages = []
    for i, r in enumerate(recs):
        body = "".join(f"<p>{p}</p>" for p in r["text"].split("\n") if p.strip())
        pages.append(Page(f"http://th.test/{i}", f"<html><head><title>ข่าว {i}</title></head><body><article>"
                                                  f"{body}</article></body></html>"))
        if i % 5 == 0:
            edited = body.replace("ได้", "ได้มีการ", 1) if i % 10 else body
            pages.append(Page(f"http://mirror.test/{i}", f"<html><body><article>{edited}</article></body></html>"))
    pages.append(Page("http://en.test/1", "<html><body><p>" + "An English page about the weather. " * 20
                      + "</p></body></html>"))
    half = len(pages) // 2
    write_warc(raw / "a.warc.gz", pages[:half])
    write_warc(raw / "b.warc.gz", pages[half:])


def _cfg(root: Path, raw: Path, *sets: str):
    return load_params(REPO / "params.yaml", [
        f"paths.raw={raw}", f"paths.extracted={root / 'extracted'}", f"paths.filtered={root / 'filtered'}",
        f"paths.clean={root / 'clean'}", f"paths.metrics={root / 'metrics'}", "language.code=th",
        "extract.shards_per_warc=3", *sets])


def _digest(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def local_outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    _snapshot(root / "raw", 36)
    cfg = _cfg(root, root / "raw")
    metrics = {name: run_stage(fn, cfg)["metrics"] for name, fn in STAGES}
    return root, {name: _digest(root / d) for name, d in
                  (("extract", "extracted"), ("filter", "filtered"), ("dedup", "clean"))}, metrics


def test_ray_executor_outputs_equal_local(cluster, local_outputs, tmp_path):
    address, _ = cluster
    root_local, digests, metrics = local_outputs
    cfg = _cfg(tmp_path, root_local / "raw", "corpus.executor=ray", f"corpus.ray_address={address}",
               "dedup.exact_partitions=3")
    for name, fn in STAGES:
        res = run_stage(fn, cfg)
        assert res["complete"], name
        assert res["metrics"]["docs_out"] == metrics[name]["docs_out"], name
    got = {name: _digest(tmp_path / d) for name, d in
           (("extract", "extracted"), ("filter", "filtered"), ("dedup", "clean"))}
    assert got == digests
    # the planted copies were found, the exact ones and the edited ones, and the same ones by both
    assert res["metrics"]["dropped"] == metrics["dedup"]["dropped"]
    assert metrics["dedup"]["dropped"]["dedup:exact"] >= 3 and metrics["dedup"]["dropped"]["dedup:near"] >= 3
    assert not staging_dir(tmp_path / "clean").exists()


def test_killed_worker_costs_a_retry_not_the_run(cluster, local_outputs, tmp_path):
    """SIGKILL the worker process of a running rank once its first shard is done: Ray reruns the rank,
    which skips the shard it had finished; the output is the local one, byte for byte."""
    address, procs = cluster
    root_local, digests, _ = local_outputs
    cfg = _cfg(tmp_path, root_local / "raw", "corpus.executor=ray", f"corpus.ray_address={address}")
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(run_stage(run_extract, cfg)))
    t.start()
    staging = staging_dir(tmp_path / "extracted")
    killed = None
    deadline = time.time() + 120
    while killed is None and t.is_alive() and time.time() < deadline:
        if staging.exists() and any(staging.glob("*.done.json")):
            for p in procs:
                for c in psutil.Process(p.pid).children(recursive=True):
                    try:
                        if "_call_rank" in " ".join(c.cmdline()):
                            c.kill()
                            killed = c.pid
                            break
                    except psutil.NoSuchProcess:
                        continue
                if killed:
                    break
        time.sleep(0.05)
    t.join(timeout=300)
    assert killed is not None, "no rank was running after the first shard finished"
    assert result["complete"]
    assert _digest(tmp_path / "extracted") == digests["extract"]
    assert result["metrics"]["docs_out"] > 0
