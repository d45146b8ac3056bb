"""One stage as the command dvc.yaml runs: ``langadapt <stage> -p params.yaml -s paths.X=<location>``.

A stage reads ALL its locations from ``cfg.paths``, so running it somewhere else is only a matter of
``-s paths.X=<location>`` overrides on the same command::

    run_stage("extract", params_text, {"raw": "/in/raw", "extracted": "/out/extracted"}, workdir=work)

The shared base of the KFP adapter (``orchestration.run``) and of the RayJob entry
(``orchestration.rayjob``): params text in, the stage in a subprocess, its metrics out, and the DVC md5
of what it wrote. It imports no other orchestration module.
"""

from __future__ import annotations

import hashlib
import json
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
