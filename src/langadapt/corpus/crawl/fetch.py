"""Fetching (worker threads): one GET on a connection pinned to an address the guard allowed.

429/5xx/timeouts come back as retry outcomes (Retry-After parsed), redirects as redirect outcomes
(the driver schedules each hop as a new job), non-HTML types and bodies over ``max_bytes`` as skips
without reading them whole.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langadapt.config import CrawlParams
from langadapt.corpus.crawl.address import AddressPolicy
from langadapt.corpus.crawl.frontier import Task
from langadapt.corpus.crawl.urls import extract_links

HTML_TYPES = ("text/html", "application/xhtml+xml")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 507, 508, 509, 520, 521, 522, 523, 524})
READ_CHUNK = 64 * 1024


@dataclass
class Outcome:
    task: Task
    kind: str  # page | redirect | skip | retry | robots
    reason: str = ""
    detail: str = ""
    status: int = 0
    location: str = ""
    retry_after: float | None = None
    ip: str = ""
    req_line: str = ""
    req_headers: list[tuple[str, str]] = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    reason_phrase: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    links: list[str] = field(default_factory=list)
    robots: urllib.robotparser.RobotFileParser | None = None
    requests: int = 1
    released: bool = False  # the main thread freed its host slot before handling it


class Skip(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail

class Fetcher:
    """One GET at a time per call, on a connection pinned to the address that passed the policy."""

    def __init__(self, cfg: CrawlParams):
        import urllib3

        self.cfg = cfg
        self.policy = AddressPolicy(cfg.allow_hosts)
        self.timeout = urllib3.Timeout(connect=cfg.timeout, read=cfg.timeout)
        self._pools: dict[tuple[str, str, int, str], Any] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to, checked against the policy (Skip if refused or unresolvable)."""
        now = time.monotonic()
        with self._lock:
            hit = self._dns.get((host, port))
        if hit and now - hit[0] < 300:
            ips = hit[1]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as e:
                raise Skip("dns_error", f"{host}: {e}") from None
            ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
            with self._lock:
                self._dns[(host, port)] = (now, ips)
        if not ips:
            raise Skip("dns_error", f"{host}: no address")
        for ip in ips:  # refuse if ANY address is refused: we must not depend on which one we get
            cat = self.policy.refusal(host, ip)
            if cat is not None:
                raise Skip("blocked_address", f"{host} -> {ip} ({cat})")
        return ips[0]

    def _pool(self, scheme: str, host: str, port: int, ip: str):
        import urllib3

        key = (scheme, host, port, ip)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                kw = {
                    "timeout": self.timeout,
                    "retries": False,
                    "maxsize": max(1, self.cfg.concurrency),
                    "block": False,
                }
                if scheme == "https":
                    import certifi

                    pool = urllib3.HTTPSConnectionPool(
                        ip,
                        port,
                        server_hostname=host,
                        assert_hostname=host,
                        cert_reqs="CERT_REQUIRED",
                        ca_certs=certifi.where(),
                        **kw,
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(ip, port, **kw)
                self._pools[key] = pool
        return pool

    def get(self, url: str, max_bytes: int, html_only: bool) -> Outcome:
        """GET url once. Raises Skip; returns an Outcome of kind page/redirect/retry/skip."""
        import urllib3

        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ip = self.resolve(host, port)
        host_header = parts.netloc.rsplit("@", 1)[-1]
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        req_headers = [
            ("Host", host_header),
            ("User-Agent", self.cfg.user_agent),
            ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"),
            ("Accept-Encoding", "identity"),
        ]
        out = Outcome(Task(url, 0), "page", ip=ip, req_line=f"GET {target} HTTP/1.1", req_headers=req_headers)
        started = time.monotonic()
        try:
            resp = self._pool(parts.scheme, host, port, ip).urlopen(
                "GET",
                target,
                headers=dict(req_headers),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.TimeoutError as e:
            return Outcome(out.task, "retry", reason="timeout", detail=str(e), ip=ip)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            return Outcome(out.task, "retry", reason="connection_error", detail=type(e).__name__, ip=ip)
        try:
            status = resp.status
            out.status = status
            out.http_version = "HTTP/1.0" if resp.version == 10 else "HTTP/1.1"
            out.reason_phrase = resp.reason or ""
            headers = list(resp.headers.items())
            if status in RETRY_STATUSES:
                return Outcome(
                    out.task,
                    "retry",
                    reason=f"http_{status}",
                    status=status,
                    ip=ip,
                    retry_after=_retry_after(resp.headers.get("Retry-After")),
                )
            if 300 <= status < 400 and resp.headers.get("Location"):
                return Outcome(out.task, "redirect", status=status, location=resp.headers["Location"], ip=ip)
            if status != 200:
                return Outcome(out.task, "skip", reason=f"http_{status}", status=status, ip=ip)
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if html_only and ctype and ctype not in HTML_TYPES:
                return Outcome(out.task, "skip", reason="not_html", detail=ctype, status=status, ip=ip)
            clen = resp.headers.get("Content-Length")
            if clen and clen.isdigit() and int(clen) > max_bytes:
                return Outcome(
                    out.task,
                    "skip",
                    reason="too_large",
                    detail=f"Content-Length {clen}",
                    status=status,
                    ip=ip,
                )
            buf = bytearray()
            deadline = started + 6 * self.cfg.timeout  # a trickling body cannot hold a worker forever
            while True:
                chunk = resp.read(READ_CHUNK, decode_content=False)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > max_bytes:
                    return Outcome(
                        out.task,
                        "skip",
                        reason="too_large",
                        detail=f"over {max_bytes} bytes",
                        status=status,
                        ip=ip,
                    )
                if time.monotonic() > deadline:
                    return Outcome(out.task, "retry", reason="timeout", detail="body too slow", ip=ip)
            body = bytes(buf)
            if html_only and not ctype and not _sniff_html(body):
                return Outcome(
                    out.task, "skip", reason="not_html", detail="no Content-Type", status=status, ip=ip
                )
            # The body is stored de-chunked, so the header that would tell a reader to de-chunk it goes.
            out.headers = [
                (k, v) if k.lower() != "transfer-encoding" else ("X-Crawler-Transfer-Encoding", v)
                for k, v in headers
            ]
            out.body = body
            return out
        except urllib3.exceptions.TimeoutError as e:
            return Outcome(out.task, "retry", reason="timeout", detail=str(e), ip=ip)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            return Outcome(out.task, "retry", reason="connection_error", detail=type(e).__name__, ip=ip)
        finally:
            resp.release_conn() if resp.isclosed() else resp.close()  # never drain an unread body


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        from email.utils import parsedate_to_datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head

def fetch_page(fetcher: Fetcher, task: Task, cfg: CrawlParams) -> Outcome:
    try:
        out = fetcher.get(task.url, cfg.max_bytes, html_only=True)
    except Skip as s:
        return Outcome(task, "skip", reason=s.reason, detail=s.detail, requests=0)
    out.task = task
    if out.kind == "page":
        out.links = extract_links(task.url, out.headers, out.body)
    return out


def guarded(fn: Callable[..., Outcome], fetcher: Fetcher, task: Task, cfg: CrawlParams) -> Outcome:
    """One odd page must not end a crawl: an unexpected error becomes a recorded skip."""
    try:
        return fn(fetcher, task, cfg)
    except Exception as e:  # noqa: BLE001
        return Outcome(task, "skip", reason="error", detail=f"{type(e).__name__}: {e}"[:300])

