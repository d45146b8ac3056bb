"""KFP v2 components of langadapt: one lightweight Python component per dvc.yaml stage.

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
    raw: Output[Dataset],
    translation_pairs: Output[Dataset],
    ifeval_seed: Output[Dataset],
):
    """Resolve the inputs no stage makes at the run's git revision (the data.dvc snapshot via DVC)."""
    from langadapt.errors import DataError
    from langadapt.orchestration.data import fetch_inputs as fetch
    from langadapt.orchestration.run import describe

    arts = {"raw": raw, "translation_pairs": translation_pairs, "ifeval_seed": ifeval_seed}
    sources = fetch(params_yaml, repo, rev, {k: a.path for k, a in arts.items()})
    if data_md5 and describe(raw.path)["dvc_md5"] != data_md5:
        raise DataError(f"snapshot at {rev}: md5 {describe(raw.path)['dvc_md5']} != data.dvc md5 {data_md5}")
    for key, art in arts.items():
        art.metadata.update(describe(art.path))
        art.metadata["source"] = sources[key]
        art.metadata["rev"] = rev or "working tree"


def extract(
    params_yaml: str,
    raw: Input[Dataset],
    extracted: Output[Dataset],
    metrics: Output[Metrics],
):
    """`langadapt extract`: raw -> extracted."""
    from langadapt.orchestration.run import run_component

    run_component(
        "extract",
        params_yaml,
        inputs={"raw": raw},
        outputs={"extracted": extracted},
        metrics=metrics,
    )


def filter(
    params_yaml: str,
    extracted: Input[Dataset],
    filtered: Output[Dataset],
    metrics: Output[Metrics],
):
    """`langadapt filter`: extracted -> filtered."""
    from langadapt.orchestration.run import run_component

    run_component(
        "filter",
        params_yaml,
        inputs={"extracted": extracted},
        outputs={"filtered": filtered},
        metrics=metrics,
    )


def dedup(
    params_yaml: str,
    filtered: Input[Dataset],
    clean: Output[Dataset],
    metrics: Output[Metrics],
):
    """`langadapt dedup`: filtered -> clean."""
    from langadapt.orchestration.run import run_component

    run_component(
        "dedup",
        params_yaml,
        inputs={"filtered": filtered},
        outputs={"clean": clean},
        metrics=metrics,
    )


def tokenizer(
    params_yaml: str,
    clean: Input[Dataset],
    tokenizer: Output[Model],
    base: Output[Model],
    metrics: Output[Metrics],
):
    """`langadapt tokenizer`: clean -> tokenizer, base."""
    from langadapt.orchestration.run import run_component

    run_component(
        "tokenizer",
        params_yaml,
        inputs={"clean": clean},
        outputs={"tokenizer": tokenizer, "base": base},
        metrics=metrics,
    )


