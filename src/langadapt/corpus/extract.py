"""extract: WARC snapshot -> Document JSONL shards (main text, title, date), every skip with a reason.

    langadapt extract                      # data/raw/*.warc.gz -> data/extracted (params: extract, language)
    run_extract(cfg, rank=0, world_size=1) # the same, as a function any executor can call per rank

Per WARC response record:
1. HTTP status 200 and an HTML content type, else ``warc:http_status`` / ``warc:not_html``;
   a URL seen before in the same shard is ``warc:duplicate_url``.
2. Charset: BOM, the HTTP ``Content-Type`` charset, ``<meta charset>`` / ``http-equiv``, UTF-8, then
   detection (charset_normalizer), each tried strictly; TIS-620 / ISO-8859-11 are read as cp874 (their
   superset). Nothing fits: ``extract:undecodable``.
3. Cheap pre-filter BEFORE trafilatura: tags, scripts and page chrome (nav/header/footer/aside) stripped
   by regex, and a page whose visible text has less
   of the target script than ``extract.prefilter_min_script_ratio`` is dropped (``prefilter:script_ratio``).
   On a crawl where most pages are in other languages this skips most of the expensive extraction.
4. trafilatura main text (no comments), normalised (``langadapt.text.normalize``); title (og:title, h1,
   <title>) and date (htmldate quick search) in ``meta``; no main text, or shorter than
   ``extract.min_text_chars``: ``extract:no_main_text`` / ``extract:too_short``.

A malformed WARC record is ``warc:malformed`` (warcio skips what it can; an unreadable one ends that
file, the records before it are kept), a truncated ``.gz`` is ``warc:truncated`` (its complete records
are kept), a record whose body cannot be decompressed is ``warc:bad_content_encoding``.
Nothing in a WARC can crash the stage.

Sharding: every WARC file (sorted) is split into ``extract.shards_per_warc`` output shards (response
record ``i`` goes to part ``i % shards_per_warc``), so shard names never depend on the number of workers.
"""

from __future__ import annotations

import codecs
import functools
import html as htmllib
import logging
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from langadapt.corpus.charsets import codec_name
from langadapt.corpus.shards import ShardTask, merge_stats, run_shards
from langadapt.errors import DataError
from langadapt.io import write_json, write_jsonl
from langadapt.records import Document, ExclusionWriter, stable_hash
from langadapt.text import language_script, normalize, script_ratio

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------
# Charset handling

_HEADER_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([\w\-.:]+)", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([\w\-.:]+)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(name: str | None) -> str | None:
    return codec_name(name)  # the one alias table: langadapt.corpus.charsets


@functools.cache
def _single_byte(codec: str) -> bool:
    try:
        return len(bytes(range(256)).decode(codec, errors="replace")) == 256
    except LookupError:
        return False


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str, str] | None:
    """Decode an HTML body: ``(text, codec, source)`` with source one of ``bom``, ``http``, ``meta``,
    ``utf-8``, ``detected``; ``None`` when no candidate decodes it strictly."""
    candidates: list[tuple[str | None, str]] = []
    for bom, enc in _BOMS:
        if body.startswith(bom):
            candidates.append((enc, "bom"))
    if content_type and (m := _HEADER_CHARSET_RE.search(content_type)):
        candidates.append((_codec(m.group(1)), "http"))
    if m := _META_CHARSET_RE.search(body[:4096]):
        candidates.append((_codec(m.group(1).decode("ascii", "ignore")), "meta"))
    # Valid UTF-8 with non-ASCII bytes wins over a declared single-byte charset: pages that say
    # iso-8859-1 or tis-620 but are UTF-8 are common, and multi-byte UTF-8 sequences almost never
    # occur by chance in single-byte text.
    declared = [c for c in candidates if c[1] in ("http", "meta")]
    if declared and declared[0][0] and _single_byte(declared[0][0]) and not body.isascii():
        candidates.insert(len(candidates) - len(declared), ("utf-8", "utf-8"))
    candidates.append(("utf-8", "utf-8"))
    tried = set()
    for enc, source in candidates:
        if enc is None or enc in tried:
            continue
        tried.add(enc)
        try:
            return body.decode(enc), enc, source
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        enc = _codec(best.encoding) or best.encoding
        try:
            return body.decode(enc), enc, "detected"
        except (UnicodeDecodeError, LookupError):
            return None
    return None


