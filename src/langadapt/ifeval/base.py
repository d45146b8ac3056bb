"""What every checker shares: the check context, relations, per-language IFEval data, text helpers.

Three semantics (``Ctx.semantics``):
- ``google``: Google's ``instruction_following_eval`` as lm-eval ports it (English IFEval). Words are
  ``\\w+`` runs, sentences NLTK punkt (English), keywords regexes. For scripts without spaces between
  words (th, bo, zh, lo, km, my) words and sentences come from the language's segmenter: ``\\w+``
  cuts a Thai phrase at every combining vowel, which no reader calls a word.
- ``sea``: SEA-HELM's ``seahelm_tasks/instruction_following/ifeval/instruction_checkers.py`` (SEA-IFEval,
  IFEval-Th): sentences and paragraphs are ``***`` blocks, no empty placeholders, a repeated prompt
  needs an answer after it, ``exactly`` relations, postscript markers with optional spaces.
- ``langadapt``: what the synth verifiers and the generated eval sets use: SEA's fixes, with words,
  sentences and keywords by the language's segmenter (a Thai keyword matches whole words, so
  "คะแนน" does not contain the particle "คะ").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from langadapt.errors import DataError

RELATIONS = ("less than", "at least", "exactly")
SEMANTICS = ("google", "sea", "langadapt")
# Languages written without spaces between words: word counts need a segmenter, not \w+ or spaces.
UNSPACED = ("th", "lo", "km", "my", "bo", "zh", "zh-Hant", "zh-Hans", "ja")
# SEA-HELM's keyword rule: \b-delimited, case-insensitive for these; a plain regex search for the rest.
SEA_SPACED = ("en", "id", "vi", "jv", "su", "ms")


class InstructionError(DataError):
    """An unknown instruction id or kwarg, or a kwarg of the wrong type: the record cannot be scored."""

    exit_code = 2


@dataclass(frozen=True)
class Ctx:
    """What a checker may look at besides the response: the language, the semantics, the prompt."""

    lang: str = "th"
    semantics: str = "langadapt"
    prompt: str | None = None


def compare(count: int, relation: str, n: int) -> bool:
    if relation == "less than":
        return count < n
    if relation == "exactly":
        return count == n
    return count >= n


def base_lang(lang: str) -> str:
    return lang.split("-")[0] if lang not in ("zh-Hant", "zh-Hans") else lang


def unspaced(lang: str) -> bool:
    return lang in UNSPACED or base_lang(lang) in UNSPACED


@functools.cache
def lang_data(lang: str) -> dict[str, Any]:
    """The ``ifeval:`` section of ``langadapt/text/languages/<lang>.yaml`` (instruction texts, units,
    relation phrases, constrained-response options, postscript markers, particles); {} for a language
    without a profile (English texts are the code's defaults)."""
    from langadapt.text.profiles import LANGUAGES_DIR, language_profile

    if not (LANGUAGES_DIR / f"{lang}.yaml").exists():
        return {}
    return language_profile(lang).get("ifeval") or {}


# --- words, sentences, paragraphs --------------------------------------------------------------------

_W = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.DOTALL)
_HAS_WORD_CHAR = re.compile(r"\w")


def google_words(text: str) -> list[str]:
    """IFEval's words: NLTK ``RegexpTokenizer(r"\\w+")`` (a hyphen or apostrophe splits a word)."""
    return _W.findall(text)


def words(text: str, ctx: Ctx) -> list[str]:
    from langadapt import text as T

    if unspaced(ctx.lang) or ctx.semantics == "langadapt" and ctx.lang != "en":
        return T.words(text, ctx.lang)
    return google_words(text)


def sentences(text: str, ctx: Ctx) -> list[str]:
    """Sentences as the semantics counts them: SEA's ``***`` blocks; punkt for Google English; else the
    language's segmenter, without lines that hold no letter or digit (``***``, ``---`` dividers)."""
    if ctx.semantics == "sea":
        return [s for s in text.strip("*").split("***") if s.strip()]
    if ctx.semantics == "google" and not unspaced(ctx.lang):
        from langadapt.ifeval.punkt import sent_tokenize

        return sent_tokenize(text)
    from langadapt import text as T

    return [s for s in T.sentences(text, ctx.lang) if _HAS_WORD_CHAR.search(s)]


def is_ascii_wordlike(s: str) -> bool:
    return re.fullmatch(r"[\x00-\x7F\u00C0-\u024F]+", s) is not None
