"""change_case:* and punctuation:* checkers: capital_word_frequency, english_capital,
english_lowercase, no_comma."""

from __future__ import annotations

import re

from langadapt.ifeval.base import Ctx, compare, lang_data
from langadapt.ifeval.language import is_language

_LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F]+(?:['’-][A-Za-z\u00C0-\u024F]+)*")


def capital_word_frequency(r: str, kw: dict, ctx: Ctx) -> bool:
    """Google counts NLTK ``word_tokenize`` tokens that are upper case; langadapt counts Latin words
    (a Thai text's tokens are not cased)."""
    if ctx.semantics == "google":
        from langadapt.ifeval.punkt import word_tokenize

        n = sum(1 for w in word_tokenize(r) if w.isupper())
    else:
        n = sum(1 for w in _LATIN_WORD.findall(r) if w.isupper())
    return compare(n, kw["capital_relation"], kw["capital_frequency"])


def english_capital(r: str, kw: dict, ctx: Ctx) -> bool:
    return r.isupper() and is_language(r, "en", ctx)


def english_lowercase(r: str, kw: dict, ctx: Ctx) -> bool:
    return r.islower() and is_language(r, "en", ctx)


def no_comma(r: str, kw: dict, ctx: Ctx) -> bool:
    """IFEval checks ``,``; langadapt also the full-width comma, and the enumeration comma in Chinese."""
    if ctx.semantics == "google":
        return not re.search(r"\,", r)
    commas = lang_data(ctx.lang).get("commas") or ",，"  # the profile's ifeval.commas (Chinese: also 、)
    return not any(c in r for c in commas)
