"""detectable_format:* checkers: number_bullet_lists, constrained_response, number_highlighted_sections,
multiple_sections, json_format, title."""

from __future__ import annotations

import json
import re

from langadapt.ifeval.base import Ctx, lang_data


def constrained_options(lang: str) -> tuple[str, ...]:
    """The yes/no/maybe answers of ``lang`` (its profile's ``constrained_options``; SEA-IFEval's wording;
    English's, IFEval's own, where a language has none)."""
    return tuple(lang_data(lang).get("constrained_options") or lang_data("en")["constrained_options"])


def number_bullet_lists(r: str, kw: dict, ctx: Ctx) -> bool:
    """Google counts ``*x`` and any ``-`` line (so a ``---`` rule is a bullet); SEA and langadapt need a
    space after the marker and text after it."""
    if ctx.semantics == "google":
        stars = re.findall(r"^\s*\*[^\*].*$", r, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*-.*$", r, flags=re.MULTILINE)
    else:
        stars = re.findall(r"^\s*\* \*?\*?[^\*\n\s].*$", r, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*- \*?\*?[^\*\n\s].*$", r, flags=re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


def constrained_response(r: str, kw: dict, ctx: Ctx) -> bool:
    value = r.strip()
    if ctx.semantics == "google":
        options = constrained_options("en")
    elif ctx.semantics == "sea":
        options = constrained_options(ctx.lang)
    else:
        options = constrained_options("en") + constrained_options(ctx.lang)
    return any(o in value for o in options)


def number_highlighted_sections(r: str, kw: dict, ctx: Ctx) -> bool:
    n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", r) if h.strip("*").strip())
    n += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", r) if h.removeprefix("**").removesuffix("**").strip())
    return n >= kw["num_highlights"]


def multiple_sections(r: str, kw: dict, ctx: Ctx) -> bool:
    """Google (``section_spliter``): split on ``\\s?SPLITTER\\s?\\d+\\s?``, at least N sections. SEA
    (``section_title``): ``\\bTITLE\\s+[\\d|\\w]+\\b`` found exactly N times."""
    if "section_title" in kw:
        pat = r"\b" + kw["section_title"] + r"\s+[\d|\w]+\b"
        return len(re.findall(pat, r)) == kw["num_sections"]
    pat = r"\s?" + kw["section_spliter"].strip() + r"\s?\d+\s?"
    return len(re.split(pat, r)) - 1 >= kw["num_sections"]


def json_format(r: str, kw: dict, ctx: Ctx) -> bool:
    if ctx.semantics != "sea":
        value = (r.strip().removeprefix("```json").removeprefix("```Json").removeprefix("```JSON")
                 .removeprefix("```").removesuffix("```").strip())
    else:  # SEA: one fence removed once, the closing one only with an opening one
        value = r.strip()
        for fence in ("```json", "```Json", "```JSON", "```"):
            if value.startswith(fence):
                value = value.removeprefix(fence).removesuffix("```").strip()
                break
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def title(r: str, kw: dict, ctx: Ctx) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", r))
