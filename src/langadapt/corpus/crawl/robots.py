"""robots.txt (RFC 9309): fetched before any page of a host; its rules and crawl delay.

A 4xx robots.txt means no rules; 5xx or unreachable is retried, then everything on the origin is
disallowed. ``urllib.robotparser`` reads the rules; ``robots_delay`` adds decimal Crawl-delay values.
"""

from __future__ import annotations

import contextlib
import urllib.robotparser

from langadapt.config import CrawlParams
from langadapt.corpus.crawl.fetch import Fetcher, Outcome, Skip
from langadapt.corpus.crawl.frontier import Task
from langadapt.corpus.crawl.urls import normalize_url

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB


def robots_delay(lines: list[str], user_agent: str) -> float | None:
    """Crawl-delay for ``user_agent`` (decimals allowed; urllib.robotparser only reads integers).

    Groups are matched as robotparser does: the first group naming the agent's product token, else
    the ``*`` group.
    """
    token = user_agent.split("/")[0].lower()
    groups: list[tuple[list[str], float | None]] = []
    agents: list[str] = []
    delay: float | None = None
    in_rules = False
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, val = (x.strip() for x in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                groups.append((agents, delay))
                agents, delay, in_rules = [], None, False
            agents.append(val.lower())
        elif agents:
            in_rules = True
            if key == "crawl-delay":
                with contextlib.suppress(ValueError):
                    delay = max(0.0, float(val))
    if agents:
        groups.append((agents, delay))
    for agents, d in groups:
        if any(a != "*" and a in token for a in agents):
            return d
    for agents, d in groups:
        if "*" in agents:
            return d
    return None


def fetch_robots(fetcher: Fetcher, task: Task, cfg: CrawlParams) -> Outcome:
    """robots.txt per RFC 9309: 4xx = no rules; 5xx/unreachable = retry, then disallow everything."""
    url, requests = task.url, 0
    for _ in range(cfg.max_redirects + 1):
        try:
            out = fetcher.get(url, ROBOTS_MAX_BYTES * 4, html_only=False)
        except Skip as s:
            return Outcome(task, "skip", reason=s.reason, detail=s.detail, requests=requests)
        requests += 1
        out.task, out.requests = task, requests
        if out.kind == "redirect":
            nxt = normalize_url(out.location, url)
            if nxt is None:
                break
            url = nxt
            continue
        if out.kind == "retry":
            return out
        rp = urllib.robotparser.RobotFileParser(task.url)
        if out.kind == "page":
            lines = out.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").splitlines()
            rp.parse(lines)
            rp.decimal_delay = robots_delay(lines, cfg.user_agent)
        else:  # 4xx (RFC 9309: no rules, everything allowed), or a robots.txt over 2 MiB
            rp.parse([])
        return Outcome(task, "robots", robots=rp, requests=requests, status=out.status)
    rp = urllib.robotparser.RobotFileParser(task.url)
    rp.parse([])
    return Outcome(task, "robots", robots=rp, requests=requests)



def robots_politeness_delay(rp: urllib.robotparser.RobotFileParser, user_agent: str) -> float:
    """Seconds between requests that robots.txt asks of ``user_agent`` (Crawl-delay or Request-rate)."""
    delay = float(getattr(rp, "decimal_delay", None) or rp.crawl_delay(user_agent) or 0)
    rate = rp.request_rate(user_agent)
    if rate and rate.requests:
        delay = max(delay, rate.seconds / rate.requests)
    return delay
