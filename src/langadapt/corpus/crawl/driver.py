"""The crawl driver: the main loop that dispatches fetches, handles outcomes and checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from langadapt.config import CrawlParams
from langadapt.corpus.crawl.fetch import Fetcher, Outcome, fetch_page, guarded
from langadapt.corpus.crawl.frontier import HostSlot, Task, backoff_seconds
from langadapt.corpus.crawl.robots import fetch_robots, robots_politeness_delay
from langadapt.corpus.crawl.state import STATE_FILE, CrawlState
from langadapt.corpus.crawl.urls import normalize_url, origin_of, read_seeds, url_host
from langadapt.corpus.crawl.warc import WarcParts
from langadapt.errors import ConfigError, DataError

STATS_FILE = "crawl-stats.json"
SKIPPED_FILE = "crawl-skipped.jsonl"
COMMIT_EVERY_S = 1.0  # checkpoint interval: a kill loses at most this much work (which is refetched)


def run_crawl(
    seeds: list[str],
    out: str | Path,
    cfg: CrawlParams,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Crawl from ``seeds`` into ``out`` (resuming a crawl found there); returns the stats dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    fingerprint = {"seeds": sorted(seeds), "max_depth": cfg.max_depth, "allow_hosts": sorted(cfg.allow_hosts)}
    if not state_path.exists() and any(out.glob("crawl-*.warc.gz")):
        raise DataError(
            f"{out}: holds WARC files but no crawl state ({STATE_FILE}); crawl into an empty directory"
        )
    state = CrawlState(state_path)
    try:
        old = state.get("fingerprint")
        if old is not None and old != fingerprint:
            raise ConfigError(
                f"{out}: holds a crawl started with other arguments ({old}); resume it with the "
                f"same seeds/max_depth/allow_hosts, or use another --out"
            )
        state.set("fingerprint", fingerprint)
        state.set("user_agent", cfg.user_agent)
        for s in seeds:
            state.insert(s, 0)
        # a larger budget on resume visits what the previous budget left
        state.db.execute(
            "UPDATE urls SET status='pending', reason='' WHERE status='skipped' AND reason='page_budget'"
        )
        state.add("runs")
        parts = WarcParts(out, state, cfg.warc_max_records)
        parts.checkpoint()
        state.commit()
        crawler = _Crawler(seeds, out, cfg, state, parts, on_progress)
        try:
            crawler.run()
        finally:
            parts.abandon()
        return write_outputs(out, state, seeds, cfg)
    finally:
        state.close()


class _Crawler:
    def __init__(self, seeds, out, cfg, state, parts, on_progress):
        self.cfg, self.out, self.state, self.parts, self.on_progress = cfg, out, state, parts, on_progress
        self.scope = {url_host(s) for s in seeds}
        self.fetcher = Fetcher(cfg)
        self.slots: dict[str, HostSlot] = {}
        self.pages = int(state.counters().get("pages", 0))
        self.page_jobs = 0  # page fetches in flight (they count against the page budget)
        self.t0, self.prior_s = time.monotonic(), float(state.get("duration_s", 0.0))
        for t in state.pending():
            self._slot(t.url).queue.append(t)

    def _slot(self, url: str) -> HostSlot:
        origin = origin_of(url)
        slot = self.slots.get(origin)
        if slot is None:
            slot = self.slots[origin] = HostSlot(origin, delay=self.cfg.delay)
        return slot

    def _budget_left(self) -> bool:
        return self.pages + self.page_jobs < self.cfg.max_pages

    # -- dispatch ------------------------------------------------------------------------------------
    def _next_job(self, slot: HostSlot, now: float) -> Task | None:
        if slot.blocked is not None:  # refused address, DNS failure or robots.txt unavailable
            while slot.queue:
                self._skip(slot.queue.popleft(), *slot.blocked)
            while slot.retries:
                self._skip(slot.retries.pop(0)[1], *slot.blocked)
            return None
        limit = 1 if slot.delay > 0 else max(1, self.cfg.host_concurrency)
        if slot.in_flight >= limit or now < slot.next_start or slot.robots_busy:
            return None
        if slot.robots is None:  # robots.txt first, alone
            if not slot.has_work() or now < slot.robots_ready_at or slot.in_flight:
                return None
            if slot.robots_task is None:
                slot.robots_task = Task(f"{slot.origin}/robots.txt", 0, kind="robots")
            slot.robots_busy = True
            return slot.robots_task
        while self._budget_left():
            if slot.retries and slot.retries[0][0] <= now:
                task = slot.retries.pop(0)[1]
            elif slot.queue:
                task = slot.queue.popleft()
            else:
                return None
            if not slot.robots.can_fetch(self.cfg.user_agent, task.url):
                self._skip(task, "robots_disallowed")  # never requested
                continue
            self.page_jobs += 1
            return task
        return None

    def _next_wake(self) -> float | None:
        """When a slot without a fetch in flight may dispatch next; None: nothing left to do."""
        budget_left = self._budget_left()
        times = [t for t in (slot.wake_time(budget_left) for slot in self.slots.values()) if t is not None]
        return min(times) if times else None

    def _skip(self, task: Task, reason: str, detail: str = "") -> None:
        self.state.finish(task.url, "skipped", reason, detail)

    def run(self) -> None:
        workers = max(1, self.cfg.concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crawl")
        futures: dict[Future, HostSlot] = {}
        last_commit = time.monotonic()
        try:
            while True:
                self._dispatch(pool, futures, workers)
                wake = self._next_wake()
                if not futures and wake is None:
                    break
                timeout = COMMIT_EVERY_S
                if wake is not None and len(futures) < workers:
                    timeout = max(0.0, min(wake - time.monotonic(), COMMIT_EVERY_S))
                if futures:
                    done, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
                    results = [(futures.pop(fut), fut.result()) for fut in done]
                    now = time.monotonic()
                    for slot, o in results:  # free the slots of fetched pages and refill them first,
                        if o.kind == "page":  # so the next fetches overlap the WARC writing below
                            slot.in_flight -= 1
                            slot.next_start = max(slot.next_start, now + slot.delay)
                            o.released = True
                    self._dispatch(pool, futures, workers)
                    for slot, o in results:
                        self._handle(slot, o)
                else:
                    time.sleep(timeout)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    self._commit()
                    last_commit = time.monotonic()
            for slot in self.slots.values():  # what the page budget left unvisited (re-queued on resume)
                for t in [*slot.queue, *(r[1] for r in slot.retries)]:
                    self._skip(t, "page_budget")
                slot.queue.clear()
                slot.retries.clear()
            self._commit()
            self.parts.roll()
            self._commit()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _dispatch(self, pool: ThreadPoolExecutor, futures: dict[Future, HostSlot], workers: int) -> None:
        now = time.monotonic()
        for slot in list(self.slots.values()):
            while len(futures) < workers:
                task = self._next_job(slot, now)
                if task is None:
                    break
                slot.in_flight += 1
                fn = fetch_robots if task.kind == "robots" else fetch_page
                futures[pool.submit(guarded, fn, self.fetcher, task, self.cfg)] = slot

    def _commit(self) -> None:
        """A checkpoint: WARC records durable first, then the state that says they exist."""
        self.parts.checkpoint()
        self.state.set("duration_s", self.prior_s + time.monotonic() - self.t0)
        self.state.commit()
        self._progress()

    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress({"pages": self.pages, "queued": sum(len(s.queue) for s in self.slots.values())})

    # -- results -------------------------------------------------------------------------------------
    def _handle(self, slot: HostSlot, o: Outcome) -> None:
        task, now = o.task, time.monotonic()
        self.state.add("requests", o.requests)
        if task.kind == "robots":
            slot.robots_busy = False
        else:
            self.page_jobs -= 1  # only now: until the page is counted, it counts against the budget
        if not o.released:
            slot.in_flight -= 1
            if o.requests:
                slot.next_start = max(slot.next_start, now + slot.delay)
        if o.kind == "retry":
            self._retry(slot, o, now)
        elif task.kind == "robots":
            self._robots(slot, o, now)
        elif o.kind == "skip":
            self._skip(task, o.reason, o.detail)
        elif o.kind == "redirect":
            self._redirect(task, o)
        elif o.kind == "page":
            self._page(o)

    def _retry(self, slot: HostSlot, o: Outcome, now: float) -> None:
        task = o.task
        if task.attempt < self.cfg.max_retries:
            task.attempt += 1
            self.state.add("retries")
            wait_s = backoff_seconds(task.attempt, self.cfg.backoff, self.cfg.max_backoff, o.retry_after)
            slot.back_off(task, now + wait_s)
        elif task.kind == "robots":  # RFC 9309: unreachable robots.txt means disallow everything
            slot.blocked = ("robots_unavailable", f"{o.reason} after {task.attempt} retries")
        else:
            self._skip(task, o.reason, f"after {task.attempt} retries")

    def _robots(self, slot: HostSlot, o: Outcome, now: float) -> None:
        if o.kind == "skip":  # refused address or DNS failure: nothing on this origin is fetched
            slot.blocked = (o.reason, o.detail)
            return
        slot.robots = o.robots
        slot.delay = max(self.cfg.delay, robots_politeness_delay(o.robots, self.cfg.user_agent))
        if o.requests:
            slot.next_start = max(slot.next_start, now + slot.delay)

    def _page(self, o: Outcome) -> None:
        task = o.task
        part = self.parts.write_page(o)
        self.state.finish(task.url, "done", part=part)
        self.pages += 1
        self.state.add("pages")
        self.state.add("bytes", len(o.body))
        for link in o.links:
            self._discover(link, task.depth + 1)
        self._progress()

    def _discover(self, url: str, depth: int) -> None:
        if url_host(url) not in self.scope:
            self.state.insert(url, depth, status="skipped", reason="offsite")
        elif depth > self.cfg.max_depth:
            self.state.insert(url, depth, status="skipped", reason="max_depth")
        elif self.state.insert(url, depth):
            self._slot(url).queue.append(Task(url, depth))

    def _redirect(self, task: Task, o: Outcome) -> None:
        self.state.add("redirects")
        target = normalize_url(o.location, task.url)
        if target is None:
            self._skip(task, "redirect_bad_target", o.location[:200])
        elif target == task.url or target in task.chain:
            self._skip(task, "redirect_loop", " -> ".join([*task.chain, task.url, target])[:500])
        elif task.hops + 1 > self.cfg.max_redirects:
            self._skip(task, "too_many_redirects", f"{task.hops + 1} hops")
        elif url_host(target) not in self.scope:
            self._skip(task, "redirect_offsite", target)
        else:
            self.state.finish(task.url, "redirected", detail=target)
            chain = (*task.chain, task.url)
            if self.state.insert(target, task.depth, task.hops + 1, chain):  # else: crawled by another path
                self._slot(target).queue.appendleft(Task(target, task.depth, task.hops + 1, chain))


def write_outputs(out: Path, state: CrawlState, seeds: list[str], cfg: CrawlParams) -> dict[str, Any]:
    """crawl-stats.json and crawl-skipped.jsonl from the committed state (so exact across restarts)."""
    from langadapt.io import write_json, write_jsonl

    c = state.counters()
    skipped: dict[str, int] = dict(
        state.db.execute(
            "SELECT reason, COUNT(*) FROM urls WHERE status='skipped' GROUP BY reason ORDER BY reason"
        )
    )
    pending = state.db.execute("SELECT COUNT(*) FROM urls WHERE status='pending'").fetchone()[0]
    duration = float(state.get("duration_s", 0.0))
    parts = state.get("parts_closed", [])
    stats = {
        "seeds": seeds,
        "pages": int(c.get("pages", 0)),
        "bytes": int(c.get("bytes", 0)),
        "requests": int(c.get("requests", 0)),
        "retries": int(c.get("retries", 0)),
        "redirects": int(c.get("redirects", 0)),
        "skipped": skipped,
        "skipped_total": sum(skipped.values()),
        "pending": pending,
        "warc_files": parts,
        "warc_bytes": sum((out / p).stat().st_size for p in parts if (out / p).exists()),
        "duration_s": round(duration, 3),
        "pages_per_s": round(c.get("pages", 0) / duration, 2) if duration > 0 else None,
        "runs": int(c.get("runs", 0)),
        "settings": {
            k: getattr(cfg, k)
            for k in (
                "max_pages",
                "max_depth",
                "delay",
                "concurrency",
                "max_retries",
                "max_redirects",
                "max_bytes",
            )
        },
    }
    rows = state.db.execute("SELECT url, reason, detail, depth FROM urls WHERE status='skipped' ORDER BY seq")
    write_jsonl(
        out / SKIPPED_FILE, ({"url": u, "reason": r, "detail": d, "depth": dp} for u, r, d, dp in rows)
    )
    write_json(out / STATS_FILE, stats)
    return stats


def crawl(
    seed_args: list[str],
    out: str | Path,
    cfg: CrawlParams,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The command's library entry: seeds from URLs/files, then ``run_crawl``."""
    return run_crawl(read_seeds(seed_args), out, cfg, on_progress)
