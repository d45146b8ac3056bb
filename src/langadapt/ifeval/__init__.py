"""langadapt.ifeval: verifiable instructions (IFEval), one package for synth and evaluation.

- ``registry``: every id (Google IFEval's 25, SEA-IFEval's 21, ``langadapt:*``), kwargs, ``verify``,
  ``instruction_text``, ``conflicting``; checkers by family in ``keywords``, ``length``, ``content``,
  ``format``, ``startend``, ``combination``, ``case`` (change_case and punctuation), ``language``,
  ``langadapt_ids``; per-language data (texts, options, markers) in ``text/languages/<code>.yaml``.
- ``readers``: Google and SEA-IFEval files; ``scoring``: strict, loose and language-normalised.

    langadapt ifeval score samples/data/th/ifeval-th.jsonl --responses answers.jsonl
"""

from langadapt.ifeval.base import RELATIONS, SEMANTICS, InstructionError, lang_data
from langadapt.ifeval.language import is_language
from langadapt.ifeval.readers import Item, parse_ifeval_record, parse_record, read_file, record_format
from langadapt.ifeval.registry import (
    CONFLICT_GROUPS,
    GOOGLE_IDS,
    IFEVAL_IDS,
    REGISTRY,
    SEA_IDS,
    Constraint,
    Kwarg,
    conflict_group,
    conflicting,
    generatable,
    get,
    instruction_text,
    loose_variants,
    normalize_kwargs,
    verify,
)
from langadapt.ifeval.scoring import default_semantics, score_ifeval, score_items

__all__ = [
    "CONFLICT_GROUPS",
    "GOOGLE_IDS",
    "IFEVAL_IDS",
    "REGISTRY",
    "RELATIONS",
    "SEA_IDS",
    "SEMANTICS",
    "Constraint",
    "InstructionError",
    "Item",
    "Kwarg",
    "conflict_group",
    "conflicting",
    "default_semantics",
    "generatable",
    "get",
    "instruction_text",
    "is_language",
    "lang_data",
    "loose_variants",
    "normalize_kwargs",
    "parse_ifeval_record",
    "parse_record",
    "read_file",
    "record_format",
    "score_ifeval",
    "score_items",
    "verify",
]
