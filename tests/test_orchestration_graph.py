"""The stage graph read from dvc.yaml, the generated components and the run helpers (unit, seconds).

Run: .venv/bin/pytest -q tests/test_orchestration_graph.py
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from langadapt.errors import ConfigError, LangadaptError
from langadapt.orchestration import codegen, run, stage
from langadapt.orchestration.dvcgraph import external_inputs, read_stages, topological, upstream

DVC = """
stages:
  report:
    cmd: langadapt report
    deps: [ "${paths.metrics}/eval.json", "${paths.eval}", src/langadapt/evaluation ]
    outs: [ "${paths.report}" ]
  extract:
    cmd: langadapt extract
    deps: [ "${paths.raw}", src/langadapt/corpus ]
    outs: [ "${paths.extracted}" ]
    metrics: [ { "${paths.metrics}/extract.json": { cache: false } } ]
  cpt:
    cmd: langadapt cpt
    deps: [ "${paths.extracted}", "${paths.tokenizer}" ]
    outs: [ "${paths.cpt}", { "${paths.cpt_checkpoints}": { persist: true } } ]
  tokenizer:
    cmd: langadapt tokenizer
    deps: [ "${paths.extracted}" ]
    outs: [ "${paths.tokenizer}" ]
  eval:
    cmd: langadapt eval
    deps: [ "${paths.cpt}", "${paths.translation_pairs}" ]
    outs: [ "${paths.eval}" ]
    plots: [ { "${paths.plots}/eval.csv": { x: metric } } ]
