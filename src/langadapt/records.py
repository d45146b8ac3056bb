"""The record types that flow between stages (their file I/O is ``langadapt.io``).

- ``Document``: ``{id, text, url, lang, meta}`` (extract -> filter -> dedup -> tokenizer/cpt/synth/eval),
  read by ``read_documents``.
- ``SFTExample``: ``{id, messages, lang, source, constraints}`` (synth -> sft/eval), ``read_sft_examples``.
- ``TranslationPair``: aligned target/English sentences (``read_translation_pairs``, ``split_pairs``).
- ``ExclusionWriter``: every dropped document goes to an exclusions file with its ``reason``.
- ``is_heldout``: the one deterministic train/held-out split (eval never sees what CPT trained on).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from langadapt.errors import DataError
from langadapt.io import jsonl_files, read_jsonl, write_jsonl


@dataclass
class Document:
    id: str
    text: str
    url: str = ""
    lang: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> Document:
        try:
            return cls(
                id=str(d["id"]),
                text=str(d["text"]),
                url=str(d.get("url") or ""),
                lang=str(d.get("lang") or ""),
                meta=dict(d.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: not a document record (needs 'id' and 'text'): {e}") from None


@dataclass
class SFTExample:
    id: str
    messages: list[dict[str, str]]
    lang: str
    source: str
    constraints: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> SFTExample:
        msgs = d.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise DataError(f"{where}: SFT example needs a non-empty 'messages' list")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise DataError(f"{where}: messages[{i}] needs role system|user|assistant")
            if not isinstance(m.get("content"), str):
                raise DataError(f"{where}: messages[{i}].content must be a string")
        return cls(
            id=str(d.get("id", "")),
            messages=[{"role": m["role"], "content": m["content"]} for m in msgs],
            lang=str(d.get("lang", "")),
            source=str(d.get("source", "")),
            constraints=list(d.get("constraints") or []),
        )


# ---------------------------------------------------------------------------------------------------
# JSONL


def read_documents(path: str | Path) -> Iterator[Document]:
    """Documents from one JSONL file or every ``*.jsonl[.gz]`` in a directory (sorted, so deterministic)."""
    for p in jsonl_files(path):
        for i, rec in enumerate(read_jsonl(p), 1):
            yield Document.from_dict(rec, where=f"{p}:{i}")


def read_sft_examples(path: str | Path) -> Iterator[SFTExample]:
    for p in jsonl_files(path):
        for i, rec in enumerate(read_jsonl(p), 1):
            yield SFTExample.from_dict(rec, where=f"{p}:{i}")


# ---------------------------------------------------------------------------------------------------
# Exclusions


class ExclusionWriter:
    """Collects dropped records with their reason; ``close()`` writes them atomically and keeps counts.

    Usage::

        with ExclusionWriter(out_dir / "shard-00000.excluded.jsonl") as ex:
            ex.drop(doc, "lang:not_th", score=0.12)
        ex.counts  # Counter({"lang:not_th": 1})
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.counts: Counter[str] = Counter()
        self._rows: list[dict[str, Any]] = []

    def drop(self, doc: Document | dict[str, Any], reason: str, **details: Any) -> None:
        rec = doc.to_dict() if isinstance(doc, Document) else dict(doc)
        rec["reason"] = reason
        if details:
            rec["details"] = details
        self._rows.append(rec)
        self.counts[reason] += 1

    def close(self) -> None:
        write_jsonl(self.path, self._rows)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


# ---------------------------------------------------------------------------------------------------
# Deterministic helpers


def stable_hash(text: str, n_bytes: int = 8) -> int:
    """A process-independent hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=n_bytes).digest(), "big")


def is_heldout(doc_id: str, fraction: float) -> bool:
    """The one train/held-out split: by a stable hash of the document id, so it never changes with
    corpus order, shard count or rerun, and a held-out document is never trained on."""
    if fraction <= 0:
        return False
    return (stable_hash("heldout:" + doc_id) % 1_000_000) < int(fraction * 1_000_000)


def shard_of(key: str, world_size: int) -> int:
    return stable_hash(key) % max(1, world_size)


# ---------------------------------------------------------------------------------------------------
# Translation pairs (TALPCo layout: data_<iso3>.txt and data_eng.txt, `id<TAB>sentence`, aligned by id)


@dataclass
class TranslationPair:
    id: str
    target: str  # the sentence in the target language
    english: str


def read_translation_pairs(directory: str | Path, lang: str) -> list[TranslationPair]:
    """Aligned target/English pairs from ``directory``; ``[]`` if this language has no pair file there
    (each language's file name is its profile's ``pair_file``; ``data_<lang>.txt`` without one)."""
    from langadapt.text.profiles import profile_value

    directory = Path(directory)
    tgt_file = directory / profile_value(lang, "pair_file", default=f"data_{lang}.txt")
    eng_file = directory / profile_value("en", "pair_file", default="data_en.txt")
    if not tgt_file.exists() or not eng_file.exists():
        return []

    def load(p: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DataError(f"{p}:{lineno}: expected 'id<TAB>sentence'")
            k, v = line.split("\t", 1)
            out[k.strip()] = v.strip()
        return out

    tgt, eng = load(tgt_file), load(eng_file)
    return [TranslationPair(k, tgt[k], eng[k]) for k in sorted(tgt, key=_natural_key) if k in eng]


def _natural_key(k: str) -> tuple[int, str]:
    return (int(k), k) if k.isdigit() else (1 << 62, k)


def split_pairs(pairs: list[TranslationPair], fraction: float) -> tuple[list[TranslationPair], list[TranslationPair]]:
    """(train, heldout): the one deterministic split of translation pairs (by id hash)."""
    train = [p for p in pairs if not is_heldout("pair:" + p.id, fraction)]
    held = [p for p in pairs if is_heldout("pair:" + p.id, fraction)]
    return train, held
