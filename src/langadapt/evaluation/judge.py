"""An LLM judge over any OpenAI-compatible endpoint: LLM-Eval-style scores (several 0-5 dimensions in
one call, fluency in the target language among them) and a pairwise win rate between two checkpoints,
judged in both orders to cancel position bias. Off by default (``eval.judge`` unset).

    langadapt eval -s eval.judge=http://127.0.0.1:8000/v1 -s eval.judge_model=judge   # key: $OPENAI_API_KEY
    langadapt serve models/sft --port 8000 --model-name judge                          # a local endpoint to try it

The judge prompts are written in the target language (its profile's ``evaluation.judge``: Thai,
Traditional Chinese; English's for a language without one, noted in the output). Replies are parsed leniently (a JSON object, or
``name: n`` lines; ``[[A]]``/``[[B]]``/``[[C]]`` for a verdict); a reply that does not parse is counted
as ``unparsed``, never a crash and never a guessed score. Judged answers are the eval's target-language
IFEval answers (``<model>/generations.jsonl``, task ``ifeval``), the first ``eval.judge_answers``.

    from langadapt.evaluation.judge import parse_scores, parse_verdict, win_rate
    parse_scores('{"fluency": 4, "relevance": 3, "instruction_following": 5, "helpfulness": 2}')
    win_rate([("pref", "sft", "A"), ("sft", "pref", "B")], "pref")   # {"win_rate": 1.0, ...}
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DIMENSIONS = ("fluency", "relevance", "instruction_following", "helpfulness")

_JSON_OBJ = re.compile(r"\{[^{}]*\}", re.DOTALL)
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


def prompts_for(lang: str) -> tuple[dict[str, str], str]:
    """(prompts, language the prompts are in): the target language's profile ``evaluation.judge``
    (``score``: dimension names stay JSON keys, so parsing is language-free; ``pairwise``), else English's."""
    from langadapt.text import profile_value

    p = profile_value(lang, "evaluation", "judge")
    return (p, lang) if p else (profile_value("en", "evaluation", "judge"), "en")


def score_prompt(lang: str, question: str, answer: str) -> str:
    from langadapt.text import language_name

    p, _ = prompts_for(lang)
    return p["score"].format(question=question, answer=answer, language=language_name(lang))


def pairwise_prompt(lang: str, question: str, a: str, b: str) -> str:
    from langadapt.text import language_name

    p, _ = prompts_for(lang)
    return p["pairwise"].format(question=question, a=a, b=b, language=language_name(lang))


def parse_scores(text: str) -> dict[str, int] | None:
    """Every dimension's 0-5 integer from a judge reply, or None when any is missing or out of range."""
    text = text or ""
    found: dict[str, Any] = {}
    for m in _JSON_OBJ.finditer(text):
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict) and all(d in obj for d in DIMENSIONS):
            found = obj
            break
    if not found:
        for d in DIMENSIONS:
            m = re.search(rf"{d}\W{{0,3}}\s*[:=]\s*(\d+(?:\.\d+)?)", text, re.IGNORECASE)
            if m:
                found[d] = m.group(1)
    out = {}
    for d in DIMENSIONS:
        try:
            v = float(found[d])
        except (KeyError, TypeError, ValueError):
            return None
        if not (0 <= v <= 5) or v != int(v):
            return None
        out[d] = int(v)
    return out


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``tie`` from the last ``[[A]]``/``[[B]]``/``[[C]]`` in a reply; None when absent."""
    found = _VERDICT.findall(text or "")
    if not found:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[found[-1]]


def win_rate(judgements: Sequence[tuple[str, str, str | None]], model: str) -> dict[str, Any]:
    """Win rate of ``model`` over (model shown as A, model shown as B, verdict) judgements: a win counts
    1, a tie 0.5, over the parsed verdicts of both orders. Also: unparsed count, the share of verdicts
    that picked position A (position bias), and how often the two orders of one item agree."""
    parsed = [(a, b, v) for a, b, v in judgements if v is not None]
    score = 0.0
    for a, b, v in parsed:
        if v == "tie":
            score += 0.5
        elif (v == "A" and a == model) or (v == "B" and b == model):
            score += 1.0
    picks_a = sum(1 for _, _, v in parsed if v == "A")
    decided = sum(1 for _, _, v in parsed if v != "tie")
    return {
        "win_rate": score / len(parsed) if parsed else None,
        "judgements": len(judgements), "unparsed": len(judgements) - len(parsed),
        "wins": sum(1 for a, b, v in parsed if (v == "A" and a == model) or (v == "B" and b == model)),
        "ties": sum(1 for _, _, v in parsed if v == "tie"),
        "position_a_share": picks_a / decided if decided else None,
    }


def _answers(eval_out: Path, model: str, limit: int) -> dict[Any, dict[str, Any]]:
    """The model's target-language IFEval answers by key (question, response)."""
    from langadapt.io import read_jsonl

    p = eval_out / model / "generations.jsonl"
    out: dict[Any, dict[str, Any]] = {}
    if not p.exists():
        return out
    for g in read_jsonl(p):
        if g.get("task") == "ifeval" and len(out) < limit:
            out[str(g["key"])] = {"question": g["messages"][-1]["content"], "response": g["response"]}
    return out


