"""keywords:* checkers: existence, frequency, forbidden_words, letter_frequency, number_frequency."""

from __future__ import annotations

import collections
import re

from langadapt.ifeval.base import Ctx, compare, is_ascii_wordlike, lang_data, unspaced


def _word_spans(text: str, lang: str) -> list[str]:
    from langadapt import text as T

    return [w.casefold() for w in T.words(text, lang)]


def count_keyword(text: str, keyword: str, ctx: Ctx, whole_word: bool | None = True) -> int:
    """Occurrences of ``keyword``. google: IFEval's regex (the keyword is a pattern; ``\\b`` only for
    forbidden words); sea: SEA-HELM's (``\\b`` for spaced languages, a plain search otherwise);
    langadapt: Latin keywords with ``\\b``, other keywords as whole segmenter words (a keyword of
    several words matches a run of consecutive words). ``whole_word=None``: SEA's case-sensitive
    existence/absence search."""
    if not keyword:
        return 0
    if ctx.semantics == "google":
        pat = r"\b" + keyword + r"\b" if whole_word else keyword
        return len(re.findall(pat, text, flags=re.IGNORECASE))
    if ctx.semantics == "sea":
        if lang_data(ctx.lang).get("sea_keyword_boundaries"):  # SEA-HELM: en id vi jv su ms
            return len(re.findall(r"\b" + keyword + r"\b", text, flags=re.IGNORECASE))
        # SEA-HELM: existence/absence search case-sensitively in these languages, frequency does not
        return len(re.findall(keyword, text, flags=0 if whole_word is None else re.IGNORECASE))
    if is_ascii_wordlike(keyword) or not unspaced(ctx.lang):
        return len(re.findall(r"\b" + re.escape(keyword) + r"\b", text, flags=re.IGNORECASE))
    toks = _word_spans(text, ctx.lang)
    kw = _word_spans(keyword, ctx.lang) or [keyword.casefold()]
    n = len(kw)
    return sum(1 for i in range(len(toks) - n + 1) if toks[i : i + n] == kw)


def existence(r: str, kw: dict, ctx: Ctx) -> bool:
    ww = None if ctx.semantics == "sea" else ctx.semantics != "google"
    return all(count_keyword(r, k, ctx, whole_word=ww) > 0 for k in kw["keywords"])


def frequency(r: str, kw: dict, ctx: Ctx) -> bool:
    word = kw["keyword"] if ctx.semantics == "sea" else kw["keyword"].strip()
    return compare(count_keyword(r, word, ctx, whole_word=ctx.semantics != "google"), kw["relation"], kw["frequency"])


def forbidden_words(r: str, kw: dict, ctx: Ctx) -> bool:
    ww = None if ctx.semantics == "sea" else True
    return not any(count_keyword(r, w, ctx, whole_word=ww) for w in kw["forbidden_words"])


def letter_frequency(r: str, kw: dict, ctx: Ctx) -> bool:
    letter = kw["letter"].strip().lower()
    return compare(collections.Counter(r.lower())[letter], kw["let_relation"], kw["let_frequency"])


def number_frequency(r: str, kw: dict, ctx: Ctx) -> bool:
    """SEA-IFEval: the number (a regex, as SEA-HELM searches it) appears ``relation`` ``frequency`` times.
    langadapt counts whole numbers only ("3" is not in "30")."""
    pat = str(kw["number"])
    if ctx.semantics == "langadapt":
        pat = r"(?<![0-9.,])" + re.escape(pat) + r"(?![0-9]|[.,][0-9])"
    return compare(len(re.findall(pat, r)), kw["relation"], kw["frequency"])
