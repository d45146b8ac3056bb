"""Instruction following (IFEval-style) and multi-turn constraint adherence in the target language.

The eval set is either generated deterministically (``build_ifeval_set``: task x topic seeds from
the language profile's ``evaluation.prompts`` x one or two constraints, instruction texts from
``langadapt.ifeval``) or read from a user file (``eval.ifeval_file``: Google IFEval
``{key, prompt, instruction_id_list, kwargs}`` or SEA-IFEval ``{id, prompts, metadata, kwargs}``
records). Scoring is ``langadapt.ifeval.score_ifeval`` (prompt/instruction-level, strict/loose), the
same verifiers that filtered the synthetic SFT data (``langadapt`` semantics for generated sets; a
user file is scored as its format's reference does: Google -> google, SEA-IFEval -> sea).

Multi-turn (``build_multi_turn``): turn 1 asks with constraint A; turn 2 either *adds* a constraint B
(active: A and B) or *changes* it (active: only B). Adherence is scored on the second answer against
the constraints active in turn 2.

    recs = build_ifeval_set("th", n=40, seed=1234)
    score_ifeval([{**r, "response": answer} for r, answer in zip(recs, answers)], "th")
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from langadapt.errors import DataError


def _seeds(lang: str) -> dict[str, Any]:
    """The ``evaluation.prompts`` section of the language's profile (tasks, topics, follow-ups, constraints)."""
    from langadapt.text.profiles import profile_path, profile_value

    seeds = profile_value(lang, "evaluation", "prompts")
    if not isinstance(seeds, dict):
        raise DataError(f"{profile_path(lang) or lang}: no evaluation.prompts (the eval prompt seeds of {lang!r})")
    return seeds


def usable_constraints(lang: str) -> list[dict[str, Any]]:
    """The seed constraints of ``lang`` that langadapt may generate in ``lang`` (``ifeval.generatable``:
    for a language other than English, ids SEA-IFEval knows or ``langadapt:*``)."""
    from langadapt.ifeval import generatable

    ok = set(generatable(lang))
    out = []
    for c in _seeds(lang)["constraints"]:
        if c["id"] in ok:
            out.append({"id": c["id"], "kwargs": dict(c.get("kwargs") or {})})
    if len(out) < 2:
        raise DataError(f"{lang}: fewer than two usable constraints in the profile's evaluation.prompts")
    return out


def _compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    from langadapt.ifeval import conflicting

    return not conflicting(a["id"], b["id"])


def _prompt(task: str, topic: str, constraints: list[dict[str, Any]], lang: str) -> str:
    from langadapt.ifeval import instruction_text

    parts = [task.format(topic=topic)] + [instruction_text(c["id"], c["kwargs"], lang) for c in constraints]
    return "\n".join(parts)


def build_ifeval_set(lang: str, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` Google-IFEval-format records in ``lang``: task x topic x one or two compatible constraints,
    the same for the same (lang, n, seed)."""
    s = _seeds(lang)
    cons = usable_constraints(lang)
    rng = random.Random(f"ifeval:{lang}:{seed}")
    out = []
    for i in range(n):
        task, topic = rng.choice(s["tasks"]), rng.choice(s["topics"])
        chosen = [cons[i % len(cons)]]  # every constraint appears, in turn
        if rng.random() < 0.5:
            others = [c for c in cons if _compatible(c, chosen[0])]
            if others:
                chosen.append(rng.choice(others))
        out.append({
            "key": i,
            "prompt": _prompt(task, topic, chosen, lang),
            "instruction_id_list": [c["id"] for c in chosen],
            "kwargs": [c["kwargs"] for c in chosen],
        })
    return out


def load_ifeval_file(path: str | Path) -> list[dict[str, Any]]:
    """Records of a user IFEval file, normalised to Google IFEval form; a record in the wrong format is
    a ``DataError`` naming the file and line."""
    from langadapt.ifeval import default_semantics, read_file

    out = []
    for n, it in enumerate(read_file(path), 1):
        out.append({"key": it.key if it.key is not None else n, "prompt": it.prompt, "instruction_id_list": it.ids,
                    "kwargs": it.kwargs, "semantics": default_semantics(it.format)})
    if not out:
        raise DataError(f"{path}: no IFEval records")
    return out


def build_multi_turn(lang: str, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` two-turn items: ``{key, mode: add|change, turn1: record, followup, turn2: record}`` where
    each record is Google-IFEval form (``turn2`` carries the constraints active in the second turn)."""
    from langadapt.ifeval import instruction_text

    s = _seeds(lang)
    cons = usable_constraints(lang)
    rng = random.Random(f"multi_turn:{lang}:{seed}")
    out = []
    for i in range(n):
        task, topic = rng.choice(s["tasks"]), rng.choice(s["topics"])
        a = cons[(i * 7) % len(cons)]
        mode = "add" if i % 2 == 0 else "change"
        if mode == "add":
            b = rng.choice([c for c in cons if _compatible(c, a)] or [c for c in cons if c != a])
            active = [a, b]
        else:
            # prefer changing the same constraint's value (3 bullets -> 5), else swap for another one
            same = [c for c in cons if c["id"] == a["id"] and c["kwargs"] != a["kwargs"]]
            b = rng.choice(same or [c for c in cons if c != a])
            active = [b]
        followup = s[f"followup_{mode}"].format(instruction=instruction_text(b["id"], b["kwargs"], lang))
        out.append({
            "key": i,
            "mode": mode,
            "turn1": {"key": i, "prompt": _prompt(task, topic, [a], lang),
                      "instruction_id_list": [a["id"]], "kwargs": [a["kwargs"]]},
            "followup": followup,
            "turn2": {"key": i, "prompt": followup, "instruction_id_list": [c["id"] for c in active],
                      "kwargs": [c["kwargs"] for c in active]},
        })
    return out


def summarize_ifeval(scores: dict[str, Any], prefix: str) -> dict[str, float]:
    """The four headline accuracies of a ``score_ifeval`` result as flat metrics."""
    return {
        f"{prefix}_prompt_strict": scores["prompt_level_strict"],
        f"{prefix}_prompt_loose": scores["prompt_level_loose"],
        f"{prefix}_inst_strict": scores["instruction_level_strict"],
        f"{prefix}_inst_loose": scores["instruction_level_loose"],
    }
