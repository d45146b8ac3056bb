"""PII redaction: e-mail addresses, Thai phone numbers, Thai national ID numbers, IP addresses.

Each match is replaced by a typed placeholder and counted::

    redact_pii("โทร 081-234-5678 หรือ a@b.co")  # ('โทร <PHONE> หรือ <EMAIL>', Counter({'PHONE': 1, 'EMAIL': 1}))

- ``<EMAIL>``: ``local@domain.tld``.
- ``<TH_NATIONAL_ID>``: 13 digits, the first 1-8 (plain or ``1-2345-67890-12-1``), whose check digit is valid:
  ``(11 - sum(d[i] * (13 - i) for i in 0..11) % 11) % 10 == d[12]``. Other 13-digit numbers are kept.
- ``<PHONE>``: Thai mobile ``06/08/09`` + 8 digits, landlines ``02``-``07`` + 7 digits, and the same
  in ``+66`` / ``(+66)`` form (leading 0 dropped, or kept in parentheses: ``+66 (0) 81 234 5678``), with
  the area code in parentheses (``(02) 123-4567``), and single spaces, dashes or dots between digit groups.
- Digits are ASCII or Thai (``๐``-``๙``, as Thai pages write them): ``๐๘๑-๒๓๔-๕๖๗๘`` is a phone, and a
  13-digit ID in Thai digits is checked and redacted like one in ASCII digits.
- ``<IP>``: IPv4 (each octet <= 255) and IPv6 (validated by ``ipaddress``).
Digits inside longer digit runs are never matched (a 16-digit card or order number is not a phone).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_D = "[0-9\u0e50-\u0e59]"  # an ASCII or a Thai digit
_ID_RE = re.compile(
    rf"(?<![\d-])([1-8\u0e51-\u0e58])[- ]?({_D}{{4}})[- ]?({_D}{{5}})[- ]?({_D}{{2}})[- ]?({_D})(?![\d-])"
)
_PHONE_RE = re.compile(
    r"(?<![\d+])(?:"
    rf"(?:\+66|\(\+66\))(?:[ .-]?\([0\u0e50]\))?(?:[ .-]?{_D}){{8,9}}"  # +66 81 234 5678, +66 (0) 81 ...
    rf"|\([0\u0e50]{_D}{{1,2}}\)(?:[ .-]?{_D}){{6,8}}"  # (02) 123-4567, (081) 234-5678
    rf"|[0\u0e50](?:[ .-]?{_D}){{8,9}}"  # 02 123 4567, 081-234-5678, ๐๘๑-๒๓๔-๕๖๗๘
    r")(?!\d)"
)
_TO_ASCII = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]\d)"
)
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)


def thai_id_valid(digits: str) -> bool:
    """The Thai national ID checksum over 13 digits."""
    digits = digits.translate(_TO_ASCII)
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    s = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - s % 11) % 10 == int(digits[12])


def _phone_ok(match: str) -> bool:
    match = match.translate(_TO_ASCII)
    if match.startswith(("+66", "(+66)")):
        rest = re.sub(r"\D", "", re.sub(r"\(0\)", "", match))[2:]
        return (len(rest) == 9 and rest[0] in "689") or (len(rest) == 8 and rest[0] in "234567")
    digits = re.sub(r"\D", "", match)
    if len(digits) == 10:
        return digits[1] in "689"
    return len(digits) == 9 and digits[1] in "234567"


def redact_pii(text: str) -> tuple[str, Counter[str]]:
    """``(redacted_text, counts)`` with counts keyed ``EMAIL``, ``TH_NATIONAL_ID``, ``PHONE``, ``IP``."""
    counts: Counter[str] = Counter()

    def sub(pattern: re.Pattern[str], kind: str, ok, s: str) -> str:
        def repl(m: re.Match[str]) -> str:
            if ok(m):
                counts[kind] += 1
                return f"<{kind}>"
            return m.group(0)

        return pattern.sub(repl, s)

    text = sub(EMAIL_RE, "EMAIL", lambda m: True, text)
    text = sub(_ID_RE, "TH_NATIONAL_ID", lambda m: thai_id_valid("".join(m.groups())), text)
    text = sub(_PHONE_RE, "PHONE", lambda m: _phone_ok(m.group(0)), text)
    text = sub(_IPV4_RE, "IP", lambda m: True, text)
    text = sub(_IPV6_RE, "IP", _ipv6_ok, text)
    return text, counts


def _ipv6_ok(m: re.Match[str]) -> bool:
    s = m.group(0)
    if s.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", s):
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True
