"""Resume state: one SQLite database per crawl (``DIR/.crawl-state.sqlite``), main thread only.

It holds every known URL with its status (pending, done, skipped+reason, redirected), the counters,
and the WARC part being written with its committed byte offset. The checkpoint protocol that makes
a resume after SIGKILL exact is described in ``langadapt.corpus.crawl`` (the package docstring).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from langadapt.corpus.crawl.frontier import Task

STATE_FILE = ".crawl-state.sqlite"


class CrawlState:
    """SQLite crawl state; see the module docstring for the checkpoint protocol."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS urls (
                url TEXT PRIMARY KEY, seq INTEGER, depth INTEGER, hops INTEGER, chain TEXT,
                status TEXT, reason TEXT, detail TEXT, part INTEGER);
            CREATE INDEX IF NOT EXISTS urls_status ON urls(status, seq);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value REAL);
            """
        )
        self.db.execute("BEGIN")
        self.seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM urls").fetchone()[0]

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def add(self, name: str, n: float = 1) -> None:
        self.db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=value+?", (name, n, n)
        )

    def counters(self) -> dict[str, float]:
        return dict(self.db.execute("SELECT name, value FROM counters"))

    def known(self, url: str) -> bool:
        return self.db.execute("SELECT 1 FROM urls WHERE url=?", (url,)).fetchone() is not None

    def insert(
        self,
        url: str,
        depth: int,
        hops: int = 0,
        chain: tuple[str, ...] = (),
        status: str = "pending",
        reason: str = "",
        detail: str = "",
    ) -> bool:
        """Add a URL unless known; True if it was new."""
        if self.known(url):
            return False
        self.seq += 1
        self.db.execute(
            "INSERT INTO urls VALUES (?,?,?,?,?,?,?,?,NULL)",
            (url, self.seq, depth, hops, json.dumps(list(chain)), status, reason, detail),
        )
        return True

    def finish(
        self, url: str, status: str, reason: str = "", detail: str = "", part: int | None = None
    ) -> None:
        self.db.execute(
            "UPDATE urls SET status=?, reason=?, detail=?, part=? WHERE url=?",
            (status, reason, detail, part, url),
        )

    def pending(self) -> list[Task]:
        rows = self.db.execute("SELECT url, depth, hops, chain FROM urls WHERE status='pending' ORDER BY seq")
        return [Task(u, d, h, tuple(json.loads(c))) for u, d, h, c in rows]

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")
        self.db.close()

