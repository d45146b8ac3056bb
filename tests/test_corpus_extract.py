"""Corpus extract: charset handling (TIS-620), the script-ratio pre-filter, every skipped WARC record
with its reason (non-200, non-HTML, undecodable, duplicate URL, malformed, truncated), resumable shards.

Run: .venv/bin/pytest -q tests/test_corpus_extract.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from langadapt.config import parse_params
from langadapt.corpus import extract as ex
from langadapt.corpus.extract import decode_html, run_extract, visible_text
from langadapt.corpus.shards import staging_dir
from langadapt.corpus.warcs import Page, write_warc
from langadapt.records import read_documents

BODY = (
    "รัฐบาลประกาศมาตรการใหม่เพื่อช่วยเหลือประชาชนที่ได้รับผลกระทบจากน้ำท่วมในภาคเหนือ "
    "โดยจะจ่ายเงินชดเชยให้ครัวเรือนละห้าพันบาทภายในสิ้นเดือนนี้"
)
NAV = "<nav><a href='/'>หน้าแรก</a> <a href='/news'>ข่าวเศรษฐกิจ</a> <a href='/c'>ติดต่อเรา</a></nav>"


def html(title: str, body: str, head: str = "") -> str:
    return (
        f"<html><head>{head}<title>{title}</title></head><body>{NAV}<article><h1>{title}</h1>"
        f"<p>{body}</p><p>{body}</p></article><footer>ลิขสิทธิ์ 2567</footer></body></html>"
    )


EN = "The government announced new measures to help people affected by floods in the north. " * 3


def pages() -> list[Page]:
    return [
        Page("http://a.test/th", html("ข่าวน้ำท่วม", BODY)),
        Page("http://a.test/en", html("Flood news", EN)),  # Thai menus, English article
        Page("http://a.test/gone", html("x", BODY), status=404),
        Page("http://a.test/logo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
        # TIS-620 bytes, declared only in <meta>; the HTTP header has no charset
        Page(
            "http://a.test/tis",
            html("ข่าวเก่า", BODY, '<meta charset="tis-620">').encode("cp874"),
            content_type="text/html",
        ),
        Page(
            "http://a.test/bad",
            b"<html><body>" + bytes(range(128, 256)) * 4,
            content_type="text/html; charset=utf-8",
        ),
        Page("http://a.test/th", html("ข่าวน้ำท่วม", BODY)),  # the same URL again
        Page("http://a.test/short", "<html><body><p>สั้น</p></body></html>"),
    ]


def cfg_for(tmp: Path, *sets: str):
    return parse_params(
        {},
        "test",
        [
            f"paths.raw={tmp / 'raw'}",
            f"paths.extracted={tmp / 'extracted'}",
            f"paths.metrics={tmp / 'metrics'}",
            *sets,
        ],
    )


def excluded(out: Path) -> list[tuple[str, str]]:
    rows = [json.loads(ln) for p in sorted(out.glob("*.excluded.jsonl")) for ln in p.open()]
    return sorted((r["url"], r["reason"]) for r in rows)


def test_decode_html_charsets():
    th = "<html><body>ภาษาไทย</body></html>"
    assert decode_html(th.encode("cp874"), "text/html; charset=TIS-620") == (th, "cp874", "http")
    meta = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-874"></head>{th}'
    assert decode_html(meta.encode("cp874"), "text/html")[1:] == ("cp874", "meta")
    assert decode_html(th.encode("utf-8"), None)[1:] == ("utf-8", "utf-8")
    assert decode_html(b"\xef\xbb\xbf" + th.encode("utf-8"), "text/html; charset=cp874")[1:] == (
        "utf-8-sig",
        "bom",
    )
    # a wrong declaration falls through to what does decode
    assert decode_html(th.encode("utf-8"), "text/html; charset=ascii")[1:] == ("utf-8", "utf-8")
    assert decode_html(b"<html>" + bytes(range(128, 256)) * 4, "text/html; charset=utf-8") is None


def test_visible_text_drops_scripts_and_chrome():
    page = f"<html><head><title>t</title><script>var x='ไทย';</script></head><body>{NAV}<p>Hello &amp; bye</p></body></html>"
    assert visible_text(page).split() == ["Hello", "&", "bye"]


def test_extract_reasons(tmp_path):
    write_warc(tmp_path / "raw" / "a.warc.gz", pages())
    res = run_extract(cfg_for(tmp_path, "extract.shards_per_warc=1"))
    out = tmp_path / "extracted"
    assert res["complete"] and res["processed"] == ["shard-00000"]
    docs = {d.url: d for d in read_documents(out)}
    assert sorted(docs) == ["http://a.test/th", "http://a.test/tis"]
    assert docs["http://a.test/tis"].meta["charset"] == "cp874"
    assert docs["http://a.test/tis"].meta["charset_source"] == "meta"
    assert BODY in docs["http://a.test/tis"].text  # correct Thai out of TIS-620 bytes
    th = docs["http://a.test/th"]
    assert th.id == ex.doc_id("http://a.test/th") and th.lang == "th"
    assert th.meta["title"] == "ข่าวน้ำท่วม"
    assert excluded(out) == [
        ("http://a.test/bad", "extract:undecodable"),
        ("http://a.test/en", "prefilter:script_ratio"),
        ("http://a.test/gone", "warc:http_status"),
        ("http://a.test/logo.png", "warc:not_html"),
        ("http://a.test/short", "extract:too_short"),
        ("http://a.test/th", "warc:duplicate_url"),
    ]
    m = json.loads((tmp_path / "metrics" / "extract.json").read_text())
    assert (m["docs_in"], m["docs_out"]) == (8, 2)
    assert sum(m["dropped"].values()) == 6


def test_doc_ids_are_stable(tmp_path):
    assert ex.doc_id("http://a.test/th") == ex.doc_id("http://a.test/th") != ex.doc_id("http://a.test/th2")
    assert len(ex.doc_id("x")) == 16


def test_malformed_and_truncated_warcs(tmp_path):
    good = [Page(f"http://a.test/{i}", html(f"ข่าว {i}", BODY + f" ฉบับที่ {i}")) for i in range(3)]
    raw = tmp_path / "raw"
    # one gzip member per record (as warcio writes them); concatenated members are one valid WARC
    members = [write_warc(tmp_path / f"m{i}.warc.gz", [p]).read_bytes() for i, p in enumerate(good)]
    data = b"".join(members)
    bad_record = gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 2\r\n\r\nxx\r\n\r\n")
    corrupt = members[1][:20] + b"\x00" * 64 + members[1][84:]
    raw.mkdir()
    # 1) a record with an unparsable header between good ones; 2) a truncated file; 3) corrupt gzip data
    (raw / "a-mid.warc.gz").write_bytes(members[0] + bad_record + members[1] + members[2])
    (raw / "b-truncated.warc.gz").write_bytes(data[:-200])
    (raw / "c-corrupt.warc.gz").write_bytes(members[0] + corrupt + members[2])
    res = run_extract(cfg_for(tmp_path, "extract.shards_per_warc=1"))
    assert res["complete"]
    out = tmp_path / "extracted"
    per_shard = {p.name: [d.url for d in read_documents(p)] for p in sorted(out.glob("shard-*[0-9].jsonl"))}
    reasons = {
        p.name: sorted(json.loads(ln)["reason"] for ln in p.open())
        for p in sorted(out.glob("*.excluded.jsonl"))
    }
    assert per_shard["shard-00000.jsonl"] == ["http://a.test/0", "http://a.test/1", "http://a.test/2"]
    assert reasons["shard-00000.excluded.jsonl"] == ["warc:malformed"]
    assert per_shard["shard-00001.jsonl"] == ["http://a.test/0", "http://a.test/1"]
    # the cut-off last record may also be read partly (then it fails on its own: undecodable, too short)
    assert "warc:truncated" in reasons["shard-00001.excluded.jsonl"]
    assert per_shard["shard-00002.jsonl"] == [
        "http://a.test/0",
        "http://a.test/2",
    ]  # resumed after the bad member
    assert reasons["shard-00002.excluded.jsonl"] == ["warc:malformed"]


def test_resume_skips_finished_shards_and_output_is_all_or_nothing(tmp_path, monkeypatch):
    write_warc(tmp_path / "raw" / "a.warc.gz", pages())
    cfg = cfg_for(tmp_path, "extract.shards_per_warc=2")
    real = ex.extract_shard

    def crash_on_second(task, out, **kw):
        if task.index == 1:
            raise KeyboardInterrupt  # killed mid-stage
        return real(task, out, **kw)

    monkeypatch.setattr(ex, "extract_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_extract(cfg)
    assert not (tmp_path / "extracted").exists()  # nothing half-done where readers (and DVC) look
    assert (staging_dir(tmp_path / "extracted") / "shard-00000.done.json").exists()
    monkeypatch.setattr(ex, "extract_shard", real)
    res = run_extract(cfg)
    assert (res["processed"], res["skipped"]) == (["shard-00001"], ["shard-00000"])
    assert res["complete"] and not staging_dir(tmp_path / "extracted").exists()
    assert res["metrics"]["docs_in"] == 8 and res["metrics"]["docs_out"] == 2
    # a changed param invalidates the markers: everything is redone
    res = run_extract(cfg_for(tmp_path, "extract.shards_per_warc=2", "extract.min_text_chars=10"))
    assert res["processed"] == ["shard-00000", "shard-00001"]


def test_ranks_share_the_work(tmp_path):
    write_warc(tmp_path / "raw" / "a.warc.gz", pages())
    cfg = cfg_for(tmp_path, "extract.shards_per_warc=2")
    r0 = run_extract(cfg, rank=0, world_size=2)
    assert r0["processed"] == ["shard-00000"] and not r0["complete"]
    assert not (tmp_path / "extracted").exists()
    r1 = run_extract(cfg, rank=1, world_size=2)  # the last rank finalizes
    assert r1["processed"] == ["shard-00001"] and r1["complete"]
    assert len(list(read_documents(tmp_path / "extracted"))) == 2
    # markers live beside the output, not in it: the output's content hash is the documents' alone
    assert not list((tmp_path / "extracted").glob("*.done.json"))
    assert sorted(p.name for p in (tmp_path / ".extracted.markers").iterdir()) == [
        "shard-00000.done.json", "shard-00001.done.json"]


def test_a_gzip_member_that_does_not_inflate_is_malformed_not_read_raw(tmp_path):
    # warcio reads data that does not inflate as raw bytes; what it parses there (here a plain-text WARC
    # record between two gzip members) must not be taken as a record nor swallow the member after it
    good = [Page(f"http://a.test/{i}", html(f"ข่าว {i}", BODY + f" ฉบับที่ {i}")) for i in range(2)]
    members = [write_warc(tmp_path / f"m{i}.warc.gz", [p]).read_bytes() for i, p in enumerate(good)]
    plain = gzip.decompress(members[1]).replace(b"http://a.test/1", b"http://a.test/x")
    recs = list(ex.iter_warc(_write(tmp_path / "w.warc.gz", members[0] + plain + members[1])))
    urls = [r.rec_headers.get_header("WARC-Target-URI") for r in recs if not isinstance(r, Exception)]
    assert urls == ["http://a.test/0", "http://a.test/1"]
    assert sum(isinstance(r, Exception) for r in recs) == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