"""


@pytest.fixture
def stages(tmp_path):
    p = tmp_path / "dvc.yaml"
    p.write_text(DVC)
    return read_stages(p)


def test_stage_io_are_paths_keys(stages):
    by = {s.name: s for s in stages}
    assert by["cpt"].inputs == ("extracted", "tokenizer")
    assert by["cpt"].outputs == ("cpt", "cpt_checkpoints")
    assert by["report"].inputs == ("eval",)
    assert by["report"].metrics_inputs == ("eval",)
    assert by["eval"].plots_files == ("eval.csv",)
    assert by["extract"].cli_stage == "extract"


def test_topological_order_and_upstream(stages):
    assert [s.name for s in topological(stages)] == ["extract", "tokenizer", "cpt", "eval", "report"]
    assert [s.name for s in upstream(stages, "cpt")] == ["extract", "tokenizer", "cpt"]
    assert [s.name for s in upstream(stages, "extract")] == ["extract"]
    assert external_inputs(stages) == ["raw", "translation_pairs"]
    with pytest.raises(ConfigError, match="no stage 'nope'"):
        upstream(stages, "nope")


def test_cycle_and_double_output_are_errors(tmp_path):
    p = tmp_path / "dvc.yaml"
    p.write_text(textwrap.dedent("""
        stages:
          a: {cmd: langadapt a, deps: ["${paths.clean}"], outs: ["${paths.filtered}"]}
          b: {cmd: langadapt b, deps: ["${paths.filtered}"], outs: ["${paths.clean}"]}
    """))
    with pytest.raises(ConfigError, match="cycle between stages"):
        topological(read_stages(p))
    p.write_text(textwrap.dedent("""
        stages:
          a: {cmd: langadapt a, outs: ["${paths.clean}"]}
          b: {cmd: langadapt b, outs: ["${paths.clean}"]}
    """))
    with pytest.raises(ConfigError, match="paths.clean is an output of both a and b"):
        topological(read_stages(p))


def test_runnable_drops_stages_whose_inputs_nothing_makes(stages):
    kept, dropped = codegen.runnable([s for s in stages if s.name != "tokenizer"])
    assert [s.name for s in kept] == ["extract"]
    assert dropped == {"cpt": ["tokenizer"], "eval": ["cpt"], "report": ["eval", "metrics of eval"]}


def test_generated_component_signatures_mirror_dvc_stages(stages, tmp_path):
    path = tmp_path / "stages.py"
    path.write_text(codegen.render_components(topological(stages)))
    spec = importlib.util.spec_from_file_location("test_generated_components", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.STAGES == ("extract", "tokenizer", "cpt", "eval", "report")
    sig = inspect.signature(mod.cpt)
    assert list(sig.parameters) == ["params_yaml", "extracted", "tokenizer", "cpt", "cpt_checkpoints", "metrics"]
    assert str(sig.parameters["tokenizer"].annotation) == str(mod.Input[mod.Model])
    assert list(inspect.signature(mod.report).parameters) == [
        "params_yaml", "eval", "eval_metrics", "report", "metrics", "report_html", "report_md"]
    assert "plots" in inspect.signature(mod.eval).parameters
    # checkpoints stay in object storage: never pushed to the DVC remote by the push step
    assert mod.PUSHABLE == ("extracted", "tokenizer", "cpt", "eval", "report")
    comps = mod.build("example.org/langadapt:1.0")
    assert comps["cpt"].component_spec.implementation.container.image == "example.org/langadapt:1.0"


def test_repo_components_match_repo_dvc_yaml(repo_root):
    """kfp_components.py is generated from dvc.yaml; `langadapt pipeline compile` refreshes it."""
    from langadapt.orchestration.pipeline import COMPONENTS, components_text

    assert (repo_root / COMPONENTS).read_text(encoding="utf-8") == components_text(repo_root), \
        f"{COMPONENTS} is stale: run `langadapt pipeline compile`"


def test_dvc_md5_is_what_dvc_records(tmp_path):
    d = tmp_path / "repo"
    (d / "out" / "sub").mkdir(parents=True)
    (d / "out" / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    (d / "out" / "sub" / "b.excluded.jsonl").write_text('{"id": 3, "reason": "dup"}\n')
    (d / "one.txt").write_text("x")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=d, check=True)
    subprocess.run(["dvc", "add", "-q", "out", "one.txt"], cwd=d, check=True)
    import yaml

    recorded = {f: yaml.safe_load((d / f"{f}.dvc").read_text())["outs"][0]["md5"] for f in ("out", "one.txt")}
    assert stage.dvc_md5(d / "out") == recorded["out"]
    assert stage.dvc_md5(d / "one.txt") == recorded["one.txt"]
    assert run.describe(d / "out") | {"dvc_md5": None} == {
        "files": 2, "bytes": 47, "records": 2, "excluded": 1, "dvc_md5": None}


def test_flat_numbers_and_overrides():
    assert run.flat_numbers({"a": 1, "b": {"c": 2.5, "d": "x", "e": True}}) == {"a": 1.0, "b.c": 2.5}
    assert stage.path_overrides({"raw": "/tmp/a: b"}) == ['paths.raw="/tmp/a: b"']
    from langadapt.config import parse_params

    cfg = parse_params({}, overrides=stage.path_overrides({"raw": "/tmp/a: b", "clean": "/x/#y"}))
    assert (cfg.paths.raw, cfg.paths.clean) == ("/tmp/a: b", "/x/#y")


def _art(path):
    return SimpleNamespace(path=str(path), metadata={})


class _Metrics(SimpleNamespace):
    def log_metric(self, k, v):
        self.metadata[k] = v


def test_run_component_maps_artifacts_to_paths_and_records_metadata(tmp_path, monkeypatch, repo_root):
    """The component body: artifacts -> -s paths.X=..., then counts + metrics on the artifacts."""
    seen = {}

    def fake_run_stage(stage, params_yaml, locations, workdir=None, extra_sets=None):
        seen.update(stage=stage, locations=dict(locations))
        out = Path(locations["clean"])
        out.mkdir(parents=True)
        (out / "part-0.jsonl").write_text('{"id": "a"}\n{"id": "b"}\n')
        (out / "part-0.excluded.jsonl").write_text('{"id": "c", "reason": "near_duplicate"}\n')
        Path(locations["plots"], "dedup.csv").write_text("k,v\n")
        result = {"kept": 2, "dropped": {"near_duplicate": 1}}
        Path(locations["metrics"], "dedup.json").write_text(json.dumps(result))
        return result

    monkeypatch.setattr(run, "run_stage", fake_run_stage)
    params_yaml = (repo_root / "params.yaml").read_text()
    filtered, clean = _art(tmp_path / "in" / "filtered"), _art(tmp_path / "out" / "clean")
    metrics, plots = _Metrics(path=str(tmp_path / "out" / "metrics"), metadata={}), _art(tmp_path / "out" / "plots")
    run.run_component("dedup", params_yaml, {"filtered": filtered}, {"clean": clean}, metrics, plots)
    assert seen["stage"] == "dedup"
    assert seen["locations"]["filtered"] == filtered.path and seen["locations"]["clean"] == clean.path
    assert clean.metadata["records"] == 2 and clean.metadata["excluded"] == 1
    assert clean.metadata["dvc_md5"] == stage.dvc_md5(clean.path) and clean.metadata["paths_key"] == "clean"
    assert metrics.metadata == {"kept": 2.0, "dropped.near_duplicate": 1.0}
    assert json.loads(Path(metrics.path).read_text()) == {"dropped": {"near_duplicate": 1}, "kept": 2}
    assert (Path(plots.path) / "dedup.csv").exists()


def test_run_stage_failure_names_the_stage(tmp_path, repo_root):
    params_yaml = (repo_root / "params.yaml").read_text()
    with pytest.raises(LangadaptError, match=r"stage no-such-stage failed \(exit code 2\)"):
        stage.run_stage("no-such-stage", params_yaml, {}, workdir=tmp_path)


def test_training_goes_to_rayjob_only_on_a_cluster(monkeypatch):
    from langadapt.config import parse_params

    cfg = parse_params({})
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not run.use_rayjob(cfg, "cpt")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert run.use_rayjob(cfg, "cpt") and run.use_rayjob(cfg, "sft") and not run.use_rayjob(cfg, "dedup")
    cfg.cluster.train_on = "local"
    assert not run.use_rayjob(cfg, "cpt")
