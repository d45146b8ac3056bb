"""Policy checks on rendered manifests (what a Kyverno/Gatekeeper baseline would enforce), offline.

``check_policy(docs)`` returns one line per violation, naming the object, the container and the rule:

- pods run as non-root (``runAsNonRoot: true``, no ``runAsUser: 0``), with seccomp ``RuntimeDefault``
- every container (and init container, and the KubeRay autoscaler) has cpu and memory requests AND limits
- ``allowPrivilegeEscalation: false``, never ``privileged``
- images pinned: a tag or a digest, never ``:latest`` or no tag
- no literal secrets: a ``Secret`` with inline ``data``/``stringData`` values, or an env var whose name
  says it is a secret (KEY, SECRET, TOKEN, PASSWORD, CREDENTIAL) with a literal ``value``

Pod specs are found wherever a ``containers`` list appears (Pod, Deployment, Job, RayCluster head and
worker groups, RayJob submitter...), so custom resources get the same rules as built-in workloads.
``check_pipeline_spec`` applies the image/resources rules to a compiled KFP pipeline and checks that only
the steps params.yaml gives one (``cluster.stages.<stage>.gpu``, e.g. eval) request a GPU; training
steps never do (their GPUs belong to the RayJobs). ``fits_machine`` checks a pod fits a node type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
NOT_SECRET_NAME = re.compile(r"(_ENV|_FILE|_PATH|_ID_ENV|KEY_ID)$", re.IGNORECASE)  # names of files/vars, key ids


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_specs(obj: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, pod spec) for every dict holding a ``containers`` list, at any depth."""
    if isinstance(obj, dict):
        if isinstance(obj.get("containers"), list):
            yield path or "<root>", obj
        for k, v in obj.items():
            yield from pod_specs(v, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from pod_specs(v, f"{path}[{i}]")


def image_problem(image: str | None) -> str | None:
    if not image:
        return "no image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image} has no tag (pin a version or a digest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses :latest (pin a version or a digest)"
    return None


def resources_problems(resources: dict[str, Any] | None, where: str) -> list[str]:
    out = []
    resources = resources or {}
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if (resources.get(kind) or {}).get(res) in (None, ""):
                out.append(f"{where}: no {res} {kind[:-1]}")
    return out


def _container_problems(c: dict[str, Any], pod_sc: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    sc = c.get("securityContext") or {}
    if (p := image_problem(c.get("image"))) is not None:
        out.append(f"{where}: {p}")
    out += resources_problems(c.get("resources"), where)
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        out.append(f"{where}: privileged")
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if user == 0 or non_root is not True:
        out.append(f"{where}: may run as root (set runAsNonRoot: true and a non-zero runAsUser)")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.append(f"{where}: no seccompProfile RuntimeDefault")
    for env in c.get("env") or []:
        if "value" in env and env.get("value") not in (None, "") and SECRET_NAME.search(env.get("name", "")) \
                and not NOT_SECRET_NAME.search(env.get("name", "")):
            out.append(f"{where}: env {env['name']} holds a literal value (use valueFrom.secretKeyRef)")
    return out


def check_doc(doc: dict[str, Any]) -> list[str]:
    name = _name(doc)
    out: list[str] = []
    if doc.get("kind") == "Secret":
        for field in ("data", "stringData"):
            for k, v in (doc.get(field) or {}).items():
                if v not in (None, ""):
                    out.append(f"{name}: {field}.{k} is a literal secret value (create the Secret out of band "
                               "or use an ExternalSecret)")
    for path, spec in pod_specs(doc):
        pod_sc = spec.get("securityContext") or {}
        for group in ("initContainers", "containers"):
            for c in spec.get(group) or []:
                out += _container_problems(c, pod_sc, f"{name}: {path}.{group}[{c.get('name')}]")
    # the KubeRay autoscaler sidecar is configured outside any pod template
    for path, holder in _find_key(doc, "autoscalerOptions"):
        opts = holder["autoscalerOptions"] or {}
        where = f"{name}: {path}.autoscalerOptions"
        out += resources_problems(opts.get("resources"), where)
        sc = opts.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("runAsNonRoot") is not True:
            out.append(f"{where}: securityContext must set runAsNonRoot: true, allowPrivilegeEscalation: false")
    return out


def _find_key(obj: Any, key: str, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(obj, dict):
        if key in obj:
            yield path or "<root>", obj
        for k, v in obj.items():
            yield from _find_key(v, key, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _find_key(v, key, f"{path}[{i}]")


def check_policy(docs: list[dict[str, Any]]) -> list[str]:
    return [p for d in docs for p in check_doc(d)]


def check_pipeline_spec(spec: dict[str, Any], gpu_allowed: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """A compiled KFP pipeline: pinned images, cpu/memory limits, and a GPU only on the steps in
    ``gpu_allowed`` (executor names, e.g. ``exec-eval``: what params.yaml ``cluster.stages`` asks for)."""
    out = []
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for name, ex in executors.items():
        c = ex.get("container", {})
        if (p := image_problem(c.get("image"))) is not None:
            out.append(f"{name}: {p}")
        res = c.get("resources") or {}
        for key in ("resourceCpuLimit", "resourceMemoryLimit", "resourceCpuRequest", "resourceMemoryRequest"):
            if not res.get(key):
                out.append(f"{name}: no {key}")
        if res.get("accelerator") and name not in gpu_allowed:
            out.append(f"{name}: requests an accelerator (GPUs belong to the RayJob, never to a cached step)")
    return out


# --- node pool sizing ----------------------------------------------------------------------------
# (vCPU, memory GiB, GPUs) of the machine types docs/cluster.md names
MACHINES = {
    "g2-standard-8": (8, 32, 1), "g2-standard-16": (16, 64, 1), "g2-standard-24": (24, 96, 2),
    "a2-highgpu-1g": (12, 85, 1), "g6.2xlarge": (8, 32, 1), "g6.4xlarge": (16, 64, 1),
}
# what per-node DaemonSets (GPU device plugin, logging, metrics, CNI) take on a GPU node, a margin
DAEMONSET_CPU, DAEMONSET_MEM_GIB = 0.5, 1.5


def _quantity(q: str | float, unit: str) -> float:
    """A Kubernetes quantity in cores (unit "cpu") or GiB (unit "mem")."""
    s = str(q)
    if unit == "cpu":
        return float(s[:-1]) / 1000 if s.endswith("m") else float(s)
    factors = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10, "K": 1e3 / 2**30, "M": 1e6 / 2**30,
               "G": 1e9 / 2**30}
    for suffix, f in factors.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * f
    return float(s) / 2**30


def gke_allocatable(vcpu: float, mem_gib: float) -> tuple[float, float]:
    """(cores, GiB) a GKE node leaves to pods: its documented kube/system reservations and the 100 MiB
    eviction threshold subtracted (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes)."""
    cpu_res = 0.06 * min(vcpu, 1) + 0.01 * min(max(vcpu - 1, 0), 1) + 0.005 * min(max(vcpu - 2, 0), 2) \
        + 0.0025 * max(vcpu - 4, 0)
    tiers = [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02)]
    left, mem_res = mem_gib, 0.0
    for size, frac in tiers:
        take = min(left, size)
        mem_res += take * frac
        left -= take
    return vcpu - cpu_res, mem_gib - mem_res - 100 / 1024


def fits_machine(machine: str, cpu: str, memory: str, gpu: int) -> list[str]:
    """Why one pod of this size cannot run on ``machine`` (empty: it fits, DaemonSets included)."""
    if machine not in MACHINES:
        return [f"{machine}: unknown machine type (known: {sorted(MACHINES)})"]
    vcpu, mem, gpus = MACHINES[machine]
    a_cpu, a_mem = gke_allocatable(vcpu, mem)
    a_cpu, a_mem = a_cpu - DAEMONSET_CPU, a_mem - DAEMONSET_MEM_GIB
    out = []
    if _quantity(cpu, "cpu") > a_cpu:
        out.append(f"{machine}: cpu {cpu} > {a_cpu:.2f} allocatable")
    if _quantity(memory, "mem") > a_mem:
        out.append(f"{machine}: memory {memory} > {a_mem:.1f}Gi allocatable")
    if gpu > gpus:
        out.append(f"{machine}: {gpu} GPUs > {gpus}")
    return out
