"""IFEval scores: prompt- and instruction-level accuracy, strict and loose, per instruction id, and
SEA-HELM's language-normalised accuracy (an instruction followed in the wrong language scores 0).

Under ``sea`` semantics, as SEA-HELM publishes: ``length_constraints:number_words`` is excluded for
languages written without spaces (th, lo, km, my), and listed under ``excluded``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from langadapt.errors import DataError
from langadapt.ifeval.base import SEMANTICS, InstructionError, lang_data
from langadapt.ifeval.language import is_language
from langadapt.ifeval.readers import Item, parse_record
from langadapt.ifeval.registry import verify


def default_semantics(fmt: str) -> str:
    """The reference a format is scored against: Google IFEval -> google, SEA-IFEval -> sea."""
    return "sea" if fmt == "sea" else "google"


def expected_language(item: Item) -> str:
    """The language a response must be in: the response_language kwarg, else the record's language."""
    for cid, kw in zip(item.ids, item.kwargs):
        if cid == "language:response_language":
            return kw.get("response_language") or kw.get("language")
    return item.lang


def _mean(xs: list[bool]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def score_items(items: Iterable[Item], *, semantics: str | None = None, keep_results: bool = True) -> dict[str, Any]:
    """Scores of items carrying a ``response``. ``semantics`` None: each item by its format's default."""
    if semantics is not None and semantics not in SEMANTICS:
        raise InstructionError(f"semantics must be one of {list(SEMANTICS)}, got {semantics!r}")
    p_strict: list[bool] = []
    p_loose: list[bool] = []
    p_norm: list[bool] = []
    i_strict: list[bool] = []
    i_loose: list[bool] = []
    i_norm: list[bool] = []
    lang_ok_all: list[bool] = []
    per: dict[str, dict[str, list[bool]]] = collections.defaultdict(lambda: {"strict": [], "loose": []})
    excluded: collections.Counter[str] = collections.Counter()
    results = []
    used: set[str] = set()
    langs: set[str] = set()
    for it in items:
        if it.response is None:
            raise DataError(f"record {it.key}: needs a 'response' string to score")
        sem = semantics or default_semantics(it.format)
        used.add(sem)
        langs.add(it.lang)
        strict_list, loose_list, kept = [], [], []
        for cid, kw in zip(it.ids, it.kwargs):
            if sem == "sea" and cid == "length_constraints:number_words" and lang_data(it.lang).get("sea_skips_number_words"):
                excluded[cid] += 1
                continue
            s = verify(cid, kw, it.response, it.lang, prompt=it.prompt, strict=True, semantics=sem)
            lo = s or verify(cid, kw, it.response, it.lang, prompt=it.prompt, strict=False, semantics=sem)
            strict_list.append(s)
            loose_list.append(lo)
            kept.append(cid)
            per[cid]["strict"].append(s)
            per[cid]["loose"].append(lo)
        if not kept:
            continue
        want = expected_language(it)
        lang_ok = bool(it.response.strip()) and is_language(it.response.replace("\n", " "), want)
        lang_ok_all.append(lang_ok)
        p_strict.append(all(strict_list))
        p_loose.append(all(loose_list))
        p_norm.append(all(strict_list) and lang_ok)
        i_strict += strict_list
        i_loose += loose_list
        i_norm += [s and lang_ok for s in strict_list]
        if keep_results:
            results.append({"key": it.key, "instruction_id_list": kept, "strict": strict_list,
                            "loose": loose_list, "follow_all_strict": all(strict_list),
                            "follow_all_loose": all(loose_list), "correct_language": lang_ok,
                            "expected_language": want})
    out: dict[str, Any] = {
        "lang": "/".join(sorted(langs)),
        "semantics": "/".join(sorted(used)),
        "n_prompts": len(p_strict),
        "n_instructions": len(i_strict),
        "prompt_level_strict": _mean(p_strict),
        "instruction_level_strict": _mean(i_strict),
        "prompt_level_loose": _mean(p_loose),
        "instruction_level_loose": _mean(i_loose),
        "prompt_level_lang_normalized": _mean(p_norm),
        "instruction_level_lang_normalized": _mean(i_norm),
        "correct_language_rate": _mean(lang_ok_all),
        "per_instruction": {
            cid: {"n": len(v["strict"]), "strict": _mean(v["strict"]), "loose": _mean(v["loose"])}
            for cid, v in sorted(per.items())
        },
        "excluded": dict(sorted(excluded.items())),
    }
    if keep_results:
        out["results"] = results
    return out


def score_ifeval(records: Iterable[dict[str, Any]], lang: str, *, source: str = "records",
                 keep_results: bool = True, semantics: str | None = None) -> dict[str, Any]:
    """Scores of records (either format) carrying a ``response``, in ``lang``. ``semantics`` None:
    google for Google records, sea for SEA records."""
    items = []
    for n, rec in enumerate(records, 1):
        it = parse_record(rec, f"{source}:{n}", lang)
        if it.key is None:
            it.key = n
        if it.response is None:
            raise DataError(f"{source}:{n}: needs a 'response' string to score")
        items.append(it)
    out = score_items(items, semantics=semantics, keep_results=keep_results)
    out["lang"] = lang
    return out
