"""The one registry of verifiable instructions: Google IFEval's 25 ids, SEA-IFEval's two more
(``startend:first_word``, ``keywords:number_frequency``) and the ``langadapt:*`` ids; their kwargs,
``verify`` (strict and loose) and ``instruction_text``; and ``conflicting`` (which constraints cannot be
asked together). Synth (AutoIF, back-translation, translated prompts) and evaluation import this.

    from langadapt.ifeval import verify, instruction_text
    verify("length_constraints:number_words", {"relation": "less than", "num_words": 50}, text, "th")
    verify("detectable_content:postscript", {"postscript_marker": "ป.ล."}, text, "th", semantics="sea")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langadapt.ifeval import (
    case,
    combination,
    content,
    format,
    keywords,
    langadapt_ids,
    language,
    length,
    startend,
)
from langadapt.ifeval.base import RELATIONS, SEMANTICS, Ctx, InstructionError, lang_data


@dataclass(frozen=True)
class Kwarg:
    """One kwarg: its type (int | str | list | relation) and whether it may be omitted."""

    type: str
    required: bool = True
    default: Any = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Constraint:
    id: str
    kwargs: dict[str, Kwarg]
    check: Callable[[str, dict, Ctx], bool]
    unit: str | None = None  # count unit of `{rel}` in the instruction text
    count_key: str | None = None
    relation_key: str | None = None
    needs: str | None = None  # generated only in languages whose profile has this ``ifeval:`` key
    sets: tuple[str, ...] = ("google",)  # the published sets that have it: google, sea
    one_of: tuple[str, ...] = ()  # exactly one of these kwargs (Google and SEA name one kwarg two ways)


INT, STR, LIST = Kwarg("int"), Kwarg("str"), Kwarg("list")
REL = Kwarg("relation", choices=RELATIONS)
OPT_STR, OPT_INT = Kwarg("str", required=False), Kwarg("int", required=False)
GS = ("google", "sea")
_L = ("langadapt",)

_ALL = [
    Constraint("keywords:existence", {"keywords": LIST}, keywords.existence, sets=GS),
    Constraint("keywords:frequency", {"keyword": STR, "frequency": INT, "relation": REL}, keywords.frequency,
               unit="times", count_key="frequency", relation_key="relation", sets=GS),
    Constraint("keywords:forbidden_words", {"forbidden_words": LIST}, keywords.forbidden_words, sets=GS),
    Constraint("keywords:letter_frequency", {"letter": STR, "let_frequency": INT, "let_relation": REL},
               keywords.letter_frequency, unit="times", count_key="let_frequency", relation_key="let_relation"),
    Constraint("keywords:number_frequency", {"number": STR, "frequency": INT, "relation": REL},
               keywords.number_frequency, unit="times", count_key="frequency", relation_key="relation",
               sets=("sea",)),
    Constraint("language:response_language", {"language": OPT_STR, "response_language": OPT_STR},
               language.response_language, sets=GS, one_of=("language", "response_language")),
    Constraint("length_constraints:number_sentences", {"num_sentences": INT, "relation": REL},
               length.number_sentences, unit="sentences", count_key="num_sentences", relation_key="relation",
               sets=GS),
    Constraint("length_constraints:number_paragraphs", {"num_paragraphs": INT}, length.number_paragraphs, sets=GS),
    Constraint("length_constraints:number_words", {"num_words": INT, "relation": REL}, length.number_words,
               unit="words", count_key="num_words", relation_key="relation", sets=GS),
    Constraint("length_constraints:nth_paragraph_first_word",
               {"num_paragraphs": INT, "nth_paragraph": INT, "first_word": STR}, length.nth_paragraph_first_word),
    Constraint("detectable_content:number_placeholders", {"num_placeholders": INT}, content.number_placeholders,
               sets=GS),
    Constraint("detectable_content:postscript", {"postscript_marker": STR}, content.postscript, sets=GS),
    Constraint("detectable_format:number_bullet_lists", {"num_bullets": INT}, format.number_bullet_lists, sets=GS),
    Constraint("detectable_format:constrained_response", {}, format.constrained_response, sets=GS),
    Constraint("detectable_format:number_highlighted_sections", {"num_highlights": INT},
               format.number_highlighted_sections, sets=GS),
    Constraint("detectable_format:multiple_sections",
               {"section_spliter": OPT_STR, "section_title": OPT_STR, "num_sections": INT},
               format.multiple_sections, sets=GS, one_of=("section_spliter", "section_title")),
    Constraint("detectable_format:json_format", {}, format.json_format, sets=GS),
    Constraint("detectable_format:title", {}, format.title, sets=GS),
    Constraint("combination:two_responses", {}, combination.two_responses, sets=GS),
    Constraint("combination:repeat_prompt", {"prompt_to_repeat": OPT_STR}, combination.repeat_prompt, sets=GS),
    Constraint("startend:end_checker", {"end_phrase": STR}, startend.end_checker, sets=GS),
    Constraint("startend:quotation", {}, startend.quotation, sets=GS),
    Constraint("startend:first_word", {"first_word": STR}, startend.first_word, sets=("sea",)),
    Constraint("change_case:capital_word_frequency", {"capital_frequency": INT, "capital_relation": REL},
               case.capital_word_frequency, unit="times", count_key="capital_frequency",
               relation_key="capital_relation"),
    Constraint("change_case:english_capital", {}, case.english_capital),
    Constraint("change_case:english_lowercase", {}, case.english_lowercase),
    Constraint("punctuation:no_comma", {}, case.no_comma),
    # langadapt-namespaced: language-specific
    Constraint("langadapt:target_script_only", {"allowance": Kwarg("int", required=False, default=0)},
               langadapt_ids.target_script_only, sets=_L),
    Constraint("langadapt:polite_particle",
               {"which": Kwarg("str", required=False, default="any")},  # a key of ifeval.polite_particles, or any
               langadapt_ids.polite_particle, needs="polite_particles", sets=_L),
    # "thai": the language's own digits (ifeval.native_digits; the value keeps the name of the first one)
    Constraint("langadapt:digits", {"system": Kwarg("str", choices=("thai", "arabic"))}, langadapt_ids.digits,
               needs="native_digits", sets=_L),
    Constraint("langadapt:word_count_range", {"min_words": INT, "max_words": INT}, langadapt_ids.word_count_range,
               sets=_L),
    Constraint("langadapt:start_checker", {"start_phrase": STR}, langadapt_ids.start_checker, sets=_L),
    Constraint("langadapt:paragraph_count", {"num_paragraphs": INT}, langadapt_ids.paragraph_count, sets=_L),
]
REGISTRY: dict[str, Constraint] = {c.id: c for c in _ALL}
GOOGLE_IDS = tuple(c.id for c in _ALL if "google" in c.sets)
SEA_IDS = tuple(c.id for c in _ALL if "sea" in c.sets)
IFEVAL_IDS = GOOGLE_IDS


def get(instruction_id: str, where: str = "") -> Constraint:
    """The constraint with this id; an unknown id is an ``InstructionError`` (exit 2) naming ``where``."""
    try:
        return REGISTRY[instruction_id]
    except KeyError:
        pre = f"{where}: " if where else ""
        raise InstructionError(
            f"{pre}unknown constraint id {instruction_id!r} (known: {len(REGISTRY)} ids: Google IFEval's, "
            "SEA-IFEval's and langadapt:*; see langadapt.ifeval.REGISTRY)"
        ) from None


def generatable(lang: str) -> list[str]:
    """The ids langadapt may generate in ``lang``: for English Google's and langadapt's; for any other
    language only ids SEA-IFEval knows (its checkers are the reference for them) or langadapt:*."""
    out = []
    for cid, c in REGISTRY.items():
        if c.needs and not lang_data(lang).get(c.needs):
            continue
        if lang != "en" and not ({"sea", "langadapt"} & set(c.sets)):
            continue
        out.append(cid)
    return out


def _check_type(spec: Kwarg, k: str, v: Any, pre: str) -> Any:
    if spec.type == "int":
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise InstructionError(f"{pre}kwarg {k!r} must be an integer, got {v!r}")
        try:
            iv = int(v)
        except ValueError:
            raise InstructionError(f"{pre}kwarg {k!r} must be an integer, got {v!r}") from None
        if isinstance(v, float) and iv != v:
            raise InstructionError(f"{pre}kwarg {k!r} must be an integer, got {v!r}")
        v = iv
    elif spec.type in ("str", "relation"):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and spec.type == "str":
            v = str(v)  # SEA-IFEval writes some numbers as numbers
        if not isinstance(v, str):
            raise InstructionError(f"{pre}kwarg {k!r} must be a string, got {v!r}")
    elif spec.type == "list":
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise InstructionError(f"{pre}kwarg {k!r} must be a list of strings, got {v!r}")
    if spec.choices and v not in spec.choices:
        raise InstructionError(f"{pre}kwarg {k!r} must be one of {list(spec.choices)}, got {v!r}")
    return v


def normalize_kwargs(instruction_id: str, kwargs: dict[str, Any] | None, where: str = "") -> dict[str, Any]:
    """Validated kwargs: ``None`` values dropped (HF's IFEval fills every key with null), defaults filled,
    types checked; a missing, unknown or mistyped kwarg is an ``InstructionError`` naming ``where``,
    the id and the key."""
    c = get(instruction_id, where)
    pre = f"{where}: {instruction_id}: " if where else f"{instruction_id}: "
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise InstructionError(f"{pre}kwargs must be an object, got {type(kwargs).__name__}")
    out: dict[str, Any] = {}
    for k, v in kwargs.items():
        if v is None:
            continue
        spec = c.kwargs.get(k)
        if spec is None:
            raise InstructionError(f"{pre}unknown kwarg {k!r} (expected {sorted(c.kwargs) or 'none'})")
        out[k] = _check_type(spec, k, v, pre)
    for k, spec in c.kwargs.items():
        if k not in out and k not in c.one_of:
            if spec.required:
                raise InstructionError(f"{pre}missing kwarg {k!r}")
            if spec.default is not None:
                out[k] = spec.default
    if c.one_of and sum(k in out for k in c.one_of) != 1:
        raise InstructionError(f"{pre}needs exactly one of the kwargs {list(c.one_of)}")
    return out


def loose_variants(response: str) -> list[str]:
    """IFEval's loose-mode variants: as is, without ``*``, without the first/last/both lines (each also
    without ``*``)."""
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return [response, response.replace("*", ""), first, last, both,
            first.replace("*", ""), last.replace("*", ""), both.replace("*", "")]


def verify(instruction_id: str, kwargs: dict[str, Any] | None, response: str, lang: str, *,
           prompt: str | None = None, strict: bool = True, semantics: str = "langadapt") -> bool:
    """Whether ``response`` follows the constraint under ``semantics`` (google | sea | langadapt; see
    ``langadapt.ifeval.base``). An empty response never does; ``strict=False`` is IFEval's loose mode.
    Unknown ids and bad kwargs raise ``InstructionError``."""
    if semantics not in SEMANTICS:
        raise InstructionError(f"semantics must be one of {list(SEMANTICS)}, got {semantics!r}")
    c = get(instruction_id)
    kw = normalize_kwargs(instruction_id, kwargs)
    ctx = Ctx(lang=lang, semantics=semantics, prompt=prompt)
    candidates = [response] if strict else loose_variants(response)
    return any(r.strip() and c.check(r, kw, ctx) for r in candidates)


# --- instruction texts ----------------------------------------------------------------------------


def _texts(lang: str) -> dict[str, str]:
    return lang_data(lang).get("texts") or {}


def _english(key: str) -> Any:
    """English's value of an ``ifeval:`` key (text/languages/en.yaml): the default of every language."""
    return lang_data("en")[key]


