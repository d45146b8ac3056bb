"""Shared fixtures. Run all tests: `make test` (or `.venv/bin/pytest -q tests`)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shared_data() -> Path:
    """../shared/data when present (a developer checkout and CI); skipped in a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout (only developer checkouts and CI have it)")
    return SHARED_DATA


def thai_news(limit: int | None = None, max_chars: int | None = None) -> list[dict]:
    """Thai government news records: ../shared/data when present, else the 300-article sample the repo
    ships (samples/data/th/thaigov-news.300.jsonl.gz), so these tests also run in a user's clone."""
    from langadapt.io import read_jsonl

    src = SHARED_DATA / "th" / "thaigov-news.jsonl"
    if not src.exists():
        src = REPO / "samples" / "data" / "th" / "thaigov-news.300.jsonl.gz"
    out = []
    for rec in read_jsonl(src):
        if limit is not None and len(out) >= limit:
            break
        if max_chars is not None:
            rec["text"] = rec["text"][:max_chars]
        out.append(rec)
    return out
