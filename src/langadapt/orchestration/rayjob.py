"""Training on a cluster: a KubeRay RayJob rendered from params, submitted and watched from a CPU step.

The KFP step that calls this runs on a CPU node and never requests a GPU, so a cached step can never
hold a GPU node: the GPU work happens only inside the RayJob (workers on the GPU node pool, with
nodeSelector, tolerations and ``nvidia.com/gpu`` limits from ``cluster.worker``). The flow::

    step (CPU pod)                         RayJob (head on CPU pool, workers on GPU pool)
    upload params + inputs  -> staging ->  `langadapt pipeline rayjob-entry` downloads them,
                                           runs `langadapt cpt` (Ray Train, checkpoints to object
    download outputs        <- staging <-  storage via train.storage_path), uploads outputs

The RayJob name is a hash of the stage, the params and the inputs' content, so a retried or resumed
step attaches to the RayJob already running (or finished) for the same inputs instead of starting a
second one, and Ray Train resumes from the checkpoints under the same ``train.storage_path``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langadapt.config import Params, RayPodParams
from langadapt.errors import LangadaptError
from langadapt.orchestration.stage import dvc_md5, params_from_text, run_stage

# staging in object storage: download() refuses object keys that escape its target directory
from langadapt.storage import download, upload

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
TERMINAL_JOB_STATUS = {"SUCCEEDED", "FAILED", "STOPPED"}
# the object-storage Secret's keys, exposed as env to every pod that reads or writes object storage
STORAGE_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def job_name(stage: str, params_yaml: str, input_hashes: Mapping[str, str]) -> str:
    """A DNS-1123 name that is the same for the same stage, params and input content."""
    h = hashlib.sha256()
    h.update(stage.encode())
    h.update(params_yaml.encode())
    for key in sorted(input_hashes):
        h.update(f"{key}={input_hashes[key]}".encode())
    return f"langadapt-{stage}-{h.hexdigest()[:10]}"


def _env(cfg: Params) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "XDG_CACHE_HOME", "value": "/tmp/.cache"},
        {"name": "HF_HOME", "value": "/tmp/.cache/huggingface"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
    ]
    if cfg.cluster.storage_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL", "value": cfg.cluster.storage_endpoint})
    for key in STORAGE_SECRET_KEYS:
        # optional: with workload identity (IRSA, GKE) there is no Secret and the SDKs find credentials
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": cfg.cluster.storage_secret, "key": key,
                                                                "optional": True}}})
    return env


def _pod_template(cfg: Params, pod: RayPodParams, container_name: str, ports: list[int]) -> dict[str, Any]:
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": pod.cpu, "memory": pod.memory},
        "limits": {"cpu": pod.cpu, "memory": pod.memory},
    }
    if pod.gpu:
        resources["requests"]["nvidia.com/gpu"] = pod.gpu
        resources["limits"]["nvidia.com/gpu"] = pod.gpu
    container: dict[str, Any] = {
        "name": container_name,
        "image": cfg.cluster.image,
        "imagePullPolicy": "IfNotPresent",
        "resources": resources,
        "env": _env(cfg),
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if ports:
        names = {6379: "gcs", 8265: "dashboard", 10001: "client"}
        container["ports"] = [{"containerPort": p, "name": names.get(p, f"p{p}")} for p in ports]
    spec: dict[str, Any] = {
        # a service account with no RBAC (annotate it for workload identity to reach object storage)
        "serviceAccountName": cfg.cluster.ray_service_account,
        "automountServiceAccountToken": False,  # Ray pods do not talk to the Kubernetes API
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [container],
        "volumes": [
            # NCCL and PyTorch dataloaders need a large /dev/shm; the container default is 64Mi
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": pod.shm_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "50Gi"}},  # Ray session dir, HOME, caches
        ],
    }
    if cfg.cluster.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in cfg.cluster.image_pull_secrets]
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        spec["tolerations"] = copy.deepcopy(pod.tolerations)
    return {"metadata": {"labels": {"app.kubernetes.io/part-of": "langadapt"}}, "spec": spec}


def render_raycluster_spec(cfg: Params) -> dict[str, Any]:
    """The RayCluster spec of a training job: head on the CPU pool, workers on the GPU pool."""
    c = cfg.cluster
    head = _pod_template(cfg, c.head, "ray-head", [6379, 8265, 10001])
    worker = _pod_template(cfg, c.worker, "ray-worker", [])
    return {
        "rayVersion": c.ray_version,
        "headGroupSpec": {
            # num-cpus 0: the head schedules and runs the driver; training happens on the workers
            "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
            "template": head,
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu-workers" if c.worker.gpu else "cpu-workers",
                "replicas": c.worker.replicas,
                "minReplicas": c.worker.replicas,
                "maxReplicas": c.worker.replicas,
                "rayStartParams": {},
                "template": worker,
            }
        ],
    }


def render_rayjob(cfg: Params, stage: str, name: str, staging: str) -> dict[str, Any]:
    """The RayJob manifest for one training stage (validated against the KubeRay CRD in the tests)."""
    c = cfg.cluster
    entrypoint = f"python -m langadapt pipeline rayjob-entry {stage} --staging {staging}"
    submitter = _pod_template(cfg, RayPodParams(cpu="500m", memory="512Mi"), "ray-job-submitter", [])
    submitter["spec"]["restartPolicy"] = "Never"
    submitter["spec"]["containers"][0]["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    submitter["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "namespace": c.namespace,
            "labels": {"app.kubernetes.io/part-of": "langadapt", "langadapt.io/stage": stage},
        },
        "spec": {
            "entrypoint": entrypoint,
            "submissionMode": "K8sJobMode",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": c.rayjob_ttl,
            "activeDeadlineSeconds": c.rayjob_timeout,
            "backoffLimit": 0,  # retries are Ray Train's (train.max_failures), from checkpoints
            "submitterPodTemplate": submitter,
            "rayClusterSpec": render_raycluster_spec(cfg),
        },
    }


def render_dev_raycluster(cfg: Params, name: str = "langadapt-dev") -> dict[str, Any]:
    """A long-lived RayCluster for interactive work (`ray job submit`), workers autoscaled from zero.

    The same pod templates as the RayJobs; GPU workers exist only while a job asks for them.
    """
    spec = render_raycluster_spec(cfg)
    group = spec["workerGroupSpecs"][0]
    group.update({"replicas": 0, "minReplicas": 0, "maxReplicas": cfg.cluster.worker.replicas})
    spec["enableInTreeAutoscaling"] = True
    spec["autoscalerOptions"] = {
        "upscalingMode": "Default",
        "idleTimeoutSeconds": 600,  # GPU workers go away after 10 idle minutes
        "resources": {"requests": {"cpu": "200m", "memory": "512Mi"},
                      "limits": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": copy.deepcopy(CONTAINER_SECURITY) | {"runAsNonRoot": True, "runAsUser": 1000,
                                                 "seccompProfile": {"type": "RuntimeDefault"}},
    }
    # the autoscaler sidecar talks to the Kubernetes API: KubeRay creates a service account with the
    # RBAC it needs when the head names none
    head_spec = spec["headGroupSpec"]["template"]["spec"]
    head_spec.pop("serviceAccountName")
    head_spec["automountServiceAccountToken"] = True
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": cfg.cluster.namespace,
                     "labels": {"app.kubernetes.io/part-of": "langadapt"}},
        "spec": spec,
    }


# --- staging in object storage (fsspec: s3://, gs://, file:// in the tests) -------------------------


def rayjob_entry(stage: str, staging: str, workdir: str | Path | None = None) -> dict[str, Any]:
    """What the RayJob runs: fetch params + inputs from staging, run the stage, upload its outputs."""
    # the same staging (the same job) gets the same local paths on every attempt: the training
    # fingerprint depends on them, and a retried RayJob must resume the run on train.storage_path
    work = Path(workdir or Path(tempfile.gettempdir()) / f"rayjob-{stage}-{hashlib.sha256(staging.encode()).hexdigest()[:12]}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    download(f"{staging}/job.json", work / "job.json")
    job = json.loads((work / "job.json").read_text(encoding="utf-8"))
    params_yaml = job["params_yaml"]
    cfg = params_from_text(params_yaml)
    locations: dict[str, str] = {}
    for key in job["inputs"]:
        download(f"{staging}/inputs/{key}", work / "inputs" / key)
        locations[key] = str(work / "inputs" / key)
    for key in job["outputs"]:
        locations[key] = str(work / "outputs" / key)
    locations["metrics"] = str(work / "metrics")
    extra = [
        f"train.storage_path={json.dumps(job['storage_path'])}",
        f"train.ray_address={json.dumps(job.get('ray_address', 'auto'))}",
        f"train.use_gpu={'true' if cfg.cluster.worker.gpu else 'false'}",
        f"train.num_workers={cfg.cluster.worker.replicas}",
    ]
    metrics = run_stage(stage, params_yaml, locations, workdir=work / "run", extra_sets=extra)
    for key in job["outputs"]:
        local = work / "outputs" / key
        if key.endswith("_checkpoints"):
            # Ray Train wrote them to object storage (train.storage_path): the artifact says where
            # (what the driver left in the local dir, e.g. its tokenized-data cache, stays on the head)
            local = work / "outputs" / f"{key}.artifact"
            local.mkdir(parents=True, exist_ok=True)
            (local / "STORAGE_PATH.txt").write_text(job["storage_path"] + "\n", encoding="utf-8")
        elif not local.exists():
            raise LangadaptError(f"rayjob {stage}: the stage wrote no paths.{key} ({local})")
        upload(local, f"{staging}/outputs/{key}")
    (work / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    upload(work / "metrics.json", f"{staging}/metrics.json")
    return metrics


# --- submit and watch ------------------------------------------------------------------------------


def _status(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    st = obj.get("status") or {}
    return st.get("jobDeploymentStatus", ""), st.get("jobStatus", ""), st.get("message", "")


def submitter_logs(core_api: Any, namespace: str, name: str, tail: int = 200) -> str:
    """The RayJob's submitter pod logs (K8sJobMode: a Job named after the RayJob streams the driver)."""
    from kubernetes.client.rest import ApiException

    try:
        pods = core_api.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    except ApiException as e:  # logs are a courtesy; never hide the real status behind a log error
        return f"(no logs: {e})"
    out = []
    for pod in pods:
        try:
            out.append(core_api.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=tail))
        except ApiException as e:
            out.append(f"(no logs for {pod.metadata.name}: {e})")
    return "\n".join(out)


