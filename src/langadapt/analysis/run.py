"""The diff stage: compare base, CPT and SFT checkpoints (and SFT -> pref when paths.pref exists) and
write the report.

    langadapt diff                                      # the DVC stage: paths.base/cpt/sft -> paths.diff
    langadapt diff --base models/base --cpt models/cpt  # any two (or three) checkpoints -> --out DIR

Two modes, never mixed:

- stage mode (no checkpoint flags): the checkpoints are ``paths.base``, ``paths.cpt``, ``paths.sft``; the
  report goes to ``paths.diff`` (or ``--out``), metrics to ``{paths.metrics}/diff.json`` and the by-layer
  curves to ``{paths.plots}/diff_*.csv`` for `dvc metrics show` / `dvc plots show`;
- ad-hoc mode (any of ``--base/--cpt/--sft``): exactly the checkpoints given are compared and everything,
  metrics included (``metrics.json``), goes to ``--out`` (default ``paths.diff``); nothing else is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from langadapt.analysis.diff import SpectrumOptions, diff_checkpoints, open_stages, stage_pairs
from langadapt.analysis.report import write_report
from langadapt.io import atomic_dir, write_json


def _pref_diff(cfg: Any, opts: SpectrumOptions, out: Path, progress: Any) -> dict[str, Any]:
    """sft -> pref (the preference stage's change, streamed like the others) into ``out``, when
    paths.pref holds a checkpoint; its headline metrics join diff.json under ``sft_pref``."""
    pref = Path(getattr(cfg.paths, "pref", "") or "")
    if not (pref / "config.json").exists():
        return {}
    res = diff_checkpoints(open_stages({"sft": cfg.paths.sft, "pref": pref}), opts, progress=progress)
    return {k: v for k, v in write_report(out, res, None, cfg.diff.top_k).items() if k == "sft_pref"}


PLOT_FILES = {"layers.csv": "diff_layers.csv", "cka.csv": "diff_cka.csv", "logit_lens.csv": "diff_logit_lens.csv"}


def run_diff(
    cfg: Any,
    checkpoints: dict[str, str | Path | None] | None = None,
    out: str | Path | None = None,
    probes: bool | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Run the diff; ``checkpoints`` None = stage mode (params paths). Returns the metrics dict."""
    stage_mode = checkpoints is None or not any(checkpoints.values())
    if stage_mode:
        checkpoints = {"base": cfg.paths.base, "cpt": cfg.paths.cpt, "sft": cfg.paths.sft}
    out_dir = Path(out) if out is not None else Path(cfg.paths.diff)
    cks = open_stages(checkpoints)  # a missing path or pickle-only checkpoint fails here, before any work
    opts = SpectrumOptions.from_params(cfg.diff, cfg.seed)
    result = diff_checkpoints(cks, opts, progress=progress)
    probe_result = None
    if cfg.diff.probes if probes is None else probes:
        from langadapt.analysis.probes import run_probes

        probe_result = run_probes({lab: ck.path for lab, ck in cks.items()}, cfg, stage_pairs(list(cks)))
        if "skipped" in probe_result:
            import typer

            typer.secho(f"diff: probes skipped: {probe_result['skipped']}", fg=typer.colors.YELLOW, err=True)
    with atomic_dir(out_dir) as staging:
        metrics = write_report(staging, result, probe_result, cfg.diff.top_k)
        if stage_mode:
            metrics.update(_pref_diff(cfg, opts, staging / "sft_pref", progress))
        if not stage_mode:
            write_json(staging / "metrics.json", metrics)
    if stage_mode:
        write_json(Path(cfg.paths.metrics) / "diff.json", metrics)
        plots = Path(cfg.paths.plots)
        plots.mkdir(parents=True, exist_ok=True)
        for src, dst in PLOT_FILES.items():
            tmp = plots / f".{dst}.tmp"
            if (out_dir / src).exists():
                shutil.copyfile(out_dir / src, tmp)
            else:  # probes off: an empty table, so the declared DVC plot output still exists
                tmp.write_text("layer\n", encoding="utf-8")
            tmp.replace(plots / dst)
    return {"metrics": metrics, "pairs": result["pairs"], "n_tensors": len(result["tensors"]),
            "out": str(out_dir), "probes": probe_result is not None and "cka" in probe_result}
