"""Write orchestration/kfp_components.py from dvc.yaml: one KFP component per stage, mechanically.

A stage's component signature is its dvc.yaml stage: ``Input[...]`` per ``${paths.X}`` dep,
``Output[...]`` per out, ``Input[Metrics]``/``Input[Dataset]`` per ``${paths.metrics}/<stage>.json`` /
``${paths.plots}/<file>`` dep, ``Output[Metrics]`` always and ``Output[Dataset] plots`` when it declares
plots. The parameter names are the params.yaml ``paths`` keys, so the body is one ``run_component``
call. ``langadapt pipeline compile`` rewrites the file (tests fail when it is stale), so a stage added
to dvc.yaml gets its component and its place in the pipeline without hand-written glue.
"""

from __future__ import annotations

from langadapt.orchestration.dvcgraph import StageSpec, external_inputs, producers, upstream_artifact_stages

# inputs the first step resolves from the repository at the run's revision (DVC or git)
FETCHABLE = ("raw", "translation_pairs", "ifeval_seed")
MODEL_KEYS = {"tokenizer", "base", "cpt", "sft", "pref"}
# extra output artifacts that show one file of a stage output in the KFP UI: (name, type, key, file)
VIEWS = {"report": (("report_html", "HTML", "report", "report.html"), ("report_md", "Markdown", "report", "report.md"))}

HEADER = '''"""KFP v2 components of langadapt: one lightweight Python component per dvc.yaml stage.

GENERATED from dvc.yaml by `langadapt pipeline compile` (langadapt.orchestration.codegen); do not edit.

Each body only calls langadapt: ``run_component`` maps the typed artifacts to ``-s paths.X=...`` on the
same ``langadapt <stage>`` command dvc.yaml runs (parameter names ARE params.yaml ``paths`` keys), then
records counts, DVC md5s and metrics as artifact metadata for the KFP dashboard. ``build(image)`` binds
them to the one image (components/Dockerfile) with ``install_kfp_package=False`` and no
``packages_to_install``: nothing is pip-installed at run time, and ``kfp.local.SubprocessRunner
(use_venv=False)`` runs the very same components in this environment. Training stages (cpt, sft, pref) submit
a KubeRay RayJob when they run inside Kubernetes (params.yaml ``cluster.train_on``).

    langadapt pipeline compile        # regenerate this file + pipelines/langadapt_pipeline.yaml
    langadapt pipeline run-local      # run them through kfp.local
"""

from typing import NamedTuple

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output


def fetch_inputs(
    params_yaml: str,
    repo: str,
    rev: str,
    data_md5: str,
{fetch_outputs}
):
    """Resolve the inputs no stage makes at the run's git revision (the data.dvc snapshot via DVC)."""
    from langadapt.errors import DataError
    from langadapt.orchestration.data import fetch_inputs as fetch
    from langadapt.orchestration.run import describe

    arts = {fetch_dict}
    sources = fetch(params_yaml, repo, rev, {{k: a.path for k, a in arts.items()}})
    if data_md5 and describe(raw.path)["dvc_md5"] != data_md5:
        raise DataError(f"snapshot at {{rev}}: md5 {{describe(raw.path)['dvc_md5']}} != data.dvc md5 {{data_md5}}")
    for key, art in arts.items():
        art.metadata.update(describe(art.path))
        art.metadata["source"] = sources[key]
        art.metadata["rev"] = rev or "working tree"
'''

STAGE_PARAMS = '''

def stage_params(
    params_yaml: str,
) -> NamedTuple("StageParams", [{fields}]):
    """Each stage's own params text (its dvc.yaml `params:` sections): the input its cache key sees."""
    from collections import namedtuple

    from langadapt.orchestration.stage import params_subset

    keys = {keys}
    return namedtuple("StageParams", list(keys))(**{{s: params_subset(params_yaml, k) for s, k in keys.items()}})
'''

PUSH = '''

def push_outputs(
    params_yaml: str,
    repo: str,
    rev: str,
    stages: str,
    outputs_index: Output[Artifact],
{push_inputs}
):
    """Commit the run's outputs into DVC at `rev` and `dvc push` them (a no-op on a local run)."""
    import json

    from langadapt.orchestration.data import push_outputs as push
    from langadapt.orchestration.stage import dvc_md5

    given = {push_dict}
    paths = {{k: a.path for k, a in given.items() if a is not None}}
    metrics = {{s: a.path for s, a in {metrics_dict}.items() if a is not None}}
    plots = {{s: a.path for s, a in {plots_dict}.items() if a is not None}}
    result = push(params_yaml, repo, rev, paths, [s for s in stages.split(",") if s], metrics, plots)
    index = {{"rev": rev, "pushed": result["pushed"], "md5": {{k: dvc_md5(p) for k, p in paths.items()}}}}
    with open(outputs_index.path, "w", encoding="utf-8") as f:
        json.dump({{**index, "dvc_lock": result.get("dvc_lock")}}, f, indent=2, sort_keys=True)
    outputs_index.metadata.update({{"pushed": result["pushed"], **{{f"md5.{{k}}": v for k, v in index["md5"].items()}}}})
'''

