"""Readers for the two published IFEval formats, each as its maintainers write it:

- Google IFEval (``google-research/instruction_following_eval/data/input_data.jsonl``; lm-eval's
  ``ifeval`` task): ``{key, prompt, instruction_id_list, kwargs}``; responses are ``{prompt, response}``
  lines (``input_response_data_*.jsonl``), joined to their prompt by the prompt text.
- SEA-IFEval (SEA-HELM's ``seahelm_tasks/instruction_following/ifeval/data/<lang>_sea_ifeval.jsonl``;
  IFEval-Th is ``th_sea_ifeval.jsonl``): ``{id, prompts: [{text}], prompt_templates, metadata: {language,
  category, subcategory}, kwargs: [{...}]}``, one instruction per record.

Both read into ``Item(key, prompt, ids, kwargs, lang, format, response)``. An unknown id or kwarg is an
``InstructionError`` (exit 2) naming the file, line and id: a record is never scored as a silent false.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langadapt.errors import DataError
from langadapt.ifeval.registry import normalize_kwargs

GOOGLE_INPUT = "samples/data/en/ifeval-input_data.jsonl"


@dataclass
class Item:
    key: Any
    prompt: str
    ids: list[str]
    kwargs: list[dict[str, Any]]
    lang: str
    format: str  # google | sea
    response: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_google(self) -> dict[str, Any]:
        """The Google IFEval form (what the eval stage writes and generates from)."""
        rec = {"key": self.key, "prompt": self.prompt, "instruction_id_list": self.ids, "kwargs": self.kwargs,
               "lang": self.lang, "format": self.format}
        if self.response is not None:
            rec["response"] = self.response
        return rec


def record_format(rec: Any) -> str | None:
    """``google``, ``sea``, ``response`` (a ``{prompt, response}`` line without ids) or None."""
    if not isinstance(rec, dict):
        return None
    if "instruction_id_list" in rec:
        return "google"
    if "prompts" in rec or "metadata" in rec:
        return "sea"
    if "prompt" in rec and "response" in rec:
        return "response"
    return None


def parse_record(rec: Any, where: str, lang: str | None = None) -> Item:
    """One record of either format; malformed records raise ``DataError`` naming ``where``."""
    fmt = record_format(rec)
    if fmt == "google":
        prompt, ids, kwargs_list = rec.get("prompt"), rec["instruction_id_list"], rec.get("kwargs")
        key = rec.get("key", rec.get("id"))
        rlang = lang or rec.get("lang") or "en"
    elif fmt == "sea":
        prompts = rec.get("prompts")
        if not isinstance(prompts, list) or not prompts or not isinstance(prompts[0], dict):
            raise DataError(f"{where}: SEA-IFEval record needs 'prompts': [{{'text': ...}}]")
        prompt = prompts[0].get("text")
        meta = rec.get("metadata")
        ids = meta.get("subcategory") if isinstance(meta, dict) else None
        if isinstance(ids, str):
            ids = [ids]
        kwargs_list = rec.get("kwargs")
        if isinstance(kwargs_list, dict) or kwargs_list is None:
            kwargs_list = [kwargs_list or {}] * (len(ids) if isinstance(ids, list) else 1)
        key = rec.get("id", rec.get("key"))
        rlang = lang or (meta.get("language") if isinstance(meta, dict) else None) or "th"
    else:
        raise DataError(
            f"{where}: not an IFEval record (needs 'instruction_id_list' + 'prompt', or SEA-IFEval "
            "'prompts' + 'metadata.subcategory')"
        )
    if not isinstance(prompt, str):
        raise DataError(f"{where}: the prompt must be a string")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise DataError(f"{where}: the instruction ids must be a non-empty list of strings")
    if kwargs_list is None:
        kwargs_list = [{} for _ in ids]
    if not isinstance(kwargs_list, list) or len(kwargs_list) != len(ids):
        raise DataError(f"{where}: 'kwargs' must be a list with one object per instruction id ({len(ids)})")
    kws = [normalize_kwargs(cid, kw, where=f"{where} (key {key})") for cid, kw in zip(ids, kwargs_list)]
    response = rec.get("response")
    if response is not None and not isinstance(response, str):
        raise DataError(f"{where}: 'response' must be a string")
    return Item(key=key, prompt=prompt, ids=list(ids), kwargs=kws, lang=rlang, format=fmt, response=response)



def parse_ifeval_record(rec: dict[str, Any], where: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    """(prompt, instruction ids, kwargs list) of a Google IFEval or SEA-IFEval record."""
    it = parse_record(rec, where)
    return it.prompt, it.ids, it.kwargs

def _lines(path: Path) -> list[tuple[int, Any]]:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: invalid JSON ({e.msg})") from None
    if not out:
        raise DataError(f"{path}: no records")
    return out


@functools.cache
def _google_prompts(path: str) -> dict[str, Item]:
    return {it.prompt: it for it in (parse_record(r, f"{path}:{n}") for n, r in _lines(Path(path)))}


def read_file(path: str | Path, *, lang: str | None = None, prompts: str | Path | None = None,
              responses: str | Path | None = None) -> list[Item]:
    """Every record of an IFEval file (either format, or ``{prompt, response}`` lines joined by prompt
    text to ``prompts``: Google's input data, by default the copy in ``samples/data``). ``responses``:
    a JSONL of ``{prompt, response}`` (or ``{key|id, response}``) joined to the records."""
    path = Path(path)
    items: list[Item] = []
    for n, rec in _lines(path):
        where = f"{path}:{n}"
        if record_format(rec) == "response":
            table = _google_prompts(str(_prompts_path(prompts)))
            base = table.get(rec["prompt"])
            if base is None:
                raise DataError(f"{where}: this prompt is in no record of {_prompts_path(prompts)} "
                                "(give the prompts file with --prompts)")
            if not isinstance(rec["response"], str):
                raise DataError(f"{where}: 'response' must be a string")
            items.append(Item(base.key, base.prompt, base.ids, base.kwargs, lang or base.lang, base.format,
                              rec["response"]))
        else:
            items.append(parse_record(rec, where, lang))
    if responses is not None:
        _join_responses(items, Path(responses))
    return items


def _prompts_path(prompts: str | Path | None) -> Path:
    if prompts is not None:
        return Path(prompts)
    here = Path.cwd()
    for root in (here, *here.parents, Path(__file__).resolve().parents[3]):
        if (root / GOOGLE_INPUT).exists():
            return root / GOOGLE_INPUT
    raise DataError(f"{GOOGLE_INPUT}: not found from {here} (give the prompts file with --prompts)")


def _join_responses(items: list[Item], path: Path) -> None:
    by_key = {str(it.key): it for it in items}
    by_prompt = {it.prompt: it for it in items}
    for n, rec in _lines(path):
        where = f"{path}:{n}"
        if not isinstance(rec, dict) or not isinstance(rec.get("response"), str):
            raise DataError(f"{where}: needs a 'response' string")
        it = by_key.get(str(rec.get("key", rec.get("id")))) if ("key" in rec or "id" in rec) else None
        it = it or by_prompt.get(rec.get("prompt"))
        if it is None:
            raise DataError(f"{where}: matches no record by key/id or prompt")
        it.response = rec["response"]
