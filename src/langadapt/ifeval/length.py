"""length_constraints:* checkers: number_words, number_sentences, number_paragraphs,
nth_paragraph_first_word."""

from __future__ import annotations

import re

from langadapt.ifeval.base import Ctx, compare, is_ascii_wordlike, sentences, words


def number_words(r: str, kw: dict, ctx: Ctx) -> bool:
    return compare(len(words(r, ctx)), kw["relation"], kw["num_words"])


def number_sentences(r: str, kw: dict, ctx: Ctx) -> bool:
    return compare(len(sentences(r, ctx)), kw["relation"], kw["num_sentences"])


def number_paragraphs(r: str, kw: dict, ctx: Ctx) -> bool:
    """Paragraphs separated by ``***``. Google (and langadapt) fail an empty paragraph in the middle;
    SEA only skips it (a model that frames each paragraph with ``***`` is not wrong there)."""
    paragraphs = re.split(r"\s?\*\*\*\s?", r)
    if ctx.semantics == "sea":
        return sum(1 for p in paragraphs if p.strip()) == kw["num_paragraphs"]
    n = len(paragraphs)
    for i, p in enumerate(paragraphs):
        if not p.strip():
            if i == 0 or i == len(paragraphs) - 1:
                n -= 1
            else:
                return False
    return n == kw["num_paragraphs"]


_FIRST_WORD_PUNCT = {".", ",", "?", "!", "'", '"'}


def first_word_of(paragraph: str, want: str) -> bool:
    """IFEval's first word (first whitespace token, quotes stripped, cut at punctuation) for a Latin
    word; for a word of an unspaced script, the paragraph must begin with it (quotes stripped)."""
    want = want.strip().lower()
    if is_ascii_wordlike(want):
        word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
        first = ""
        for ch in word:
            if ch in _FIRST_WORD_PUNCT:
                break
            first += ch.lower()
        return first == want
    return paragraph.lstrip("'\"“‘«「").lower().startswith(want)


def nth_paragraph_first_word(r: str, kw: dict, ctx: Ctx) -> bool:
    paragraphs = re.split(r"\n\n", r)
    n = sum(1 for p in paragraphs if p.strip())
    nth = kw["nth_paragraph"]
    if nth > n:
        return False
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    return n == kw["num_paragraphs"] and first_word_of(paragraph, kw["first_word"])
