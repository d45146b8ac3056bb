"""A polite, resumable web crawler that writes standard WARC files.

    langadapt crawl http://127.0.0.1:8000/ --out data/raw --allow-host 127.0.0.1
    langadapt crawl seeds.txt --out /tmp/crawl --max-pages 200 -s crawl.delay=1

One module per concern:

- ``urls``: URL normalisation, seeds, a page's charset and links;
- ``address``: the address guard (SSRF) applied after DNS resolution;
- ``fetch``: one GET per job on worker threads, on a connection pinned to the checked address;
- ``robots``: robots.txt per RFC 9309 and its crawl delay;
- ``frontier``: per-origin queues, politeness delays and retry backoff;
- ``state``: the SQLite resume state; ``warc``: the rolling WARC parts;
- ``driver``: the main loop tying them together (``run_crawl``, ``crawl``).

What it promises (each one is tested in tests/test_crawl.py against a real HTTP server):

- Scope: only the seeds' hosts, at most ``max_depth`` link hops from a seed and ``max_pages`` pages.
- Politeness: robots.txt (``urllib.robotparser``) is fetched before any page of a host and a disallowed
  path is never requested; per host one request at a time, the next one starting ``delay`` seconds (or
  the robots Crawl-delay/Request-rate, if larger) after the previous one *finished*; ``concurrency``
  fetches over all hosts; a User-Agent naming the project.
- Robustness: 429/5xx/timeouts are retried with exponential backoff (bounded, Retry-After honoured);
  redirects are followed by the crawler itself (each hop scheduled, checked and counted like a page),
  at most ``max_redirects`` hops, loops detected; non-HTML content types and bodies over ``max_bytes``
  are skipped without reading them whole; every skip is recorded with its reason.
- Safety: every connection goes to an address that was checked *after* DNS resolution (the socket is
  pinned to that address, so DNS rebinding cannot swap it); private, loopback, link-local, multicast,
  reserved and cloud-metadata addresses are refused unless ``allow_hosts`` names the host, the IP or
  its network. Redirect targets are new jobs and go through the same check.
- Output: ``crawl-00000.warc.gz``, ``crawl-00001.warc.gz`` ... (warcio, one gzip member per record,
  a request and a response record per page, a warcinfo record opening each file), each written under
  a hidden temporary name and renamed when complete; ``crawl-stats.json`` and ``crawl-skipped.jsonl``.
  With ``SOURCE_DATE_EPOCH`` set, WARC dates and record ids are derived from it, so a crawl of a
  deterministic site with ``concurrency=1`` gives byte-identical WARC files (samples/make_snapshot.sh).

Resuming (why it is correct). All crawl state lives in one SQLite database, ``DIR/.crawl-state.sqlite``:
every known URL with its status (pending, done, skipped+reason, redirected), the counters, and the
WARC part being written with its *committed byte offset*. Only the main thread writes WARC records and
the database. A checkpoint is: flush and fsync the open part, then in ONE SQLite transaction mark the
pages written since the last checkpoint done, insert the links they found, and store the new offset.
WARC records are independent gzip members, so on restart the open part is truncated to the committed
offset: records of pages whose "done" did not commit are cut off, and those pages are still pending in
the database, so they are fetched again. Hence after a SIGKILL at any instant, each page is in the
output exactly once: written-and-committed pages are never refetched, everything else is refetched
and its partial records are gone. A part is closed by checkpointing, renaming the temp file to its
final name, then committing "part N closed" (a restart that finds the final name but no temp file
knows the rename happened).
"""

from __future__ import annotations

from langadapt.corpus.crawl.address import METADATA_IPS, AddressPolicy, address_category
from langadapt.corpus.crawl.driver import (
    COMMIT_EVERY_S,
    SKIPPED_FILE,
    STATS_FILE,
    crawl,
    run_crawl,
    write_outputs,
)
from langadapt.corpus.crawl.fetch import Fetcher, Outcome, Skip, fetch_page
from langadapt.corpus.crawl.frontier import HostSlot, Task
from langadapt.corpus.crawl.robots import ROBOTS_MAX_BYTES, fetch_robots, robots_delay
from langadapt.corpus.crawl.state import STATE_FILE, CrawlState
from langadapt.corpus.crawl.urls import (
    extract_links,
    html_charset,
    normalize_url,
    origin_of,
    read_seeds,
    url_host,
)
from langadapt.corpus.crawl.warc import PART_PATTERN, WarcParts

__all__ = [
    "COMMIT_EVERY_S",
    "METADATA_IPS",
    "PART_PATTERN",
    "ROBOTS_MAX_BYTES",
    "SKIPPED_FILE",
    "STATE_FILE",
    "STATS_FILE",
    "AddressPolicy",
    "CrawlState",
    "Fetcher",
    "HostSlot",
    "Outcome",
    "Skip",
    "Task",
    "WarcParts",
    "address_category",
    "crawl",
    "extract_links",
    "fetch_page",
    "fetch_robots",
    "html_charset",
    "normalize_url",
    "origin_of",
    "read_seeds",
    "robots_delay",
    "run_crawl",
    "url_host",
    "write_outputs",
]
