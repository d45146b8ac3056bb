"""Verifier feedback for on-policy samples: per-constraint outcomes (the stepwise signal), language
stability, and the desirable label (every constraint holds and the answer is in the target language).

    from langadapt.pref.feedback import feedback, kto_rows, dpo_pairs, round_stats
    fb = feedback("...", [{"id": "length_constraints:number_words", "kwargs": {...}}], "th", 0.5)
    fb["constraints"]  # [{"id": ..., "ok": True}], fb["language_ok"], fb["desirable"]

Everything here is a pure function of the records (tested exactly). Constraint verification goes through
the one adapter ``verify_constraint`` below, so moving the verifiers is a one-line change.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

# The one place pref imports the constraint verifiers from (they may move to their own package).
from langadapt.ifeval import verify as _verify_constraint

LANGUAGE_STEP = "language:stability"   # the language check, reported beside the constraints


def verify_constraint(instruction_id: str, kwargs: dict[str, Any] | None, response: str, lang: str) -> bool:
    """Whether ``response`` follows one constraint (strict mode, as IFEval)."""
    return bool(_verify_constraint(instruction_id, kwargs, response, lang, strict=True))


def language_ok(response: str, lang: str, min_script_ratio: float) -> bool:
    """The answer is in the target language: its script's share of the letters is >= ``min_script_ratio``."""
    from langadapt.synth.common import language_stable

    return bool(response.strip()) and language_stable(response, lang, min_script_ratio)


def feedback(response: str, constraints: Sequence[dict[str, Any]], lang: str,
             min_script_ratio: float, truncated: bool = False, truncated_desirable: bool = False) -> dict[str, Any]:
    """Per-constraint outcomes, the language check and the label of one sample.

    A constraint the verifier cannot check (unknown id, bad kwargs) counts as failed with its error
    kept, never a crash: the record stays auditable. A ``truncated`` answer (cut at the token limit) is
    not desirable unless ``truncated_desirable``: it did not finish, and labelling it desirable rewards
    whatever it was doing when cut (measured on SmolLM2-135M: format markers repeated in a loop pass the
    title/placeholder/postscript checks). Its checks are still recorded."""
    from langadapt.errors import DataError

    outs = []
    for c in constraints:
        cid, kw = c.get("id"), c.get("kwargs") or {}
        try:
            ok, err = verify_constraint(str(cid), kw, response, lang), None
        except DataError as e:
            ok, err = False, str(e)
        outs.append({"id": cid, "ok": ok, **({"error": err} if err else {})})
    lang_ok = language_ok(response, lang, min_script_ratio)
    passed = sum(o["ok"] for o in outs)
    return {
        "constraints": outs,
        "language_ok": lang_ok,
        "passed": passed,
        "checks": len(outs) + 1,                         # the constraints and the language check
        "truncated": bool(truncated),
        "desirable": lang_ok and passed == len(outs) and (truncated_desirable or not truncated),
    }


def step_score(fb: dict[str, Any]) -> float:
    """Share of the checks (constraints + language) that hold: 1.0 for a desirable sample."""
    return (fb["passed"] + int(fb["language_ok"])) / max(1, fb["checks"])


def stepwise_weight(fb: dict[str, Any]) -> float:
    """The stepwise variant's loss weight of a sample (Step-KTO weights each step's feedback): a
    desirable sample weighs 1; an undesirable one weighs the share of its checks that FAILED, so an
    answer missing one of four checks is pushed down a quarter as hard as one failing all four."""
    return 1.0 if fb["desirable"] else round(1.0 - step_score(fb), 6)


# ---------------------------------------------------------------------------------------------------
# Prompts


