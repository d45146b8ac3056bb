"""Cluster in a box: what the cluster tests run against, all on loopback, started and stopped by them.

- ``S3Server``: moto's S3 server (``python -m moto.server``) on a free port: the endpoint for s3fs,
  pyarrow (Ray Train storage), the DVC remote (dvc-s3). The same env vars as the pods get
  (``AWS_ENDPOINT_URL``, keys) point every SDK at it.
- ``RayNodes``: a head (``ray start --head --num-cpus 0``: it only runs the driver, as in the RayJob
  spec) and worker nodes (``ray start --address``), each with its own ``--temp-dir`` and working dir.
  A worker node runs in a private mount namespace (``unshare -m``) with an empty tmpfs over the head's
  scratch directory where the machine allows it (root or user namespaces), so a path that only the
  driver can see does not exist for a training worker and the run fails, as it would across pods.

Every process is started with ``start_new_session`` and stopped by its own process group id: never
``ray stop`` (it would stop other people's clusters on a shared machine).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

OBJECT_STORE = str(200 * 1024 * 1024)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class S3Server:
    """moto's S3 on 127.0.0.1:<free port>; ``env`` is what a pod would get from its Secret + params."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / "moto.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"moto server did not start: {(log_dir / 'moto.log').read_text()[-2000:]}")
                time.sleep(0.2)
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    def bucket(self, name: str) -> str:
        import s3fs

        s3fs.S3FileSystem(client_kwargs={"endpoint_url": self.endpoint}, key="testing", secret="testing").mkdir(name)
        return f"s3://{name}"

    def stop(self) -> None:
        _stop(self.proc)
        self.log.close()


def can_unshare() -> bool:
    """True when this machine lets us make a private mount namespace with a tmpfs in it."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt && umount /mnt"], capture_output=True, check=False)
    return probe.returncode == 0


class RayNodes:
    """A head (num-cpus 0: the driver only) and worker nodes that cannot see ``hidden`` (the driver's scratch)."""

    def __init__(self, root: Path, hidden: Path, env: dict[str, str]):
        self.root, self.hidden = root, hidden
        # Ray's session dirs hold AF_UNIX sockets (107-byte path limit): keep them under a short /tmp path,
        # not under pytest's deep tmp_path
        self.rt = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))
        # Ray's token authentication (on by default for `ray start --head`), with this cluster's own
        # token in the environment of every node and driver (never ~/.ray, which other clusters share)
        self.env = {**os.environ, **env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.specs: dict[str, tuple[list[str], Path, bool]] = {}
        self.restarts: dict[str, int] = {}
        self.isolated = can_unshare()
        head_dir = root / "head"
        head_dir.mkdir(parents=True, exist_ok=True)
        self._start("head", ["--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
                             f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
                             f"--temp-dir={self.rt / 'head'}"], head_dir)
        self.env["RAY_ADDRESS"] = self.address
        try:
            self._wait_port(self.port, "head")
        except BaseException:
            self.stop()
            raise

    def _wait_port(self, port: int, name: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"ray {name} exited: {(self.root / f'{name}.log').read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"ray {name}: port {port} not open after {timeout:.0f}s")

    def _start(self, name: str, args: list[str], cwd: Path, isolate: bool = False) -> None:
        self.specs[name] = (args, cwd, isolate)
        common = ["--block", "--node-ip-address=127.0.0.1", f"--object-store-memory={OBJECT_STORE}",
                  f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
                  f"--runtime-env-agent-port={free_port()}", "--disable-usage-stats"]
        cmd = [str(Path(sys.executable).parent / "ray"), "start", *args, *common]
        if isolate and self.isolated:
            # the worker's own view of the filesystem: the driver's scratch dir is an empty tmpfs
            script = f'mount -t tmpfs tmpfs "{self.hidden}" && exec "$@"'
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *cmd]
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(cmd, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def add_worker(self, name: str, num_cpus: int) -> None:
        wdir = self.root / name
        wdir.mkdir(parents=True, exist_ok=True)
        self._start(name, [f"--address={self.address}", f"--num-cpus={num_cpus}",
                           f"--temp-dir={self.rt / name}"], wdir, isolate=True)

    def wait_for_cpus(self, cpus: int, timeout: float = 300.0) -> None:
        code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(int(ray.cluster_resources().get('CPU', 0)))")
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, p in list(self.procs.items()):
                if p.poll() is not None:
                    # `ray start` gives a raylet 30 s to register (hard-coded): on a loaded machine it can
                    # miss that; start the node again, twice at most
                    if name != "head" and self.restarts.get(name, 0) < 2:
                        self.restarts[name] = self.restarts.get(name, 0) + 1
                        self._start(name, *self.specs[name])
                        continue
                    raise RuntimeError(f"ray node {name} exited: {(self.root / f'{name}.log').read_text()[-3000:]}")
            try:
                out = subprocess.run([sys.executable, "-c", code, self.address], env=self.env, capture_output=True,
                                     text=True, timeout=90, check=False)
            except subprocess.TimeoutExpired:  # a loaded machine: ask again
                continue
            if out.returncode == 0 and out.stdout.strip() and int(out.stdout.strip().splitlines()[-1]) >= cpus:
                return
            time.sleep(1)
        raise RuntimeError(f"ray cluster at {self.address}: fewer than {cpus} CPUs after {timeout:.0f}s")

    def node_running(self, title: str) -> str | None:
        """The node whose process tree holds a process whose command line contains ``title``
        (``RayTrainWorker``): walk up its parents to a process in one of the nodes' process groups."""
        groups = {p.pid: name for name, p in self.procs.items() if p.poll() is None}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                if title not in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    continue
                pid = int(d.name)
                while pid > 1:
                    if os.getpgid(pid) in groups:
                        return groups[os.getpgid(pid)]
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
            except (OSError, ProcessLookupError, ValueError):
                continue
        return None

    def kill(self, name: str) -> None:
        """SIGKILL a node's whole process group (its raylet, workers and training processes)."""
        p = self.procs[name]
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            _stop(self.procs[name])
        shutil.rmtree(self.rt, ignore_errors=True)
