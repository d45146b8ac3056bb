"""The langadapt KFP v2 pipeline: the dvc.yaml DAG, one component per stage, params.yaml as a parameter.

    langadapt pipeline compile                 # -> pipelines/langadapt_pipeline.yaml (committed)
    langadapt pipeline run-local --until dedup # kfp.local.SubprocessRunner, the embedded default
    langadapt pipeline submit --host URL       # a KFP endpoint; run named by git SHA + data.dvc md5

The graph is not written by hand: it is dvc.yaml's stages in dependency order, each wired to the step
that outputs its inputs (``langadapt.orchestration.dvcgraph``). The one pipeline parameter that
configures the stages is ``params_yaml``, whose default is params.yaml's text at compile time; every
component passes it to ``langadapt <stage> -p``. ``repo`` and ``rev`` say where the first step reads
the inputs (the data.dvc snapshot) from: on a cluster the git URL and the run's commit; ``data_md5``
(data.dvc's md5, set by ``submit``) is checked against the snapshot fetched and recorded on the run.

Cluster settings (image, per-stage resources/accelerators/node selectors, the object-storage Secret)
come from params.yaml ``cluster`` (``step`` + ``stages.<name>``). Training steps never hold a GPU: they
submit a RayJob (components/stages.py, cpt/sft) and wait; eval/diff get one when configured.
"""

from pathlib import Path

from kfp import dsl

from langadapt.config import Params
from langadapt.orchestration.codegen import FETCHABLE
from langadapt.orchestration.dvcgraph import StageSpec, external_inputs, upstream_artifact_stages
from langadapt.orchestration.stage import TRAINING_STAGES

PIPELINE_NAME = "langadapt"
CORPUS_STAGES = ("extract", "filter", "dedup")
# corpus.executor ray with corpus.ray_address null: the Ray client of the dev RayCluster (k8s/base/raycluster.yaml)
DEV_RAY_CLIENT = "ray://langadapt-dev-head-svc:10001"


def _on_cluster(task, cfg: Params, stage: str | None = None, *, timeout: int | None = None):
    """Kubernetes settings of a step (ignored by kfp.local): its resources, accelerator and placement
    (``cluster.step`` + ``cluster.stages.<stage>``), non-root, the storage env, the pipeline's pod label
    (the Ray NetworkPolicy admits only pods carrying it) and the image pull secrets."""
    try:
        from kfp import kubernetes
    except ImportError:
        raise ImportError("kfp-kubernetes is not installed: pip install 'kfp-kubernetes==2.17.0' "
                          "(the pipelines extra)") from None
    from langadapt.orchestration.pipeline import stage_resources

    res = stage_resources(cfg, stage) if stage else cfg.cluster.step
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu)
    task.set_memory_request(res.memory).set_memory_limit(res.memory)
    if res.gpu:
        task.set_accelerator_type(res.accelerator).set_accelerator_limit(res.gpu)
    for key, value in sorted(res.node_selector.items()):
        kubernetes.add_node_selector(task, key, value)
    for tol in res.tolerations:
        kubernetes.add_toleration(task, key=tol.get("key"), operator=tol.get("operator"), value=tol.get("value"),
                                  effect=tol.get("effect"))
    kubernetes.add_pod_label(task, "app.kubernetes.io/part-of", "langadapt")
    if cfg.cluster.image_pull_secrets:
        kubernetes.set_image_pull_secrets(task, list(cfg.cluster.image_pull_secrets))
    kubernetes.set_security_context(task, run_as_user=1000, run_as_group=1000, run_as_non_root=True)
    # object-storage credentials by Secret reference (k8s/base: storage-secret.md); never in the YAML
    kubernetes.use_secret_as_env(task, secret_name=cfg.cluster.storage_secret,
                                 secret_key_to_env={"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                                                    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"},
                                 optional=True)
    if cfg.cluster.storage_endpoint:
        task.set_env_variable("AWS_ENDPOINT_URL", cfg.cluster.storage_endpoint)
    if timeout:
        kubernetes.set_timeout(task, timeout)
    return task


