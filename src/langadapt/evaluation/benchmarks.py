"""Published benchmarks in the eval stage, scored as their maintainers score them, so langadapt's
numbers sit beside SEA-HELM's and lm-eval's:

- SEA-IFEval of the target language (IFEval-Th: SEA-HELM's 105 Thai prompts, ``eval.sea_ifeval_file``):
  SEA-HELM's checkers (``semantics="sea"``), its language-normalised accuracy beside strict/loose;
  ``eval.sea_ifeval_prompts`` of them, taken round-robin over the instruction ids (a CPU run still
  sees every id).
- English IFEval (Google's 541 prompts, ``paths.ifeval_seed``): lm-eval's semantics (``google``), the
  first ``eval.en_ifeval_prompts``.
- FLORES-200 devtest (``eval.flores_file``, the first ``eval.flores_pairs``) both ways with SEA-HELM's
  zero-shot prompt templates (from the language profile) and answer-tag extraction; chrF, chrF++ and
  BLEU by ``translation_scores`` (Thai segmented with newmm for the word-level metrics).

    inputs = load_benchmarks(cfg, root)
    metrics, detail, gens = run_benchmarks(generator, inputs, cfg)
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from langadapt.config import Params


def round_robin(items: list[Any], key: Any, n: int) -> list[Any]:
    """The first ``n`` items taking one of each ``key`` in turn (file order within a key)."""
    groups: dict[Any, collections.deque] = {}
    for it in items:
        groups.setdefault(key(it), collections.deque()).append(it)
    out: list[Any] = []
    while len(out) < n and any(groups.values()):
        for q in groups.values():
            if q and len(out) < n:
                out.append(q.popleft())
    return out


def load_benchmarks(cfg: Params, root: Path) -> dict[str, Any]:
    """The benchmark items, fixed before any model runs; a set that does not apply is skipped with a note."""
    from langadapt.evaluation.translation import read_flores
    from langadapt.ifeval import read_file

    lang, E = cfg.language.code, cfg.eval
    notes: list[str] = []

    def present(key: str, rel: str | None) -> bool:
        # a cluster image without samples/ (KFP) skips the set with a note naming the key, never silently
        if rel and not (root / rel).exists():
            notes.append(f"{key}={rel}: not found, skipped")
            return False
        return bool(rel)

    sea: list[Any] = []
    if present("eval.sea_ifeval_file", E.sea_ifeval_file) and E.sea_ifeval_prompts > 0:
        items = [it for it in read_file(root / E.sea_ifeval_file) if it.lang == lang]
        if not items:
            notes.append(f"{E.sea_ifeval_file}: no {lang!r} records, SEA-IFEval skipped")
        sea = round_robin(items, lambda it: it.ids[0], E.sea_ifeval_prompts)
    en: list[Any] = []
    if E.en_ifeval_prompts > 0 and present("paths.ifeval_seed", cfg.paths.ifeval_seed):
        en = read_file(root / cfg.paths.ifeval_seed, lang="en")[: E.en_ifeval_prompts]
    flores: list[dict[str, str]] = []
    if present("eval.flores_file", E.flores_file) and E.flores_pairs > 0:
        head = (root / E.flores_file).read_text(encoding="utf-8").split("\n", 1)[0]
        if f'"{lang}"' in head:
            flores = read_flores(root / E.flores_file, lang, E.flores_pairs)
        else:
            notes.append(f"{E.flores_file}: no {lang!r} side, FLORES-200 skipped")
    bench = {"sea_ifeval": sea, "en_ifeval": en, "flores": flores, "notes": notes}
    bench["baseline"] = trivial_baseline(bench, lang)
    return bench


CONSTANT_ANSWER = "OK"


def trivial_baseline(bench: dict[str, Any], lang: str) -> dict[str, Any]:
    """What no model at all scores, by the same code: every IFEval prompt answered with the constant
    ``"OK"``, every FLORES source copied unchanged as its translation. A model's number means something
    only above these."""
    import copy

    from langadapt.evaluation.translation import translation_scores
    from langadapt.ifeval import score_items

    out: dict[str, Any] = {"constant_answer": CONSTANT_ANSWER}
    for name, prefix in (("sea_ifeval", "ifeval_sea"), ("en_ifeval", "ifeval_en")):
        if bench[name]:
            items = [copy.copy(it) for it in bench[name]]
            for it in items:
                it.response = CONSTANT_ANSWER
            out.update(_ifeval_metrics(score_items(items, keep_results=False), prefix))
    if bench["flores"]:
        fl = bench["flores"]
        t_en = translation_scores([p[lang] for p in fl], [p["en"] for p in fl], "en")
        t_fr = translation_scores([p["en"] for p in fl], [p[lang] for p in fl], lang)
        for key in ("chrf", "chrfpp", "bleu"):
            out[f"flores_{key}_to_en"], out[f"flores_{key}_from_en"] = t_en[key], t_fr[key]
    return out


def _ifeval_metrics(s: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}_prompt_strict": s["prompt_level_strict"], f"{prefix}_prompt_loose": s["prompt_level_loose"],
        f"{prefix}_inst_strict": s["instruction_level_strict"], f"{prefix}_inst_loose": s["instruction_level_loose"],
        f"{prefix}_lang_normalized": s["prompt_level_lang_normalized"],
        f"{prefix}_correct_language": s["correct_language_rate"],
    }


def run_benchmarks(gen: Any, inputs: dict[str, Any], cfg: Params,
                   model: str = "") -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[Any]]:
    """(metrics, detail, generation records, every generation) of one model on the benchmark items.
    ``gen.generate(convs, max_new_tokens=, temperature=)``."""
    from langadapt.evaluation.translation import benchmark_prompt

    lang, E = cfg.language.code, cfg.eval
    sea, en, flores = inputs["sea_ifeval"], inputs["en_ifeval"], inputs["flores"]
    convs = ([[{"role": "user", "content": it.prompt}] for it in sea + en]
             + [benchmark_prompt(p[lang], lang, "to_en") for p in flores]
             + [benchmark_prompt(p["en"], lang, "from_en") for p in flores])
    if not convs:
        return {}, {}, [], []
    outs = gen.generate(convs, max_new_tokens=E.max_new_tokens, temperature=0.0)
    a, b, k = len(sea), len(sea) + len(en), len(flores)
    g_sea, g_en, g_to, g_from = outs[:a], outs[a:b], outs[b : b + k], outs[b + k :]
    metrics: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    gens: list[dict[str, Any]] = []
    baseline = inputs.get("baseline", {})
    for name, items, outs_, prefix in (("sea_ifeval", sea, g_sea, "ifeval_sea"), ("en_ifeval", en, g_en, "ifeval_en")):
        if items:
            gens += _score_ifeval(name, items, outs_, prefix, baseline, metrics, detail, model)
    if flores:
        gens += _score_flores(flores, g_to, g_from, lang, baseline, metrics, detail, model)
    return metrics, detail, gens, list(outs)


def _score_ifeval(name: str, items: list[Any], outs: list[Any], prefix: str, baseline: dict[str, Any],
                  metrics: dict[str, Any], detail: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """Score one IFEval benchmark into ``metrics``/``detail``; returns its generation records."""
    from langadapt.evaluation.honesty import repetition_share
    from langadapt.generation import generation_record, truncation
    from langadapt.ifeval import punkt, score_items

    gens = []
    for it, g in zip(items, outs):
        it.response = g.text
        gens.append(generation_record(model, name, it.key, [{"role": "user", "content": it.prompt}], g,
                                       instruction_id_list=it.ids))
    s = score_items(items, keep_results=True)
    passed = {str(r["key"]): r["follow_all_strict"] for r in s.pop("results")}
    tr = truncation(outs)
    metrics.update(_ifeval_metrics(s, prefix))
    metrics[f"{prefix}_truncated_share"] = tr["truncated_share"]
    metrics[f"{prefix}_repetitive_share"] = repetition_share(g.text for g in outs)
    # prompt-level strict pass per prompt key: the paired comparison between models (runner.paired_rows)
    detail[name] = {**s, **tr, "n": len(items), "prompt_strict_pass": passed}
    for k in _ifeval_metrics(s, prefix):
        if k in baseline:
            metrics[f"{k}_baseline"] = baseline[k]
    if name == "en_ifeval":
        detail[name]["punkt"] = punkt.engine()
    return gens


def _score_flores(flores: list[dict[str, Any]], g_to: list[Any], g_from: list[Any], lang: str,
                  baseline: dict[str, Any], metrics: dict[str, Any], detail: dict[str, Any],
                  model: str) -> list[dict[str, Any]]:
    """Score FLORES translation both ways into ``metrics``/``detail``; returns its generation records."""
    from langadapt.evaluation.translation import benchmark_prompt, extract_answer, translation_scores
    from langadapt.generation import generation_record, truncation

    to = [extract_answer(g.text, lang, "to_en") for g in g_to]
    fr = [extract_answer(g.text, lang, "from_en") for g in g_from]
    t_en = translation_scores([t for t, _ in to], [p["en"] for p in flores], "en")
    t_fr = translation_scores([t for t, _ in fr], [p[lang] for p in flores], lang)
    for key in ("chrf", "chrfpp", "bleu"):
        metrics[f"flores_{key}_to_en"], metrics[f"flores_{key}_from_en"] = t_en[key], t_fr[key]
    tr = truncation(g_to + g_from)
    metrics["flores_truncated_share"] = tr["truncated_share"]
    for key in ("chrf", "chrfpp", "bleu"):  # copying the source, scored the same way
        for d in ("to_en", "from_en"):
            if f"flores_{key}_{d}" in baseline:
                metrics[f"flores_{key}_{d}_baseline"] = baseline[f"flores_{key}_{d}"]
    detail["flores"] = {"pairs": len(flores), "to_en": t_en, "from_en": t_fr, **tr,
                        "answer_tag_missing": sum(not f for _, f in to) + sum(not f for _, f in fr),
                        "prompts": "SEA-HELM zero-shot templates (language profile `translation:`)"}
    gens = []
    for p, g, (t, _) in zip(flores, g_to, to):
        gens.append(generation_record(model, "flores_to_en", p["id"], benchmark_prompt(p[lang], lang, "to_en"), g,
                                       reference=p["en"], extracted=t))
    for p, g, (t, _) in zip(flores, g_from, fr):
        gens.append(generation_record(model, "flores_from_en", p["id"], benchmark_prompt(p["en"], lang, "from_en"),
                                       g, reference=p[lang], extracted=t))
    return gens
