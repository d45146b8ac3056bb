"""The ``eval`` stage: every metric for the base, CPT and SFT checkpoints, side by side.

    langadapt eval                       # reads params.yaml `eval`, paths.{base,cpt,sft}
    dvc metrics show metrics/eval.json   # {model: {metric: value}}

Per model (a missing checkpoint is skipped with a note):
- ``bpb``, ``token_ppl``: held-out documents of ``paths.clean`` (``records.is_heldout``), sliding window;
- ``chrf|chrfpp|bleu_to_en`` and ``..._from_en``: held-out TALPCo pairs, both directions;
- ``ifeval_{prompt,inst}_{strict,loose}``: the generated (or ``eval.ifeval_file``) constraint prompts;
- ``multiturn_turn2_*``: second-turn adherence when turn 2 adds or changes a constraint;
- ``stability``, ``code_switch_rate``, ``foreign_token_share``: over every answer meant to be in the
  target language (into-target translations, IFEval and both multi-turn answers);
- ``*_truncated`` and ``*_truncated_share``: answers cut off at ``eval.max_new_tokens``, per metric;
- ``judge_score`` (1-10, MT-Bench style) when ``eval.judge`` is set, and then also ``llm_judge_*`` (0-5
  LLM-Eval dimensions) and ``judge_win_rate_vs_<other>`` (pairwise, both orders; ``eval.judge_pairwise``)
  from ``langadapt.evaluation.judge``.

Outputs: ``metrics/eval.json``, ``plots/eval.csv`` (model,metric,value), and under ``paths.eval``:
``<model>/generations.jsonl`` (every prompt and answer), ``<model>/detail.json`` (per-instruction
accuracies, sacrebleu signatures, counts), the eval sets used (``eval_sets/``) and ``summary.json``.
"""

from __future__ import annotations

import csv
import gc
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langadapt.config import Params
from langadapt.errors import DataError

MODELS = ("base", "cpt", "sft", "pref")

# Headline metrics, in the order the report shows them; (key, label, higher is better).
HEADLINE: list[tuple[str, str, bool]] = [
    ("bpb", "bits per byte (held-out)", False),
    ("token_ppl", "token perplexity (held-out)", False),
    ("chrf_to_en", "chrF ->en", True),
    ("chrf_from_en", "chrF en->", True),
    ("chrfpp_to_en", "chrF++ ->en", True),
    ("chrfpp_from_en", "chrF++ en->", True),
    ("bleu_to_en", "BLEU ->en", True),
    ("bleu_from_en", "BLEU en->", True),
    ("ifeval_prompt_strict", "IFEval prompt strict", True),
    ("ifeval_prompt_loose", "IFEval prompt loose", True),
    ("ifeval_inst_strict", "IFEval instruction strict", True),
    ("ifeval_inst_loose", "IFEval instruction loose", True),
    ("multiturn_turn2_prompt_strict", "multi-turn turn-2 strict", True),
    ("multiturn_turn2_prompt_loose", "multi-turn turn-2 loose", True),
    ("multiturn_turn2_stability", "multi-turn turn-2 stability", True),
    ("stability", "language stability", True),
    ("code_switch_rate", "code-switching rate", False),
    ("foreign_token_share", "foreign-script token share", False),
    ("ifeval_sea_prompt_strict", "SEA-IFEval (IFEval-Th) strict", True),
    ("ifeval_sea_prompt_loose", "SEA-IFEval (IFEval-Th) loose", True),
    ("ifeval_sea_lang_normalized", "SEA-IFEval (IFEval-Th) language-normalised", True),
    ("ifeval_sea_prompt_strict_baseline", "SEA-IFEval strict of a constant \"OK\" answer (baseline)", True),
    ("ifeval_sea_truncated_share", "SEA-IFEval (IFEval-Th) answers truncated", False),
    ("ifeval_sea_repetitive_share", "SEA-IFEval (IFEval-Th) answers that are repetition loops", False),
    ("ifeval_en_prompt_strict", "IFEval English prompt strict", True),
    ("ifeval_en_inst_strict", "IFEval English instruction strict", True),
    ("flores_chrf_to_en", "FLORES-200 chrF ->en", True),
    ("flores_chrf_from_en", "FLORES-200 chrF en->", True),
    ("flores_chrfpp_to_en", "FLORES-200 chrF++ ->en", True),
    ("flores_chrfpp_from_en", "FLORES-200 chrF++ en->", True),
    ("flores_bleu_to_en", "FLORES-200 BLEU ->en", True),
    ("flores_bleu_from_en", "FLORES-200 BLEU en->", True),
    ("flores_chrfpp_from_en_baseline", "FLORES-200 chrF++ en-> of the source copied (baseline)", True),
    ("judge_score", "LLM judge (1-10)", True),
    ("llm_judge_mean", "LLM judge, mean of 0-5 dimensions", True),
    ("judge_win_rate_vs_sft", "LLM judge pairwise win rate vs SFT", True),
    ("truncated_share", "answers truncated", False),
]

