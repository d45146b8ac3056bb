"""The ``synth`` stage: verified SFT examples from every configured source.

    langadapt synth                                   # params.yaml synth.*, paths.*
    langadapt synth -s synth.autoif=50 -s synth.teacher.kind=openai -s synth.teacher.url=http://127.0.0.1:8000/v1

Reads the clean corpus (``paths.clean``, held-out documents skipped), the translation pairs
(``paths.translation_pairs``, train split) and, with a teacher, the English IFEval prompts
(``paths.ifeval_seed``). Writes ``{paths.synth}/sft.jsonl`` (SFTExample records) and
``{paths.synth}/synth.excluded.jsonl`` (every drop with its reason) as one directory replaced atomically,
``{paths.metrics}/synth.json`` (counts by source, drop reasons, per-constraint pass rates) and
``{paths.plots}/synth_constraints.csv``. Deterministic given the inputs and ``seed``; teacher answers are
cached (``synth.teacher.cache_dir``), so a killed run restarted pays only for what it had not asked yet.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from langadapt.config import Params
from langadapt.errors import ConfigError, DataError
from langadapt.io import atomic_dir, atomic_write, read_jsonl, write_json, write_jsonl
from langadapt.records import read_documents, read_translation_pairs
from langadapt.synth.common import SynthStats


def _p(root: Path, rel: str) -> Path:
    p = Path(rel)
    return p if p.is_absolute() else root / p


def run_synth(cfg: Params, root: str | Path = ".", teacher: Any = None) -> dict[str, Any]:
    """Run every source ``cfg.synth`` asks for; returns the metrics written to metrics/synth.json."""
    from langadapt.ifeval import REGISTRY
    from langadapt.synth.autoif import run_autoif
    from langadapt.synth.backtranslate import _title_of, back_translate, paraphrase_instructions
    from langadapt.synth.teachers import make_teacher
    from langadapt.synth.translate import pair_examples, translate_ifeval

    root = Path(root)
    s, lang, seed = cfg.synth, cfg.language.code, cfg.seed
    unknown = [c for c in s.constraint_ids if c not in REGISTRY]
    if unknown:
        raise ConfigError(f"synth.constraint_ids: unknown constraint id(s) {unknown} "
                          "(see langadapt.ifeval.REGISTRY)")
    needs_teacher = s.autoif > 0 or s.translate_ifeval > 0 or (s.paraphrase and s.back_translation > 0)
    if teacher is None and needs_teacher:
        teacher = make_teacher(s.teacher, seed, root)
        if teacher is None:
            raise ConfigError("synth.teacher.kind: synth.autoif / synth.translate_ifeval > 0 and synth.paraphrase "
                              "need a teacher (hf or openai); turn them off or configure synth.teacher")
    stats = SynthStats()
    examples = []

    clean = _p(root, cfg.paths.clean)
    titles: list[str] = []
    if s.back_translation > 0 or s.autoif > 0:
        if not clean.exists():
            raise DataError(f"{clean}: clean corpus not found (paths.clean; run `langadapt dedup` first)")
        docs = list(read_documents(clean))
        from langadapt.records import is_heldout

        titles = sorted({t for d in docs if not is_heldout(d.id, cfg.data.heldout_fraction)
                         for t in [_title_of(d)] if t})[:200]
        bt = back_translate(docs, lang, s.back_translation, s, seed, stats, cfg.data.heldout_fraction)
        if s.paraphrase:
            paraphrase_instructions(teacher, bt, lang, s, stats)
        examples += bt

    if s.translation_pairs > 0:
        pairs_dir = _p(root, cfg.paths.translation_pairs)
        pairs = read_translation_pairs(pairs_dir, lang)
        if not pairs:
            stats.dropped["translation_pairs"]["no_pair_files_for_language"] += 1
        examples += pair_examples(pairs, lang, s.translation_pairs, seed, cfg.data.heldout_pairs_fraction, stats)

    if s.translate_ifeval > 0:
        seed_path = _p(root, cfg.paths.ifeval_seed)
        examples += translate_ifeval(teacher, list(read_jsonl(seed_path)), lang, s.translate_ifeval, s, seed, stats)

    if s.autoif > 0:
        examples += run_autoif(teacher, lang, s.autoif, s, seed, stats, topics=titles)

    out_dir = _p(root, cfg.paths.synth)
    with atomic_dir(out_dir) as d:
        write_jsonl(d / "sft.jsonl", examples)
        write_jsonl(d / "synth.excluded.jsonl", stats.excluded)

    rates = stats.pass_rates()
    metrics = {
        "lang": lang,
        "examples": len(examples),
        "by_source": dict(sorted(stats.kept.items())),
        "multi_turn": dict(sorted(stats.multi_turn.items())),
        "dropped": {src: dict(sorted(c.items())) for src, c in sorted(stats.dropped.items()) if c},
        "constraints_used": dict(sorted(stats.used.items())),
        "pass_rates": rates,
        "teacher_requests": stats.teacher_calls,
        "mean_response_chars": round(sum(len(e.messages[-1]["content"]) for e in examples) / len(examples), 1)
        if examples else 0.0,
    }
    if teacher is not None and hasattr(teacher, "cache_hits"):
        metrics["teacher_cache_hits"] = teacher.cache_hits
        metrics["teacher_http_requests"] = teacher.requests_made
    write_json(_p(root, cfg.paths.metrics) / "synth.json", metrics)
    _write_plot(_p(root, cfg.paths.plots) / "synth_constraints.csv", stats)
    return metrics


def _write_plot(path: Path, stats: SynthStats) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["constraint", "source", "checked", "passed", "pass_rate", "used"])
    for source, per in stats.pass_rates().items():
        for cid, r in per.items():
            w.writerow([cid, source, r["checked"], r["passed"], r["rate"], stats.used.get(cid, 0)])
    with atomic_write(path) as f:
        f.write(buf.getvalue())
