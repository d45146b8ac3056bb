"""Write a checkpoint diff: JSON, CSV tables (for `dvc plots`), PNG figures and a short summary.md.

Files in the output directory:

    diff.json            everything: per-tensor records for each stage pair, aggregates, probes, notes
    tensors.csv          one row per (stage pair, tensor)
    stage_cosine.csv     one row per tensor: relative change in CPT and in SFT, cos(dW_cpt, dW_sft)
    layers_by_module.csv one row per (stage pair, layer, module kind)
    layers.csv           one row per layer: relative change of the whole layer per stage pair
    cka.csv, logit_lens.csv   the probes by layer
    heatmap.png top_tensors.png cpt_vs_sft.png cka.png logit_lens.png summary.md
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from langadapt.analysis import figures
from langadapt.io import atomic_write

TENSOR_COLUMNS = ["pair", "name", "layer", "kind", "numel", "w_norm", "dw_norm", "rel_change", "cosine",
                  "sigma_max", "stable_rank", "top_r_energy", "spectrum", "tied", "vocab_resized",
                  "added_rows", "added_rms_row_norm", "shared_rms_row_norm"]


def _fmt(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_write(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_fmt(r.get(c)) for c in columns])


def tensor_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in result["pairs"]:
        for t in result["tensors"]:
            s = t["pairs"][p]
            nr = s.get("new_rows") or {}
            rows.append({"pair": p, **{k: t[k] for k in ("name", "layer", "kind", "numel", "tied", "vocab_resized")},
                         **{k: s[k] for k in ("w_norm", "dw_norm", "rel_change", "cosine", "sigma_max",
                                              "stable_rank", "top_r_energy", "spectrum")},
                         "added_rows": nr.get("added"), "added_rms_row_norm": nr.get("added_rms_row_norm"),
                         "shared_rms_row_norm": nr.get("shared_rms_row_norm")})
    return rows


def layer_table(result: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Relative change of each whole layer (all its tensors), one column per stage pair."""
    cols = ["layer"] + [p.replace("->", "_") for p in result["pairs"]]
    acc: dict[int, dict[str, list[float]]] = {}
    for t in result["tensors"]:
        if t["layer"] is None:
            continue
        for p in result["pairs"]:
            d = acc.setdefault(t["layer"], {}).setdefault(p, [0.0, 0.0])
            d[0] += t["pairs"][p]["dw_norm"] ** 2
            d[1] += t["pairs"][p]["w_norm"] ** 2
    rows = []
    for layer in sorted(acc):
        row: dict[str, Any] = {"layer": layer}
        for p, (dsq, wsq) in acc[layer].items():
            row[p.replace("->", "_")] = math.sqrt(dsq / wsq) if wsq > 0 else None
        rows.append(row)
    return cols, rows


