"""detectable_content:* checkers: number_placeholders, postscript."""

from __future__ import annotations

import functools
import re

from langadapt.ifeval.base import Ctx, lang_data


def number_placeholders(r: str, kw: dict, ctx: Ctx) -> bool:
    found = re.findall(r"\[.*?\]", r)
    if ctx.semantics != "google":  # SEA: an empty [] is no placeholder
        found = [p for p in found if p.strip("[").strip("]").strip()]
    return len(found) >= kw["num_placeholders"]


def marker_pattern(marker: str) -> str:
    """A postscript marker as a pattern allowing one space after each period ("ป. ล." is "ป.ล.")."""
    return re.escape(marker.lower()).replace(r"\.", r"\.\s?")


def _markers() -> frozenset[str]:
    """Every profile's ``ifeval.postscript_markers`` (English's: P.S., P.P.S)."""
    from langadapt.text.profiles import language_dirs

    return _markers_in(language_dirs())


@functools.lru_cache(maxsize=8)
def _markers_in(_dirs: tuple) -> frozenset[str]:
    from langadapt.text.profiles import known_languages

    out: set[str] = set()
    for code in known_languages():
        out.update(lang_data(code).get("postscript_markers") or [])
    return frozenset(out)


def postscript(r: str, kw: dict, ctx: Ctx) -> bool:
    """Google: ``P.P.S``/``P.S.`` with optional spaces, any other marker literally. SEA and langadapt:
    every marker of a language profile (``postscript_markers``, e.g. ป.ล.) with optional spaces."""
    marker = kw["postscript_marker"].strip()
    if marker == "P.P.S":
        pat = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pat = r"\s*p\.\s?s\..*$"
    elif ctx.semantics != "google" and marker in _markers():
        pat = r"\s*" + marker_pattern(marker) + r".*$"
    else:
        pat = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pat, r.lower(), flags=re.MULTILINE))
