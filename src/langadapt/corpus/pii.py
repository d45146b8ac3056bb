"""PII redaction: e-mail addresses and IP addresses everywhere; phone numbers and national ID numbers
by the rules of the language's profile (``pii:`` in ``text/languages/<code>.yaml``: the patterns, the
native digits, the phone number plan, the ID checksum by name). Thai's rules, as an example:

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
Digits inside longer digit runs (the patterns' lookarounds) are never matched (a 16-digit card or order number is not a phone).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]\d)"
)
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)


def thai_id_valid(digits: str) -> bool:
    """The Thai national ID checksum over 13 ASCII digits."""
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    s = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - s % 11) % 10 == int(digits[12])


# A profile's pii.national_id.checksum names one of these.
CHECKSUMS: dict[str, Callable[[str], bool]] = {"thai-13": thai_id_valid}


@dataclass(frozen=True)
class PiiRules:
    """A language's ``pii:`` profile section, compiled."""

    to_ascii: dict[int, int]
    id_label: str | None = None
    id_re: re.Pattern[str] | None = None
    id_ok: Callable[[str], bool] | None = None
    phone_re: re.Pattern[str] | None = None
    country_code: str = ""
    trunk_prefix: str = ""
    first_digits: dict[int, str] = field(default_factory=dict)

    def phone_ok(self, match: str) -> bool:
        """The national number (country code or trunk prefix removed) has an allowed length and first digit."""
        match = match.translate(self.to_ascii)
        cc = self.country_code
        if cc and match.startswith((f"+{cc}", f"(+{cc})")):
            rest = re.sub(r"\D", "", match.replace(f"({self.trunk_prefix})", "") if self.trunk_prefix else match)
            rest = rest[len(cc):]
        else:
            rest = re.sub(r"\D", "", match)[len(self.trunk_prefix):]
        allowed = self.first_digits.get(len(rest))
        return bool(rest) and allowed is not None and rest[0] in allowed


def pii_rules(lang: str) -> PiiRules:
    """The compiled ``pii:`` section of ``lang``'s profile (none: e-mails and IPs only)."""
    from langadapt.text.profiles import language_dirs

    return _pii_rules(lang, language_dirs())


@functools.lru_cache(maxsize=16)
def _pii_rules(lang: str, _dirs: tuple) -> PiiRules:
    from langadapt.errors import ConfigError
    from langadapt.text.profiles import profile_path, profile_value

    sec = profile_value(lang, "pii", default={}) or {}
    native = str(sec.get("digits", ""))
    digit = f"[0-9{re.escape(native)}]" if native else "[0-9]"
    to_ascii = str.maketrans(native, "0123456789") if len(native) == 10 else {}

    def compile_(key: str, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern.replace("{D}", digit))
        except re.error as e:
            raise ConfigError(f"{profile_path(lang)}: pii.{key}.pattern: {e}") from None

    kw: dict[str, Any] = {"to_ascii": to_ascii}
    if nid := sec.get("national_id"):
        if nid.get("checksum") not in CHECKSUMS:
            raise ConfigError(f"{profile_path(lang)}: pii.national_id.checksum: {nid.get('checksum')!r} is not one of "
                              f"{', '.join(CHECKSUMS)}")
        kw.update(id_label=nid["label"], id_re=compile_("national_id", nid["pattern"]), id_ok=CHECKSUMS[nid["checksum"]])
    if phone := sec.get("phone"):
        kw.update(phone_re=compile_("phone", phone["pattern"]), country_code=str(phone.get("country_code", "")),
                  trunk_prefix=str(phone.get("trunk_prefix", "")),
                  first_digits={int(k): str(v) for k, v in (phone.get("first_digits") or {}).items()})
    return PiiRules(**kw)


def redact_pii(text: str, lang: str = "th") -> tuple[str, Counter[str]]:
    """``(redacted_text, counts)`` with counts keyed ``EMAIL``, the profile's national ID label
    (``TH_NATIONAL_ID``), ``PHONE``, ``IP``."""
    counts: Counter[str] = Counter()
    rules = pii_rules(lang)

    def sub(pattern: re.Pattern[str], kind: str, ok, s: str) -> str:
        def repl(m: re.Match[str]) -> str:
            if ok(m):
                counts[kind] += 1
                return f"<{kind}>"
            return m.group(0)

        return pattern.sub(repl, s)

    text = sub(EMAIL_RE, "EMAIL", lambda m: True, text)
    if rules.id_re is not None and rules.id_label and rules.id_ok is not None:
        text = sub(rules.id_re, rules.id_label, lambda m: rules.id_ok("".join(m.groups()).translate(rules.to_ascii)), text)
    if rules.phone_re is not None:
        text = sub(rules.phone_re, "PHONE", lambda m: rules.phone_ok(m.group(0)), text)
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