def cka_table(probes: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    series = {f"{p.replace('->', '_')}_{s}": v["cka"] for p, sets in probes["cka"].items() for s, v in sets.items()}
    return _by_layer(series)


def lens_table(probes: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    series = {f"{lab}_{s}": v for lab, sets in probes["logit_lens"].items() for s, v in sets.items() if v}
    return _by_layer(series)


def _by_layer(series: dict[str, list[float]]) -> tuple[list[str], list[dict[str, Any]]]:
    n = max((len(v) for v in series.values()), default=0)
    rows = [{"layer": i, **{k: v[i] for k, v in series.items() if i < len(v)}} for i in range(n)]
    return ["layer", *series], rows


def metrics(result: dict[str, Any], probes: dict[str, Any] | None) -> dict[str, Any]:
    m = dict(result["metrics"])
    m["n_tensors"] = len(result["tensors"])
    m["only_in_one"] = len(result["only_in"])
    if probes and "cka" in probes:
        for p, sets in probes["cka"].items():
            key = p.replace("->", "_")
            for s, v in sets.items():
                vals = [x for x in v["cka"] if not math.isnan(x)]
                if vals:
                    m.setdefault(key, {})[f"cka_{s}_mean"] = sum(vals) / len(vals)
                    m[key][f"cka_{s}_min"] = min(vals)
        for lab, sets in probes["logit_lens"].items():
            if sets.get("target"):
                m.setdefault("logit_lens_final_target_share", {})[lab] = sets["target"][-1]
    return m


def summary_md(result: dict[str, Any], probes: dict[str, Any] | None, top_k: int, figures_made: list[str]) -> str:
    L = ["# Checkpoint diff", ""]
    L.append("| stage | checkpoint | lm_head tied |")
    L.append("|---|---|---|")
    for lab, path in result["checkpoints"].items():
        L.append(f"| {lab} | `{path}` | {'yes' if result['tied'].get(lab) else 'no'} |")
    L.append("")
    L.append(f"{len(result['tensors'])} tensors compared. Relative change = ||dW||_F / ||W_before||_F; "
             f"top-{result['top_r']} energy = share of ||dW||^2 a rank-{result['top_r']} LoRA could hold.")
    L.append("")
    for p in result["pairs"]:
        L.extend(_pair_section(result, p, top_k))
    cs = result["metrics"].get("cpt_sft_cosine")
    if cs:
        L.append("## CPT vs SFT")
        L.append("")
        L.append(f"cos(dW_cpt, dW_sft): mean over tensors {_g(cs['mean'])}, whole model {_g(cs['global'])} "
                 "(0: the stages push unrelated directions; > 0: SFT continues CPT; < 0: SFT undoes it).")
        L.append("")
    if probes and "cka" in probes:
        L.extend(_probes_section(probes))
    elif probes and "skipped" in probes:
        L.append(f"Probes skipped: {probes['skipped']}")
        L.append("")
    notes = _notes(result)
    if notes:
        L.append("## Notes")
        L.append("")
        L.extend(f"- {n}" for n in notes[:50])
        if len(notes) > 50:
            L.append(f"- ... {len(notes) - 50} more in diff.json")
        L.append("")
    for f in figures_made:
        L.append(f"![{f}]({f})")
    L.append("")
    return "\n".join(L)


def _pair_section(result: dict[str, Any], p: str, top_k: int) -> list[str]:
    mk = result["metrics"][p.replace("->", "_")]
    L = [f"## {p}", ""]
    tot = mk["rel_change_total"]
    L.append(f"- whole model: relative change {tot:.3g}" if tot is not None else "- whole model: no weights")
    kinds = sorted(((k, v) for k, v in mk["mean_rel_change"].items() if v > 0), key=lambda kv: -kv[1])
    L.append("- modules that moved most (mean relative change): "
             + ", ".join(f"**{k}** {v:.3g}" for k, v in kinds[:4]))
    L.append(f"- share of ||dW||^2 in the embedding: {_pct(mk['embed_share'])}, in the LM head: "
             f"{_pct(mk['lm_head_share'])}")
    if any(result["tied"].values()) and (mk.get("embed_share") or 0) > 0.5:
        # honesty: with tied weights the output layer's frequency learning lands in the embedding
        L.append("- caveat: the embedding is tied to the LM head, so its share includes the output layer "
                 "learning token frequencies (what any model does first on a new corpus); read the per-layer "
                 "changes of attention and MLP below for where else training moved the model")
    top = sorted(result["tensors"], key=lambda t: t["pairs"][p]["rel_change"] or 0.0, reverse=True)[:min(5, top_k)]
    L.append("")
    L.append(f"| tensor | rel. change | cos(W, W') | stable rank | top-{result['top_r']} energy |")
    L.append("|---|---|---|---|---|")
    for t in top:
        s = t["pairs"][p]
        L.append(f"| `{t['name']}`{' (tied)' if t['tied'] else ''} | {_g(s['rel_change'])} | {_g(s['cosine'], 4)} "
                 f"| {_g(s['stable_rank'])} | {_g(s['top_r_energy'])} |")
    L.append("")
    return L


def _probes_section(probes: dict[str, Any]) -> list[str]:
    L = ["## Probes", ""]
    L.append(f"{probes['texts']['target']} target texts ({probes['texts']['target_source']}), "
             f"{probes['texts']['en']} English texts.")
    L.append("")
    for p, sets in probes["cka"].items():
        for s, v in sets.items():
            vals = v["cka"]
            if vals:
                low = min(range(len(vals)), key=lambda i: vals[i])
                L.append(f"- CKA {p} on {'target' if s == 'target' else 'English'} texts ({v['features']}): "
                         f"mean {sum(vals) / len(vals):.3f}, lowest {vals[low]:.3f} at layer {low}")
    for lab, sets in probes["logit_lens"].items():
        v = sets.get("target") or []
        if v:
            first = next((i for i, x in enumerate(v) if x >= 0.5), None)
            L.append(f"- logit lens {lab}: target-script top-1 share {v[-1]:.2f} at the last layer; "
                     + (f"first layer above 50%: {first}" if first is not None else "never above 50%"))
    L.append("")
    return L


def _notes(result: dict[str, Any]) -> list[str]:
    notes = []
    for t in (t for t in result["tensors"] if t["vocab_resized"]):
        for p in result["pairs"]:
            nr = t["pairs"][p].get("new_rows") or {}
            if nr.get("added") or nr.get("removed"):
                notes.append(f"`{t['name']}` {p}: vocabulary resized, {nr['shared']} shared rows compared, "
                             f"{nr['added']} new rows (RMS row norm {_g(nr['added_rms_row_norm'])} vs "
                             f"{_g(nr['shared_rms_row_norm'])} for the shared rows), {nr['removed']} removed")
    for name, have in result["only_in"].items():
        notes.append(f"`{name}` only in {', '.join(have)} (not compared)")
    return notes


def _g(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def write_report(out: Path, result: dict[str, Any], probes: dict[str, Any] | None, top_k: int) -> dict[str, Any]:
    """Write every file into ``out`` (a staging directory); returns the metrics dict."""
    out.mkdir(parents=True, exist_ok=True)
    doc = dict(result)
    doc["tensors"] = [{k: v for k, v in t.items() if k != "cross_dot"} for t in result["tensors"]]
    doc["probes"] = probes
    with atomic_write(out / "diff.json") as f:
        json.dump(no_nan(doc), f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    write_csv(out / "tensors.csv", TENSOR_COLUMNS, tensor_rows(result))
    write_csv(out / "layers_by_module.csv", ["pair", "layer", "kind", "n_tensors", "numel", "dw_norm", "w_norm",
                                             "rel_change", "mean_rel_change", "mean_cosine"], result["aggregates"])
    write_csv(out / "layers.csv", *layer_table(result))
    made = []
    figures.heatmap(result, out / "heatmap.png")
    figures.top_tensors(result, out / "top_tensors.png", top_k)
    made += ["heatmap.png", "top_tensors.png"]
    if len(result["pairs"]) == 3:
        p0, p1 = result["pairs"][:2]
        write_csv(out / "stage_cosine.csv", ["name", "layer", "kind", "rel_change_cpt", "rel_change_sft", "stage_cosine"],
                  [{"name": t["name"], "layer": t["layer"], "kind": t["kind"],
                    "rel_change_cpt": t["pairs"][p0]["rel_change"], "rel_change_sft": t["pairs"][p1]["rel_change"],
                    "stage_cosine": t["stage_cosine"]} for t in result["tensors"]])
        if figures.cpt_vs_sft(result, out / "cpt_vs_sft.png"):
            made.append("cpt_vs_sft.png")
    if probes and "cka" in probes:
        write_csv(out / "cka.csv", *cka_table(probes))
        write_csv(out / "logit_lens.csv", *lens_table(probes))
        figures.cka_plot(probes, out / "cka.png")
        figures.logit_lens_plot(probes, out / "logit_lens.png")
        made += ["cka.png", "logit_lens.png"]
    with atomic_write(out / "summary.md") as f:
        f.write(summary_md(result, probes, top_k, made))
    return no_nan(metrics(result, probes))


def no_nan(o: Any) -> Any:
    """JSON has no NaN: an undefined value (e.g. CKA of constant features) is written as null."""
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else o
    if isinstance(o, dict):
        return {k: no_nan(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [no_nan(v) for v in o]
    return o
