"""k8s/: every kustomization renders, validates (Kubernetes + KubeRay CRD schemas) and passes policy;
the policy checker fails on what it must; the GitOps workflow, Argo manifests and Dockerfile say what
they should. Offline: no cluster, no Docker.

Run: .venv/bin/pytest -q tests/test_k8s_manifests.py
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from langadapt.errors import ConfigError
from langadapt.orchestration import kustomize
from langadapt.orchestration.policy import check_policy
from langadapt.orchestration.validate import load_manifest, unvalidated, validate_docs

REPO = Path(__file__).resolve().parents[1]
KUSTOMIZATIONS = ["k8s/base", "k8s/overlays/local", "k8s/overlays/gpu-cloud"]
CRDS = REPO / "k8s" / "crds"


def _by_kind(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def rendered():
    return {k: kustomize.python_build(REPO / k) for k in KUSTOMIZATIONS}


@pytest.mark.parametrize("kdir", KUSTOMIZATIONS)
def test_renders_validates_and_passes_policy(rendered, kdir):
    docs = rendered[kdir]
    assert validate_docs(docs, CRDS) == []
    assert check_policy(docs) == []
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "LimitRange", "RayCluster"} <= kinds
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "langadapt" for d in docs)


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed: the Python subset is the only renderer")
@pytest.mark.parametrize("kdir", KUSTOMIZATIONS)
def test_python_subset_equals_kubectl_kustomize(rendered, kdir):
    ref = kustomize.kubectl_build(REPO / kdir)
    assert sorted(map(kustomize.key, ref)) == sorted(map(kustomize.key, rendered[kdir]))
    ours = {kustomize.key(d): d for d in rendered[kdir]}
    for d in ref:
        assert ours[kustomize.key(d)] == d, kustomize.key(d)


def test_overlays_place_ray_workers(rendered):
    local = _by_kind(rendered["k8s/overlays/local"])[("RayCluster", "langadapt-dev")]
    cloud = _by_kind(rendered["k8s/overlays/gpu-cloud"])[("RayCluster", "langadapt-dev")]
    lw = local["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    cw = cloud["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert "nvidia.com/gpu" not in lw["containers"][0]["resources"]["limits"] and "nodeSelector" not in lw
    assert cw["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert cw["nodeSelector"] == {"langadapt.io/pool": "gpu"}
    assert cloud["spec"]["workerGroupSpecs"][0]["minReplicas"] == 0  # GPUs only while a job needs them
    cloud_kinds = _by_kind(rendered["k8s/overlays/gpu-cloud"])
    assert ("ExternalSecret", "langadapt-object-store") in cloud_kinds
    assert cloud_kinds[("ResourceQuota", "langadapt-quota")]["spec"]["hard"]["requests.nvidia.com/gpu"] == "4"
    assert unvalidated(rendered["k8s/overlays/gpu-cloud"]) == ["ExternalSecret/langadapt-object-store"]


def test_rbac_is_least_privilege(rendered):
    docs = _by_kind(rendered["k8s/base"])
    assert not [d for d in rendered["k8s/base"] if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = docs[("Role", "langadapt-rayjob-runner")]
    assert role["metadata"]["namespace"] == "langadapt"
    rules = {(g, r): sorted(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert rules == {
        ("ray.io", "rayjobs"): ["create", "delete", "get", "list", "watch"],
        ("ray.io", "rayjobs/status"): ["get"],
        ("ray.io", "rayclusters"): ["get"],
        ("", "pods"): ["get", "list"],
        ("", "pods/log"): ["get"],
    }
    binding = docs[("RoleBinding", "langadapt-rayjob-runner")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "langadapt-pipeline", "namespace": "langadapt"}]
    assert docs[("ServiceAccount", "langadapt-ray")]["automountServiceAccountToken"] is False


def test_names_match_params(rendered, repo_root):
    from langadapt.config import load_params

    c = load_params(repo_root / "params.yaml").cluster
    docs = _by_kind(rendered["k8s/overlays/gpu-cloud"])
    assert ("Namespace", c.namespace) in docs
    assert ("ServiceAccount", c.service_account) in docs and ("ServiceAccount", c.ray_service_account) in docs
    assert docs[("ExternalSecret", c.storage_secret)]["spec"]["target"]["name"] == c.storage_secret
    app = load_manifest(REPO / "k8s" / "argocd" / "application.yaml")[0]
    assert app["spec"]["source"]["repoURL"] == c.repo_url
    assert (REPO / app["spec"]["source"]["path"] / "kustomization.yaml").exists()
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_plain_manifests_validate_and_pass_policy():
    for sub in ("templates", "argocd", "argo-events"):
        for f in sorted((REPO / "k8s" / sub).glob("*.yaml")):
            docs = load_manifest(f)
            assert validate_docs(docs, CRDS) == [], f
            assert check_policy(docs) == [], f


def test_argo_events_job_is_a_valid_job():
    sensor = load_manifest(REPO / "k8s" / "argo-events" / "sensor.yaml")[0]
    job = sensor["spec"]["triggers"][0]["template"]["k8s"]["source"]["resource"]
    job = copy.deepcopy(job)
    job["metadata"]["name"] = "x"  # generateName is filled in by the API server
    assert validate_docs([job], CRDS) == []
    assert check_policy([job]) == []
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "-- params.yaml data.dvc dvc.yaml src components pipelines pyproject.toml" in script and "langadapt pipeline submit" in script


# --- the policy checker fails on what it must -------------------------------------------------------

GOOD_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "langadapt"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "c", "image": "ghcr.io/langadapt/langadapt:0.1.0",
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
        }],
    },
}


def _pod(**edits):
    pod = copy.deepcopy(GOOD_POD)
    for path, value in edits.items():
        cur = pod
        *parents, last = path.split("__")
        for p in parents:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        if value is None:
            del cur[last]
        else:
            cur[last] = value
    return pod


def test_good_pod_passes():
    assert check_policy([GOOD_POD]) == []
    assert validate_docs([GOOD_POD], CRDS) == []


@pytest.mark.parametrize("edits,problem", [
    ({"spec__securityContext__runAsUser": 0}, "may run as root"),
    ({"spec__securityContext__runAsNonRoot": None}, "may run as root"),
    ({"spec__containers__0__resources__limits": None}, "Pod/p: spec.containers[c]: no cpu limit"),
    ({"spec__containers__0__resources__requests__memory": None}, "no memory request"),
    ({"spec__containers__0__image": "ghcr.io/langadapt/langadapt:latest"}, "uses :latest"),
    ({"spec__containers__0__image": "ghcr.io/langadapt/langadapt"}, "has no tag"),
    ({"spec__containers__0__securityContext__allowPrivilegeEscalation": True}, "allowPrivilegeEscalation"),
    ({"spec__securityContext__seccompProfile": None}, "no seccompProfile RuntimeDefault"),
    ({"spec__containers__0__env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "hunter2"}]},
     "env AWS_SECRET_ACCESS_KEY holds a literal value"),
])
def test_policy_violations_are_named(edits, problem):
    problems = check_policy([_pod(**edits)])
    assert any(problem in p for p in problems), problems


def test_digest_pinned_images_and_secret_refs_pass():
    pod = _pod(spec__containers__0__image="ghcr.io/langadapt/langadapt@sha256:" + "0" * 64)
    pod["spec"]["containers"][0]["env"] = [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "OPENAI_API_KEY_ENV", "value": "OPENAI_API_KEY"},  # the NAME of a variable, not a secret
    ]
    assert check_policy([pod]) == []


def test_literal_secret_objects_fail():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"AWS_SECRET_ACCESS_KEY": "hunter2"}}
    assert check_policy([secret]) == [
        ("Secret/s: stringData.AWS_SECRET_ACCESS_KEY is a literal secret value (create the Secret out of band or "
         "use an ExternalSecret)")]


def test_policy_reaches_pods_inside_custom_resources(rendered):
    cluster = copy.deepcopy(_by_kind(rendered["k8s/base"])[("RayCluster", "langadapt-dev")])
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["image"] = "rayproject/ray:latest"
    del worker["resources"]["limits"]["memory"]
    problems = check_policy([cluster])
    assert any("workerGroupSpecs[0].template.spec.containers[ray-worker]: image rayproject/ray:latest" in p
               for p in problems)
    assert any("no memory limit" in p for p in problems)


def test_no_literal_secrets_anywhere_in_k8s():
    for f in (REPO / "k8s").rglob("*.yaml"):
        if f.parent.name == "crds":
            continue
        for d in load_manifest(f):
            if not isinstance(d, dict):  # a JSON 6902 patch (a list of operations)
                continue
            assert not (d.get("kind") == "Secret" and (d.get("data") or d.get("stringData"))), f


# --- the kustomize subset ----------------------------------------------------------------------------

def test_kustomize_subset_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(ConfigError, match=r"\['namePrefix'\] not supported by the built-in kustomize subset"):
        kustomize.python_build(tmp_path)


def test_json_patch_ops():
    doc = {"a": {"b": [1, 2]}}
    kustomize.json_patch(doc, {"op": "add", "path": "/a/b/-", "value": 3})
    kustomize.json_patch(doc, {"op": "replace", "path": "/a/b/0", "value": 9})
    kustomize.json_patch(doc, {"op": "remove", "path": "/a/b/1"})
    kustomize.json_patch(doc, {"op": "add", "path": "/a/c~1d", "value": {"x": 1}})
    assert doc == {"a": {"b": [9, 3], "c/d": {"x": 1}}}
    with pytest.raises(ConfigError, match="path /a/zz does not exist"):
        kustomize.json_patch(doc, {"op": "remove", "path": "/a/zz"})


# --- GitOps: the CI workflow and the image ------------------------------------------------------------

def test_retrain_workflow_triggers_and_secrets():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "retrain.yml").read_text())
    on = wf.get("on", wf.get(True))  # PyYAML reads the bare key `on` as True
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["paths"] == ["params.yaml", "data.dvc", "dvc.yaml", "src/**", "components/**",
                                   "pipelines/**", "pyproject.toml"]
    assert "workflow_dispatch" in on and on["schedule"][0]["cron"]
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["file"] == "components/Dockerfile"
    assert build["with"]["tags"] == "${{ steps.tags.outputs.tags }}" and build["with"]["push"] is True
    runs = " ".join(s.get("run", "") for s in steps)
    assert "langadapt pipeline compile" in runs and "langadapt pipeline submit" in runs
    assert "cluster.image=$IMAGE:$GITHUB_SHA" in runs
    assert wf["jobs"]["submit"]["needs"] == "image"
    text = (REPO / ".github" / "workflows" / "retrain.yml").read_text()
    for line in text.splitlines():  # credentials only through ${{ secrets.* }}
        if any(k in line for k in ("password:", "TOKEN:", "KFP_HOST:")):
            assert "${{ secrets." in line, line


def test_dockerfile_is_pinned_non_root_and_installs_everything_at_build_time():
    text = (REPO / "components" / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    base = next(ln for ln in lines if ln.startswith("ARG PYTHON_IMAGE="))
    assert base == "ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm"
    assert "USER 1000:1000" in lines and lines.index("USER 1000:1000") > max(
        i for i, ln in enumerate(lines) if ln.startswith("RUN"))
    assert 'pip install --constraint constraints.txt ".[all]"' in text and "ARG TORCH_VERSION=2.13.0" in lines
    assert "PIP_NO_INDEX=1" in text and "HOME=/tmp" in text
    assert not any(("ENTRYPOINT" in ln or "CMD" in ln) and "pip" in ln for ln in lines)