def submit_and_wait(
    custom_api: Any,
    core_api: Any,
    manifest: dict[str, Any],
    *,
    timeout: float,
    poll: float = 10.0,
    log=print,
) -> dict[str, Any]:
    """Create the RayJob (or attach to the one already there) and wait until it finishes.

    Returns the final RayJob object; raises LangadaptError naming the job, its status and the tail of
    its logs when it fails, stops or runs past ``timeout``.
    """
    from kubernetes.client.rest import ApiException

    ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    try:
        custom_api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, manifest)
        log(f"rayjob {ns}/{name}: created")
    except ApiException as e:
        if e.status == 409:
            existing = custom_api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
            _, job_status, _ = _status(existing)
            if job_status in ("FAILED", "STOPPED"):
                log(f"rayjob {ns}/{name}: previous attempt {job_status}; deleting and resubmitting")
                custom_api.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
                time.sleep(poll)
                custom_api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, manifest)
            else:
                log(f"rayjob {ns}/{name}: already exists ({job_status or 'pending'}); attaching")
        elif e.status == 403:
            raise LangadaptError(
                f"rayjob {ns}/{name}: forbidden: the step's service account may not create rayjobs in {ns} "
                "(apply k8s/base/rbac.yaml and run the pipeline with that service account)") from None
        elif e.status == 404:
            raise LangadaptError(
                f"rayjob {ns}/{name}: the RayJob kind is not installed; install the KubeRay operator "
                "(docs/cluster.md)") from None
        else:
            raise LangadaptError(f"rayjob {ns}/{name}: create failed: {e.status} {e.reason}") from None
    deadline = time.monotonic() + timeout
    last = None
    while True:
        obj = custom_api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        deploy, job_status, message = _status(obj)
        if (deploy, job_status) != last:
            log(f"rayjob {ns}/{name}: deployment={deploy or '-'} job={job_status or '-'} {message}".rstrip())
            last = (deploy, job_status)
        if job_status == "SUCCEEDED":
            return obj
        if job_status in TERMINAL_JOB_STATUS or deploy == "Failed":
            logs = submitter_logs(core_api, ns, name)
            raise LangadaptError(
                f"rayjob {ns}/{name}: {job_status or deploy}: {message or 'see logs'}\n--- logs ---\n{logs}")
        if time.monotonic() > deadline:
            raise LangadaptError(f"rayjob {ns}/{name}: still {job_status or deploy or 'pending'} after {timeout:.0f}s "
                                 "(cluster.rayjob_timeout); it keeps running; rerun the step to attach to it")
        time.sleep(poll)