JUDGE_PROMPT = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by "
    "an AI assistant to the user's second question in the conversation below. Consider helpfulness, "
    "relevance, accuracy, depth and level of detail, and whether it follows the user's instructions. The "
    "user writes in {language}; an answer in another language is a poor answer. Begin with a short "
    "explanation. Be as objective as possible. Then rate the response on a scale of 1 to 10 by strictly "
    'following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n'
    "<|The Start of the Conversation|>\n### User:\n{q1}\n\n### Assistant:\n{a1}\n\n### User:\n{q2}\n\n"
    "### Assistant:\n{a2}\n<|The End of the Conversation|>"
)
_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")


def parse_rating(text: str) -> float | None:
    """The ``[[n]]`` rating of a judge answer (1-10), or None when it gave none."""
    m = _RATING.search(text or "")
    if not m:
        return None
    v = float(m.group(1))
    return v if 1 <= v <= 10 else None


def _openai_teacher(url: str, model: str, cfg: Params, root: Path) -> Any:
    from langadapt.generation import OpenAITeacher

    # greedy answers are deterministic: the request cache makes a killed or repeated run free
    return OpenAITeacher(url=url, model=model, api_key_env=cfg.eval.api_key_env, cache_dir=root / ".cache" / "eval")


def load_eval_inputs(cfg: Params, root: Path) -> dict[str, Any]:
    """The eval sets, fixed before any model runs: held-out texts, held-out pairs, IFEval, multi-turn."""
    from langadapt.evaluation.benchmarks import load_benchmarks
    from langadapt.evaluation.instruction import build_ifeval_set, build_multi_turn, load_ifeval_file
    from langadapt.evaluation.lm import heldout_texts
    from langadapt.records import read_translation_pairs, split_pairs

    lang, E = cfg.language.code, cfg.eval
    clean = root / cfg.paths.clean
    texts = heldout_texts(clean, cfg.data.heldout_fraction, E.bpb_docs) if clean.exists() else []
    overlap = None
    if texts:  # checked, not assumed: held-out documents sharing copied text with the train split are dropped
        from langadapt.evaluation.honesty import drop_train_overlap
        from langadapt.train.tokenizer import split_documents

        texts, overlap = drop_train_overlap(texts, (d.text for d in split_documents(
            clean, cfg.data.heldout_fraction, "train")))
    pairs = read_translation_pairs(root / cfg.paths.translation_pairs, lang)
    pairs = split_pairs(pairs, cfg.data.heldout_pairs_fraction)[1][: E.translation_pairs]
    if E.ifeval_file:
        ifeval = load_ifeval_file(root / E.ifeval_file)[: E.ifeval_prompts]
    else:
        ifeval = build_ifeval_set(lang, E.ifeval_prompts, cfg.seed)
    notes = []
    if not clean.exists():
        notes.append(f"{clean}: not found, bits-per-byte skipped")
    elif not texts:
        notes.append(f"{clean}: no held-out documents (data.heldout_fraction={cfg.data.heldout_fraction}), "
                     "bits-per-byte skipped")
    if not pairs:
        notes.append(f"{root / cfg.paths.translation_pairs}: no held-out {lang}-en pairs, translation skipped")
    bench = load_benchmarks(cfg, root)
    return {"texts": texts, "pairs": pairs, "ifeval": ifeval, "benchmarks": bench, "overlap": overlap,
            "multi_turn": build_multi_turn(lang, E.multi_turn, cfg.seed), "notes": notes + bench["notes"]}


