"""WARC output: rolling ``crawl-NNNNN.warc.gz`` parts (warcio, one gzip member per record).

The open part is a hidden ``.crawl-NNNNN.warc.gz.part`` whose committed byte offset lives in the
crawl state; on restart it is truncated to that offset. With ``SOURCE_DATE_EPOCH`` set, dates and
record ids are derived from it, so a deterministic crawl gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from langadapt.corpus.crawl.fetch import Outcome
from langadapt.corpus.crawl.state import CrawlState
from langadapt.errors import DataError

PART_PATTERN = "crawl-{:05d}.warc.gz"


class WarcParts:
    """Rolling WARC parts: the open part is ``.crawl-NNNNN.warc.gz.part`` until it is closed."""

    def __init__(self, out: Path, state: CrawlState, max_records: int):
        self.out, self.state, self.max_records = out, state, max(2, max_records)
        self.index: int = state.get("part_index", 0)
        self.offset: int = state.get("part_offset", 0)
        self.records: int = state.get("part_records", 0)
        self.closed: list[str] = state.get("parts_closed", [])
        self.f = None
        self.epoch = _source_date_epoch()
        self._recover()

    def final(self, i: int | None = None) -> Path:
        return self.out / PART_PATTERN.format(self.index if i is None else i)

    def temp(self) -> Path:
        return self.out / f".{self.final().name}.part"

    def _recover(self) -> None:
        tmp, fin = self.temp(), self.final()
        if not tmp.exists() and fin.exists() and fin.name not in self.closed:
            # killed between rename and commit: the rename happened, so the part is complete
            self._mark_closed()
            self.state.commit()
            tmp, fin = self.temp(), self.final()
        for name in self.closed:
            if not (self.out / name).exists():
                raise DataError(
                    f"{self.out / name}: WARC part recorded as complete is missing; "
                    f"restore it or start a new crawl in another --out"
                )
        if tmp.exists():
            with open(tmp, "r+b") as f:
                f.truncate(self.offset)  # drop records of pages whose checkpoint did not commit
        elif self.offset:
            raise DataError(f"{tmp}: the open WARC part is missing; start a new crawl in another --out")

    def _open(self):
        if self.f is None:
            tmp = self.temp()
            self.f = open(tmp, "r+b" if tmp.exists() else "w+b")  # noqa: SIM115 - open across many pages
            self.f.seek(self.offset)
            from warcio.warcwriter import WARCWriter

            self.writer = WARCWriter(self.f, gzip=True)
            if self.offset == 0:
                self._write_warcinfo()
        return self.f

    def _record_id(self, *parts: str) -> str:
        if self.epoch is None:
            return f"<urn:uuid:{uuid.uuid4()}>"
        return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(parts))}>"

    def _date(self) -> str:
        ts = (
            datetime.now(UTC)
            if self.epoch is None
            else datetime.fromtimestamp(self.epoch, UTC)
        )
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _write_warcinfo(self) -> None:
        from langadapt import __version__

        info = {
            "software": f"langadapt/{__version__} (warcio)",
            "format": "WARC File Format 1.0",
            "robots": "obey",
            "http-header-user-agent": self.state.get("user_agent", ""),
        }
        payload = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        rec = self.writer.create_warc_record(
            "",
            "warcinfo",
            payload=BytesIO(payload),
            length=len(payload),
            warc_headers_dict={
                "WARC-Record-ID": self._record_id("warcinfo", self.final().name),
                "WARC-Date": self._date(),
                "WARC-Filename": self.final().name,
            },
        )
        self.writer.write_record(rec)
        self.records += 1

    def write_page(self, o: Outcome) -> int:
        """Write the request and response records of a page; returns the part index they went to."""
        from warcio.statusandheaders import StatusAndHeaders

        if self.records > 1 and self.records + 2 > self.max_records:
            self.roll()
        self._open()
        url, date = o.task.url, self._date()
        resp_id = self._record_id("response", url)
        http = StatusAndHeaders(f"{o.status} {o.reason_phrase}".strip(), o.headers, protocol=o.http_version)
        resp = self.writer.create_warc_record(
            url,
            "response",
            payload=BytesIO(o.body),
            length=len(o.body),
            http_headers=http,
            warc_headers_dict={"WARC-Record-ID": resp_id, "WARC-Date": date, "WARC-IP-Address": o.ip},
        )
        req_http = StatusAndHeaders(o.req_line, o.req_headers, is_http_request=True)
        req = self.writer.create_warc_record(
            url,
            "request",
            http_headers=req_http,
            warc_headers_dict={
                "WARC-Record-ID": self._record_id("request", url),
                "WARC-Date": date,
                "WARC-Concurrent-To": resp_id,
            },
        )
        self.writer.write_record(resp)
        self.writer.write_record(req)
        self.records += 2
        return self.index

    def checkpoint(self) -> None:
        """Make written records durable and record the offset in the (uncommitted) transaction."""
        if self.f is not None:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.offset = self.f.tell()
        self.state.set("part_index", self.index)
        self.state.set("part_offset", self.offset)
        self.state.set("part_records", self.records)
        self.state.set("parts_closed", self.closed)

    def roll(self) -> None:
        """Close the open part: checkpoint+commit, rename to the final name, commit 'closed'."""
        if self.f is not None:
            self.checkpoint()
            self.state.commit()
            self.f.close()
            self.f = None
        tmp = self.temp()
        if not tmp.exists() or self.offset == 0:  # nothing committed in it
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            return
        os.replace(tmp, self.final())
        _fsync_dir(self.out)
        self._mark_closed()
        self.state.commit()

    def _mark_closed(self) -> None:
        self.closed = [*self.closed, self.final().name]
        self.index, self.offset, self.records = self.index + 1, 0, 0
        self.checkpoint()

    def abandon(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _source_date_epoch() -> int | None:
    v = os.environ.get("SOURCE_DATE_EPOCH")
    return int(v) if v and v.isdigit() else None

