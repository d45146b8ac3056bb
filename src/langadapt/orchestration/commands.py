"""CLI commands of langadapt.orchestration: `langadapt pipeline ...` and `langadapt k8s ...`.

    langadapt pipeline compile                       # pipelines/langadapt_pipeline.yaml
    langadapt pipeline run-local [--until dedup]     # the whole pipeline through kfp.local
    langadapt pipeline submit --host http://localhost:8080
    langadapt pipeline rayjob cpt                    # print the RayJob a training step would submit
    langadapt pipeline lock                          # components/constraints.txt from this environment
    langadapt k8s render k8s/overlays/local          # kustomize build (kubectl, or the built-in subset)
    langadapt k8s generate                           # manifests made from params.yaml `cluster`
    langadapt k8s check                              # render every overlay, validate schemas + policy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary

RootOpt = Annotated[Path | None, typer.Option("--root", help="Project root (default: found from the cwd).")]


def _root(root: Path | None) -> Path:
    from langadapt.orchestration.repo import find_root

    return find_root(root or Path.cwd())


pipeline_app = typer.Typer(help="The KFP v2 pipeline: compile, run locally (kfp.local), submit to a cluster.",
                           no_args_is_help=True)
k8s_app = typer.Typer(help="Kubernetes manifests (k8s/): render overlays, validate schemas and policy.",
                      no_args_is_help=True)


@pipeline_app.command("compile")
@handles_errors
def pipeline_compile(
    params: ParamsOpt = Path("params.yaml"),
    sets: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output YAML (default: the committed "
                                             "pipelines/langadapt_pipeline.yaml).")] = None,
    until: Annotated[str | None, typer.Option(help="Only this stage and its upstream.")] = None,
    root: RootOpt = None,
) -> None:
    """Compile the pipeline (dvc.yaml's graph, params.yaml as its default `params_yaml`) to KFP YAML.

    CI compiles with the image it just pushed: `-s cluster.image=ghcr.io/org/langadapt:<sha>`.
    """
    from langadapt.orchestration.pipeline import compile_pipeline

    t = Timer()
    r = _root(root)
    out_path = compile_pipeline(r, params, out, sets or [], until)
    summary("pipeline compile", f"wrote {out_path}", t.seconds)


@pipeline_app.command("lock")
@handles_errors
def pipeline_lock(root: RootOpt = None) -> None:
    """Rewrite components/constraints.txt: the image's exact Python packages (this environment's)."""
    from langadapt.orchestration.imagelock import LOCK, render_lock

    t = Timer()
    r = _root(root)
    (r / LOCK).write_text(render_lock(r / "pyproject.toml"), encoding="utf-8")
    summary("pipeline lock", f"wrote {r / LOCK}", t.seconds)


@pipeline_app.command("run-local")
@handles_errors
def pipeline_run_local(
    params: ParamsOpt = Path("params.yaml"),
    sets: SetOpt = None,
    until: Annotated[str | None, typer.Option(help="Run only this stage and its upstream (e.g. dedup).")] = None,
    pipeline_root: Annotated[Path | None, typer.Option(help="Where kfp.local writes artifacts "
                                                       "(default .cache/kfp-local).")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse kfp.local's cached task outputs.")] = False,
    root: RootOpt = None,
) -> None:
    """Run the pipeline locally with kfp.local.SubprocessRunner (this environment, no Docker).

    The same components and graph as on a cluster; the inputs are read from this working tree
    (`dvc pull` the snapshot first). Prints each output artifact with its DVC md5, comparable to
    dvc.lock after `dvc repro`.
    """
    from langadapt.orchestration.pipeline import run_local
    from langadapt.orchestration.run import describe

    t = Timer()
    r = _root(root)
    run_dir, outs = run_local(r, params, until, pipeline_root, cache, sets or [])
    for name, path in outs.items():
        meta = describe(path)
        extra = f" records={meta['records']}" if "records" in meta else ""
        typer.echo(f"{name}\t{meta.get('dvc_md5', '-')}{extra}\t{path}")
    summary("pipeline run-local", f"{len(outs)} artifacts under {run_dir}", t.seconds)


@pipeline_app.command("submit")
@handles_errors
def pipeline_submit(
    host: Annotated[str | None, typer.Option(help="KFP endpoint, e.g. http://localhost:8080 "
                                             "(default: cluster.kfp_host).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sets: SetOpt = None,
    package: Annotated[Path | None, typer.Option(help="A compiled pipeline YAML (default: compile now).")] = None,
    experiment: Annotated[str | None, typer.Option(help="KFP experiment (default cluster.experiment).")] = None,
    namespace: Annotated[str | None, typer.Option(help="KFP namespace (default cluster.namespace).")] = None,
    rev: Annotated[str | None, typer.Option(help="Git revision the cluster runs (default HEAD).")] = None,
    allow_dirty: Annotated[bool, typer.Option(help="Submit although the working tree has changes.")] = False,
    root: RootOpt = None,
) -> None:
    """Submit a run to a KFP endpoint, named by the git SHA and the data.dvc md5 (also run parameters)."""
    from langadapt.orchestration.pipeline import submit

    t = Timer()
    info = submit(_root(root), host, params, sets or [], package, experiment, namespace, allow_dirty, rev)
    typer.echo(json.dumps(info, indent=2))
    summary("pipeline submit", f"run {info['run_name']} ({info['run_id']}) on {info['host']}", t.seconds)


@pipeline_app.command("rayjob")
@handles_errors
def pipeline_rayjob(
    stage: Annotated[str, typer.Argument(help="A training stage: cpt or sft.")],
    params: ParamsOpt = Path("params.yaml"),
    sets: SetOpt = None,
    name: Annotated[str, typer.Option(help="RayJob name.")] = "",
) -> None:
    """Print the KubeRay RayJob manifest (YAML) a training step submits, rendered from params.yaml."""
    import yaml

    from langadapt.orchestration.rayjob import render_rayjob

    cfg = load(params, sets)
    name = name or f"langadapt-{stage}-manual"
    staging = f"{cfg.cluster.artifact_store.rstrip('/')}/rayjobs/{name}"
    typer.echo(yaml.safe_dump(render_rayjob(cfg, stage, name, staging), sort_keys=False), nl=False)


@pipeline_app.command("rayjob-entry", hidden=True)
@handles_errors
def pipeline_rayjob_entry(
    stage: Annotated[str, typer.Argument(help="The stage to run.")],
    staging: Annotated[str, typer.Option(help="Object-storage prefix with job.json and inputs/.")],
) -> None:
    """Inside a RayJob: fetch params + inputs from staging, run the stage, upload its outputs."""
    from langadapt.orchestration.rayjob import rayjob_entry

    t = Timer()
    rayjob_entry(stage, staging)
    summary(f"rayjob {stage}", f"outputs uploaded to {staging}/outputs", t.seconds)


@k8s_app.command("render")
@handles_errors
def k8s_render(
    kustomization: Annotated[Path, typer.Argument(help="A kustomization dir, e.g. k8s/overlays/gpu-cloud.")],
    engine: Annotated[str, typer.Option(help="auto | kubectl | python (the built-in subset).")] = "auto",
) -> None:
    """Render a kustomization to YAML (like `kubectl kustomize DIR`)."""
    import yaml

    from langadapt.orchestration.kustomize import build

    docs = build(kustomization, engine=engine)
    typer.echo(yaml.safe_dump_all(docs, sort_keys=False), nl=False)


@k8s_app.command("generate")
@handles_errors
def k8s_generate(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None, root: RootOpt = None) -> None:
    """Regenerate the manifests made from params.yaml `cluster` (dev RayCluster, RayJob templates)."""
    from langadapt.orchestration.manifests import write_generated

    r = _root(root)
    written = write_generated(r, load(params, sets))
    summary("k8s generate", f"{len(written)} file(s) updated" + "".join(f"\n  {p}" for p in written))


@k8s_app.command("check")
@handles_errors
def k8s_check(
    kustomizations: Annotated[list[Path] | None, typer.Argument(help="Kustomization dirs (default: "
                                                                "k8s/overlays/*).")] = None,
    engine: Annotated[str, typer.Option(help="auto | kubectl | python.")] = "auto",
    root: RootOpt = None,
) -> None:
    """Render each overlay; validate against Kubernetes + KubeRay CRD schemas; run the policy checks."""
    from langadapt.errors import LangadaptError
    from langadapt.orchestration.kustomize import build
    from langadapt.orchestration.policy import check_policy
    from langadapt.orchestration.validate import load_manifest, unvalidated, validate_docs

    t = Timer()
    r = _root(root)
    dirs = kustomizations or sorted(p for p in (r / "k8s" / "overlays").iterdir() if p.is_dir())
    sets_of_docs = [(str(d), build(d, engine=engine)) for d in dirs]
    if not kustomizations:  # plus the plain manifests: RayJob templates, Argo CD, Argo Events
        sets_of_docs += [(str(f), load_manifest(f)) for sub in ("templates", "argocd", "argo-events")
                         for f in sorted((r / "k8s" / sub).glob("*.yaml"))]
    problems: list[str] = []
    count = 0
    for where, docs in sets_of_docs:
        count += len(docs)
        problems += [f"{where}: {p}" for p in validate_docs(docs, r / "k8s" / "crds")]
        problems += [f"{where}: {p}" for p in check_policy(docs)]
        for obj in unvalidated(docs):
            typer.echo(f"{where}: {obj}: no schema here (custom resource); policy-checked only", err=True)
    compiled = r / "pipelines" / "langadapt_pipeline.yaml"
    if not kustomizations and compiled.exists():  # the KFP steps: pinned images, limits, no GPU
        import yaml

        from langadapt.config import load_params
        from langadapt.orchestration.pipeline import gpu_executors
        from langadapt.orchestration.policy import check_pipeline_spec

        spec = next(yaml.safe_load_all(compiled.read_text(encoding="utf-8")))
        allowed = gpu_executors(load_params(r / "params.yaml")) if (r / "params.yaml").exists() else set()
        problems += [f"{compiled}: {p}" for p in check_pipeline_spec(spec, allowed)]
    for p in problems:
        typer.echo(p, err=True)
    if problems:
        raise LangadaptError(f"{len(problems)} problem(s) in {len(sets_of_docs)} manifest set(s)")
    summary("k8s check", f"{len(sets_of_docs)} manifest sets, {count} objects: schemas and policy ok", t.seconds)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(k8s_app, name="k8s")
