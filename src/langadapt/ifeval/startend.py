"""startend:* checkers: end_checker, quotation, first_word (SEA-IFEval)."""

from __future__ import annotations

from langadapt.ifeval.base import Ctx


def end_checker(r: str, kw: dict, ctx: Ctx) -> bool:
    if ctx.semantics == "sea":
        return r.strip().lower().endswith(kw["end_phrase"].lower())
    return r.strip().strip('"').lower().endswith(kw["end_phrase"].strip().lower())


def quotation(r: str, kw: dict, ctx: Ctx) -> bool:
    value = r.strip()
    if ctx.semantics != "sea":
        return len(value) > 1 and value[0] == '"' and value[-1] == '"'
    return value.startswith('"') and value.endswith('"') and bool(value.strip('"').strip())


def first_word(r: str, kw: dict, ctx: Ctx) -> bool:
    """SEA-IFEval ``startend:first_word``: the stripped response starts with the word (case-insensitive)."""
    return r.strip().lower().startswith(kw["first_word"].lower())
