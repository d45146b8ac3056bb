"""The compiled KFP pipeline: current, loadable, the dvc.yaml graph, CPU-only steps; submit's naming/errors.

Run: .venv/bin/pytest -q tests/test_orchestration_pipeline.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from langadapt.errors import ConfigError, LangadaptError
from langadapt.orchestration import pipeline as pl
from langadapt.orchestration.codegen import runnable
from langadapt.orchestration.dvcgraph import producers, read_stages, topological, upstream_artifact_stages
from langadapt.orchestration.policy import check_pipeline_spec


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    pl.compile_pipeline(repo, repo / "params.yaml", out, regenerate=False)
    return out


def _without_sdk_version(text: str) -> str:
    # the kfp version that compiled it is recorded; a newer kfp alone does not make the pipeline stale
    return "\n".join(line for line in text.splitlines() if not line.startswith("sdkVersion:"))


def test_committed_pipeline_is_current(compiled, repo_root):
    committed = repo_root / "pipelines" / "langadapt_pipeline.yaml"
    assert _without_sdk_version(committed.read_text(encoding="utf-8")) == _without_sdk_version(
        compiled.read_text(encoding="utf-8")), "pipelines/langadapt_pipeline.yaml is stale: run `langadapt pipeline compile`"


def test_compiled_pipeline_loads_and_embeds_params_yaml(compiled, repo_root):
    from kfp import components

    assert components.load_component_from_file(str(compiled)).name == "langadapt"
    spec, platform = list(yaml.safe_load_all(compiled.read_text(encoding="utf-8")))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {"params_yaml", "repo", "rev", "data_md5"}
    # one source of truth: the default IS params.yaml's text
    assert params["params_yaml"]["defaultValue"] == (repo_root / "params.yaml").read_text(encoding="utf-8")
    assert "kubernetes" in platform["platforms"]


def test_graph_mirrors_dvc_yaml(compiled, repo_root):
    spec = next(yaml.safe_load_all(compiled.read_text(encoding="utf-8")))
    tasks = spec["root"]["dag"]["tasks"]
    stages, _ = runnable(topological(read_stages(repo_root / "dvc.yaml")))
    made = producers(stages)
    assert set(tasks) == {s.name for s in stages} | {"fetch-inputs", "stage-params", "push-outputs"}
    for s in stages:
        arts = tasks[s.name].get("inputs", {}).get("artifacts", {})
        for key in s.inputs:
            assert arts[key]["taskOutputArtifact"] == {
                "outputArtifactKey": key, "producerTask": made.get(key, "fetch-inputs")}
        metrics_from, _ = upstream_artifact_stages(s, stages)
        for m in metrics_from:
            assert arts[f"{m}_metrics"]["taskOutputArtifact"]["producerTask"] == m
        expected = {made.get(k, "fetch-inputs") for k in s.inputs} | set(metrics_from) | {"stage-params"}
        # the stage's params are its own sections (its cache key), from the stage-params task
        assert tasks[s.name]["inputs"]["parameters"]["params_yaml"]["taskOutputParameter"] == {
            "outputParameterKey": s.name, "producerTask": "stage-params"}
        assert set(tasks[s.name]["dependentTasks"]) == expected
        assert tasks[s.name]["cachingOptions"] == {"enableCache": True}
    assert tasks["push-outputs"].get("cachingOptions", {}) == {}


def test_no_step_requests_a_gpu_and_all_are_bounded(compiled):
    spec, platform = list(yaml.safe_load_all(compiled.read_text(encoding="utf-8")))
    assert check_pipeline_spec(spec) == []
    assert "gpu" not in yaml.safe_dump(spec["deploymentSpec"]).lower().replace("use_gpu", "")
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, ex in executors.items():
        assert ex["securityContext"] == {"runAsGroup": "1000", "runAsNonRoot": True, "runAsUser": "1000"}, name
        assert ex["secretAsEnv"][0]["secretName"] == "langadapt-object-store", name


def test_pipeline_check_catches_gpu_and_latest():
    spec = {"deploymentSpec": {"executors": {"exec-x": {"container": {
        "image": "repo/img:latest", "resources": {"accelerator": {"resourceType": "nvidia.com/gpu"}}}}}}}
    problems = check_pipeline_spec(spec)
    assert "exec-x: image repo/img:latest uses :latest (pin a version or a digest)" in problems
    assert any("requests an accelerator" in p for p in problems)
    assert "exec-x: no resourceCpuLimit" in problems


def test_until_selects_the_upstream_subgraph(tmp_path, repo_root):
    out = tmp_path / "p.yaml"
    pl.compile_pipeline(repo_root, repo_root / "params.yaml", out, until="filter", regenerate=False)
    spec = next(yaml.safe_load_all(out.read_text(encoding="utf-8")))
    assert set(spec["root"]["dag"]["tasks"]) == {"fetch-inputs", "stage-params", "extract", "filter", "push-outputs"}


def test_overrides_are_applied_to_the_embedded_params(tmp_path, repo_root):
    out = tmp_path / "p.yaml"
    pl.compile_pipeline(repo_root, repo_root / "params.yaml", out, overrides=["cluster.image=r.io/l:abc123"],
                        until="extract", regenerate=False)
    spec = next(yaml.safe_load_all(out.read_text(encoding="utf-8")))
    default = spec["root"]["inputDefinitions"]["parameters"]["params_yaml"]["defaultValue"]
    assert yaml.safe_load(default)["cluster"]["image"] == "r.io/l:abc123"
    assert {ex["container"]["image"] for ex in spec["deploymentSpec"]["executors"].values()} == {"r.io/l:abc123"}


def _git_repo(path: Path) -> str:
    path.mkdir()
    (path / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: raw\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True).stdout.strip()


def test_run_is_named_by_git_sha_and_data_md5(tmp_path):
    sha = _git_repo(tmp_path / "r")
    name, full, md5 = pl.run_name(tmp_path / "r")
    assert name == f"langadapt-{sha[:8]}-data-01234567"
    assert (full, md5) == (sha, "0123456789abcdef0123456789abcdef.dir")


def test_submit_to_an_unreachable_host_is_a_clear_error(repo_root):
    with pytest.raises(LangadaptError, match=r"KFP host http://127.0.0.1:9 is unreachable"):
        pl.submit(repo_root, "http://127.0.0.1:9", repo_root / "params.yaml", allow_dirty=True)


def test_submit_without_a_host_names_the_option(repo_root):
    with pytest.raises(ConfigError, match="pass --host URL or set cluster.kfp_host"):
        pl.submit(repo_root, None, repo_root / "params.yaml", allow_dirty=True)


def test_submit_refuses_a_dirty_tree(tmp_path, monkeypatch):
    root = tmp_path / "r"
    _git_repo(root)
    (root / "data.dvc").write_text("outs:\n- md5: ffff.dir\n  path: raw\n")
    monkeypatch.setattr(pl, "check_host", lambda host: None)
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\n")
    with pytest.raises(LangadaptError, match="uncommitted changes"):
        pl.submit(root, "http://kfp", params)
