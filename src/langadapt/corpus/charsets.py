"""The one charset alias table: a declared charset label -> the codec Python should read it with.

Used by extraction (``extract.decode_html``) and by the crawler (``crawl.urls.html_charset``). Labels are
read as browsers read them (the WHATWG encoding spec): ISO-8859-1/ASCII pages are windows-1252, TIS-620
and ISO-8859-11 pages are windows-874 (cp874, their superset that Thai sites actually send), Big5 is
Big5-HKSCS, GB2312/GBK are GB18030. Language-independent: a Thai page can sit on any crawl.

    codec_name("TIS-620")   # 'cp874'
    codec_name("nonsense")  # None
"""

from __future__ import annotations

import codecs

CHARSET_ALIASES = {
    "tis-620": "cp874",
    "tis620": "cp874",
    "tis_620": "cp874",
    "iso-8859-11": "cp874",
    "iso8859-11": "cp874",
    "iso_8859-11": "cp874",
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "dos-874": "cp874",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "big5": "big5hkscs",  # a superset Taiwanese and Hong Kong pages rely on
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a declared charset label (quotes and case ignored), None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None
