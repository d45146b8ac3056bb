"""URLs and links: normalisation, seeds, a page's charset and its outgoing links."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from langadapt.errors import ConfigError


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment, lower-case scheme/host, default port dropped; else None."""
    try:
        url = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == {"http": 80, "https": 443}[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    path = path.replace(" ", "%20")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def url_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()



def origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def read_seeds(args: list[str]) -> list[str]:
    """Seed URLs from arguments: a URL, or a file with one URL a line (# comments, blanks ignored)."""
    seeds: list[str] = []
    for a in args:
        if a.startswith(("http://", "https://")):
            cands = [(a, f"seed {a!r}")]
        elif Path(a).is_file():
            lines = Path(a).read_text(encoding="utf-8").splitlines()
            cands = [
                (ln.strip(), f"{a}:{i}")
                for i, ln in enumerate(lines, 1)
                if ln.strip() and not ln.strip().startswith("#")
            ]
        else:
            raise ConfigError(f"seed {a!r}: not an http(s) URL and not a file")
        for url, where in cands:
            n = normalize_url(url)
            if n is None:
                raise ConfigError(f"{where}: not an http(s) URL: {url!r}")
            seeds.append(n)
    if not seeds:
        raise ConfigError("no seed URLs given")
    return list(dict.fromkeys(seeds))



_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)


def html_charset(headers: list[tuple[str, str]], body: bytes) -> str:
    """The page's encoding: Content-Type charset, else <meta charset>, else utf-8 (a known codec; labels
    read through the one alias table, ``langadapt.corpus.charsets``)."""
    from langadapt.corpus.charsets import codec_name

    cands = []
    for k, v in headers:
        if k.lower() == "content-type":
            m = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", v, re.IGNORECASE)
            if m:
                cands.append(m.group(1))
    m = _META_CHARSET.search(body[:4096])
    if m:
        cands.append(m.group(1).decode("ascii", "replace"))
    for c in cands:
        if name := codec_name(c):
            return name
    return "utf-8"


def extract_links(url: str, headers: list[tuple[str, str]], body: bytes) -> list[str]:
    """Absolute, normalised <a>/<area> hrefs in document order (none if meta robots says nofollow)."""
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(body.decode(html_charset(headers, body), errors="replace"))
    except Exception:  # noqa: BLE001 - an unparsable page simply has no links
        return []
    for meta in doc.iter("meta"):
        if (meta.get("name") or "").lower() == "robots" and re.search(
            r"\b(nofollow|none)\b", (meta.get("content") or "").lower()
        ):
            return []
    base = url
    for b in doc.iter("base"):
        if b.get("href"):
            base = urljoin(url, b.get("href"))
            break
    out: list[str] = []
    for el in doc.iter("a", "area"):
        href = el.get("href")
        if href:
            n = normalize_url(href, base)
            if n:
                out.append(n)
    return list(dict.fromkeys(out))

