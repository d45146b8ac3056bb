"""What a published number needs beside it: a trivial baseline, a truncation flag, its sample size, and
proof that held-out text is not training text.

    from langadapt.evaluation.honesty import constant_baseline, metric_flags, drop_train_overlap
    base = constant_baseline(ifeval_set, multi_turn_set, "th")   # IF scores of a constant answer
    metric_flags(results["sft"], base["metrics"])                 # {"ifeval_prompt_strict": ["not above the constant baseline"]}
    texts, report = drop_train_overlap(heldout, train_texts)      # held-out docs sharing text with training dropped

A constant answer scored by the same verifier is the floor an instruction-following number must clear:
some constraints (no commas, lowercase, "at most N words", a Thai-script answer) hold for a one-word answer,
so a model that says nothing useful scores above zero. Each metric's baseline is the best of a few constant
answers (the strongest trivial baseline, so "above the baseline" means something).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

IF_METRICS = ("ifeval_prompt_strict", "ifeval_prompt_loose", "ifeval_inst_strict", "ifeval_inst_loose",
              "multiturn_turn2_prompt_strict", "multiturn_turn2_prompt_loose",
              "multiturn_turn2_inst_strict", "multiturn_turn2_inst_loose")
# which truncation share a metric's answers have (runner: <group>_truncated_share)
TRUNCATION_GROUP = {"ifeval": "ifeval", "multiturn": "multiturn", "chrf": "translation", "chrfpp": "translation",
                    "bleu": "translation"}
MOSTLY_TRUNCATED = 0.5
OVERLAP_WINDOW = 50        # characters: a shared 50-character run is copied text, not shared vocabulary
OVERLAP_MAX_SHARE = 0.2    # a held-out document with more of its characters in shared runs is dropped


def constant_baseline(ifeval: list[dict], multi_turn: list[dict], lang: str,
                      answers: list[str] | None = None) -> dict[str, Any]:
    """IF metrics of constant answers, scored by the same code as the models (``score_ifeval``).

    Returns ``{"answers": [...], "per_answer": {answer: {metric: v}}, "metrics": {metric: best v},
    "best_answer": {metric: answer}}``.
    """
    from langadapt.evaluation.instruction import summarize_ifeval
    from langadapt.ifeval import score_ifeval

    if answers is None:  # one-word answers in the target language, in English, and the empty answer
        from langadapt.text import profile_value

        answers = profile_value(lang, "evaluation", "constant_answers", default=["ok", ""])
    answers = list(answers)
    per: dict[str, dict[str, float]] = {}
    for a in answers:
        m: dict[str, float] = {}
        if ifeval:
            m.update(summarize_ifeval(score_ifeval([{**r, "response": a} for r in ifeval], lang,
                                                   source="ifeval", keep_results=False), "ifeval"))
        if multi_turn:
            s = score_ifeval([{**x["turn2"], "response": a} for x in multi_turn], lang,
                             source="multi_turn", keep_results=False)
            m.update(summarize_ifeval(s, "multiturn_turn2"))
        per[a] = m
    best: dict[str, float] = {}
    best_answer: dict[str, str] = {}
    for a, m in per.items():
        for k, v in m.items():
            if k not in best or v > best[k]:
                best[k], best_answer[k] = v, a
    return {"answers": answers, "per_answer": per, "metrics": best, "best_answer": best_answer}


# per-benchmark answer groups: a metric key with one of these prefixes reads its answers' shares there
BENCH_GROUPS = ("ifeval_sea", "ifeval_en", "flores")
REPETITION_MIN_CHARS = 40       # shorter answers are never called loops
REPETITION_MAX_DISTINCT = 0.3   # distinct character 4-grams / all 4-grams below this: a repetition loop


def repetitive(text: str) -> bool:
    """A degenerate answer: at least 40 characters in which under 30% of the character 4-grams are distinct
    (``[ชื่อ]: [ชื่อ]: ...`` x20 is 0.05; ordinary Thai or English prose is above 0.8). Such answers can pass
    format checkers (a title, a placeholder, a P.S. marker) while following nothing."""
    t = " ".join(text.split())
    if len(t) < REPETITION_MIN_CHARS:
        return False
    grams = [t[i : i + 4] for i in range(len(t) - 3)]
    return len(set(grams)) / len(grams) < REPETITION_MAX_DISTINCT


def repetition_share(texts: Iterable[str]) -> float | None:
    texts = list(texts)
    return round(sum(map(repetitive, texts)) / len(texts), 4) if texts else None


def _group_share(metrics: dict[str, Any], key: str, kind: str) -> float | None:
    """The share (``kind``: truncated | repetitive) of the answers behind metric ``key``."""
    for g in BENCH_GROUPS:
        if key.startswith(g + "_"):
            return metrics.get(f"{g}_{kind}_share")
    group = TRUNCATION_GROUP.get(key.split("_", 1)[0])
    if group:
        return metrics.get(f"{group}_{kind}_share")
    if key in ("stability", "code_switch_rate", "foreign_token_share", "judge_score"):
        return metrics.get(f"{kind}_share")
    return None


def truncation_share(metrics: dict[str, Any], key: str) -> float | None:
    """The share of answers cut at max_new_tokens behind metric ``key`` (None: not a generated metric)."""
    return _group_share(metrics, key, "truncated")


def metric_flags(metrics: dict[str, Any], baseline: dict[str, float],
                 mostly: float = MOSTLY_TRUNCATED) -> dict[str, list[str]]:
    """Per metric of one model: why it must not be read as a result (empty list: no flag). A benchmark
    metric's own constant-answer score (``<key>_baseline`` beside it) counts as its baseline."""
    out: dict[str, list[str]] = {}
    for k, v in metrics.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or k.endswith("_baseline") or "_vs_" in k:
            continue
        flags = []
        floor = baseline.get(k, metrics.get(f"{k}_baseline"))
        if isinstance(floor, (int, float)) and v <= floor:
            flags.append("not above the constant baseline")
        tr = truncation_share(metrics, k)
        if tr is not None and tr > mostly:
            flags.append(f"{tr:.0%} of answers truncated")
        rep = _group_share(metrics, k, "repetitive")
        if rep is not None and rep > mostly and not k.endswith("_repetitive_share"):
            flags.append(f"{rep:.0%} of answers are repetition loops")
        if flags:
            out[k] = flags
    return out