def prompt_messages(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation up to the last user turn (the answer to sample), or [] when there is none."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    return [] if last_user is None else [dict(m) for m in messages[: last_user + 1]]


def select_prompts(examples: Iterable[Any], heldout_fraction: float, limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Held-out synth examples (``records.is_heldout`` of the id: never SFT-trained on) that carry
    constraints, as ``{id, messages, constraints, lang}`` prompts; the first ``limit`` by id.

    Returns (prompts, counts) with counts of what was skipped and why."""
    from langadapt.records import is_heldout

    counts = {"examples": 0, "train_split": 0, "no_constraints": 0, "no_user_turn": 0}
    out = []
    for ex in examples:
        counts["examples"] += 1
        if not is_heldout(ex.id, heldout_fraction):
            counts["train_split"] += 1
            continue
        if not ex.constraints:
            counts["no_constraints"] += 1
            continue
        msgs = prompt_messages(ex.messages)
        if not msgs:
            counts["no_user_turn"] += 1
            continue
        out.append({"id": ex.id, "messages": msgs, "constraints": list(ex.constraints), "lang": ex.lang})
    out.sort(key=lambda p: p["id"])
    return out[:limit] if limit > 0 else out, counts


# ---------------------------------------------------------------------------------------------------
# Training rows


def skip_reason(records: Sequence[dict[str, Any]], loss: str, pairing: str = "desirable") -> str | None:
    """Why a round's samples cannot train (None when they can): KTO needs both labels; DPO needs a
    prompt with both a desirable and an undesirable sample (``pairing: score``: two samples whose verifier
    scores differ)."""
    if not records:
        return "no samples"
    if loss == "dpo" and pairing == "score":
        if not dpo_pairs(records, seed=0, pairing="score"):
            return (f"no prompt has two of the {len(records)} samples with different verifier scores: no DPO pair")
        return None
    n_good = sum(r["feedback"]["desirable"] for r in records)
    if n_good == len(records):
        return f"every one of the {len(records)} samples passes: no undesirable example to learn from"
    if n_good == 0:
        return f"every one of the {len(records)} samples fails: no desirable example to learn from"
    if loss == "dpo" and not dpo_pairs(records, seed=0):
        return "no prompt has both a passing and a failing sample: no DPO pair"
    return None


def is_truncated(record: dict[str, Any]) -> bool:
    """The sample was cut at the token limit (it did not end its turn)."""
    return record.get("finish_reason") == "length"


def completion_text(record: dict[str, Any]) -> str:
    """The answer as trained: a truncated one without the U+FFFD its cut left where a multi-byte character
    was split (byte-level BPE; Thai letters are 3 UTF-8 bytes), which would re-tokenize as other bytes."""
    text = record["response"]
    return (text.rstrip("\ufffd") or text) if is_truncated(record) else text


def kto_rows(records: Sequence[dict[str, Any]], stepwise: bool = False) -> list[dict[str, Any]]:
    """KTO rows ``{prompt, completion, label, truncated}`` (conversational: lists of messages), plus
    ``weight`` when ``stepwise`` (see ``stepwise_weight``). ``truncated`` rows are trained without the end
    of turn the chat template would append (``pref.train``): the model did not stop there."""
    rows = []
    for r in records:
        row: dict[str, Any] = {"prompt": r["messages"], "completion": [{"role": "assistant", "content": completion_text(r)}],
                               "label": bool(r["feedback"]["desirable"]), "truncated": is_truncated(r)}
        if stepwise:
            row["weight"] = stepwise_weight(r["feedback"])
        rows.append(row)
    return rows


def kto_class_weights(rows: Sequence[dict[str, Any]], desirable_weight: float, undesirable_weight: float,
                      balance: bool) -> tuple[float, float]:
    """KTO's (desirable_weight, undesirable_weight) for ``rows``. With ``balance`` the minority class is
    scaled up so that desirable_weight x n_desirable == undesirable_weight x n_undesirable, the lower end of
    the range the KTO paper and TRL recommend ([1, 4/3]). Without it, a round with 2 desirable samples of 64
    is a loss of 62 "push this answer down" terms and 2 "pull up" ones: measured on SmolLM2-135M, 8 such
    steps raised held-out bits per byte by 30%."""
    n_d = sum(1 for r in rows if r["label"])
    n_u = len(rows) - n_d
    if not balance or not n_d or not n_u:
        return desirable_weight, undesirable_weight
    ratio = (desirable_weight * n_d) / (undesirable_weight * n_u)
    if ratio < 1:
        return round(desirable_weight / ratio, 6), undesirable_weight
    return desirable_weight, round(undesirable_weight * ratio, 6)


def sample_score(fb: dict[str, Any]) -> float:
    """The verifier's score of a sample for ``pairing: score``: its share of checks that hold, and 1.0
    only when it is desirable (a truncated answer passing every check ranks below a finished one)."""
    return 1.0 if fb["desirable"] else min(step_score(fb), 1.0 - 1e-6)


def dpo_pairs(records: Sequence[dict[str, Any]], seed: int, pairing: str = "desirable") -> list[dict[str, Any]]:
    """DPO rows ``{prompt, chosen, rejected, chosen_truncated, rejected_truncated}``, per prompt.

    ``pairing: desirable``: each failing sample paired with a passing one (passing ones reused round-robin
    in a seeded order); prompts without both kinds give no pair. ``pairing: score`` (partial credit):
    each sample paired with one of the same prompt's samples that scores higher (``sample_score``: the
    share of checks that hold), chosen in a seeded order; a prompt's top-scoring samples are never
    rejected. It gives pairs where no sample passes everything: the stepwise signal, as pairs."""
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_prompt[r["prompt_id"]].append(r)
    rows = []
    for pid in sorted(by_prompt):
        group = sorted(by_prompt[pid], key=lambda r: r["sample"])
        rng = random.Random(f"{seed}:{pid}")
        if pairing == "score":
            pairs = []
            for b in group:
                better = [g for g in group if sample_score(g["feedback"]) > sample_score(b["feedback"])]
                if better:
                    pairs.append((rng.choice(better), b))
        else:
            good = [r for r in group if r["feedback"]["desirable"]]
            bad = [r for r in group if not r["feedback"]["desirable"]]
            if not good or not bad:
                continue
            rng.shuffle(good)
            pairs = [(good[i % len(good)], b) for i, b in enumerate(bad)]
        for g, b in pairs:
            rows.append({"prompt": b["messages"],
                         "chosen": [{"role": "assistant", "content": completion_text(g)}],
                         "rejected": [{"role": "assistant", "content": completion_text(b)}],
                         "chosen_truncated": is_truncated(g), "rejected_truncated": is_truncated(b)})
    return rows


def round_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pass rate per constraint id (and of the language check), desirable share, counts."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        for c in r["feedback"]["constraints"]:
            per[str(c["id"])][0] += int(c["ok"])
            per[str(c["id"])][1] += 1
        per[LANGUAGE_STEP][0] += int(r["feedback"]["language_ok"])
        per[LANGUAGE_STEP][1] += 1
    n = len(records)
    good = sum(r["feedback"]["desirable"] for r in records)
    checks = sum(len(r["feedback"]["constraints"]) for r in records)
    passed = sum(r["feedback"]["passed"] for r in records)
    return {
        "samples": n,
        "prompts": len({r["prompt_id"] for r in records}),
        "desirable": good,
        "desirable_share": good / n if n else None,
        "constraint_pass_rate": passed / checks if checks else None,
        "language_stability": per[LANGUAGE_STEP][0] / n if n else None,
        "truncated_share": sum(is_truncated(r) for r in records) / n if n else None,
        # answers that pass every check but were cut at the token limit (not desirable unless
        # pref.truncated_desirable): what the truncation rule takes out of the desirable count
        "truncated_passing": sum(1 for r in records if is_truncated(r) and r["feedback"]["language_ok"]
                                 and r["feedback"]["passed"] == len(r["feedback"]["constraints"])),
        "pass_rate": {k: round(v[0] / v[1], 6) for k, v in sorted(per.items())},
        "checked": {k: v[1] for k, v in sorted(per.items())},
    }