# ---------------------------------------------------------------------------------------------------
# Pre-filter

# Invisible blocks, and page chrome (navigation, header, footer, sidebars, forms): a site's Thai menus
# must not make its English article look Thai.
_INVISIBLE_RE = re.compile(
    r"<(script|style|noscript|template|svg|head|nav|header|footer|aside|menu|form|select)\b[^>]*>.*?</\1\s*>"
    r"|<!--.*?-->",
    re.DOTALL | re.IGNORECASE,
)
_TAG_RE = re.compile(r"<[^>]*>")


def visible_text(page: str) -> str:
    """Crude visible text: invisible blocks, page chrome and tags removed by regex, entities unescaped
    (fast, lossy; good enough to measure which script a page is written in)."""
    return htmllib.unescape(_TAG_RE.sub(" ", _INVISIBLE_RE.sub(" ", page)))


_TITLE_RES = (
    re.compile(r"<meta[^>]+property=[\"']og:title[\"'][^>]+content=[\"']([^\"']+)", re.IGNORECASE),
    re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL),
    re.compile(r"<title\b[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL),
)


def page_metadata(page: str) -> tuple[str | None, str | None]:
    """(title, date): og:title, else the first ``<h1>``, else ``<title>``; the publication date by
    htmldate's quick search (meta tags, ``<time>``, URL), ``None`` when the page has none."""
    title = None
    for pattern in _TITLE_RES:
        if m := pattern.search(page):
            title = " ".join(htmllib.unescape(_TAG_RE.sub(" ", m.group(1))).split()) or None
            if title:
                break
    date = None
    try:
        from htmldate import find_date

        date = find_date(page, extensive_search=False, original_date=True)
    except Exception:  # noqa: BLE001,S110 -- a date is optional; htmldate raises on odd markup
        pass
    return title, date


# ---------------------------------------------------------------------------------------------------
# One shard


def doc_id(url: str) -> str:
    """The stable document id: a hash of the URL (same page, same id, across reruns and machines)."""
    return f"{stable_hash(url):016x}"