def cpt(
    params_yaml: str,
    base: Input[Model],
    clean: Input[Dataset],
    cpt: Output[Model],
    cpt_checkpoints: Output[Artifact],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt cpt`: base, clean -> cpt, cpt_checkpoints."""
    from langadapt.orchestration.run import run_component

    run_component(
        "cpt",
        params_yaml,
        inputs={"base": base, "clean": clean},
        outputs={"cpt": cpt, "cpt_checkpoints": cpt_checkpoints},
        metrics=metrics,
        plots=plots,
    )


def synth(
    params_yaml: str,
    clean: Input[Dataset],
    translation_pairs: Input[Dataset],
    ifeval_seed: Input[Dataset],
    synth: Output[Dataset],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt synth`: clean, translation_pairs, ifeval_seed -> synth."""
    from langadapt.orchestration.run import run_component

    run_component(
        "synth",
        params_yaml,
        inputs={"clean": clean, "translation_pairs": translation_pairs, "ifeval_seed": ifeval_seed},
        outputs={"synth": synth},
        metrics=metrics,
        plots=plots,
    )


def sft(
    params_yaml: str,
    cpt: Input[Model],
    synth: Input[Dataset],
    sft: Output[Model],
    sft_checkpoints: Output[Artifact],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt sft`: cpt, synth -> sft, sft_checkpoints."""
    from langadapt.orchestration.run import run_component

    run_component(
        "sft",
        params_yaml,
        inputs={"cpt": cpt, "synth": synth},
        outputs={"sft": sft, "sft_checkpoints": sft_checkpoints},
        metrics=metrics,
        plots=plots,
    )


def pref(
    params_yaml: str,
    sft: Input[Model],
    synth: Input[Dataset],
    pref: Output[Model],
    pref_checkpoints: Output[Artifact],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt pref`: sft, synth -> pref, pref_checkpoints."""
    from langadapt.orchestration.run import run_component

    run_component(
        "pref",
        params_yaml,
        inputs={"sft": sft, "synth": synth},
        outputs={"pref": pref, "pref_checkpoints": pref_checkpoints},
        metrics=metrics,
        plots=plots,
    )


def diff(
    params_yaml: str,
    base: Input[Model],
    cpt: Input[Model],
    sft: Input[Model],
    pref: Input[Model],
    clean: Input[Dataset],
    translation_pairs: Input[Dataset],
    diff: Output[Dataset],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt diff`: base, cpt, sft, pref, clean, translation_pairs -> diff."""
    from langadapt.orchestration.run import run_component

    run_component(
        "diff",
        params_yaml,
        inputs={"base": base, "cpt": cpt, "sft": sft, "pref": pref, "clean": clean, "translation_pairs": translation_pairs},
        outputs={"diff": diff},
        metrics=metrics,
        plots=plots,
    )


def eval(
    params_yaml: str,
    clean: Input[Dataset],
    translation_pairs: Input[Dataset],
    base: Input[Model],
    cpt: Input[Model],
    sft: Input[Model],
    ifeval_seed: Input[Dataset],
    pref: Input[Model],
    eval: Output[Dataset],
    metrics: Output[Metrics],
    plots: Output[Dataset],
):
    """`langadapt eval`: clean, translation_pairs, base, cpt, sft, ifeval_seed, pref -> eval."""
    from langadapt.orchestration.run import run_component

    run_component(
        "eval",
        params_yaml,
        inputs={"clean": clean, "translation_pairs": translation_pairs, "base": base, "cpt": cpt, "sft": sft, "ifeval_seed": ifeval_seed, "pref": pref},
        outputs={"eval": eval},
        metrics=metrics,
        plots=plots,
    )


def report(
    params_yaml: str,
    diff: Input[Dataset],
    eval: Input[Dataset],
    extract_metrics: Input[Metrics],
    filter_metrics: Input[Metrics],
    dedup_metrics: Input[Metrics],
    tokenizer_metrics: Input[Metrics],
    cpt_metrics: Input[Metrics],
    synth_metrics: Input[Metrics],
    sft_metrics: Input[Metrics],
    pref_metrics: Input[Metrics],
    diff_metrics: Input[Metrics],
    eval_metrics: Input[Metrics],
    cpt_plots: Input[Dataset],
    sft_plots: Input[Dataset],
    pref_plots: Input[Dataset],
    report: Output[Dataset],
    metrics: Output[Metrics],
    report_html: Output[HTML],
    report_md: Output[Markdown],
):
    """`langadapt report`: diff, eval -> report."""
    from langadapt.orchestration.run import run_component

    run_component(
        "report",
        params_yaml,
        inputs={"diff": diff, "eval": eval},
        outputs={"report": report},
        metrics=metrics,
        metrics_inputs={"extract": extract_metrics, "filter": filter_metrics, "dedup": dedup_metrics, "tokenizer": tokenizer_metrics, "cpt": cpt_metrics, "synth": synth_metrics, "sft": sft_metrics, "pref": pref_metrics, "diff": diff_metrics, "eval": eval_metrics},
        plots_inputs={"cpt": cpt_plots, "sft": sft_plots, "pref": pref_plots},
        views={"report_html": (report_html, "report", "report.html"), "report_md": (report_md, "report", "report.md")},
    )


def stage_params(
    params_yaml: str,
) -> NamedTuple("StageParams", [("extract", str), ("filter", str), ("dedup", str), ("tokenizer", str), ("cpt", str), ("synth", str), ("sft", str), ("pref", str), ("diff", str), ("eval", str), ("report", str)]):
    """Each stage's own params text (its dvc.yaml `params:` sections): the input its cache key sees."""
    from collections import namedtuple

    from langadapt.orchestration.stage import params_subset

    keys = {"extract": ['language.code', 'paths.raw', 'paths.extracted', 'paths.metrics', 'extract.prefilter_min_script_ratio', 'extract.min_text_chars', 'extract.shards_per_warc'], "filter": ['language.code', 'paths.extracted', 'paths.filtered', 'paths.metrics', 'filter.langid_min_score', 'filter.langid_model', 'filter.redact_pii', 'filter.thresholds'], "dedup": ['seed', 'language.code', 'paths.filtered', 'paths.clean', 'paths.metrics', 'dedup.exact', 'dedup.near', 'dedup.shingle', 'dedup.ngram', 'dedup.num_perm', 'dedup.bands', 'dedup.rows', 'dedup.threshold', 'dedup.keep'], "tokenizer": ['seed', 'language.code', 'data.heldout_fraction', 'paths.clean', 'paths.tokenizer', 'paths.base', 'paths.metrics', 'model', 'tokenizer'], "cpt": ['seed', 'data.heldout_fraction', 'model.trust_remote_code', 'paths.base', 'paths.clean', 'paths.cpt', 'paths.cpt_checkpoints', 'paths.metrics', 'paths.plots', 'train', 'cpt'], "synth": ['seed', 'language.code', 'data.heldout_fraction', 'data.heldout_pairs_fraction', 'paths.clean', 'paths.translation_pairs', 'paths.ifeval_seed', 'paths.synth', 'paths.metrics', 'paths.plots', 'synth'], "sft": ['seed', 'data.heldout_fraction', 'model.trust_remote_code', 'paths.cpt', 'paths.synth', 'paths.sft', 'paths.sft_checkpoints', 'paths.metrics', 'paths.plots', 'train', 'sft'], "pref": ['seed', 'language.code', 'data.heldout_fraction', 'model.trust_remote_code', 'paths.sft', 'paths.synth', 'paths.pref', 'paths.pref_checkpoints', 'paths.metrics', 'paths.plots', 'train', 'pref'], "diff": ['seed', 'language.code', 'data.heldout_fraction', 'data.heldout_pairs_fraction', 'paths.base', 'paths.cpt', 'paths.sft', 'paths.pref', 'paths.clean', 'paths.translation_pairs', 'paths.diff', 'paths.metrics', 'paths.plots', 'diff'], "eval": ['seed', 'language.code', 'data.heldout_fraction', 'data.heldout_pairs_fraction', 'model.trust_remote_code', 'paths.clean', 'paths.translation_pairs', 'paths.base', 'paths.cpt', 'paths.sft', 'paths.ifeval_seed', 'paths.pref', 'paths.eval', 'paths.metrics', 'paths.plots', 'eval'], "report": ['language.code', 'model.base', 'eval.max_new_tokens', 'pref.max_new_tokens', 'pref.truncated_desirable', 'paths.base', 'paths.cpt', 'paths.sft', 'paths.pref', 'paths.metrics', 'paths.plots', 'paths.eval', 'paths.diff', 'paths.report', 'report']}
    return namedtuple("StageParams", list(keys))(**{s: params_subset(params_yaml, k) for s, k in keys.items()})


def push_outputs(
    params_yaml: str,
    repo: str,
    rev: str,
    stages: str,
    outputs_index: Output[Artifact],
    extracted: Input[Dataset] = None,
    filtered: Input[Dataset] = None,
    clean: Input[Dataset] = None,
    tokenizer: Input[Model] = None,
    base: Input[Model] = None,
    cpt: Input[Model] = None,
    synth: Input[Dataset] = None,
    sft: Input[Model] = None,
    pref: Input[Model] = None,
    diff: Input[Dataset] = None,
    eval: Input[Dataset] = None,
    report: Input[Dataset] = None,
    extract_metrics: Input[Metrics] = None,
    filter_metrics: Input[Metrics] = None,
    dedup_metrics: Input[Metrics] = None,
    tokenizer_metrics: Input[Metrics] = None,
    cpt_metrics: Input[Metrics] = None,
    synth_metrics: Input[Metrics] = None,
    sft_metrics: Input[Metrics] = None,
    pref_metrics: Input[Metrics] = None,
    diff_metrics: Input[Metrics] = None,
    eval_metrics: Input[Metrics] = None,
    report_metrics: Input[Metrics] = None,
    cpt_plots: Input[Dataset] = None,
    synth_plots: Input[Dataset] = None,
    sft_plots: Input[Dataset] = None,
    pref_plots: Input[Dataset] = None,
    diff_plots: Input[Dataset] = None,
    eval_plots: Input[Dataset] = None,
):
    """Commit the run's outputs into DVC at `rev` and `dvc push` them (a no-op on a local run)."""
    import json

    from langadapt.orchestration.data import push_outputs as push
    from langadapt.orchestration.stage import dvc_md5

    given = {"extracted": extracted, "filtered": filtered, "clean": clean, "tokenizer": tokenizer, "base": base, "cpt": cpt, "synth": synth, "sft": sft, "pref": pref, "diff": diff, "eval": eval, "report": report}
    paths = {k: a.path for k, a in given.items() if a is not None}
    metrics = {s: a.path for s, a in {"extract": extract_metrics, "filter": filter_metrics, "dedup": dedup_metrics, "tokenizer": tokenizer_metrics, "cpt": cpt_metrics, "synth": synth_metrics, "sft": sft_metrics, "pref": pref_metrics, "diff": diff_metrics, "eval": eval_metrics, "report": report_metrics}.items() if a is not None}
    plots = {s: a.path for s, a in {"cpt": cpt_plots, "synth": synth_plots, "sft": sft_plots, "pref": pref_plots, "diff": diff_plots, "eval": eval_plots}.items() if a is not None}
    result = push(params_yaml, repo, rev, paths, [s for s in stages.split(",") if s], metrics, plots)
    index = {"rev": rev, "pushed": result["pushed"], "md5": {k: dvc_md5(p) for k, p in paths.items()}}
    with open(outputs_index.path, "w", encoding="utf-8") as f:
        json.dump({**index, "dvc_lock": result.get("dvc_lock")}, f, indent=2, sort_keys=True)
    outputs_index.metadata.update({"pushed": result["pushed"], **{f"md5.{k}": v for k, v in index["md5"].items()}})


STAGES = ('extract', 'filter', 'dedup', 'tokenizer', 'cpt', 'synth', 'sft', 'pref', 'diff', 'eval', 'report')
PUSHABLE = ('extracted', 'filtered', 'clean', 'tokenizer', 'base', 'cpt', 'synth', 'sft', 'pref', 'diff', 'eval', 'report')


def build(image: str) -> dict:
    """Every component bound to ``image``: {'fetch_inputs': ..., 'extract': ..., 'push_outputs': ...}."""
    from kfp import dsl

    funcs = {name: globals()[name] for name in (*STAGES, "fetch_inputs", "stage_params", "push_outputs")}
    return {name: dsl.component(fn, base_image=image, install_kfp_package=False) for name, fn in funcs.items()}