def evaluate_model(
    cfg: Params, name: str, path: Path, inputs: dict[str, Any], judge: Any = None,
    progress: Callable | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(metrics, detail, generations) of one checkpoint."""
    import torch

    from langadapt.evaluation.benchmarks import run_benchmarks
    from langadapt.evaluation.lm import bits_per_byte
    from langadapt.generation import HFGenerator
    from langadapt.train.modeling import load_causal_lm

    lang, E = cfg.language.code, cfg.eval
    model, tok = load_causal_lm(path, trust_remote_code=cfg.model.trust_remote_code)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    metrics: dict[str, Any] = {}
    detail: dict[str, Any] = {"model": name, "path": str(path), "lang": lang}

    if inputs["texts"]:
        lm = bits_per_byte(model, tok, inputs["texts"], window=E.bpb_window, stride=E.bpb_stride,
                           batch_size=E.batch_size, progress=progress)
        metrics.update(bpb=lm["bpb"], token_ppl=lm["token_ppl"])
        detail["lm"] = lm

    # an endpoint serves each checkpoint under its name (vllm serve models/sft --served-model-name sft);
    # `{model}` in the URL points each checkpoint at its own server
    gen = (_openai_teacher(E.endpoint.replace("{model}", name), name, cfg, Path(".")) if E.endpoint
           else HFGenerator(model, tok, batch_size=E.batch_size, progress=progress,
                            cpu_bf16_autocast=E.cpu_bf16_autocast))
    ans = _generate_answers(gen, inputs, lang, E.max_new_tokens)
    gens = _answer_records(name, inputs, ans)
    _score_translation(inputs["pairs"], ans, lang, metrics, detail)
    _score_ifeval_prompts(inputs["ifeval"], ans, lang, metrics, detail)
    _score_multi_turn(inputs["multi_turn"], ans, lang, E.code_switch_threshold, metrics, detail)

    # published benchmarks: SEA-IFEval (IFEval-Th), English IFEval, FLORES-200 (evaluation/benchmarks.py)
    b_metrics, b_detail, b_gens, b_outs = run_benchmarks(gen, inputs["benchmarks"], cfg, name)
    metrics.update(b_metrics)
    detail["benchmarks"] = b_detail
    gens += b_gens
    _score_stability_and_truncation(ans, b_outs, lang, E.code_switch_threshold, metrics, detail)

    if judge is not None and inputs["multi_turn"]:
        gens += _judge_multi_turn(judge, cfg, name, inputs["multi_turn"], ans, metrics, detail)

    detail["metrics"] = metrics
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return metrics, detail, gens


@dataclass
class _Answers:
    """The prompts of one model's own eval sets and its greedy answers, task by task."""

    to_en: list[list[dict]]
    from_en: list[list[dict]]
    if_convs: list[list[dict]]
    mt1: list[list[dict]]
    mt2: list[list[dict]]
    g_to: list[Any]
    g_from: list[Any]
    g_if: list[Any]
    g_mt1: list[Any]
    g_mt2: list[Any]


def _generate_answers(gen: Any, inputs: dict[str, Any], lang: str, max_new_tokens: int) -> _Answers:
    """Translation both ways, IFEval and multi-turn turn 1 in one batch, then turn 2 on the turn-1 answers."""
    from langadapt.evaluation.translation import translation_prompt

    pairs, ifeval, mt = inputs["pairs"], inputs["ifeval"], inputs["multi_turn"]
    to_en = [translation_prompt(p.target, lang, "en") for p in pairs]
    from_en = [translation_prompt(p.english, "en", lang) for p in pairs]
    if_convs = [[{"role": "user", "content": r["prompt"]}] for r in ifeval]
    mt1 = [[{"role": "user", "content": m["turn1"]["prompt"]}] for m in mt]
    convs = to_en + from_en + if_convs + mt1
    outs = gen.generate(convs, max_new_tokens=max_new_tokens, temperature=0.0) if convs else []
    k = len(pairs)
    g_to, g_from = outs[:k], outs[k : 2 * k]
    g_if, g_mt1 = outs[2 * k : 2 * k + len(ifeval)], outs[2 * k + len(ifeval) :]
    mt2 = [c + [{"role": "assistant", "content": g.text}, {"role": "user", "content": m["followup"]}]
           for c, g, m in zip(mt1, g_mt1, mt)]
    g_mt2 = gen.generate(mt2, max_new_tokens=max_new_tokens, temperature=0.0) if mt2 else []
    return _Answers(to_en, from_en, if_convs, mt1, mt2, g_to, g_from, g_if, g_mt1, g_mt2)


def _answer_records(name: str, inputs: dict[str, Any], ans: _Answers) -> list[dict[str, Any]]:
    """The generations.jsonl records of the model's own eval sets, task by task."""
    from langadapt.generation import generation_record as rec

    pairs, ifeval, mt = inputs["pairs"], inputs["ifeval"], inputs["multi_turn"]
    return (
        [rec(name, "translation_to_en", p.id, c, g, reference=p.english)
         for p, c, g in zip(pairs, ans.to_en, ans.g_to)]
        + [rec(name, "translation_from_en", p.id, c, g, reference=p.target)
           for p, c, g in zip(pairs, ans.from_en, ans.g_from)]
        + [rec(name, "ifeval", r["key"], c, g, instruction_id_list=r["instruction_id_list"], kwargs=r["kwargs"])
           for r, c, g in zip(ifeval, ans.if_convs, ans.g_if)]
        + [rec(name, "multiturn_turn1", m["key"], c, g, instruction_id_list=m["turn1"]["instruction_id_list"])
           for m, c, g in zip(mt, ans.mt1, ans.g_mt1)]
        + [rec(name, "multiturn_turn2", m["key"], c, g, mode=m["mode"],
               instruction_id_list=m["turn2"]["instruction_id_list"], kwargs=m["turn2"]["kwargs"])
           for m, c, g in zip(mt, ans.mt2, ans.g_mt2)]
    )


def _score_translation(pairs: list[Any], ans: _Answers, lang: str, metrics: dict[str, Any],
                       detail: dict[str, Any]) -> None:
    from langadapt.evaluation.translation import clean_translation, translation_scores
    from langadapt.generation import truncation

    if not pairs:
        return
    t_en = translation_scores([clean_translation(g.text) for g in ans.g_to], [p.english for p in pairs], "en")
    t_fr = translation_scores([clean_translation(g.text) for g in ans.g_from], [p.target for p in pairs], lang)
    for key in ("chrf", "chrfpp", "bleu"):
        metrics[f"{key}_to_en"], metrics[f"{key}_from_en"] = t_en[key], t_fr[key]
    tr = truncation(ans.g_to + ans.g_from)
    metrics.update(translation_truncated=tr["truncated"], translation_truncated_share=tr["truncated_share"])
    detail["translation"] = {"pairs": len(pairs), "to_en": t_en, "from_en": t_fr, **tr}


def _score_ifeval_prompts(ifeval: list[dict[str, Any]], ans: _Answers, lang: str, metrics: dict[str, Any],
                          detail: dict[str, Any]) -> None:
    from langadapt.evaluation.instruction import summarize_ifeval
    from langadapt.generation import truncation
    from langadapt.ifeval import score_ifeval

    if not ifeval:
        return
    s = score_ifeval([{**r, "response": g.text} for r, g in zip(ifeval, ans.g_if)], lang, source="ifeval",
                     keep_results=False, semantics=ifeval[0].get("semantics", "langadapt"))
    tr = truncation(ans.g_if)
    metrics.update(summarize_ifeval(s, "ifeval"))
    metrics.update(ifeval_truncated=tr["truncated"], ifeval_truncated_share=tr["truncated_share"])
    detail["ifeval"] = {**s, **tr}


def _score_multi_turn(mt: list[dict[str, Any]], ans: _Answers, lang: str, code_switch_threshold: float,
                      metrics: dict[str, Any], detail: dict[str, Any]) -> None:
    """Turn-2 adherence (overall and per mode: a constraint added or changed) and turn-2 stability."""
    from langadapt.evaluation.stability import language_stability
    from langadapt.generation import truncation
    from langadapt.ifeval import score_ifeval

    if not mt:
        return
    s2 = score_ifeval([{**m["turn2"], "response": g.text} for m, g in zip(mt, ans.g_mt2)], lang,
                      source="multi_turn", keep_results=False, semantics="langadapt")
    by_mode = {}
    for mode in ("add", "change"):
        sel = [(m, g) for m, g in zip(mt, ans.g_mt2) if m["mode"] == mode]
        if sel:
            sm = score_ifeval([{**m["turn2"], "response": g.text} for m, g in sel], lang, keep_results=False,
                              semantics="langadapt")
            by_mode[mode] = {"n": len(sel), "prompt_strict": sm["prompt_level_strict"],
                             "prompt_loose": sm["prompt_level_loose"]}
    st2 = language_stability([g.text for g in ans.g_mt2], lang, threshold=code_switch_threshold)
    tr = truncation(ans.g_mt1 + ans.g_mt2)
    metrics.update(multiturn_turn2_prompt_strict=s2["prompt_level_strict"],
                   multiturn_turn2_prompt_loose=s2["prompt_level_loose"],
                   multiturn_turn2_inst_strict=s2["instruction_level_strict"],
                   multiturn_turn2_inst_loose=s2["instruction_level_loose"],
                   multiturn_turn2_stability=st2["stability"],
                   multiturn_truncated=tr["truncated"], multiturn_truncated_share=tr["truncated_share"])
    detail["multi_turn"] = {**s2, "by_mode": by_mode, "stability": st2, **tr}


def _score_stability_and_truncation(ans: _Answers, b_outs: list[Any], lang: str, code_switch_threshold: float,
                                    metrics: dict[str, Any], detail: dict[str, Any]) -> None:
    """Language stability of every answer meant to be in the target language; truncation of all answers."""
    from langadapt.evaluation.stability import language_stability
    from langadapt.generation import truncation

    target_answers = ans.g_from + ans.g_if + ans.g_mt1 + ans.g_mt2
    if target_answers:
        st = language_stability([g.text for g in target_answers], lang, threshold=code_switch_threshold)
        metrics.update(stability=st["stability"], code_switch_rate=st["code_switch_rate"],
                       foreign_token_share=st["foreign_token_share"])
        detail["stability"] = st
    all_gens = ans.g_to + ans.g_from + ans.g_if + ans.g_mt1 + ans.g_mt2 + b_outs
    tr = truncation(all_gens)
    metrics.update(generated=len(all_gens), truncated=tr["truncated"], truncated_share=tr["truncated_share"])


def _judge_multi_turn(judge: Any, cfg: Params, name: str, mt: list[dict[str, Any]], ans: _Answers,
                      metrics: dict[str, Any], detail: dict[str, Any]) -> list[dict[str, Any]]:
    """MT-Bench-style 1-10 rating of each second turn; returns the judge's records for generations.jsonl."""
    lang = cfg.language.code
    jconvs = [[{"role": "user", "content": JUDGE_PROMPT.format(
        language=_language_name(lang), q1=m["turn1"]["prompt"], a1=g1.text, q2=m["followup"], a2=g2.text)}]
        for m, g1, g2 in zip(mt, ans.g_mt1, ans.g_mt2)]
    jouts = judge.generate(jconvs, max_new_tokens=512, temperature=0.0)
    ratings = [parse_rating(j.text) for j in jouts]
    valid = [r for r in ratings if r is not None]
    metrics["judge_score"] = sum(valid) / len(valid) if valid else None
    detail["judge"] = {"n": len(ratings), "unparsed": len(ratings) - len(valid), "ratings": ratings,
                       "model": cfg.eval.judge_model, "url": cfg.eval.judge}
    return [{"model": name, "task": "judge", "key": m["key"], "response": j.text, "rating": r}
            for m, j, r in zip(mt, jouts, ratings)]


def _language_name(lang: str) -> str:
    from langadapt.text import language_name

    return language_name(lang)


PAIRED_PREFIX = {"sea_ifeval": "ifeval_sea", "en_ifeval": "ifeval_en"}


def add_paired(results: dict[str, dict[str, Any]], passes: dict[str, dict[str, dict[str, bool]]]) -> None:
    """Per model, its prompt-level strict passes against base's (and pref's against SFT's) on the same
    IFEval prompts: ``ifeval_sea_vs_base_wins`` / ``_losses`` / ``_sign_p`` (exact two-sided sign test)."""
    from langadapt.evaluation.honesty import paired_sign_test

    for name, metrics in results.items():
        for ref in ("base", "sft") if name == "pref" else ("base",):
            if ref == name or ref not in passes:
                continue
            for bench, prefix in PAIRED_PREFIX.items():
                if bench in passes.get(name, {}) and bench in passes[ref]:
                    t = paired_sign_test(passes[name][bench], passes[ref][bench])
                    for k in ("wins", "losses", "sign_p"):
                        metrics[f"{prefix}_vs_{ref}_{k}"] = t[k]


def plots_csv(results: dict[str, dict[str, Any]]) -> str:
    """``model,metric,value`` rows (DVC plots) for every numeric metric."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "metric", "value"])
    for model, ms in results.items():
        for k, v in ms.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                w.writerow([model, k, round(float(v), 6)])
    return buf.getvalue()


def run_eval(cfg: Params, root: str | Path = ".", progress: Callable | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate every checkpoint present; write metrics, plots and details. Returns the summary."""
    from langadapt.io import atomic_dir, atomic_write, write_json, write_jsonl

    root = Path(root)
    inputs = load_eval_inputs(cfg, root)
    for n in inputs["notes"]:
        log(f"note: {n}")
    judge = None
    if cfg.eval.judge:
        if not cfg.eval.judge_model:
            raise DataError("params eval.judge_model: set the judge's model name when eval.judge is set")
        judge = _openai_teacher(cfg.eval.judge, cfg.eval.judge_model, cfg, root)
    results: dict[str, dict[str, Any]] = {}
    passes: dict[str, dict[str, dict[str, bool]]] = {}
    skipped: dict[str, str] = {}
    with atomic_dir(root / cfg.paths.eval) as out:
        write_jsonl(out / "eval_sets" / "ifeval.jsonl", inputs["ifeval"])
        write_jsonl(out / "eval_sets" / "multi_turn.jsonl", inputs["multi_turn"])
        bench = inputs["benchmarks"]
        write_jsonl(out / "eval_sets" / "sea_ifeval.jsonl", [it.as_google() for it in bench["sea_ifeval"]])
        write_jsonl(out / "eval_sets" / "en_ifeval.jsonl", [it.as_google() for it in bench["en_ifeval"]])
        write_jsonl(out / "eval_sets" / "flores.jsonl", bench["flores"])
        write_jsonl(out / "eval_sets" / "translation_pairs.jsonl",
                    [{"id": p.id, "target": p.target, "english": p.english} for p in inputs["pairs"]])
        for name in cfg.eval.models:
            path = root / getattr(cfg.paths, name)
            if not (path / "config.json").exists():
                skipped[name] = f"{path}: no checkpoint, skipped"
                log(f"note: {skipped[name]}")
                continue
            log(f"eval: {name} ({path})")
            metrics, detail, gens = evaluate_model(cfg, name, path, inputs, judge, progress)
            write_jsonl(out / name / "generations.jsonl", gens)
            write_json(out / name / "detail.json", detail)
            results[name] = metrics
            passes[name] = {b: d["prompt_strict_pass"] for b, d in detail.get("benchmarks", {}).items()
                            if isinstance(d, dict) and "prompt_strict_pass" in d}
        if not results:
            raise DataError("no checkpoint to evaluate: none of " +
                            ", ".join(f"paths.{m}={getattr(cfg.paths, m)}" for m in cfg.eval.models) +
                            " has a config.json")
        if judge is not None:  # LLM-Eval scores + pairwise win rate (langadapt.evaluation.judge)
            from langadapt.evaluation.judge import run_judge

            jm, jrecs, jdetail = run_judge(judge, cfg.language.code, out, list(results), cfg.eval.judge_pairwise,
                                           cfg.eval.judge_answers)
            for m, v in jm.items():
                results[m].update(v)
            write_jsonl(out / "judge" / "judgements.jsonl", jrecs)
            write_json(out / "judge" / "summary.json", jdetail)
        add_paired(results, passes)
        summary = {"lang": cfg.language.code, "models": results, "skipped": skipped, "notes": inputs["notes"],
                   "counts": {"heldout_docs": len(inputs["texts"]), "translation_pairs": len(inputs["pairs"]),
                              "ifeval_prompts": len(inputs["ifeval"]), "multi_turn": len(inputs["multi_turn"]),
                              "sea_ifeval_prompts": len(inputs["benchmarks"]["sea_ifeval"]),
                              "en_ifeval_prompts": len(inputs["benchmarks"]["en_ifeval"]),
                              "flores_pairs": len(inputs["benchmarks"]["flores"])}}
        from langadapt.evaluation.honesty import constant_baseline, metric_flags

        baseline = constant_baseline(inputs["ifeval"], inputs["multi_turn"], cfg.language.code)
        summary["baseline"] = baseline
        summary["flags"] = {m: metric_flags(r, baseline["metrics"]) for m, r in results.items()}
        summary["heldout_overlap"] = inputs.get("overlap")
        summary["counts"]["heldout_bytes"] = sum(len(t.encode("utf-8")) for t in inputs["texts"])
        write_json(out / "summary.json", summary)
    write_json(root / cfg.paths.metrics / "eval.json", results)
    with atomic_write(root / cfg.paths.plots / "eval.csv") as f:
        f.write(plots_csv(results))
    return summary
