"""CLI commands of langadapt.corpus (registered on the root app by langadapt.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary


def crawl_cmd(
    seeds: Annotated[list[str], typer.Argument(metavar="SEED_URL_OR_FILE...",
                                               help="Seed URLs, or files with one URL a line.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default: params paths.raw).")] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help="Page budget (crawl.max_pages).")] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Link hops from a seed (crawl.max_depth).")] = None,
    delay: Annotated[float | None, typer.Option("--delay", help="Seconds between requests to one host (crawl.delay).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Parallel fetches (crawl.concurrency).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="Host, IP or CIDR that may be private/loopback (repeatable).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sets: SetOpt = None,
) -> None:
    """Crawl seed sites politely into WARC files; resumable: after a kill, rerun the same command.

    Stays on the seeds' hosts, obeys robots.txt and Crawl-delay, refuses private/loopback/metadata addresses unless --allow-host names them, and writes crawl-NNNNN.warc.gz, crawl-stats.json and crawl-skipped.jsonl (every skipped URL with its reason) under --out.
    """
    from tqdm.auto import tqdm

    from langadapt.corpus.crawl import crawl

    cfg = load(params, sets)
    c = cfg.crawl
    for key, val in (("max_pages", max_pages), ("max_depth", max_depth), ("delay", delay),
                     ("concurrency", concurrency)):
        if val is not None:
            setattr(c, key, val)
    if allow_host:
        c.allow_hosts = [*c.allow_hosts, *allow_host]
    out_dir = out or Path(cfg.paths.raw)
    timer = Timer()
    bar = tqdm(desc="crawl", unit="page", file=sys.stderr, mininterval=0.5, dynamic_ncols=True, leave=False)

    def on_progress(p: dict) -> None:
        bar.set_postfix(queued=p["queued"], refresh=False)
        bar.update(p["pages"] - bar.n)

    try:
        stats = crawl(seeds, out_dir, c, on_progress)
    finally:
        bar.close()
    skipped = ", ".join(f"{k} {v}" for k, v in stats["skipped"].items()) or "none"
    summary("crawl", f"{stats['pages']} pages ({stats['bytes'] / 1e6:.1f} MB) in {len(stats['warc_files'])} "
            f"WARC files under {out_dir}; skipped {stats['skipped_total']} ({skipped}); "
            f"{stats['pages_per_s'] or 0:.1f} pages/s", timer.seconds)


RankOpt = Annotated[int | None, typer.Option("--rank", help="Run only this rank's shards (with --world-size), "
                                             "e.g. from an array job; default: all shards, with corpus.executor "
                                             "(local: params <stage>.workers processes; ray: Ray tasks).")]
WorldOpt = Annotated[int | None, typer.Option("--world-size", help="Number of ranks sharing the shards.")]


def _run_stage(stage: str, fn, cfg, workers: int, rank: int | None, world_size: int | None) -> dict:
    from langadapt.corpus.shards import run_stage

    if rank is not None or world_size is not None:
        return fn(cfg, rank=rank or 0, world_size=world_size or 1)
    return run_stage(fn, cfg, workers)


def _drops(m: dict) -> str:
    d = m.get("dropped") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


def _stage_summary(stage: str, res: dict, seconds: float) -> None:
    if not res.get("complete"):
        summary(stage, f"rank done ({len(res['processed'])} shards, {len(res['skipped'])} already done); "
                "other ranks still running: the last one finalizes the output", seconds)
        return
    m = res["metrics"]
    extra = ""
    if m.get("pii_all_docs"):
        extra = f"; PII redacted in all docs {m['pii_all_docs']} (in kept docs {m.get('pii') or {}})"
    summary(stage, f"{m['docs_in']} in -> {m['docs_out']} kept; dropped: {_drops(m)}{extra}", seconds)


def extract_cmd(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None, rank: RankOpt = None,
                world_size: WorldOpt = None) -> None:
    """WARC snapshot (paths.raw) -> documents (paths.extracted): trafilatura main text, charset handling,
    script-ratio pre-filter; every skipped record with its reason; metrics/extract.json. Resumable."""
    from langadapt.corpus.extract import run_extract

    cfg = load(params, sets)
    t = Timer()
    _stage_summary("extract", _run_stage("extract", run_extract, cfg, cfg.extract.workers, rank, world_size), t.seconds)


def filter_cmd(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None, rank: RankOpt = None,
               world_size: WorldOpt = None) -> None:
    """Documents (paths.extracted) -> language id, spam/boilerplate/quality filters with the language's
    thresholds, PII redaction -> paths.filtered (+ *.excluded.jsonl with reasons); metrics/filter.json."""
    from langadapt.corpus.filter import run_filter

    cfg = load(params, sets)
    t = Timer()
    _stage_summary("filter", _run_stage("filter", run_filter, cfg, cfg.filter.workers, rank, world_size), t.seconds)


def dedup_cmd(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None, rank: RankOpt = None,
              world_size: WorldOpt = None) -> None:
    """Documents (paths.filtered) -> exact + MinHash LSH near-duplicate removal, one kept per cluster ->
    paths.clean (the clean corpus, + *.excluded.jsonl naming the kept duplicate); metrics/dedup.json."""
    from langadapt.corpus.dedup import run_dedup

    cfg = load(params, sets)
    t = Timer()
    _stage_summary("dedup", _run_stage("dedup", run_dedup, cfg, cfg.dedup.workers, rank, world_size), t.seconds)


def corpus_stats_cmd(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None,
                     examples: Annotated[int, typer.Option("--examples", "-n", help="Show N dropped documents per reason.")] = 0) -> None:
    """Tables of what extract, filter and dedup kept and dropped, by reason (from metrics/*.json)."""
    from langadapt.corpus.stats import load_metrics, render

    cfg = load(params, sets)
    dirs = {"extract": Path(cfg.paths.extracted), "filter": Path(cfg.paths.filtered), "dedup": Path(cfg.paths.clean)}
    render(load_metrics(cfg.paths.metrics), dirs, examples)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app (in pipeline order: crawl first)."""
    app.command("crawl")(handles_errors(crawl_cmd))
    app.command("extract")(handles_errors(extract_cmd))
    app.command("filter")(handles_errors(filter_cmd))
    app.command("dedup")(handles_errors(dedup_cmd))
    corpus_app = typer.Typer(help="Inspect the corpus stages (extract, filter, dedup).", no_args_is_help=True)
    corpus_app.command("stats")(handles_errors(corpus_stats_cmd))
    app.add_typer(corpus_app, name="corpus")