def _rel(lang: str, relation: str, n: int, unit: str) -> str:
    d = lang_data(lang)
    units = d.get("units") or _english("units")
    phrases = d.get("relations") or _english("relations")
    return phrases[relation].format(n=n, unit=units.get(unit, _english("units")[unit]))


def instruction_text(instruction_id: str, kwargs: dict[str, Any] | None, lang: str) -> str:
    """The instruction asking for this constraint, in ``lang`` (its profile's ``ifeval.texts``; English
    (``en.yaml``) where a language has none)."""
    key = _text_key(instruction_id, kwargs)
    tl = lang if key in _texts(lang) else "en"
    template = _texts(tl).get(key) or _texts("en").get(key)
    if template is None:
        raise InstructionError(f"{instruction_id}: no instruction text (add it to text/languages/en.yaml ifeval.texts)")
    return template.format(**instruction_context(instruction_id, kwargs, lang))


def _text_key(instruction_id: str, kwargs: dict[str, Any] | None) -> str:
    kw = normalize_kwargs(instruction_id, kwargs)
    if instruction_id == "langadapt:target_script_only" and kw.get("allowance", 0) == 0:
        return "langadapt:target_script_only#0"
    return instruction_id


def instruction_context(instruction_id: str, kwargs: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """The values an instruction text of this constraint is filled with (``{rel}``, ``{keywords}``,
    ``{options}``...), in the language whose texts are used (``lang``'s, else English's)."""
    c = get(instruction_id)
    kw = normalize_kwargs(instruction_id, kwargs)
    tl = lang if _text_key(instruction_id, kwargs) in _texts(lang) else "en"
    d = lang_data(tl)
    ctx: dict[str, Any] = dict(kw)
    if c.unit and c.count_key and c.relation_key:
        ctx["rel"] = _rel(tl, kw[c.relation_key], kw[c.count_key], c.unit)
    sep = d.get("list_sep", _english("list_sep"))
    for k in ("keywords", "forbidden_words"):
        if k in kw:
            ctx[k] = sep.join(f'"{i}"' for i in kw[k])
    code = kw.get("language") or kw.get("response_language")
    if code:
        names = d.get("language_names") or _english("language_names")
        ctx["language_name"] = names.get(code, _english("language_names").get(code, code))
        ctx["language"] = code
    if instruction_id == "detectable_format:constrained_response":
        ctx["options"] = " / ".join(f'"{o}"' for o in format.constrained_options(tl))
    if instruction_id == "langadapt:polite_particle":  # the particles of the language asked for
        ctx["particles"] = "/".join(langadapt_ids.particles(lang, kw["which"]))
    if instruction_id == "langadapt:digits":
        ctx["digits"] = (d.get("digit_names") or _english("digit_names"))[kw["system"]]
    if "section_title" in kw:
        ctx["section_spliter"] = kw["section_title"]
    return ctx


# --- conflicts ------------------------------------------------------------------------------------

# Constraint groups: constraints of one group could contradict each other (two length limits; JSON and
# bullets; a start phrase and a repeated prompt), so an instruction asks for at most one of each.
CONFLICT_GROUPS: dict[str, tuple[str, ...]] = {
    "length": ("length_constraints:number_words", "length_constraints:number_sentences",
               "langadapt:word_count_range", "detectable_format:constrained_response"),
    "format": ("detectable_format:number_bullet_lists", "detectable_format:multiple_sections",
               "detectable_format:json_format", "length_constraints:number_paragraphs",
               "length_constraints:nth_paragraph_first_word", "langadapt:paragraph_count",
               "combination:two_responses", "startend:quotation"),
    "edges": ("startend:end_checker", "langadapt:start_checker", "startend:first_word",
              "detectable_content:postscript", "combination:repeat_prompt"),
    "keywords": ("keywords:existence", "keywords:frequency", "keywords:forbidden_words",
                 "keywords:number_frequency", "keywords:letter_frequency"),
    "markup": ("detectable_format:title", "detectable_format:number_highlighted_sections",
               "detectable_content:number_placeholders"),
    "style": ("punctuation:no_comma", "langadapt:target_script_only", "langadapt:polite_particle",
              "langadapt:digits", "language:response_language", "change_case:english_capital",
              "change_case:english_lowercase", "change_case:capital_word_frequency"),
}
_GROUP_OF = {cid: g for g, ids in CONFLICT_GROUPS.items() for cid in ids}


def conflict_group(cid: str) -> str:
    """The group of ``cid`` (its family prefix when no group lists it)."""
    return _GROUP_OF.get(cid, cid.split(":")[0])


def conflicting(a: str, b: str) -> bool:
    """Whether constraints ``a`` and ``b`` (ids) may contradict each other: the same id or the same
    group. The one definition AutoIF, back-translation and the eval sets use."""
    return a == b or conflict_group(a) == conflict_group(b)
