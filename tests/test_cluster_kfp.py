"""The KFP pipeline and the manifests as a platform engineer reads them before a first cluster run.

    .venv/bin/pytest -q tests/test_cluster_kfp.py        # ~30 s (two pipeline compiles)

Asserted on the compiled pipeline: each step's cpu/memory come from ``cluster.step`` +
``cluster.stages.<stage>``; eval gets the accelerator, node selector and toleration when configured and
no other step does; every step carries the pod label the Ray NetworkPolicy admits, and the image pull
secrets; a GPU on cpt/sft or an unknown key is a clear config error. On the manifests and docs: the
NetworkPolicy admits exactly the pods the pipeline and the RayJobs run; ExternalSecret v1; the service
accounts pull with imagePullSecrets; the GitHub webhook is signature-checked; the workflow never splices
``inputs.until`` into a script; the GPU machine named in docs/cluster.md fits the worker pod, and the
KFP backend version it installs is the SDK's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from langadapt.config import load_params
from langadapt.errors import ConfigError
from langadapt.orchestration import kustomize
from langadapt.orchestration import pipeline as pl
from langadapt.orchestration.policy import check_pipeline_spec, fits_machine
from langadapt.orchestration.rayjob import render_rayjob

REPO = Path(__file__).resolve().parents[1]
GPU_EVAL = ["cluster.stages.eval.gpu=1", 'cluster.stages.eval.node_selector={"langadapt.io/pool": gpu}',
            "cluster.stages.eval.tolerations=[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
            "cluster.image_pull_secrets=[langadapt-registry]"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp") / "p.yaml"
    pl.compile_pipeline(REPO, REPO / "params.yaml", out, overrides=GPU_EVAL, regenerate=False)
    spec, platform = list(yaml.safe_load_all(out.read_text(encoding="utf-8")))
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_step_resources_come_from_each_stage(compiled):
    spec, _ = compiled
    cfg = load_params(REPO / "params.yaml", GPU_EVAL)
    for name, ex in spec["deploymentSpec"]["executors"].items():
        stage = name.removeprefix("exec-")
        want = pl.stage_resources(cfg, stage) if stage in cfg.cluster.stages else cfg.cluster.step
        res = ex["container"]["resources"]
        assert (res["resourceCpuLimit"], res["resourceMemoryLimit"]) == (want.cpu, want.memory), name
    res = spec["deploymentSpec"]["executors"]["exec-dedup"]["container"]["resources"]
    assert (res["resourceCpuRequest"], res["resourceMemoryRequest"]) == ("2", "8Gi")
    eval_res = spec["deploymentSpec"]["executors"]["exec-eval"]["container"]["resources"]
    assert (eval_res["resourceCpuLimit"], eval_res["resourceMemoryLimit"]) == ("4", "16Gi")


def test_eval_on_a_gpu_when_configured_and_no_other_step(compiled):
    spec, executors = compiled
    cfg = load_params(REPO / "params.yaml", GPU_EVAL)
    with_gpu = {n for n, ex in spec["deploymentSpec"]["executors"].items() if ex["container"]["resources"].get("accelerator")}
    assert with_gpu == {"exec-eval"} == pl.gpu_executors(cfg)
    acc = spec["deploymentSpec"]["executors"]["exec-eval"]["container"]["resources"]["accelerator"]
    assert (acc["resourceType"], acc["resourceCount"]) == ("nvidia.com/gpu", "1")
    assert executors["exec-eval"]["nodeSelector"] == {"labels": {"langadapt.io/pool": "gpu"}}
    assert executors["exec-eval"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                     "effect": "NoSchedule"}]
    assert "nodeSelector" not in executors["exec-cpt"] and "tolerations" not in executors["exec-extract"]
    assert check_pipeline_spec(spec, pl.gpu_executors(cfg)) == []
    assert check_pipeline_spec(spec) == [("exec-eval: requests an accelerator (GPUs belong to the RayJob, never "
                                          "to a cached step)")]


def test_every_step_is_labelled_for_the_network_policy_and_pulls_with_the_secret(compiled):
    _, executors = compiled
    for name, ex in executors.items():
        assert ex["podMetadata"]["labels"] == {"app.kubernetes.io/part-of": "langadapt"}, name
        assert [s["secretName"] for s in ex["imagePullSecret"]] == ["langadapt-registry"], name


@pytest.mark.parametrize("override, message", [
    (["cluster.stages.cpt.gpu=1"], "cluster.stages.cpt.gpu: the cpt step submits a RayJob"),
    (["cluster.stages.sft={gpu: 2}"], "cluster.stages.sft.gpu: the sft step submits a RayJob"),
    (["cluster.stages.eval.gpus=1"], "cluster.stages.eval: unknown key(s) ['gpus']"),
])
def test_bad_stage_resources_are_named(override, message):
    cfg = load_params(REPO / "params.yaml", override)
    stage = override[0].split(".")[2].split("=")[0]
    with pytest.raises(ConfigError, match=re.escape(message)):
        pl.stage_resources(cfg, stage)


def test_network_policy_admits_exactly_the_pipeline_and_ray_pods():
    docs = kustomize.python_build(REPO / "k8s" / "base")
    pol = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert pol["metadata"]["namespace"] == "langadapt" and pol["spec"]["policyTypes"] == ["Ingress"]
    assert pol["spec"]["podSelector"] == {"matchExpressions": [{"key": "ray.io/node-type", "operator": "Exists"}]}
    (rule,) = pol["spec"]["ingress"]
    assert rule == {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "langadapt"}}}]}
    # the RayJob's head, workers and submitter carry the admitted label (KFP steps: test above)
    cfg = load_params(REPO / "params.yaml", ["cluster.image_pull_secrets=[langadapt-registry]"])
    job = render_rayjob(cfg, "cpt", "langadapt-cpt-x", "s3://b/x")
    cluster = job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], *[g["template"] for g in cluster["workerGroupSpecs"]],
                 job["spec"]["submitterPodTemplate"]]
    for t in templates:
        assert t["metadata"]["labels"]["app.kubernetes.io/part-of"] == "langadapt"
        assert t["spec"]["imagePullSecrets"] == [{"name": "langadapt-registry"}]
    sas = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert sas and all(sa["imagePullSecrets"] == [{"name": "langadapt-registry"}] for sa in sas)


def test_external_secret_is_v1():
    docs = kustomize.python_build(REPO / "k8s" / "overlays" / "gpu-cloud")
    es = next(d for d in docs if d["kind"] == "ExternalSecret")
    assert es["apiVersion"] == "external-secrets.io/v1"


def test_github_webhook_is_signature_checked():
    src = yaml.safe_load((REPO / "k8s" / "argo-events" / "eventsource.yaml").read_text())
    assert "webhook" not in src["spec"], "a plain webhook event source accepts anyone's POST"
    push = src["spec"]["github"]["push"]
    assert push["webhookSecret"] == {"name": "langadapt-github-webhook", "key": "secret"}
    assert push["events"] == ["push"] and push["insecure"] is False
    sensor = yaml.safe_load((REPO / "k8s" / "argo-events" / "sensor.yaml").read_text())
    assert sensor["spec"]["dependencies"][0]["eventSourceName"] == "langadapt-github"


def test_workflow_never_splices_inputs_into_scripts():
    text = (REPO / ".github" / "workflows" / "retrain.yml").read_text()
    wf = yaml.safe_load(text)
    for job in wf["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step.get("name")
    compile_step = next(s for s in wf["jobs"]["submit"]["steps"] if "pipeline compile" in s.get("run", ""))
    assert compile_step["env"]["UNTIL"] == "${{ github.event.inputs.until }}"
    assert '${UNTIL:+--until "$UNTIL"}' in compile_step["run"]


def test_documented_gpu_machine_fits_the_worker_and_kfp_matches_the_sdk():
    doc = (REPO / "docs" / "cluster.md").read_text()
    machine = re.search(r"node-pools create gpu .*--machine-type (\S+)", doc).group(1)
    w = load_params(REPO / "params.yaml").cluster.worker
    assert fits_machine(machine, w.cpu, w.memory, w.gpu) == []
    assert fits_machine("g2-standard-8", w.cpu, w.memory, w.gpu)  # what the docs named before
    kfp_k8s = re.search(r'"kfp-kubernetes==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert re.search(r"export PIPELINE_VERSION=([\d.]+)", doc).group(1) == kfp_k8s


def test_each_stage_is_keyed_on_its_own_params_only():
    """A synth change leaves extract's input (hence its KFP cache key) unchanged; cpt's changes with cpt.*."""
    from langadapt.orchestration.dvcgraph import read_stages
    from langadapt.orchestration.stage import params_from_text, params_subset

    stages = {s.name: s for s in read_stages(REPO / "dvc.yaml")}
    text = (REPO / "params.yaml").read_text()
    raw = yaml.safe_load(text)
    changed = yaml.safe_dump({**raw, "synth": {**raw["synth"], "back_translation": 7}}, sort_keys=False)
    bumped = yaml.safe_dump({**raw, "cpt": {**raw["cpt"], "max_steps": raw["cpt"]["max_steps"] + 1}}, sort_keys=False)
    ext, cpt = stages["extract"].params, stages["cpt"].params
    assert params_subset(text, ext) == params_subset(changed, ext)
    assert params_subset(text, cpt) == params_subset(changed, cpt) != params_subset(bumped, cpt)
    assert set(yaml.safe_load(params_subset(text, cpt))) == {"seed", "language", "paths", "cluster", "data",
                                                               "model", "train", "cpt"}
    # what a stage reads from its subset equals what it reads from the whole file
    full, sub = params_from_text(text), params_from_text(params_subset(text, cpt))
    for section in ("cpt", "train", "model", "data", "paths", "cluster"):
        assert getattr(sub, section) == getattr(full, section)


def test_submit_puts_the_pipeline_root_in_object_storage(monkeypatch):
    import kfp

    seen = {}

    class FakeClient:
        def __init__(self, **kw):
            pass

        def create_run_from_pipeline_package(self, pkg, **kw):
            seen.update(kw)
            return type("R", (), {"run_id": "r1"})()

    monkeypatch.setattr(kfp, "Client", FakeClient)
    monkeypatch.setattr(pl, "check_host", lambda host: None)
    monkeypatch.setattr(pl, "run_name", lambda root: ("langadapt-x", "a" * 40, None))
    monkeypatch.setattr(pl, "git_dirty", lambda root: False)
    pkg = REPO / "pipelines" / "langadapt_pipeline.yaml"
    pl.submit(REPO, "http://kfp", REPO / "params.yaml", package=pkg)
    assert seen["pipeline_root"] == "s3://langadapt/runs/kfp"
    pl.submit(REPO, "http://kfp", REPO / "params.yaml", ["cluster.pipeline_root=gs://b/kfp"], package=pkg)
    assert seen["pipeline_root"] == "gs://b/kfp"
