"""Compile, run locally and submit the KFP pipeline (pipelines/langadapt_pipeline.py).

    compile_pipeline(root, params)              -> pipelines/langadapt_pipeline.yaml
    run_local(root, params, until="dedup")      -> {paths key: local artifact path}
    submit(root, host, params)                  -> the KFP run id

The pipeline's ``params_yaml`` parameter defaults to the params file's text (overrides given with
``-s`` are applied to it), so a compiled pipeline carries the configuration it was compiled from and a
run records the exact params it ran with.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from langadapt.config import Params, _set_dotted, load_params
from langadapt.errors import ConfigError, LangadaptError
from langadapt.orchestration.repo import data_md5, git_dirty, git_sha, load_module
from langadapt.orchestration.stage import TRAINING_STAGES  # the stages that run as RayJobs (defined once)

COMPILED = Path("pipelines/langadapt_pipeline.yaml")


def params_text(params: Path, overrides: list[str] | None = None) -> tuple[str, Params]:
    """The params text the pipeline embeds (the file verbatim, or with ``overrides`` applied) + its Params."""
    cfg = load_params(params, overrides or [])
    text = Path(params).read_text(encoding="utf-8")
    if overrides:
        raw = yaml.safe_load(text) or {}
        for ov in overrides:
            k, v = ov.split("=", 1)
            _set_dotted(raw, k.strip(), yaml.safe_load(v))
        text = f"# {params} with overrides: {' '.join(overrides)}\n" + yaml.safe_dump(
            raw, sort_keys=False, allow_unicode=True)
    return text, cfg


COMPONENTS = Path("components/stages.py")


def stage_resources(cfg: Params, stage: str):
    """The pod settings of one KFP step: ``cluster.step`` updated with ``cluster.stages.<stage>``.

    A training step (cpt, sft) only submits a RayJob and waits: it may never hold a GPU (its GPUs are
    the RayJob's workers, ``cluster.worker``), so a GPU there is a configuration error.
    """
    from pydantic import ValidationError

    from langadapt.config import StepResources

    over = cfg.cluster.stages.get(stage) or {}
    unknown = sorted(set(over) - set(StepResources.model_fields))
    if unknown:
        raise ConfigError(f"params.yaml: cluster.stages.{stage}: unknown key(s) {unknown} "
                          f"(allowed: {sorted(StepResources.model_fields)})")
    try:
        res = StepResources(**{**cfg.cluster.step.model_dump(), **over})
    except ValidationError as e:
        raise ConfigError(f"params.yaml: cluster.stages.{stage}: {e.errors()[0]['msg']}") from None
    if stage in TRAINING_STAGES and res.gpu:
        raise ConfigError(f"params.yaml: cluster.stages.{stage}.gpu: the {stage} step submits a RayJob and waits; "
                          "its GPUs are cluster.worker.gpu (a step holding a GPU would idle it for the whole run)")
    return res


def pipeline_root(cfg: Params) -> str:
    """Where KFP writes a run's artifacts: ``cluster.pipeline_root``, else ``<artifact_store>/kfp``
    (the object store that also holds staging, checkpoints and the DVC remote)."""
    return cfg.cluster.pipeline_root or f"{cfg.cluster.artifact_store.rstrip('/')}/kfp"


def gpu_executors(cfg: Params) -> set[str]:
    """The compiled pipeline's executors that params.yaml gives an accelerator (``exec-<stage>``)."""
    return {f"exec-{name}" for name in cfg.cluster.stages if stage_resources(cfg, name).gpu}


def _pipeline_module(root: Path):
    return load_module(root / "pipelines" / "langadapt_pipeline.py", "langadapt_pipeline_def")


def components_text(root: Path) -> str:
    """What components/stages.py must contain for the current dvc.yaml."""
    from langadapt.orchestration.codegen import render_components, runnable
    from langadapt.orchestration.dvcgraph import read_stages, topological

    stages, _ = runnable(topological(read_stages(root / "dvc.yaml")))
    return render_components(stages)


def write_components(root: Path) -> bool:
    """Regenerate components/stages.py from dvc.yaml; True when it changed."""
    import sys as _sys

    text = components_text(root)
    path = root / COMPONENTS
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    _sys.modules.pop("langadapt_components", None)
    return True


def compile_pipeline(root: Path, params: Path, out: Path | None = None, overrides: list[str] | None = None,
                     until: str | None = None, regenerate: bool = True) -> Path:
    """Compile the pipeline to YAML (the committed one by default), regenerating components/stages.py."""
    from kfp import compiler

    text, cfg = params_text(params, overrides)
    if regenerate:
        write_components(root)
    pipe = _pipeline_module(root).pipeline_for(root, text, cfg, until=until)
    out = Path(out) if out else root / COMPILED
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.yaml")
    compiler.Compiler().compile(pipe, str(tmp))
    tmp.write_text(_fix_header(tmp.read_text(encoding="utf-8"), cfg), encoding="utf-8")
    os.replace(tmp, out)
    return out


def _fix_header(text: str, cfg: Params) -> str:
    """Replace KFP's comment header, which breaks YAML when a default (params_yaml) spans lines."""
    lines = text.split("\n")
    for first_key in ("components:", "deploymentSpec:"):
        if first_key in lines:
            body = lines[lines.index(first_key):]
            break
    else:  # pragma: no cover - KFP always writes one of them
        return text
    header = [
        "# PIPELINE DEFINITION (GENERATED by `langadapt pipeline compile` from dvc.yaml + params.yaml; do not edit)",
        "# Name: langadapt",
        "# Inputs:",
        "#    params_yaml: str  the whole params.yaml (default: its text at compile time)",
        f"#    repo: str         git URL the first step resolves the DVC snapshot from (default {cfg.cluster.repo_url})",
        "#    rev: str          the run's git commit (submit sets it; empty = a local working tree)",
        "#    data_md5: str     data.dvc md5 the snapshot must have (submit sets it; empty = unchecked)",
    ]
    return "\n".join(header + body)


def find_outputs(run_dir: Path) -> dict[str, Path]:
    """{'<task>/<output>': path} of a kfp.local run directory (``<root>/<pipeline>-<time>/<task>/<output>``)."""
    found: dict[str, Path] = {}
    for task_dir in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        for out in sorted(task_dir.iterdir()):
            if out.name != "executor_output.json":
                found[f"{task_dir.name}/{out.name}"] = out
    return found


def run_local(root: Path, params: Path, until: str | None = None, pipeline_root: Path | None = None,
              cache: bool = False, overrides: list[str] | None = None) -> tuple[Path, dict[str, Path]]:
    """Run the pipeline with kfp.local.SubprocessRunner(use_venv=False) on this checkout's working tree.

    Returns the run directory and {'<task>/<output>' (e.g. 'dedup/clean'): path}.
    """
    import warnings

    from kfp import local

    # resources, security context and secrets are cluster settings; kfp.local says so once per task
    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner.*")
    # ... and that the image is not a python:* one: SubprocessRunner(use_venv=False) runs this env anyway
    warnings.filterwarnings("ignore", message=r".*non-Python base image.*")
    text, cfg = params_text(params, overrides)
    pipeline_root = Path(pipeline_root or root / ".cache" / "kfp-local").resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    # the component subprocesses run `python -m kfp.dsl.executor_main` and `python -m langadapt`:
    # this interpreter's (use_venv=False), with its bin dir first on PATH for anything they start
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
               enable_caching=cache)
    before = {p.name for p in pipeline_root.iterdir()}
    pipe = _pipeline_module(root).pipeline_for(root, text, cfg, until=until, repo=str(root))
    try:
        pipe(params_yaml=text, repo=str(root), rev="")
    except RuntimeError as e:
        raise LangadaptError(f"pipeline run-local failed: {e}") from None
    new = sorted((p for p in pipeline_root.iterdir() if p.is_dir() and p.name not in before),
                 key=lambda p: p.stat().st_mtime)
    if not new:
        raise LangadaptError(f"pipeline run-local: no run directory appeared under {pipeline_root}")
    run_dir = new[-1]
    return run_dir, find_outputs(run_dir)