def extract_shard(
    task: ShardTask, out_dir: Path, *, lang: str, min_script_ratio: float, min_text_chars: int
) -> dict[str, Any]:
    """Extract the records of ``task`` (one WARC file, one part of it) into ``out_dir``."""
    t0 = time.perf_counter()
    (warc,) = task.inputs
    script = language_script(lang)
    docs: list[Document] = []
    stats: Counter[str] = Counter()
    charsets: Counter[str] = Counter()
    seen_urls: set[str] = set()
    excl = ExclusionWriter(out_dir / f"{task.name}.excluded.jsonl")

    def drop(url: str, reason: str, **details: Any) -> None:
        excl.drop(
            {"id": doc_id(url) if url else "", "url": url, "lang": lang},
            reason,
            warc=Path(warc).name,
            **details,
        )

    index = -1
    malformed = 0
    for rec in iter_warc(warc):
        if isinstance(rec, Exception):  # a record warcio could not parse; reading resumed after it
            malformed += 1
            if task.part == 0:  # every part reads the file: report it once
                drop("", "warc:malformed", error=f"{type(rec).__name__}: {rec}"[:300])
            log.warning("%s: malformed WARC record after %d responses: %s", warc, index + 1, rec)
            continue
        if rec.rec_type != "response":
            continue
        index += 1
        if index % task.parts != task.part:
            continue
        stats["responses"] += 1
        url = (rec.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
        try:
            _extract_record(
                rec,
                url,
                lang,
                script,
                min_script_ratio,
                min_text_chars,
                seen_urls,
                docs,
                drop,
                charsets,
                warc,
            )
        except _RecordError as e:
            drop(url, e.reason, **e.details)
    if task.part == 0:
        kind, err = _gzip_error(warc)
        if kind == "truncated":  # warcio stops silently at a truncated last member
            drop("", "warc:truncated", error=err)
        elif kind == "corrupt" and not malformed:
            drop("", "warc:malformed", error=err)
    write_jsonl(out_dir / f"{task.name}.jsonl", docs)
    excl.close()
    return {
        "docs_in": stats["responses"],
        "docs_out": len(docs),
        "dropped": dict(excl.counts),
        "charset_source": dict(charsets),
        "chars_out": sum(len(d.text) for d in docs),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _gzip_error(path: str) -> tuple[str | None, str]:
    """``("truncated" | "corrupt" | None, message)`` from a full read of a ``.gz`` file."""
    if not str(path).endswith(".gz"):
        return None, ""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    except EOFError as e:
        return "truncated", f"{type(e).__name__}: {e}"[:300]
    except (OSError, zlib.error) as e:
        return "corrupt", f"{type(e).__name__}: {e}"[:300]
    return None, ""


def iter_warc(path: str | Path):
    """WARC records of a file, with an ``Exception`` in place of each record that cannot be parsed:
    reading then resumes at the next gzip member (``.warc.gz``) or ``WARC/1.`` header (``.warc``), so one
    bad record does not cost the rest of the file."""
    from warcio.archiveiterator import ArchiveIterator

    gz = str(path).endswith(".gz")
    magic = b"\x1f\x8b\x08" if gz else b"WARC/1."
    with open(path, "rb") as f:
        pos = 0
        while True:
            f.seek(pos)
            it = ArchiveIterator(f, arc2warc=True)
            try:
                for rec in it:
                    if gz and it.reader.decompressor is None:
                        # warcio reads a gzip member whose first block does not inflate as raw bytes: what
                        # it returns is garbage that can swallow the members after it
                        raise ValueError("gzip member does not decompress (corrupt data)")
                    yield rec
                return
            except Exception as e:  # noqa: BLE001 -- warcio raises many types on bad headers / data
                yield e
                failed_at = max(pos, pos + int(getattr(it, "offset", 0) or 0))
                nxt = _find(f, magic, failed_at + 1)
                if nxt is None or nxt <= pos:
                    return
                pos = nxt


def _find(f, magic: bytes, start: int) -> int | None:
    f.seek(start)
    offset = start
    tail = b""
    while chunk := f.read(1 << 20):
        buf = tail + chunk
        k = buf.find(magic)
        if k >= 0:
            return offset - len(tail) + k
        tail = buf[-(len(magic) - 1) :]
        offset += len(chunk)
    return None


class _RecordError(Exception):
    def __init__(self, reason: str, **details: Any):
        super().__init__(reason)
        self.reason, self.details = reason, details


def _extract_record(
    rec, url, lang, script, min_script_ratio, min_text_chars, seen_urls, docs, drop, charsets, warc
) -> None:
    import trafilatura

    if rec.http_headers is None:
        raise _RecordError("warc:malformed", error="response record without HTTP headers")
    status = rec.http_headers.get_statuscode()
    if status != "200":
        raise _RecordError("warc:http_status", status=status)
    content_type = rec.http_headers.get_header("Content-Type") or ""
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in ("text/html", "application/xhtml+xml"):
        raise _RecordError("warc:not_html", content_type=mime)
    if url in seen_urls:
        raise _RecordError("warc:duplicate_url")
    seen_urls.add(url)
    try:
        body = rec.content_stream().read()
    except Exception as e:  # noqa: BLE001 -- broken gzip/brotli/chunked body
        raise _RecordError("warc:bad_content_encoding", error=f"{type(e).__name__}: {e}"[:300]) from None
    decoded = decode_html(body, content_type)
    if decoded is None:
        raise _RecordError("extract:undecodable", bytes=len(body))
    page, codec, source = decoded
    charsets[source] += 1
    ratio = script_ratio(visible_text(page), script)
    if ratio < min_script_ratio:
        raise _RecordError("prefilter:script_ratio", ratio=round(ratio, 4), charset=codec)
    try:
        # Main text only: trafilatura's own metadata pass (htmldate's extensive search, author, sitename)
        # costs ~3x the extraction itself; title and date come from the cheap page_metadata() below.
        res = trafilatura.bare_extraction(
            page,
            url=url or None,
            with_metadata=False,
            include_comments=False,
            favor_precision=True,  # as FineWeb: less boilerplate; short pages then fail min_text_chars
            include_tables=True,
            deduplicate=False,
        )
    except Exception as e:  # noqa: BLE001 -- trafilatura/lxml on pathological markup
        raise _RecordError("extract:trafilatura_error", error=f"{type(e).__name__}: {e}"[:300]) from None
    text = normalize(res.text or "", lang) if res is not None else ""
    if not text.strip():
        raise _RecordError("extract:no_main_text")
    if len(text) < min_text_chars:
        raise _RecordError("extract:too_short", chars=len(text))
    title, date = page_metadata(page)
    meta = {
        "title": normalize(title, lang) if title else None,
        "date": date,
        "charset": codec,
        "charset_source": source,
        "prefilter_script_ratio": round(ratio, 4),
        "warc": Path(warc).name,
        "warc_record_id": rec.rec_headers.get_header("WARC-Record-ID"),
        "warc_date": rec.rec_headers.get_header("WARC-Date"),
    }
    docs.append(Document(id=doc_id(url), text=text, url=url, lang=lang, meta=meta))


# ---------------------------------------------------------------------------------------------------
# The stage


def extract_tasks(raw_dir: str | Path, shards_per_warc: int = 1) -> list[ShardTask]:
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise DataError(
            f"{raw}: WARC snapshot directory not found (paths.raw; run `dvc pull` or `langadapt crawl`)"
        )
    files = sorted(
        p for p in raw.rglob("*") if p.is_file() and (p.name.endswith(".warc.gz") or p.name.endswith(".warc"))
    )
    if not files:
        raise DataError(f"{raw}: no *.warc.gz files")
    n = max(1, shards_per_warc)
    return [ShardTask(i * n + j, (str(f),), part=j, parts=n) for i, f in enumerate(files) for j in range(n)]


def run_extract(cfg, rank: int = 0, world_size: int = 1, *, finalize: bool = True, mapper=None) -> dict[str, Any]:
    """Extract this rank's shards; when the stage is complete, write ``metrics/extract.json``.

    Returns ``{"complete", "processed", "skipped", "metrics"}`` (metrics only when complete)."""
    p = cfg.extract
    lang = cfg.language.code
    tasks = extract_tasks(cfg.paths.raw, p.shards_per_warc)
    params = {"lang": lang, **p.model_dump(exclude={"workers"})}

    def process(task: ShardTask, out: Path) -> dict[str, Any]:
        return extract_shard(
            task,
            out,
            lang=lang,
            min_script_ratio=p.prefilter_min_script_ratio,
            min_text_chars=p.min_text_chars,
        )

    run = run_shards(tasks, cfg.paths.extracted, process, params, rank=rank, world_size=world_size, finalize=finalize)
    result: dict[str, Any] = {"complete": run.complete, "processed": run.processed, "skipped": run.skipped}
    if run.complete:
        metrics = {"stage": "extract", "lang": lang, "shards": len(tasks), **merge_stats(run.shard_stats)}
        write_json(Path(cfg.paths.metrics) / "extract.json", metrics)
        result["metrics"] = metrics
    return result
