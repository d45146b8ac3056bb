"""Tests of the polite crawler (langadapt.corpus.crawl) against real HTTP servers on 127.0.0.1.

    .venv/bin/pytest -q tests/test_crawl.py            # ~30 s; the SIGKILL test runs the CLI

Each server records every request it gets, so "never requested" and "retried N times" are asserted
from the server's side; crawl-stats.json counts are asserted exactly.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from langadapt.config import CrawlParams
from langadapt.corpus import crawl as crawl_mod
from langadapt.corpus.crawl import (
    AddressPolicy,
    address_category,
    extract_links,
    html_charset,
    normalize_url,
    read_seeds,
    run_crawl,
)
from langadapt.corpus.sitehost import serve_static
from langadapt.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "samples" / "site"
TIS_TEXT = "ข่าวเก่าจากระบบเดิม กระทรวงมหาดไทยแจ้งประชาชน"


# ---------------------------------------------------------------------------------------------------
# A scripted server: routes -> handler functions; every request is logged.


class Recorder:
    def __init__(self):
        self.log: list[tuple[float, str, dict]] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.log]


def make_server(routes: dict, rec: Recorder):
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            with rec.lock:
                rec.log.append((time.monotonic(), self.path, dict(self.headers)))
                rec.counts[self.path] += 1
                n = rec.counts[self.path]
            fn = routes.get(self.path)
            if fn is None:
                return self._send(404, b"<html>not found</html>")
            fn(self, n)

        def _send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=(), length=True):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def html(*links: str, text: str = "สวัสดี") -> bytes:
    return ("<!doctype html><html><body><p>" + text + "</p>" +
            "".join(f'<a href="{u}">{u}</a>' for u in links) + "</body></html>").encode()


def cfg(**kw) -> CrawlParams:
    base = {"delay": 0.0, "concurrency": 2, "timeout": 0.5, "max_retries": 2, "backoff": 0.01, "max_backoff": 0.05,
            "allow_hosts": ["127.0.0.1"], "max_bytes": 5000, "max_depth": 2}
    base.update(kw)
    return CrawlParams(**base)


def warc_records(out: Path) -> list:
    from warcio.archiveiterator import ArchiveIterator

    recs = []
    for p in sorted(out.glob("crawl-*.warc.gz")):
        with open(p, "rb") as f:
            for r in ArchiveIterator(f):
                recs.append((r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                             r.http_headers.get_header("Content-Type") if r.http_headers else None,
                             r.content_stream().read()))
    return recs


# ---------------------------------------------------------------------------------------------------
# The case site: one crawl, every behaviour, exact counts.


@pytest.fixture(scope="module")
def case_crawl(tmp_path_factory):
    rec = Recorder()
    routes = {}
    page = lambda body: (lambda h, n: h._send(200, body))
    redirect = lambda to: (lambda h, n: h._send(302, b"", headers=[("Location", to)]))
    routes["/robots.txt"] = lambda h, n: h._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
    routes["/"] = page(html("/a.html", "/private/secret.html", "/loop1", "/retry500", "/flaky429", "/big.html",
                            "/big-nolen.html", "/file.pdf", "/to-offsite", "/chain1", "/missing.html",
                            "/deep1.html", "/tis620.html", "/slow.html", "http://example.org/elsewhere",
                            "mailto:someone@example.org", "/a.html#section"))
    routes["/a.html"] = page(html("/"))
    routes["/private/secret.html"] = page(html())
    routes["/loop1"] = redirect("/loop2")
    routes["/loop2"] = redirect("/loop1")
    routes["/retry500"] = lambda h, n: h._send(500, b"oops")
    routes["/flaky429"] = lambda h, n: (h._send(429, b"slow down", headers=[("Retry-After", "0")]) if n <= 2
                                        else h._send(200, html(text="ok after 429")))
    routes["/big.html"] = page(b"<html>" + b"x" * 20000 + b"</html>")
    routes["/big-nolen.html"] = lambda h, n: h._send(200, b"<html>" + b"y" * 50000, length=False)
    routes["/file.pdf"] = lambda h, n: h._send(200, b"%PDF-1.4 ...", "application/pdf")
    routes["/to-offsite"] = redirect("http://169.254.169.254/latest/meta-data/")
    routes["/chain1"] = redirect("/chain2")
    routes["/chain2"] = redirect("/final.html")
    routes["/final.html"] = page(html(text="final"))
    routes["/deep1.html"] = page(html("/deep2.html"))
    routes["/deep2.html"] = page(html("/deep3.html"))
    routes["/deep3.html"] = page(html())
    tis = f'<html><head><meta charset="tis-620"></head><body><p>{TIS_TEXT}</p></body></html>'.encode("tis-620")
    routes["/tis620.html"] = lambda h, n: h._send(200, tis, "text/html; charset=tis-620")
    routes["/slow.html"] = lambda h, n: (time.sleep(1.0), h._send(200, html()))

    srv, base = make_server(routes, rec)
    out = tmp_path_factory.mktemp("case")
    try:
        stats = run_crawl([base + "/"], out, cfg())
    finally:
        srv.shutdown()
        srv.server_close()
    return stats, rec, out, base


def test_case_site_exact_stats(case_crawl):
    stats, rec, out, base = case_crawl
    assert stats["pages"] == 7  # /, /a, /flaky429, /final, /deep1, /deep2, /tis620
    assert stats["skipped"] == {
        "http_404": 1, "http_500": 1, "max_depth": 1, "not_html": 1, "offsite": 1, "redirect_loop": 1,
        "redirect_offsite": 1, "robots_disallowed": 1, "timeout": 1, "too_large": 2,
    }
    assert stats["redirects"] == 5  # loop1, loop2, to-offsite, chain1, chain2
    assert stats["retries"] == 6  # 2 each for /retry500, /flaky429, /slow.html
    assert stats["requests"] == len(rec.log)
    assert stats["pending"] == 0
    assert json.loads((out / "crawl-stats.json").read_text()) == stats
    skipped = [json.loads(ln) for ln in (out / "crawl-skipped.jsonl").read_text().splitlines()]
    by_url = {r["url"].removeprefix(base): r for r in skipped}
    assert by_url["/private/secret.html"]["reason"] == "robots_disallowed"
    assert by_url["/loop2"]["reason"] == "redirect_loop"
    assert by_url["/loop2"]["detail"] == f"{base}/loop1 -> {base}/loop2 -> {base}/loop1"
    assert by_url["/to-offsite"]["detail"] == "http://169.254.169.254/latest/meta-data/"
    assert by_url["/file.pdf"]["detail"] == "application/pdf"
    assert by_url["/big.html"]["detail"] == "Content-Length 20013"
    assert by_url["/big-nolen.html"]["detail"] == "over 5000 bytes"
    assert by_url["/deep3.html"]["reason"] == "max_depth"
    assert by_url["/retry500"]["detail"] == "after 2 retries"


def test_robots_first_and_disallowed_never_requested(case_crawl):
    _, rec, _, _ = case_crawl
    paths = rec.paths()
    assert paths[0] == "/robots.txt"
    assert "/private/secret.html" not in paths
    assert rec.counts["/robots.txt"] == 1


def test_retries_from_the_server_side(case_crawl):
    _, rec, _, _ = case_crawl
    assert rec.counts["/retry500"] == 3  # 1 + max_retries, then recorded as http_500
    assert rec.counts["/flaky429"] == 3  # 429, 429, 200
    assert rec.counts["/slow.html"] == 3  # timed out each time
    assert rec.counts["/loop1"] == 1 and rec.counts["/loop2"] == 1  # loop detected, not re-followed


def test_user_agent_names_the_project(case_crawl):
    _, rec, _, _ = case_crawl
    assert {h["User-Agent"] for _, _, h in rec.log} == {CrawlParams().user_agent}


def test_warc_has_request_and_response_per_page(case_crawl):
    stats, _, out, base = case_crawl
    recs = warc_records(out)
    resp = [u for t, u, _, _ in recs if t == "response"]
    req = [u for t, u, _, _ in recs if t == "request"]
    assert sorted(resp) == sorted(req)
    assert sorted(u.removeprefix(base) for u in resp) == [
        "/", "/a.html", "/deep1.html", "/deep2.html", "/final.html", "/flaky429", "/tis620.html"]
    assert [t for t, *_ in recs].count("warcinfo") == len(stats["warc_files"]) == 1
    assert not list(out.glob(".*.part"))


def test_tis620_page_decodes_with_its_declared_charset(case_crawl):
    _, _, out, _ = case_crawl
    (ctype, body), = [(c, b) for t, u, c, b in warc_records(out) if t == "response" and u.endswith("/tis620.html")]
    assert ctype == "text/html; charset=tis-620"
    # read as its superset cp874, as browsers do (the one alias table: langadapt.corpus.charsets)
    assert html_charset([("Content-Type", ctype)], body) == "cp874"
    assert TIS_TEXT in body.decode("tis-620") == body.decode("cp874")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


# ---------------------------------------------------------------------------------------------------
# Politeness and address safety


def test_crawl_delay_respected(tmp_path):
    rec = Recorder()
    routes = {"/robots.txt": lambda h, n: h._send(200, b"User-agent: *\nCrawl-delay: 0.3\n", "text/plain"),
              "/": lambda h, n: h._send(200, html("/1.html", "/2.html", "/3.html"))}
    for i in (1, 2, 3):
        routes[f"/{i}.html"] = lambda h, n: h._send(200, html())
    srv, base = make_server(routes, rec)
    try:
        stats = run_crawl([base + "/"], tmp_path, cfg(delay=0.0, concurrency=4))
    finally:
        srv.shutdown()
        srv.server_close()
    assert stats["pages"] == 4
    times = [t for t, _, _ in rec.log]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 4 and min(gaps) >= 0.3  # arrival gaps: robots -> / -> 1 -> 2 -> 3


def test_loopback_refused_unless_allowed(tmp_path):
    rec = Recorder()
    srv, base = make_server({"/": lambda h, n: h._send(200, html())}, rec)
    try:
        stats = run_crawl([base + "/"], tmp_path, cfg(allow_hosts=[]))
    finally:
        srv.shutdown()
        srv.server_close()
    assert stats["pages"] == 0
    assert stats["skipped"] == {"blocked_address": 1}
    assert rec.log == []  # not even robots.txt was requested
    row = json.loads((tmp_path / "crawl-skipped.jsonl").read_text().splitlines()[0])
    assert row["detail"] == "127.0.0.1 -> 127.0.0.1 (loopback)"


def test_private_and_metadata_refused_after_dns_and_redirect(tmp_path, monkeypatch):
    """A seed host resolving to 10.0.0.1, the metadata IP, and a redirect to them: refused, never dialled."""
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *a, **k):
        if host == "intranet.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]
        return real(host, port, *a, **k)

    import urllib3.util.connection as u3conn

    dialled = []
    real_conn = u3conn.create_connection

    def spy(address, *a, **k):
        dialled.append(address[0])
        return real_conn(address, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(u3conn, "create_connection", spy)
    rec = Recorder()
    srv, base = make_server({
        "/robots.txt": lambda h, n: h._send(404, b""),
        "/": lambda h, n: h._send(200, html("/to-intranet", "http://169.254.169.254/latest/user-data")),
        "/to-intranet": lambda h, n: h._send(301, b"", headers=[("Location", "http://intranet.test/admin")]),
    }, rec)
    try:
        stats = run_crawl([base + "/", "http://intranet.test/", "http://169.254.169.254/latest/meta-data/"],
                          tmp_path, cfg())
    finally:
        srv.shutdown()
        srv.server_close()
    assert stats["pages"] == 1
    assert stats["skipped"] == {"blocked_address": 4}
    assert set(dialled) == {"127.0.0.1"}
    details = {json.loads(ln)["url"]: json.loads(ln)["detail"]
               for ln in (tmp_path / "crawl-skipped.jsonl").read_text().splitlines()}
    assert details["http://intranet.test/admin"] == "intranet.test -> 10.0.0.1 (private)"
    assert details["http://169.254.169.254/latest/meta-data/"] == "169.254.169.254 -> 169.254.169.254 (metadata)"


# ---------------------------------------------------------------------------------------------------
# Small pure functions


def test_normalize_url():
    assert normalize_url("HTTP://Example.COM:80/a b#frag") == "http://example.com/a%20b"
    assert normalize_url("../x?q=1", "https://h.th:8443/a/b/") == "https://h.th:8443/a/x?q=1"
    assert normalize_url("mailto:a@b.c") is None
    assert normalize_url("javascript:void(0)") is None


def test_address_policy():
    import ipaddress

    cats = {a: address_category(ipaddress.ip_address(a)) for a in
            ("10.0.0.1", "127.0.0.1", "169.254.169.254", "fd00:ec2::254", "224.0.0.1", "::ffff:127.0.0.1",
             "100.64.0.1", "0.0.0.0", "8.8.8.8", "240.0.0.1")}
    assert cats == {"10.0.0.1": "private", "127.0.0.1": "loopback", "169.254.169.254": "metadata",
                    "fd00:ec2::254": "metadata", "224.0.0.1": "multicast", "::ffff:127.0.0.1": "loopback",
                    "100.64.0.1": "non_global", "0.0.0.0": "unspecified", "8.8.8.8": None,
                    "240.0.0.1": "reserved"}
    p = AddressPolicy(["localhost", "10.1.0.0/16"])
    assert p.refusal("localhost", "127.0.0.1") is None
    assert p.refusal("x", "10.1.2.3") is None
    assert p.refusal("x", "10.2.0.1") == "private"
    assert p.refusal("x", "127.0.0.1") == "loopback"


def test_links_charset_and_nofollow():
    body = b'<html><head><base href="/sub/"></head><body><a href="a.html#x">a</a><a href="/b">b</a></body></html>'
    assert extract_links("http://h/x/", [], body) == ["http://h/sub/a.html", "http://h/b"]
    nofollow = b'<html><head><meta name="robots" content="noindex, nofollow"></head><a href="/b">b</a></html>'
    assert extract_links("http://h/", [], nofollow) == []
    assert html_charset([("Content-Type", "text/html; charset=TIS-620")], b"") == "cp874"  # its superset
    assert html_charset([], b'<meta charset="windows-874">') == "cp874"
    assert html_charset([], b"<html>") == "utf-8"


def test_robots_decimal_crawl_delay():
    from langadapt.corpus.crawl import robots_delay

    lines = ["User-agent: otherbot", "Crawl-delay: 9", "", "User-agent: *", "Disallow: /x", "Crawl-delay: 0.25",
             "", "User-agent: langadapt-crawler", "Crawl-delay: 2"]
    assert robots_delay(lines, "langadapt-crawler/0.1 (+https://x)") == 2.0
    assert robots_delay(lines, "somebot/1.0") == 0.25
    assert robots_delay(["User-agent: *", "Disallow: /"], "a/1") is None


def test_read_seeds(tmp_path):
    f = tmp_path / "seeds.txt"
    f.write_text("# seeds\nhttp://a.th/\n\nhttps://b.th/x\nhttp://a.th/\n")
    assert read_seeds([str(f), "http://c.th"]) == ["http://a.th/", "https://b.th/x", "http://c.th/"]
    with pytest.raises(ConfigError, match="not an http"):
        read_seeds(["nope"])
    f.write_text("ftp://x/\n")
    with pytest.raises(ConfigError, match=r"seeds.txt:1: not an http\(s\) URL"):
        read_seeds([str(f)])


def test_other_arguments_on_resume_are_refused(tmp_path):
    rec = Recorder()
    srv, base = make_server({"/": lambda h, n: h._send(200, html())}, rec)
    try:
        run_crawl([base + "/"], tmp_path, cfg())
        with pytest.raises(ConfigError, match="other arguments"):
            run_crawl([base + "/other"], tmp_path, cfg())
        again = run_crawl([base + "/"], tmp_path, cfg())  # a finished crawl rerun: nothing fetched
    finally:
        srv.shutdown()
        srv.server_close()
    assert again["pages"] == 1 and rec.counts["/"] == 1


def test_warc_without_state_is_refused(tmp_path):
    (tmp_path / "crawl-00000.warc.gz").write_bytes(b"")
    with pytest.raises(DataError, match="no crawl state"):
        run_crawl(["http://127.0.0.1:9/"], tmp_path, cfg())


# ---------------------------------------------------------------------------------------------------
# Resuming: simulated crashes at the two critical instants, and a real SIGKILL of the CLI


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.skip("samples/site not built")
    with serve_static(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def reference(site_url, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    stats = run_crawl([site_url + "/"], out, cfg(max_bytes=1_048_576, max_depth=5, concurrency=4))
    return stats, responses(out)


def responses(out: Path) -> list[str]:
    return [u for t, u, _, _ in warc_records(out) if t == "response"]


class Crash(BaseException):
    pass


def test_crash_before_commit_truncates_and_refetches(site_url, reference, tmp_path, monkeypatch):
    """WARC bytes written and fsynced, state not committed: the restart cuts them off and refetches."""
    real_commit = crawl_mod.CrawlState.commit
    calls = {"n": 0}

    def crashing_commit(self):
        calls["n"] += 1
        if calls["n"] >= 4 and any(p.stat().st_size for p in tmp_path.glob(".crawl-*.part")):
            raise Crash()  # records are on disk (checkpoint fsynced them), the state saying so is not
        real_commit(self)

    c = cfg(max_bytes=1_048_576, max_depth=5, warc_max_records=41)
    monkeypatch.setattr(crawl_mod.driver, "COMMIT_EVERY_S", 0.05)
    monkeypatch.setattr(crawl_mod.CrawlState, "commit", crashing_commit)
    with pytest.raises(Crash):
        run_crawl([site_url + "/"], tmp_path, c)
    monkeypatch.setattr(crawl_mod.CrawlState, "commit", real_commit)
    part = next(tmp_path.glob(".crawl-*.part"))
    assert part.stat().st_size > 0
    stats = run_crawl([site_url + "/"], tmp_path, c)
    got = responses(tmp_path)
    assert len(got) == len(set(got)) == stats["pages"] == reference[0]["pages"]
    assert set(got) == set(reference[1])
    assert stats["skipped"] == reference[0]["skipped"]


def test_crash_between_rename_and_commit(site_url, reference, tmp_path, monkeypatch):
    """The part was renamed to its final name but 'closed' did not commit: the restart adopts it."""
    calls = {"n": 0}

    def crashing_fsync_dir(path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash()

    c = cfg(max_bytes=1_048_576, max_depth=5, warc_max_records=41)
    monkeypatch.setattr(crawl_mod.warc, "_fsync_dir", crashing_fsync_dir)
    with pytest.raises(Crash):
        run_crawl([site_url + "/"], tmp_path, c)
    assert (tmp_path / "crawl-00001.warc.gz").exists() and not list(tmp_path.glob(".crawl-*.part"))
    stats = run_crawl([site_url + "/"], tmp_path, c)
    got = responses(tmp_path)
    assert len(got) == len(set(got)) == reference[0]["pages"]
    assert set(got) == set(reference[1])
    assert stats["warc_files"][:2] == ["crawl-00000.warc.gz", "crawl-00001.warc.gz"]


def test_page_budget_and_a_larger_budget_on_resume(site_url, reference, tmp_path):
    c = cfg(max_bytes=1_048_576, max_depth=5, max_pages=10)
    first = run_crawl([site_url + "/"], tmp_path, c)
    assert first["pages"] == 10 and first["skipped"]["page_budget"] > 0
    c.max_pages = 25
    second = run_crawl([site_url + "/"], tmp_path, c)
    got = responses(tmp_path)
    assert second["pages"] == len(got) == len(set(got)) == 25
    assert set(got) < set(reference[1])


def test_cli_bad_seed_is_a_clear_error():
    from typer.testing import CliRunner

    from langadapt.cli import app

    res = CliRunner().invoke(app, ["crawl", "notaurl", "-p", str(REPO / "params.yaml")])
    assert res.exit_code == 2
    assert "error: seed 'notaurl': not an http(s) URL and not a file" in res.output


@pytest.mark.integration
def test_sigkill_and_resume_cli(site_url, reference, tmp_path):
    """`langadapt crawl` killed with SIGKILL twice mid-crawl, rerun: every page exactly once."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "langadapt", "crawl", site_url + "/", "--out", str(out), "--allow-host",
           "127.0.0.1", "-p", str(REPO / "params.yaml"), "-s", "crawl.delay=0.01", "-s", "crawl.concurrency=2",
           "-s", "crawl.warc_max_records=30"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for target_part in (2, 5):  # kill once a given part has been rolled, a little later
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (out / f"crawl-{target_part:05d}.warc.gz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.15)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 2
    assert not (out / "crawl-stats.json").exists()  # neither run got to the end
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads((out / "crawl-stats.json").read_text())
    got = responses(out)
    requests = [u for t, u, _, _ in warc_records(out) if t == "request"]
    assert len(got) == len(set(got)) == stats["pages"] == reference[0]["pages"]
    assert set(got) == set(reference[1]) and sorted(requests) == sorted(got)
    assert stats["skipped"] == reference[0]["skipped"]
    assert stats["runs"] == 3
    assert "crawl: " in done.stderr and "pages" in done.stderr