def run_name(root: Path) -> tuple[str, str, str | None]:
    """``langadapt-<sha8>-data-<md5 8>``, the full SHA and the data.dvc md5 (what the run records)."""
    sha = git_sha(root)
    if not sha:
        raise LangadaptError(f"{root}: not a git checkout with a commit; a run is named by its git SHA")
    md5 = data_md5(root)
    name = f"langadapt-{sha[:8]}" + (f"-data-{md5[:8]}" if md5 else "-data-none")
    return name, sha, md5


def check_host(host: str, timeout: float = 10.0) -> None:
    import requests

    url = host.rstrip("/") + "/apis/v2beta1/healthz"
    try:
        requests.get(url, timeout=timeout)
    except requests.RequestException as e:
        raise LangadaptError(
            f"KFP host {host} is unreachable ({type(e).__name__}); check --host / cluster.kfp_host "
            "(e.g. `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80` and --host http://localhost:8080)"
        ) from None


def submit(root: Path, host: str | None, params: Path, overrides: list[str] | None = None,
           package: Path | None = None, experiment: str | None = None, namespace: str | None = None,
           allow_dirty: bool = False, rev: str | None = None) -> dict[str, Any]:
    """Compile (or take ``package``) and submit a run named by git SHA + data.dvc md5."""
    text, cfg = params_text(params, overrides)
    host = host or cfg.cluster.kfp_host
    if not host:
        raise ConfigError("no KFP host: pass --host URL or set cluster.kfp_host in params.yaml")
    name, sha, md5 = run_name(root)
    rev = rev or sha
    if git_dirty(root) and not allow_dirty:
        raise LangadaptError(f"{root}: uncommitted changes; the cluster runs commit {sha[:8]}, not your working "
                             "tree (commit and push, or pass --allow-dirty)")
    check_host(host)
    import kfp

    pkg = package or root / ".cache" / f"{name}.yaml"
    if package is None:
        compile_pipeline(root, params, pkg, overrides)
    # a bearer token for KFP behind auth (CI secret KFP_TOKEN); never read from a file in the repo
    client = kfp.Client(host=host, namespace=namespace or cfg.cluster.namespace,
                        existing_token=os.environ.get("KFP_TOKEN") or None)
    arguments = {"params_yaml": text, "repo": cfg.cluster.repo_url, "rev": rev, "data_md5": md5 or ""}
    result = client.create_run_from_pipeline_package(
        str(pkg), arguments=arguments, run_name=f"{name}-{time.strftime('%Y%m%d-%H%M%S')}",
        pipeline_root=pipeline_root(cfg),
        experiment_name=experiment or cfg.cluster.experiment, namespace=namespace or cfg.cluster.namespace,
        service_account=cfg.cluster.service_account,
    )
    return {"run_id": result.run_id, "run_name": name, "git_sha": sha, "data_md5": md5, "host": host}