def run_judge(judge: Any, lang: str, eval_out: Path, models: Sequence[str], pair: Sequence[str],
              limit: int) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Score every model's answers and judge ``pair`` (model, other) both ways.

    Returns (metrics per model, judge records, detail). Metrics: ``llm_judge_<dim>`` (mean 0-5),
    ``llm_judge_mean``, ``llm_judge_unparsed``, and for ``pair[0]``: ``judge_win_rate_vs_<other>``."""
    answers = {m: _answers(eval_out, m, limit) for m in models}
    metrics: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    _, prompt_lang = prompts_for(lang)
    for m in models:
        items = list(answers[m].items())
        if not items:
            continue
        replies = judge.generate([[{"role": "user", "content": score_prompt(lang, a["question"], a["response"])}]
                                  for _, a in items], max_new_tokens=96, temperature=0.0)
        scores = [parse_scores(r.text) for r in replies]
        ok = [s for s in scores if s is not None]
        mm: dict[str, Any] = {f"llm_judge_{d}": (sum(s[d] for s in ok) / len(ok) if ok else None) for d in DIMENSIONS}
        mm["llm_judge_mean"] = (sum(sum(s.values()) / len(DIMENSIONS) for s in ok) / len(ok)) if ok else None
        mm["llm_judge_n"], mm["llm_judge_unparsed"] = len(scores), len(scores) - len(ok)
        metrics[m] = mm
        for (key, _), r, s in zip(items, replies, scores, strict=True):
            records.append({"model": m, "task": "llm_judge", "key": key, "reply": r.text, "scores": s})
    detail: dict[str, Any] = {"dimensions": list(DIMENSIONS), "prompt_language": prompt_lang,
                              "answers_per_model": {m: len(a) for m, a in answers.items()}}
    if len(pair) == 2 and all(answers.get(m) for m in pair):
        first, other = pair
        keys = [k for k in answers[first] if k in answers[other]]
        orders = [(first, other), (other, first)]
        convs, meta = [], []
        for k in keys:
            for a, b in orders:
                q = answers[first][k]["question"]
                convs.append([{"role": "user", "content": pairwise_prompt(
                    lang, q, answers[a][k]["response"], answers[b][k]["response"])}])
                meta.append((k, a, b))
        replies = judge.generate(convs, max_new_tokens=32, temperature=0.0) if convs else []
        judgements = []
        for (k, a, b), r in zip(meta, replies, strict=True):
            v = parse_verdict(r.text)
            judgements.append((a, b, v))
            records.append({"task": "llm_judge_pairwise", "key": k, "a": a, "b": b, "reply": r.text, "verdict": v})
        wr = win_rate(judgements, first)
        agree = 0
        for i in range(0, len(judgements), 2):
            (a1, _, v1), (a2, _, v2) = judgements[i], judgements[i + 1]
            w1 = None if v1 is None else ("tie" if v1 == "tie" else (a1 if v1 == "A" else judgements[i][1]))
            w2 = None if v2 is None else ("tie" if v2 == "tie" else (a2 if v2 == "A" else judgements[i + 1][1]))
            agree += int(w1 is not None and w1 == w2)
        wr["order_agreement"] = agree / len(keys) if keys else None
        detail["pairwise"] = {"model": first, "other": other, "items": len(keys), **wr}
        metrics.setdefault(first, {})[f"judge_win_rate_vs_{other}"] = wr["win_rate"]
        metrics[first][f"judge_pairwise_unparsed_vs_{other}"] = wr["unparsed"]
    elif len(pair) == 2:
        detail["pairwise_skipped"] = f"no answers of both {pair[0]} and {pair[1]} to compare"
    return metrics, records, detail
