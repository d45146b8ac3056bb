"""Training on a cluster: the RayJob rendered from params (KubeRay CRD schema, policy), submit/watch
against a fake Kubernetes API, and the staging round trip through object storage (file:// here).

Run: .venv/bin/pytest -q tests/test_orchestration_rayjob.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from langadapt.config import load_params
from langadapt.errors import LangadaptError
from langadapt.orchestration import rayjob
from langadapt.orchestration.policy import check_policy
from langadapt.orchestration.validate import validate_docs


@pytest.fixture
def cfg(repo_root):
    return load_params(repo_root / "params.yaml")


def test_rayjob_matches_the_kuberay_crd_and_policy(cfg, repo_root):
    job = rayjob.render_rayjob(cfg, "cpt", "langadapt-cpt-0123456789", "s3://b/runs/rayjobs/x")
    assert validate_docs([job], repo_root / "k8s" / "crds") == []
    assert check_policy([job]) == []
    cluster = rayjob.render_dev_raycluster(cfg)
    assert validate_docs([cluster], repo_root / "k8s" / "crds") == []
    assert check_policy([cluster]) == []


def test_workers_on_the_gpu_pool_head_on_cpu(cfg):
    spec = rayjob.render_rayjob(cfg, "sft", "n", "s3://b/x")["spec"]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    worker = group["template"]["spec"]
    assert group["replicas"] == cfg.cluster.worker.replicas == 2
    assert worker["nodeSelector"] == {"langadapt.io/pool": "gpu"}
    assert worker["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    res = worker["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == 1 and res["requests"]["nvidia.com/gpu"] == 1
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in worker["volumes"]
    assert "nodeSelector" not in head and "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert spec["entrypoint"] == "python -m langadapt pipeline rayjob-entry sft --staging s3://b/x"
    env = {e["name"]: e for e in worker["containers"][0]["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "langadapt-object-store"
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]


def test_job_name_is_stable_for_the_same_inputs():
    a = rayjob.job_name("cpt", "seed: 1\n", {"clean": "abc.dir", "base": "def.dir"})
    assert a == rayjob.job_name("cpt", "seed: 1\n", {"base": "def.dir", "clean": "abc.dir"})
    assert a != rayjob.job_name("cpt", "seed: 2\n", {"clean": "abc.dir", "base": "def.dir"})
    assert a.startswith("langadapt-cpt-") and len(a) <= 63


def test_committed_templates_are_current(cfg, repo_root):
    from langadapt.orchestration.manifests import generated

    for rel, text in generated(cfg).items():
        assert (repo_root / rel).read_text(encoding="utf-8") == text, f"{rel} is stale: run `langadapt k8s generate`"


class FakeCore:
    def __init__(self, logs="driver: loss 2.1\nTraceback: boom"):
        self.logs = logs

    def list_namespaced_pod(self, ns, label_selector):
        class P:
            class metadata:
                name = "submitter-x"

        assert label_selector.startswith("job-name=")
        return type("L", (), {"items": [P()]})()

    def read_namespaced_pod_log(self, name, ns, tail_lines):
        return self.logs


class FakeCustom:
    """A RayJob whose status walks through `statuses` on successive gets."""

    def __init__(self, statuses, exists=None, on_create=None):
        self.statuses = list(statuses)
        self.exists = exists
        self.created = []
        self.deleted = []
        self.on_create = on_create

    def create_namespaced_custom_object(self, group, version, ns, plural, body):
        assert (group, version, plural) == ("ray.io", "v1", "rayjobs")
        if self.exists is not None:
            exists, self.exists = self.exists, None
            raise ApiException(status=409 if exists is True else exists, reason="x")
        self.created.append(body)
        if self.on_create:
            self.on_create(body)

    def get_namespaced_custom_object(self, group, version, ns, plural, name):
        st = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"metadata": {"name": name}, "status": st}

    def delete_namespaced_custom_object(self, group, version, ns, plural, name):
        self.deleted.append(name)


def _manifest(cfg):
    return rayjob.render_rayjob(cfg, "cpt", "langadapt-cpt-abc", "file:///tmp/x")


def test_watch_reports_transitions_until_success(cfg):
    api = FakeCustom([{"jobDeploymentStatus": "Initializing"}, {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"},
                      {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}])
    seen = []
    rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=60, poll=0, log=seen.append)
    assert seen == ["rayjob langadapt/langadapt-cpt-abc: created",
                    "rayjob langadapt/langadapt-cpt-abc: deployment=Initializing job=-",
                    "rayjob langadapt/langadapt-cpt-abc: deployment=Running job=RUNNING",
                    "rayjob langadapt/langadapt-cpt-abc: deployment=Complete job=SUCCEEDED"]


def test_failure_surfaces_status_and_logs(cfg):
    api = FakeCustom([{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "message": "driver exited 1"}])
    with pytest.raises(LangadaptError, match=r"(?s)langadapt-cpt-abc: FAILED: driver exited 1.*Traceback: boom"):
        rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=60, poll=0, log=lambda m: None)


def test_existing_job_is_attached_not_duplicated(cfg):
    api = FakeCustom([{"jobStatus": "RUNNING"}, {"jobStatus": "SUCCEEDED"}], exists=True)
    seen = []
    rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=60, poll=0, log=seen.append)
    assert api.created == [] and "already exists (RUNNING); attaching" in seen[0]


def test_failed_previous_attempt_is_resubmitted(cfg):
    api = FakeCustom([{"jobStatus": "FAILED"}, {"jobStatus": "SUCCEEDED"}], exists=True)
    rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=60, poll=0, log=lambda m: None)
    assert api.deleted == ["langadapt-cpt-abc"] and len(api.created) == 1


@pytest.mark.parametrize("status,message", [(403, "may not create rayjobs in langadapt"),
                                            (404, "install the KubeRay operator")])
def test_rbac_and_missing_operator_are_explained(cfg, status, message):
    api = FakeCustom([{}], exists=status)
    with pytest.raises(LangadaptError, match=message):
        rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=60, poll=0, log=lambda m: None)


def test_timeout_says_the_job_keeps_running(cfg):
    api = FakeCustom([{"jobStatus": "RUNNING"}])
    with pytest.raises(LangadaptError, match="still RUNNING after 0s"):
        rayjob.submit_and_wait(api, FakeCore(), _manifest(cfg), timeout=0, poll=0, log=lambda m: None)


def test_staging_round_trip_through_object_storage(cfg, tmp_path, monkeypatch):
    """Step -> staging -> RayJob entry (the stage) -> staging -> step, with file:// as the object store."""
    cfg.cluster.artifact_store = f"file://{tmp_path / 'bucket'}"
    clean = tmp_path / "in" / "clean"
    clean.mkdir(parents=True)
    (clean / "part-0.jsonl").write_text('{"id": "a", "text": "x"}\n')
    calls = {}

    def fake_stage(stage, params_yaml, locations, workdir=None, extra_sets=None):
        calls.update(stage=stage, extra=extra_sets, text=Path(locations["clean"], "part-0.jsonl").read_text())
        Path(locations["cpt"]).mkdir(parents=True)
        Path(locations["cpt"], "config.json").write_text("{}")
        return {"loss": 1.5}

    monkeypatch.setattr(rayjob, "run_stage", fake_stage)

    def run_the_job(body):  # what KubeRay would do: run the entrypoint on the head
        parts = body["spec"]["entrypoint"].split()
        rayjob.rayjob_entry(parts[5], parts[parts.index("--staging") + 1], workdir=tmp_path / "head")

    api = FakeCustom([{"jobStatus": "SUCCEEDED"}], on_create=run_the_job)
    out = tmp_path / "out"
    metrics = rayjob.run_stage_as_rayjob(cfg, "cpt", "seed: 1\n", {"clean": str(clean)},
                                         {"cpt": str(out / "cpt"), "cpt_checkpoints": str(out / "ckpt")},
                                         out / "metrics",
                                         custom_api=api, core_api=FakeCore(), poll=0)
    assert metrics == {"loss": 1.5}
    assert json.loads((out / "cpt" / "config.json").read_text()) == {}
    assert calls["stage"] == "cpt" and calls["text"] == '{"id": "a", "text": "x"}\n'
    name = api.created[0]["metadata"]["name"]
    assert (out / "ckpt" / "STORAGE_PATH.txt").read_text() == f"{cfg.cluster.artifact_store}/checkpoints/{name}\n"
    assert calls["extra"] == [f'train.storage_path="{cfg.cluster.artifact_store}/checkpoints/{name}"',
                              'train.ray_address="auto"', "train.use_gpu=true", "train.num_workers=2"]
