"""``langadapt:*`` checkers: constraints no IFEval set has, for languages it does not cover (script
purity, Thai polite particles, native digits, word-count ranges, start phrase, blank-line paragraphs).
Their language data (particles, digits) comes from the language's profile YAML."""

from __future__ import annotations

import re

from langadapt.ifeval.base import Ctx, InstructionError, lang_data, words
from langadapt.ifeval.language import is_language

_LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F]+(?:['’-][A-Za-z\u00C0-\u024F]+)*")


def target_script_only(r: str, kw: dict, ctx: Ctx) -> bool:
    from langadapt import text as T

    script = T.language_script(ctx.lang)
    if script == "Latin":
        return is_language(r, "en")
    return len(_LATIN_WORD.findall(r)) <= kw.get("allowance", 0) and T.dominant_script(r) == script


def particles(lang: str, which: str) -> tuple[str, ...]:
    table = lang_data(lang).get("polite_particles") or {}
    if which == "any":
        return tuple(dict.fromkeys(p for ps in table.values() for p in ps))
    return tuple(table.get(which) or ())


def polite_particle(r: str, kw: dict, ctx: Ctx) -> bool:
    """A polite particle as a word: a whole segmenter word, or the end of a run of letters (the
    segmenter may join a sentence-final particle to the word before it: "ไปไหนคะ"). "คะแนน" (score)
    holds "คะ" but is not a particle: a letter follows it."""
    from langadapt import text as T

    table = lang_data(ctx.lang).get("polite_particles") or {}
    if kw["which"] != "any" and kw["which"] not in table:
        raise InstructionError(f"langadapt:polite_particle: which={kw['which']!r} is not one of "
                               f"{', '.join([*table, 'any'])} (ifeval.polite_particles of {ctx.lang!r})")
    want = particles(ctx.lang, kw["which"])  # the language profile's ifeval.polite_particles
    if set(want) & set(T.words(r, ctx.lang)):
        return True
    return any(re.search(re.escape(p) + r"(?!\w)", r) for p in want)


def digits(r: str, kw: dict, ctx: Ctx) -> bool:
    native = lang_data(ctx.lang).get("native_digits", "")
    if kw["system"] == "arabic":
        return not any(c in native for c in r)
    return not re.search(r"[0-9]", r)


def word_count_range(r: str, kw: dict, ctx: Ctx) -> bool:
    from langadapt import text as T

    n = len(T.words(r, ctx.lang)) if ctx.semantics == "langadapt" else len(words(r, ctx))
    return kw["min_words"] <= n <= kw["max_words"]


def start_checker(r: str, kw: dict, ctx: Ctx) -> bool:
    return r.strip().lower().startswith(kw["start_phrase"].strip().lower())


def paragraph_count(r: str, kw: dict, ctx: Ctx) -> bool:
    from langadapt import text as T

    return len(T.paragraphs(r)) == kw["num_paragraphs"]
