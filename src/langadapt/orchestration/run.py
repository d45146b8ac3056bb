"""Run one stage with its inputs/outputs at given locations: what every KFP component body calls.

A stage reads ALL its locations from ``cfg.paths``, so running it somewhere else is only a matter of
``-s paths.X=<location>`` overrides on the same ``langadapt <stage>`` command that dvc.yaml runs::

    run_stage("extract", params_text, {"raw": "/in/raw", "extracted": "/out/extracted"}, metrics_dir)

``run_component`` is the KFP adapter: it maps typed artifacts to those locations, then records what a
person wants to see in the KFP dashboard (record counts, the DVC md5 of each output, the stage metrics).
Training stages run as a KubeRay RayJob when on a cluster (``cluster.train_on``), in-process otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langadapt.config import Params, parse_params
from langadapt.errors import LangadaptError
from langadapt.io import file_md5

TRAINING_STAGES = ("cpt", "sft", "pref")


def params_from_text(params_yaml: str, source: str = "params_yaml") -> Params:
    import yaml

    return parse_params(yaml.safe_load(params_yaml), source)


# sections every stage gets whole: where things are, how it runs on a cluster, the seed and language
ALWAYS_SECTIONS = ("seed", "language", "paths", "cluster")


def params_subset(params_yaml: str, keys: list[str] | tuple[str, ...]) -> str:
    """The params text one stage runs with: the top-level sections its dvc.yaml ``params:`` keys name,
    whole, plus ``ALWAYS_SECTIONS``. It is the stage's KFP input, so the step's cache key changes only
    when its own params do (dvc.yaml lists what each stage reads, which is also what `dvc repro`
    reruns a stage on)."""
    import yaml

    raw = yaml.safe_load(params_yaml) or {}
    wanted = set(ALWAYS_SECTIONS) | {k.split(".", 1)[0] for k in keys}
    sub = {k: v for k, v in raw.items() if k in wanted}
    return yaml.safe_dump(sub, sort_keys=False, allow_unicode=True)


def path_overrides(locations: Mapping[str, str | Path]) -> list[str]:
    # JSON-quoted so a path is always read back as a string by the YAML override parser
    return [f"paths.{key}={json.dumps(str(loc))}" for key, loc in locations.items()]


def run_stage(
    stage: str,
    params_yaml: str,
    locations: Mapping[str, str | Path],
    *,
    workdir: str | Path | None = None,
    extra_sets: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``langadapt <stage>`` with ``paths`` overridden by ``locations``; return its metrics JSON.

    ``locations`` should include ``metrics`` (a directory); the stage writes ``<metrics>/<stage>.json``.
    The stage runs in a subprocess (a fresh interpreter, as under ``dvc repro``) with cwd ``workdir``.
    """
    work = Path(workdir or tempfile.mkdtemp(prefix=f"langadapt-{stage}-"))
    work.mkdir(parents=True, exist_ok=True)
    params_file = work / "params.yaml"
    params_file.write_text(params_yaml, encoding="utf-8")
    locs = {k: str(v) for k, v in locations.items()}
    locs.setdefault("metrics", str(work / "metrics"))
    locs.setdefault("plots", str(work / "plots"))
    cmd = [sys.executable, "-m", "langadapt", stage, "-p", str(params_file)]
    for ov in path_overrides(locs) + list(extra_sets or []):
        cmd += ["-s", ov]
    print(f"[langadapt] {stage}: {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    rc = subprocess.call(cmd, cwd=work)
    if rc != 0:
        raise LangadaptError(f"stage {stage} failed (exit code {rc}); its log is above")
    metrics_file = Path(locs["metrics"]) / f"{stage}.json"
    if metrics_file.exists():
        return json.loads(metrics_file.read_text(encoding="utf-8"))
    return {}


# --- artifact metadata ---------------------------------------------------------------------------




def dvc_md5(path: str | Path) -> str:
    """The md5 DVC records in dvc.lock for this output (a file, or a directory as ``<md5>.dir``).

    Same algorithm as dvc-data's Tree.digest: md5 of the JSON list of {md5, relpath} sorted by relpath.
    """
    p = Path(path)
    if p.is_file():
        return file_md5(p)
    entries = sorted(
        ({"md5": file_md5(f), "relpath": f.relative_to(p).as_posix()} for f in p.rglob("*") if f.is_file()),
        key=lambda e: e["relpath"],
    )
    blob = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(blob).hexdigest() + ".dir"


def describe(path: str | Path) -> dict[str, Any]:
    """Counts for the KFP dashboard: files, bytes, JSONL records kept and excluded, the DVC md5."""
    p = Path(path)
    if not p.exists():
        return {"exists": False}
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    meta: dict[str, Any] = {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    records = excluded = 0
    for f in files:
        if f.name.endswith(".jsonl"):
            with open(f, "rb") as fh:
                n = sum(1 for line in fh if line.strip())
            if f.name.endswith(".excluded.jsonl"):
                excluded += n
            else:
                records += n
    if records or excluded:
        meta["records"] = records
        meta["excluded"] = excluded
    if (p / "config.json").exists():
        meta["hf_checkpoint"] = True
    meta["dvc_md5"] = dvc_md5(p)
    return meta


def flat_numbers(d: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a metrics dict as dotted keys (KFP Metrics holds numbers only)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flat_numbers(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def use_rayjob(cfg: Params, stage: str) -> bool:
    """Training on a cluster goes through KubeRay; `auto` means: when this step runs in Kubernetes."""
    if stage not in TRAINING_STAGES:
        return False
    mode = cfg.cluster.train_on
    if mode == "auto":
        return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    return mode == "rayjob"


def run_component(
    stage: str,
    params_yaml: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    metrics: Any = None,
    plots: Any = None,
    metrics_inputs: Mapping[str, Any] | None = None,
    plots_inputs: Mapping[str, Any] | None = None,
    views: Mapping[str, tuple[Any, str, str]] | None = None,
) -> dict[str, Any]:
    """The body of every stage component.

    inputs/outputs: params ``paths`` key -> KFP artifact (anything with ``.path`` and ``.metadata``).
    metrics: the stage's ``Output[Metrics]``; its JSON is also written to ``metrics.path`` so a later
    stage (report) can read it. plots: ``Output[Dataset]`` receiving the stage's ``paths.plots`` files.
    metrics_inputs / plots_inputs: stage name -> that earlier stage's metrics / plots artifact, laid out
    as ``<metrics>/<stage>.json`` and ``<plots>/...`` for the stage that reads them.
    views: name -> (artifact, output key, file name): copy one output file into an HTML/Markdown artifact.
    """
    cfg = params_from_text(params_yaml)
    work = Path(tempfile.mkdtemp(prefix=f"langadapt-{stage}-"))
    metrics_dir = work / "metrics"
    metrics_dir.mkdir()
    plots_dir = work / "plots"
    plots_dir.mkdir()
    for name, art in (metrics_inputs or {}).items():
        if Path(art.path).is_file():
            shutil.copy2(art.path, metrics_dir / f"{name}.json")
    for art in (plots_inputs or {}).values():
        if Path(art.path).is_dir():
            shutil.copytree(art.path, plots_dir, dirs_exist_ok=True)
    locations: dict[str, str] = {k: a.path for k, a in inputs.items()}
    locations.update({k: a.path for k, a in outputs.items()})
    locations["metrics"] = str(metrics_dir)
    locations["plots"] = str(plots_dir)
    for art in outputs.values():
        Path(art.path).parent.mkdir(parents=True, exist_ok=True)
    if use_rayjob(cfg, stage):
        from langadapt.orchestration.rayjob import run_stage_as_rayjob

        result = run_stage_as_rayjob(cfg, stage, params_yaml, inputs={k: a.path for k, a in inputs.items()},
                                     outputs={k: a.path for k, a in outputs.items()}, metrics_dir=metrics_dir)
    else:
        result = run_stage(stage, params_yaml, locations, workdir=work)
    for key, art in outputs.items():
        art.metadata.update(describe(art.path))
        art.metadata["paths_key"] = key
    if plots is not None:
        _copy(plots_dir, Path(plots.path))
        plots.metadata.update(describe(plots.path))
    for name, (art, key, filename) in (views or {}).items():
        src = Path(outputs[key].path) / filename
        if src.exists():
            _copy(src, Path(art.path))
    if metrics is not None:
        for k, v in flat_numbers(result).items():
            metrics.log_metric(k, v)
        Path(metrics.path).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics.path).write_text(json.dumps(result, indent=2, sort_keys=True), encoding="utf-8")
    return result
