"""Tests of the embedded default's raw snapshot: data.dvc, the repo-local DVC remote, its content.

    .venv/bin/pytest -q tests/test_snapshot.py          # ~15 s (runs `dvc pull` in a scratch repo)

A fresh clone gets data/raw with `dvc pull` and no network: the remote is samples/dvc-remote, committed.
The test rebuilds that situation in a scratch git repo holding only what a clone would have, pulls, and
checks the files (md5 against the DVC manifest), the crawl statistics (exact) and the WARC content.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The crawl of samples/site that made the snapshot (samples/make_snapshot.sh); exact by construction.
EXPECTED_STATS = {
    "pages": 1100,
    "requests": 1105,  # robots.txt + 1100 pages + 404 + 2 non-HTML + 1 oversized
    "retries": 0,
    "redirects": 0,
    "skipped": {"http_404": 1, "not_html": 2, "offsite": 1932, "robots_disallowed": 1, "too_large": 1},
    "skipped_total": 1937,
    "pending": 0,
    "warc_files": ["crawl-00000.warc.gz"],
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> Path:
    """A scratch repo with what a clone has (.dvc/config, data.dvc, samples/dvc-remote), after `dvc pull`."""
    if not (REPO / "data.dvc").exists():
        pytest.skip("no data.dvc (run samples/make_snapshot.sh)")
    root = tmp_path_factory.mktemp("clone")
    (root / ".dvc").mkdir()
    for rel in (".dvc/config", ".dvc/.gitignore", ".dvcignore", "data.dvc"):
        if (REPO / rel).exists():
            shutil.copy(REPO / rel, root / rel)
    shutil.copytree(REPO / "samples" / "dvc-remote", root / "samples" / "dvc-remote")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    res = subprocess.run([sys.executable, "-m", "dvc", "pull", "-q"], check=False, cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return root


def test_dvc_config_points_at_the_repo_local_remote():
    cfg = (REPO / ".dvc" / "config").read_text()
    assert "remote = local" in cfg
    assert "url = ../samples/dvc-remote" in cfg
    assert "analytics = false" in cfg
    dvc = yaml.safe_load((REPO / "data.dvc").read_text())
    (out,) = dvc["outs"]
    assert out["path"] == "data/raw" and out["md5"].endswith(".dir")


def test_fresh_clone_pulls_the_snapshot_with_the_right_md5(pulled):
    out = yaml.safe_load((pulled / "data.dvc").read_text())["outs"][0]
    digest = out["md5"].removesuffix(".dir")
    manifest = json.loads((pulled / "samples/dvc-remote/files/md5" / digest[:2] / (digest[2:] + ".dir")).read_text())
    files = sorted(p.name for p in (pulled / "data/raw").iterdir())
    assert files == sorted(e["relpath"] for e in manifest) == [
        "crawl-00000.warc.gz", "crawl-skipped.jsonl", "crawl-stats.json"]
    for e in manifest:
        assert md5(pulled / "data/raw" / e["relpath"]) == e["md5"], e["relpath"]
    assert out["nfiles"] == 3
    assert out["size"] == sum((pulled / "data/raw" / f).stat().st_size for f in files)


def test_snapshot_crawl_stats_exact(pulled):
    stats = json.loads((pulled / "data/raw/crawl-stats.json").read_text())
    assert {k: stats[k] for k in EXPECTED_STATS} == EXPECTED_STATS
    assert stats["seeds"] == ["http://127.0.0.1:8765/"]


def test_snapshot_content(pulled, repo_root):
    from warcio.archiveiterator import ArchiveIterator

    manifest = json.loads((repo_root / "samples" / "site-manifest.json").read_text())
    base = "http://127.0.0.1:8765"
    resp, req, ctypes = [], [], {}
    with open(pulled / "data/raw/crawl-00000.warc.gz", "rb") as f:
        for r in ArchiveIterator(f):
            uri = r.rec_headers.get_header("WARC-Target-URI")
            if r.rec_type == "response":
                resp.append(uri.removeprefix(base))
                ctypes[uri.removeprefix(base)] = (r.http_headers.get_header("Content-Type"), r.content_stream().read())
            elif r.rec_type == "request":
                req.append(uri.removeprefix(base))
    assert len(resp) == len(set(resp)) == 1100 and sorted(req) == sorted(resp)
    got = set(resp)
    assert {a["url"] for a in manifest["articles"]} <= got
    assert {s["url"] for s in manifest["syndicated"]} <= got
    assert set(manifest["spam"]) <= got and set(manifest["english"]) <= got
    assert {p["page"] for p in manifest["pii"]} <= got
    assert not got & set(manifest["disallowed"])  # robots.txt: /admin/ never fetched
    assert not got & set(manifest["oversized"] + manifest["non_html"] + manifest["broken"])
    ctype, body = ctypes["/legacy/tis620.html"]
    assert ctype == "text/html; charset=tis-620"
    assert manifest["tis620"][0]["first_paragraph"][:60] in body.decode("tis-620")
    skipped = [json.loads(ln) for ln in (pulled / "data/raw/crawl-skipped.jsonl").read_text().splitlines()]
    reasons = {r["url"].removeprefix(base): r["reason"] for r in skipped}
    assert reasons["/admin/index.html"] == "robots_disallowed"
    assert reasons["/archive/all.html"] == "too_large"
    assert reasons["/files/annual-report-2559.pdf"] == reasons["/files/photo-0001.jpg"] == "not_html"


@pytest.mark.integration
def test_snapshot_is_reproducible_from_samples_site(pulled, tmp_path, monkeypatch):
    """Crawling samples/site as make_snapshot.sh does gives the committed WARC, byte for byte."""
    from langadapt.config import load_params
    from langadapt.corpus.crawl import run_crawl
    from langadapt.corpus.sitehost import serve_static

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("port 8765 is busy")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    cfg = load_params(REPO / "params.yaml", ["crawl.delay=0", "crawl.concurrency=1", "crawl.max_pages=2000"]).crawl
    cfg.allow_hosts = ["127.0.0.1"]
    with serve_static(REPO / "samples" / "site", port=8765, fixed_date=1700000000) as url:
        stats = run_crawl([url + "/"], tmp_path, cfg)
    assert stats["pages"] == 1100
    assert md5(tmp_path / "crawl-00000.warc.gz") == md5(pulled / "data/raw/crawl-00000.warc.gz")
