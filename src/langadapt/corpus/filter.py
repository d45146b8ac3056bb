"""filter: documents -> language-identified, quality-filtered, PII-redacted documents (+ exclusions).

    langadapt filter                        # data/extracted -> data/filtered (params: filter, language)
    run_filter(cfg, rank=0, world_size=1)   # the same for one rank of any executor

Per document, in order (the first failing check names the drop):
1. language id (``langid.LanguageIdentifier``): ``lang:not_<code>``;
2. spam lists (``spam:gambling``, ``spam:adult``), then C4-like boilerplate (``boilerplate:*``; boilerplate
   lines of kept documents are removed);
3. Gopher / C4 / FineWeb quality heuristics with the language's thresholds (``quality:*``, see
   ``quality.py``), words counted by the language's segmenter;
PII (``pii.redact_pii``) is redacted before the checks, in every document, so the exclusion files hold
none either; ``metrics.pii`` counts what the kept documents had, ``pii_all_docs`` all of them.

One output shard per input shard (same name); ``shard-XXXXX.excluded.jsonl`` holds every drop with its
``reason`` and ``details``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from langadapt.corpus.langid import LanguageIdentifier
from langadapt.corpus.pii import redact_pii
from langadapt.corpus.quality import QualityFilter
from langadapt.corpus.shards import ShardTask, merge_stats, run_shards
from langadapt.io import jsonl_files, write_json, write_jsonl
from langadapt.records import ExclusionWriter, read_documents
from langadapt.text import language_profile, words


class DocumentFilter:
    """The filter stage for one document at a time: ``apply(doc) -> (reason | None, details)``; a kept
    document is modified in place (boilerplate lines removed, PII redacted, meta added)."""

    def __init__(
        self,
        lang: str,
        *,
        langid_min_score: float = 0.5,
        langid_model: str | None = None,
        thresholds: dict[str, Any] | None = None,
        redact: bool = True,
    ):
        self.lang = lang
        self.quality = QualityFilter(lang, thresholds)
        self.langid = LanguageIdentifier(
            lang,
            min_score=langid_min_score,
            min_script_ratio=self.quality.t.get("min_script_ratio"),
            model_path=langid_model,
        )
        self.redact = redact
        self.pii: Counter[str] = Counter()  # in kept documents
        self.pii_all: Counter[str] = Counter()  # in all documents (excluded ones are redacted too)
        self.boilerplate_lines = 0

    def apply(self, doc) -> tuple[str | None, dict[str, Any]]:
        if self.redact:
            # Redact first, so that exclusion files (kept for audits) hold no PII either.
            doc.text, counts = redact_pii(doc.text, self.lang)
            self.pii_all.update(counts)
            if counts:
                doc.meta["pii"] = dict(counts)
        lid = self.langid.identify(doc.text)
        if lid.reason:
            return lid.reason, lid.details
        ws = words(doc.text, self.lang)
        reason, details = self.quality.spam_check(doc.text, len(ws))
        if reason:
            return reason, details
        reason, text, details = self.quality.strip_boilerplate(doc.text)
        if reason:
            return reason, details
        if text != doc.text:
            self.boilerplate_lines += details.get("boilerplate_lines", 0)
            ws = words(text, self.lang)
        reason, details = self.quality.check(text, ws)
        if reason:
            return reason, details
        self.pii.update(doc.meta.get("pii", {}))
        doc.text = text
        doc.meta["langid_score"] = round(lid.score, 4)
        doc.meta["words"] = details["words"]
        return None, details


def filter_shard(task: ShardTask, out_dir: Path, doc_filter: DocumentFilter) -> dict[str, Any]:
    t0 = time.perf_counter()
    doc_filter.pii.clear()
    doc_filter.pii_all.clear()
    doc_filter.boilerplate_lines = 0
    kept = []
    n_in = 0
    excl = ExclusionWriter(out_dir / f"{task.name}.excluded.jsonl")
    for doc in read_documents(task.inputs[0]):
        n_in += 1
        reason, details = doc_filter.apply(doc)
        if reason:
            excl.drop(doc, reason, **details)
        else:
            kept.append(doc)
    write_jsonl(out_dir / f"{task.name}.jsonl", kept)
    excl.close()
    return {
        "docs_in": n_in,
        "docs_out": len(kept),
        "dropped": dict(excl.counts),
        "pii": dict(doc_filter.pii),
        "pii_all_docs": dict(doc_filter.pii_all),
        "boilerplate_lines_removed": doc_filter.boilerplate_lines,
        "words_out": sum(d.meta.get("words", 0) for d in kept),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def filter_tasks(in_dir: str | Path) -> list[ShardTask]:
    return [ShardTask(i, (str(p),)) for i, p in enumerate(jsonl_files(in_dir))]


def run_filter(cfg, rank: int = 0, world_size: int = 1, *, finalize: bool = True, mapper=None) -> dict[str, Any]:
    """Filter this rank's shards; when the stage is complete, write ``metrics/filter.json``."""
    p = cfg.filter
    lang = cfg.language.code
    tasks = filter_tasks(cfg.paths.extracted)
    doc_filter = DocumentFilter(
        lang,
        langid_min_score=p.langid_min_score,
        langid_model=p.langid_model,
        thresholds=p.thresholds,
        redact=p.redact_pii,
    )
    params = {"lang": lang, **p.model_dump(exclude={"workers"}), "profile": language_profile(lang)}
    run = run_shards(
        tasks,
        cfg.paths.filtered,
        lambda t, out: filter_shard(t, out, doc_filter),
        params,
        rank=rank,
        world_size=world_size,
        finalize=finalize,
    )
    result: dict[str, Any] = {"complete": run.complete, "processed": run.processed, "skipped": run.skipped}
    if run.complete:
        metrics = {"stage": "filter", "lang": lang, "shards": len(tasks), **merge_stats(run.shard_stats)}
        metrics.setdefault("pii", {})
        metrics.setdefault("pii_all_docs", {})
        write_json(Path(cfg.paths.metrics) / "filter.json", metrics)
        result["metrics"] = metrics
    return result
