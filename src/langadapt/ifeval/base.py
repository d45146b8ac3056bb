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
    """``th-TH`` -> ``th``; a code langadapt knows (``zh-Hant``, ``zh-Hans``) stays itself."""
    from langadapt.text.profiles import profile_value

    return lang if "-" not in lang or profile_value(lang, "script") else lang.split("-")[0]


def unspaced(lang: str) -> bool:
    """Written without spaces between words (the profile's ``word_spacing: false``): word counts need a
    segmenter, not \\w+ or spaces."""
    from langadapt.text.profiles import word_spacing

    return not word_spacing(base_lang(lang))


def lang_data(lang: str) -> dict[str, Any]:
    """The ``ifeval:`` section of the language's profile (``text/languages/<lang>.yaml``: instruction
    texts, units, relation phrases, constrained-response options, postscript markers, particles, SEA-HELM
    rules; ``other_languages.yaml`` for a language without one); {} when there is none. English
    (``en.yaml``) is the default of every text."""
    from langadapt.text.profiles import language_dirs

    return _lang_data(lang, language_dirs())


@functools.lru_cache(maxsize=256)
def _lang_data(lang: str, _dirs: tuple) -> dict[str, Any]:  # cached per profile directories; read-only
    from langadapt.text.profiles import profile_value

    return profile_value(base_lang(lang), "ifeval", default={}) or {}


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
