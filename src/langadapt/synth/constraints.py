"""Moved to ``langadapt.ifeval`` (one package for synth and evaluation). This module re-exports it so
existing imports keep working; new code imports ``langadapt.ifeval``."""

from __future__ import annotations

from typing import Any

from langadapt.ifeval import (  # noqa: F401
    IFEVAL_IDS,
    LANGS,
    REGISTRY,
    Constraint,
    Kwarg,
    conflicting,
    get,
    instruction_text,
    is_language,
    loose_variants,
    normalize_kwargs,
    score_ifeval,
    verify,
)
from langadapt.ifeval.readers import parse_record


def parse_ifeval_record(rec: dict[str, Any], where: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    """(prompt, instruction ids, kwargs list) of a Google IFEval or SEA-IFEval record."""
    it = parse_record(rec, where)
    return it.prompt, it.ids, it.kwargs