def paired_sign_test(model: dict[str, bool], ref: dict[str, bool]) -> dict[str, Any]:
    """Prompt-level pass/fail of a model against a reference model on the same prompts (keys): prompts only
    the model passes (wins), only the reference passes (losses), and the exact two-sided sign test
    (McNemar's exact test) on them. 40 prompts cannot tell a +2 prompt change from noise; this says so."""
    from math import comb

    keys = sorted(set(model) & set(ref))
    wins = sum(1 for k in keys if model[k] and not ref[k])
    losses = sum(1 for k in keys if ref[k] and not model[k])
    n = wins + losses
    p = min(1.0, 2 * sum(comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n) if n else 1.0
    return {"prompts": len(keys), "wins": wins, "losses": losses, "sign_p": round(p, 4)}


def _norm(text: str) -> str:
    return " ".join(text.split())


def drop_train_overlap(heldout: list[str], train: Iterable[str], window: int = OVERLAP_WINDOW,
                       max_share: float = OVERLAP_MAX_SHARE) -> tuple[list[str], dict[str, Any]]:
    """Held-out texts minus those sharing more than ``max_share`` of their characters with training text
    (runs of ``window`` characters, whitespace-normalised). Dedup ran before the split, so this is a check:
    the report says what it found. Returns (kept texts, report)."""
    normed = [_norm(t) for t in heldout]
    index: dict[int, list[tuple[int, int]]] = {}
    for d, t in enumerate(normed):
        for i in range(max(0, len(t) - window + 1)):
            index.setdefault(hash(t[i:i + window]), []).append((d, i))
    covered = [bytearray(len(t)) for t in normed]
    train_docs = train_chars = 0
    for text in train:
        t = _norm(text)
        train_docs += 1
        train_chars += len(t)
        for i in range(max(0, len(t) - window + 1)):
            hits = index.get(hash(t[i:i + window]))
            if hits:
                piece = t[i:i + window]
                for d, j in hits:
                    if normed[d][j:j + window] == piece:
                        covered[d][j:j + window] = b"\x01" * window
    shares = [sum(c) / max(1, len(c)) for c in covered]
    kept = [t for t, s in zip(heldout, shares) if s <= max_share]
    report = {
        "window_chars": window, "max_share": max_share, "heldout_docs": len(heldout), "train_docs": train_docs,
        "train_chars": train_chars, "docs_with_overlap": sum(s > 0 for s in shares),
        "dropped": len(heldout) - len(kept), "max_overlap_share_kept": round(max([s for s in shares if s <= max_share],
                                                                                 default=0.0), 4),
        "mean_overlap_share": round(sum(shares) / max(1, len(shares)), 4),
    }
    return kept, report