def stage_job(cfg: Params, stage: str, params_yaml: str, inputs: Mapping[str, str],
              outputs: Mapping[str, str]) -> tuple[str, str]:
    """Upload job.json (params, input/output keys, Ray Train storage) and the inputs; (job name, staging URL).

    What the KFP step does before it submits the RayJob (and what the cluster-in-a-box tests call).
    """
    name = job_name(stage, params_yaml, {k: dvc_md5(p) for k, p in inputs.items()})
    staging = f"{cfg.cluster.artifact_store.rstrip('/')}/rayjobs/{name}"
    job = {
        "params_yaml": params_yaml,
        "inputs": sorted(inputs),
        "outputs": sorted(outputs),
        # the same inputs resume from the same checkpoints (Ray Train restores the latest one)
        "storage_path": f"{cfg.cluster.artifact_store.rstrip('/')}/checkpoints/{name}",
        "ray_address": "auto",
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "job.json").write_text(json.dumps(job), encoding="utf-8")
        upload(Path(tmp) / "job.json", f"{staging}/job.json")
    for key, path in inputs.items():
        upload(path, f"{staging}/inputs/{key}")
    return name, staging


def collect_outputs(stage: str, staging: str, outputs: Mapping[str, str], metrics_dir: Path) -> dict[str, Any]:
    """Download what the RayJob uploaded (outputs, metrics) to the step's artifact paths."""
    for key, path in outputs.items():
        download(f"{staging}/outputs/{key}", path)
    download(f"{staging}/metrics.json", metrics_dir / f"{stage}.json")
    return json.loads((metrics_dir / f"{stage}.json").read_text(encoding="utf-8"))


def run_stage_as_rayjob(
    cfg: Params,
    stage: str,
    params_yaml: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    metrics_dir: Path,
    *,
    custom_api: Any = None,
    core_api: Any = None,
    poll: float = 10.0,
) -> dict[str, Any]:
    """Stage inputs to object storage, run the stage in a RayJob, fetch its outputs back to ``outputs``."""
    name, staging = stage_job(cfg, stage, params_yaml, inputs, outputs)
    if custom_api is None or core_api is None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        custom_api, core_api = client.CustomObjectsApi(), client.CoreV1Api()
    manifest = render_rayjob(cfg, stage, name, staging)
    submit_and_wait(custom_api, core_api, manifest, timeout=cfg.cluster.rayjob_timeout, poll=poll,
                    log=lambda m: print(m, file=sys.stderr, flush=True))
    return collect_outputs(stage, staging, outputs, metrics_dir)