def build_pipeline(params_text: str, cfg: Params, stages: list[StageSpec], comps: dict, repo_default: str,
                   pushable: tuple[str, ...]):
    """The pipeline function for ``stages`` (already in dependency order)."""
    external = external_inputs(stages)
    names = [s.name for s in stages]

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="langadapt: " + " -> ".join(names) + " (dvc.yaml), params from params.yaml",
    )
    def langadapt(params_yaml: str = params_text, repo: str = repo_default, rev: str = "", data_md5: str = ""):
        fetch = comps["fetch_inputs"](params_yaml=params_yaml, repo=repo, rev=rev, data_md5=data_md5)
        fetch.set_display_name("fetch-inputs")
        _on_cluster(fetch, cfg)
        artifacts = {k: fetch.outputs[k] for k in FETCHABLE}
        missing = [k for k in external if k not in artifacts]
        if missing:
            raise ValueError(f"dvc.yaml inputs {missing} are made by no stage and not fetched by fetch_inputs")
        # each stage gets only its own params sections: a change to synth.* no longer invalidates the
        # cached extract/filter/dedup/tokenizer/cpt steps (KFP's cache key covers every input)
        own = comps["stage_params"](params_yaml=params_yaml)
        own.set_display_name("stage-params")
        _on_cluster(own, cfg)
        stage_tasks = {}
        for s in stages:
            kwargs = {k: artifacts[k] for k in s.inputs}
            metrics_from, plots_from = upstream_artifact_stages(s, stages)
            kwargs.update({f"{m}_metrics": stage_tasks[m].outputs["metrics"] for m in metrics_from})
            kwargs.update({f"{p}_plots": stage_tasks[p].outputs["plots"] for p in plots_from})
            task = comps[s.name](params_yaml=own.outputs[s.name], **kwargs)
            stage_tasks[s.name] = task
            task.set_display_name(s.name)
            if s.name in TRAINING_STAGES:
                # a CPU step that submits a RayJob: cached on its inputs, GPUs only inside the RayJob
                task.set_caching_options(True)
                _on_cluster(task, cfg, s.name, timeout=cfg.cluster.rayjob_timeout + 3600)
            else:
                _on_cluster(task, cfg, s.name)
            if s.name in CORPUS_STAGES and cfg.corpus.executor == "ray":  # its shards run as Ray tasks there
                task.set_env_variable("RAY_ADDRESS", cfg.corpus.ray_address or DEV_RAY_CLIENT)
            artifacts.update({k: task.outputs[k] for k in s.outputs})
        push = comps["push_outputs"](params_yaml=params_yaml, repo=repo, rev=rev, stages=",".join(names),
                                     **{k: artifacts[k] for k in pushable},
                                     **{f"{n}_metrics": t.outputs["metrics"] for n, t in stage_tasks.items()},
                                     **{f"{s.name}_plots": stage_tasks[s.name].outputs["plots"]
                                        for s in stages if s.plots_files})
        push.set_display_name("dvc-push")
        push.set_caching_options(False)
        _on_cluster(push, cfg)

    return langadapt


def pipeline_for(root: Path, params_text: str, cfg: Params, until: str | None = None, repo: str | None = None):
    """Load dvc.yaml and components/stages.py from the project at ``root``; build the pipeline function.

    Stages whose inputs nothing makes yet (a stage of dvc.yaml still being written) are left out with
    a warning, so the pipeline is always the runnable part of dvc.yaml.
    """
    import sys

    from langadapt.orchestration.codegen import runnable
    from langadapt.orchestration.dvcgraph import read_stages, upstream
    from langadapt.orchestration.repo import load_module

    stages, dropped = runnable(read_stages(root / "dvc.yaml"))
    for name, why in dropped.items():
        print(f"warning: dvc.yaml stage {name} left out of the pipeline: no stage makes {', '.join(why)}",
              file=sys.stderr)
    stages = upstream(stages, until)
    comps_mod = load_module(root / "components" / "stages.py", "langadapt_components")
    missing = [s.name for s in stages if s.name not in comps_mod.STAGES]
    if missing:
        raise ValueError(f"components/stages.py has no component for {missing}: run `langadapt pipeline compile`")
    comps = comps_mod.build(cfg.cluster.image)
    pushable = tuple(k for s in stages for k in s.outputs if k in comps_mod.PUSHABLE)
    return build_pipeline(params_text, cfg, stages, comps, repo or cfg.cluster.repo_url, pushable)