FOOTER = '''

STAGES = {stage_names}
PUSHABLE = {pushable}


def build(image: str) -> dict:
    """Every component bound to ``image``: {{'fetch_inputs': ..., 'extract': ..., 'push_outputs': ...}}."""
    from kfp import dsl

    funcs = {{name: globals()[name] for name in (*STAGES, "fetch_inputs", "stage_params", "push_outputs")}}
    return {{name: dsl.component(fn, base_image=image, install_kfp_package=False) for name, fn in funcs.items()}}
'''


def artifact_type(key: str) -> str:
    if key in MODEL_KEYS:
        return "Model"
    if key.endswith("_checkpoints"):
        return "Artifact"
    return "Dataset"


def runnable(stages: list[StageSpec]) -> tuple[list[StageSpec], dict[str, list[str]]]:
    """The stages whose inputs are all fetchable or made by a kept stage; and why the others are not."""
    kept = list(stages)
    dropped: dict[str, list[str]] = {}
    while True:
        made = producers(kept)
        names = {s.name for s in kept}
        bad = {}
        for s in kept:
            missing = [k for k in s.inputs if k not in made and k not in FETCHABLE]
            missing += [f"metrics of {m}" for m in s.metrics_inputs if m not in names]
            if missing:
                bad[s.name] = missing
        if not bad:
            return kept, dropped
        dropped.update(bad)
        kept = [s for s in kept if s.name not in bad]


def _stage_source(s: StageSpec, stages: list[StageSpec]) -> str:
    metrics_from, plots_from = upstream_artifact_stages(s, stages)
    params = ["    params_yaml: str,"]
    params += [f"    {k}: Input[{artifact_type(k)}]," for k in s.inputs]
    params += [f"    {m}_metrics: Input[Metrics]," for m in metrics_from]
    params += [f"    {p}_plots: Input[Dataset]," for p in plots_from]
    params += [f"    {k}: Output[{artifact_type(k)}]," for k in s.outputs]
    params.append("    metrics: Output[Metrics],")
    if s.plots_files:
        params.append("    plots: Output[Dataset],")
    views = VIEWS.get(s.name, ())
    params += [f"    {name}: Output[{typ}]," for name, typ, _, _ in views]

    def mapping(pairs: list[tuple[str, str]]) -> str:
        return "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"

    call = [f'        "{s.cli_stage}",', "        params_yaml,",
            f"        inputs={mapping([(k, k) for k in s.inputs])},",
            f"        outputs={mapping([(k, k) for k in s.outputs])},",
            "        metrics=metrics,"]
    if s.plots_files:
        call.append("        plots=plots,")
    if metrics_from:
        call.append(f"        metrics_inputs={mapping([(m, f'{m}_metrics') for m in metrics_from])},")
    if plots_from:
        call.append(f"        plots_inputs={mapping([(p, f'{p}_plots') for p in plots_from])},")
    if views:
        inner = ", ".join(f'"{name}": ({name}, "{key}", "{fname}")' for name, _, key, fname in views)
        call.append(f"        views={{{inner}}},")
    ins = ", ".join(s.inputs) or "-"
    outs = ", ".join(s.outputs)
    return (
        f"\n\ndef {s.name}(\n" + "\n".join(params) + "\n):\n"
        f'    """`{s.cmd}`: {ins} -> {outs}."""\n'
        "    from langadapt.orchestration.run import run_component\n\n"
        "    run_component(\n" + "\n".join(call) + "\n    )\n"
    )


def render_components(stages: list[StageSpec]) -> str:
    """The text of the components module (kfp_components.py) for these (runnable, ordered) stages."""
    fetch_outputs = "\n".join(f"    {k}: Output[Dataset]," for k in FETCHABLE)
    fetch_dict = "{" + ", ".join(f'"{k}": {k}' for k in FETCHABLE) + "}"
    text = HEADER.format(fetch_outputs=fetch_outputs, fetch_dict=fetch_dict)
    for s in stages:
        text += _stage_source(s, stages)
    pushable = [k for s in stages for k in s.outputs if not k.endswith("_checkpoints")]
    with_plots = [s.name for s in stages if s.plots_files]
    push_inputs = "\n".join(
        [f"    {k}: Input[{artifact_type(k)}] = None," for k in pushable]
        + [f"    {s.name}_metrics: Input[Metrics] = None," for s in stages]
        + [f"    {n}_plots: Input[Dataset] = None," for n in with_plots])
    push_dict = "{" + ", ".join(f'"{k}": {k}' for k in pushable) + "}"
    metrics_dict = "{" + ", ".join(f'"{s.name}": {s.name}_metrics' for s in stages) + "}"
    plots_dict = "{" + ", ".join(f'"{n}": {n}_plots' for n in with_plots) + "}"
    fields = ", ".join(f'("{s.name}", str)' for s in stages)
    keys = "{" + ", ".join(f'"{s.name}": {list(s.params)!r}' for s in stages) + "}"
    text += STAGE_PARAMS.format(fields=fields, keys=keys)
    text += PUSH.format(push_inputs=push_inputs, push_dict=push_dict, metrics_dict=metrics_dict,
                        plots_dict=plots_dict)
    text += FOOTER.format(stage_names=tuple(s.name for s in stages), pushable=tuple(pushable))
    assert not [k for k in external_inputs(stages) if k not in FETCHABLE]
    return text
