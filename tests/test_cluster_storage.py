"""Object storage as the data plane, against a real S3 endpoint on loopback (moto's server).

    .venv/bin/pytest -q tests/test_cluster_storage.py       # ~1 min

Asserted: upload/download round trips on s3:// and local paths alike; a download refuses object keys
that escape its target (``..``), which S3 happily stores; hash manifests catch a modified file and name
it; a checkpoint without (or not matching) its SHA-256 lists is refused before anything unpickles it;
training inputs are staged once and a tampered staged file is refused by the worker-side download; a
training run prefix with another fingerprint is wiped, the same one resumes from its newest complete
checkpoint; the pipeline's dvc push step commits a training stage (whose Ray checkpoints live in object
storage) and pushes to the run's S3 remote, and `dvc pull` from that remote gets the same bytes back.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cluster_harness import S3Server
from langadapt import storage
from langadapt.errors import DataError
from langadapt.train import cloud

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("moto"))
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    server.stop()


@pytest.fixture
def bucket(s3, request):
    return s3.bucket(request.node.name.replace("_", "-")[:50].lower().strip("-"))


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_safe_relpath_refuses_escaping_keys():
    assert storage.safe_relpath("b/run/x/y.txt", "b/run") == "x/y.txt"
    for key in ("b/run/../etc/passwd", "b/run/x/../../y", "b/run//abs", "b/run/./x"):
        with pytest.raises(DataError, match="escapes the download directory"):
            storage.safe_relpath(key, "b/run")
    with pytest.raises(DataError, match="is not under"):
        storage.safe_relpath("b/other/x", "b/run")


@pytest.mark.integration
def test_round_trip_on_s3_and_local(bucket, tmp_path):
    src = _tree(tmp_path / "src", {"a.txt": "1", "sub/b.bin": "22"})
    for url in (f"{bucket}/prefix/tree", str(tmp_path / "local-store" / "tree")):
        storage.upload(src, url)
        out = storage.download(url, tmp_path / "out" / url.replace("/", "_"))
        assert storage.hash_manifest(out) == storage.hash_manifest(src)
    storage.upload(src / "a.txt", f"{bucket}/one/a.txt")
    assert storage.read_text(f"{bucket}/one/a.txt") == "1"


@pytest.mark.integration
def test_download_refuses_a_key_with_dotdot(s3, bucket, tmp_path):
    fs, _ = storage.url_to_fs(bucket)
    name = bucket.split("://")[1]
    fs.pipe(f"{name}/staging/ok.txt", b"ok")
    fs.pipe(f"{name}/staging/../../evil.txt", b"pwned")  # a legal S3 key
    assert any(".." in k for k in fs.find(f"{name}/staging"))
    target = tmp_path / "deep" / "er" / "out"
    with pytest.raises(DataError, match="escapes the download directory"):
        storage.download(f"{bucket}/staging", target)
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.integration
def test_download_skips_directory_markers(s3, bucket, tmp_path):
    # Ray Train's pyarrow storage writes zero-byte "<dir>/" keys; a rerun that re-exports a finished
    # checkpoint must not take one for an escaping key
    import boto3

    name = bucket.split("://")[1]
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    client.put_object(Bucket=name, Key="ckpt/checkpoint_000002/", Body=b"")
    client.put_object(Bucket=name, Key="ckpt/checkpoint_000002/a.txt", Body=b"a")
    out = storage.download(f"{bucket}/ckpt/checkpoint_000002", tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.txt"]


def test_hash_manifest_names_the_modified_file(tmp_path):
    d = _tree(tmp_path / "ckpt", {"a": "x", "ds/b": "y"})
    storage.write_hash_manifest(d)
    storage.verify_hash_manifest(d)
    (d / "ds" / "b").write_text("z")
    with pytest.raises(DataError, match=r"ds/b does not match its SHA-256"):
        storage.verify_hash_manifest(d)
    (d / storage.HASH_MANIFEST).unlink()
    with pytest.raises(DataError, match="without an integrity manifest"):
        storage.verify_hash_manifest(d)


def _checkpoint(d: Path, step: int, world: int = 1, hashes: bool = True) -> Path:
    from langadapt.train.trainer import write_manifest

    _tree(d, {"train_state.json": json.dumps({"step": step}), "ds/mp_rank_00_model_states.pt": "weights"})
    write_manifest(d, 0, world)
    if not hashes:
        man = json.loads((d / "manifest_rank0.json").read_text())
        man.pop("sha256")
        (d / "manifest_rank0.json").write_text(json.dumps(man))
    return d


def test_checkpoint_is_verified_before_load(tmp_path):
    ok = _checkpoint(tmp_path / "ok", 4)
    cloud.verify_checkpoint(ok)
    (ok / "ds" / "mp_rank_00_model_states.pt").write_text("evil pickle")
    with pytest.raises(DataError, match="mp_rank_00_model_states.pt does not match its SHA-256"):
        cloud.verify_checkpoint(ok)
    old = _checkpoint(tmp_path / "old", 4, hashes=False)
    with pytest.raises(DataError, match="no SHA-256 list: refusing to load it"):
        cloud.verify_checkpoint(old)


@pytest.mark.integration
def test_inputs_staged_once_and_tampering_is_refused(bucket, tmp_path):
    data = _tree(tmp_path / "data", {"train.bin": "tokens", "meta.json": "{}"})
    url = storage.stage_dir(data, f"{bucket}/run/cpt/inputs/data-1")
    fs, root = storage.url_to_fs(url)
    before = fs.info(f"{root}/train.bin")["LastModified"]
    storage.stage_dir(data, url)  # same content: not uploaded again
    assert fs.info(f"{root}/train.bin")["LastModified"] == before
    local = storage.localize(url, tmp_path / "worker-cache")
    assert storage.hash_manifest(local) == storage.hash_manifest(data)
    fs.pipe(f"{root}/train.bin", b"tampered")
    with pytest.raises(DataError, match="differ from its _COMPLETE manifest"):
        storage.localize(url, tmp_path / "other-worker-cache")
    with pytest.raises(DataError, match="not staged"):
        storage.localize(f"{bucket}/run/cpt/inputs/never", tmp_path / "c")


@pytest.mark.integration
def test_run_state_resumes_same_fingerprint_and_wipes_another(bucket, tmp_path):
    run = f"{bucket}/ckpt"
    assert cloud.run_state(run, "cpt", "fp1", echo=lambda m: None) == (None, 0)
    for step in (2, 4):
        storage.upload(_checkpoint(tmp_path / f"c{step}", step), f"{run}/cpt/checkpoint_{step:06d}")
    # a save killed half-way: listed files missing
    half = _checkpoint(tmp_path / "c6", 6)
    (half / "ds" / "mp_rank_00_model_states.pt").unlink()
    storage.upload(half, f"{run}/cpt/checkpoint_000006")
    msgs: list[str] = []
    url, step = cloud.run_state(run, "cpt", "fp1", echo=msgs.append)
    assert step == 4 and url == f"{run}/cpt/checkpoint_000004"
    assert msgs == [f"cpt: resuming from step 4 ({url})"]
    assert cloud.run_state(run, "cpt", "fp2", echo=msgs.append) == (None, 0)
    assert msgs[-1] == f"cpt: {run}/cpt holds a run with other params/data: starting fresh"
    assert not storage.exists(f"{run}/cpt/checkpoint_000004")


@pytest.mark.integration
def test_dvc_push_step_commits_training_outputs_and_pushes_to_s3(s3, bucket, tmp_path):
    """The pipeline's last step on a training stage: checkpoints/cpt (cache: false, in object storage)
    does not exist on the step's disk; the push goes to <artifact_store>/dvc, never the repo's remote."""
    import yaml

    from langadapt.orchestration.data import PUSH_REMOTE, push_outputs

    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cluster"].update({"artifact_store": f"{bucket}/runs", "storage_endpoint": s3.endpoint,
                              "dvc_remote": None})
    made = _tree(tmp_path / "made", {"base/config.json": "{}", "clean/shard-00000.jsonl": '{"id": "a"}\n',
                                     "cpt/config.json": '{"x": 1}', "cpt/model.safetensors": "w",
                                     "metrics/cpt.json": '{"steps": 1}', "plots/cpt_loss.csv": "step\n"})
    result = push_outputs(yaml.safe_dump(params), str(REPO), rev,
                          {k: str(made / k) for k in ("base", "clean", "cpt")}, ["cpt"],
                          metrics={"cpt": str(made / "metrics" / "cpt.json")},
                          plots={"cpt": str(made / "plots")})
    assert result["pushed"] and result["remote"] == PUSH_REMOTE
    lock = yaml.safe_load(result["dvc_lock"])["stages"]["cpt"]
    outs = {o["path"]: o for o in lock["outs"]}
    assert outs[params["paths"]["cpt_checkpoints"]]["md5"]  # committed (empty marker dir), not pushed
    fs, _ = storage.url_to_fs(bucket)
    pushed = fs.find(f"{bucket.split('://')[1]}/runs/dvc")
    assert pushed, "nothing in the run's S3 remote"

    # dvc pull from that remote, in a fresh clone with the run's dvc.lock: the same bytes come back
    clone = tmp_path / "pull"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
    (clone / "dvc.lock").write_text(result["dvc_lock"])
    for cmd in (["dvc", "remote", "add", "--local", "-f", "run", f"{bucket}/runs/dvc"],
                ["dvc", "remote", "modify", "--local", "run", "endpointurl", s3.endpoint],
                ["dvc", "pull", "-q", "-r", "run", params["paths"]["cpt"]]):
        p = subprocess.run(cmd, cwd=clone, capture_output=True, text=True, check=False)
        assert p.returncode == 0, p.stderr
    assert storage.hash_manifest(clone / params["paths"]["cpt"]) == storage.hash_manifest(made / "cpt")
