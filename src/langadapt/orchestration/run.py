"""The body of every KFP stage component: typed artifacts in, one stage run, artifact metadata out.

``run_component`` maps the artifacts to ``paths`` locations and runs the stage as ``langadapt <stage>
-s paths.X=<location>`` (``orchestration.stage``), then records what a person wants to see in the KFP
dashboard (record counts, the DVC md5 of each output, the stage metrics). Training stages run as a
KubeRay RayJob when on a cluster (``cluster.train_on``, ``orchestration.rayjob``), in-process otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langadapt.config import Params
from langadapt.orchestration.stage import TRAINING_STAGES, dvc_md5, params_from_text, run_stage

# --- artifact metadata ---------------------------------------------------------------------------


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
