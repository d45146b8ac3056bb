"""The frontier and politeness: per-origin queues, robots state, delays and retry backoff."""

from __future__ import annotations

import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Task:
    url: str
    depth: int
    hops: int = 0  # redirect hops that led here
    chain: tuple[str, ...] = ()  # the URLs of those hops (loop detection)
    attempt: int = 0
    kind: str = "page"  # page | robots


@dataclass
class HostSlot:
    """Politeness and robots state of one origin (scheme://host:port)."""

    origin: str
    delay: float
    queue: deque = field(default_factory=deque)  # pending page tasks, BFS order
    retries: list = field(default_factory=list)  # (ready_at, task), sorted
    robots: urllib.robotparser.RobotFileParser | None = None
    robots_task: Task | None = None  # the robots.txt fetch while it is retried
    robots_ready_at: float = 0.0
    robots_busy: bool = False
    blocked: tuple[str, str] | None = None  # (reason, detail) given to every task of this origin
    in_flight: int = 0
    next_start: float = 0.0

    def has_work(self) -> bool:
        return bool(self.queue or self.retries)

    def wake_time(self, budget_left: bool) -> float | None:
        """When this origin may dispatch next, if it has work and no fetch in flight; else None."""
        if self.in_flight or not self.has_work():
            return None
        if self.blocked is not None:
            return 0.0  # its tasks are skipped at once
        if self.robots is None:
            return max(self.next_start, self.robots_ready_at)
        if not budget_left:
            return None
        ready = [self.next_start] if self.queue else []
        if self.retries:
            ready.append(max(self.next_start, self.retries[0][0]))
        return min(ready)

    def back_off(self, task: Task, ready: float) -> None:
        """A fetch is retried at ``ready``; the host is struggling, so nothing else starts before then."""
        self.next_start = max(self.next_start, ready)
        if task.kind == "robots":
            self.robots_ready_at = ready
        else:
            self.retries.append((ready, task))
            self.retries.sort(key=lambda r: r[0])


def backoff_seconds(attempt: int, backoff: float, max_backoff: float, retry_after: float | None) -> float:
    """Exponential backoff for the ``attempt``-th retry, at least Retry-After, at most ``max_backoff``."""
    wait_s = min(max_backoff, backoff * 2 ** (attempt - 1))
    if retry_after is not None:
        wait_s = min(max_backoff, max(wait_s, retry_after))
    return wait_s
