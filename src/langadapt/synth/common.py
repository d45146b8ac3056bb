"""Pieces every synth source shares: per-language templates (data: the ``synth:`` section of
``text/languages/<code>.yaml``), the
language-stability check, near-duplicate removal, constraint kwargs sampling and the stats that end up in
metrics/synth.json (kept/dropped counts by source and reason, per-constraint pass rates).
"""

from __future__ import annotations

import collections
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from langadapt.errors import ConfigError
from langadapt.records import SFTExample, stable_hash


def templates(lang: str) -> dict[str, Any]:
    """The ``synth:`` section of the language's profile (task phrasings, seeds, phrases, keyword rules)."""
    from langadapt.text.profiles import language_profile, profile_path

    tpl = language_profile(lang).get("synth")
    if not isinstance(tpl, dict):
        raise ConfigError(f"{profile_path(lang)}: no `synth:` section (the synth prompt templates of {lang!r})")
    return tpl


def rng_for(seed: int, *parts: str) -> random.Random:
    """A generator that depends only on the seed and the item's identity (not on corpus order)."""
    return random.Random(stable_hash(f"{seed}:" + ":".join(parts)))


def target_script(lang: str) -> str:
    from langadapt.text import language_script

    return language_script(lang)


def language_stable(text: str, lang: str, min_ratio: float) -> bool:
    """The answer is in the target language: its script's share of the letters is at least ``min_ratio``."""
    from langadapt.text import script_ratio

    return script_ratio(text, target_script(lang)) >= min_ratio


# ---------------------------------------------------------------------------------------------------


class NearDuplicateFilter:
    """Near-duplicate responses by MinHash over character 5-grams (the corpus dedup's signatures,
    ``langadapt.corpus.dedup.MinHashDeduplicator``), compared against every kept text: synth sets are
    small, so the estimated Jaccard is checked exhaustively rather than through LSH bands."""

    def __init__(self, threshold: float, num_perm: int = 64, ngram: int = 5):
        from langadapt.corpus.dedup import MinHashDeduplicator

        self.threshold = threshold
        self.mh = MinHashDeduplicator(num_perm=num_perm, bands=1, rows=num_perm, threshold=threshold,
                                      ngram=ngram, shingle="char")
        self._sigs: list[Any] = []

    def seen(self, text: str) -> bool:
        """True if a near-duplicate was added before; otherwise adds ``text`` and returns False."""
        import numpy as np

        sig = self.mh.signatures([text])[0]
        if self._sigs and float((np.stack(self._sigs) == sig).mean(axis=1).max()) >= self.threshold:
            return True
        self._sigs.append(sig)
        return False


# ---------------------------------------------------------------------------------------------------


@dataclass
class SynthStats:
    """What a source produced and dropped, and how often each constraint passed verification."""

    kept: collections.Counter = field(default_factory=collections.Counter)  # source -> n
    dropped: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))  # source -> reason -> n
    checked: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))  # source -> constraint id -> responses checked
    passed: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    used: collections.Counter = field(default_factory=collections.Counter)  # constraint id -> examples
    multi_turn: collections.Counter = field(default_factory=collections.Counter)  # source -> n
    teacher_calls: int = 0
    excluded: list[dict[str, Any]] = field(default_factory=list)

    def check(self, source: str, cid: str, ok: bool) -> None:
        self.checked[source][cid] += 1
        if ok:
            self.passed[source][cid] += 1

    def drop(self, source: str, reason: str, **record: Any) -> None:
        self.dropped[source][reason] += 1
        self.excluded.append({"source": source, "reason": reason, **record})

    def keep(self, ex: SFTExample) -> None:
        self.kept[ex.source] += 1
        for c in ex.constraints:
            self.used[c["id"]] += 1
        if sum(1 for m in ex.messages if m["role"] == "assistant") > 1:
            self.multi_turn[ex.source] += 1

    def pass_rates(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for source in sorted(self.checked):
            out[source] = {
                cid: {"checked": n, "passed": self.passed[source][cid],
                      "rate": round(self.passed[source][cid] / n, 4) if n else 0.0}
                for cid, n in sorted(self.checked[source].items())
            }
        return out


def verify_all(constraints: list[dict[str, Any]], response: str, lang: str, stats: SynthStats | None,
               source: str, prompt: str | None = None) -> str | None:
    """None when ``response`` passes every constraint, else the id of the first that fails (all are
    checked, so pass rates count every constraint)."""
    from langadapt.ifeval import verify

    first_fail = None
    for c in constraints:
        ok = verify(c["id"], c["kwargs"], response, lang, prompt=prompt)
        if stats is not None:
            stats.check(source, c["id"], ok)
        if not ok and first_fail is None:
            first_fail = c["id"]
    return first_fail


def example_id(source: str, *parts: str) -> str:
    return f"{source}-{stable_hash(':'.join(parts)):016x}"


# Shared by AutoIF, back-translation and translation (one home: no import loop between the sources).


def _stop_words(lang: str) -> set[str]:
    from langadapt.text.profiles import profile_value

    return set(profile_value(lang, "stop_words", default=[]) or [])  # no profile: no stop words


def salient_words(words: list[str], lang: str, text: str | None = None) -> list[str]:
    """Content words (not stop words, not numbers, at least ``synth.keyword_min_chars`` characters, default
    2), by frequency. Where a word is too small to be a keyword (Tibetan syllables, Han characters) the
    profile's ``synth.keyword_pairs`` is set: adjacent pairs joined by it (as written: tsheg for Tibetan,
    nothing for Han) are used instead, kept only if the text has them."""
    from langadapt.text.profiles import profile_value

    stop = _stop_words(lang)
    sep = profile_value(lang, "synth", "keyword_pairs")
    if sep is not None:
        pairs = [a + sep + b for a, b in itertools.pairwise(words)]
        words = [w for w in pairs if text is None or w in text]
    min_len = profile_value(lang, "synth", "keyword_min_chars", default=2)
    counts: dict[str, int] = {}
    for w in words:
        if len(w) < min_len or w in stop or w.isdigit() or not any(ch.isalpha() for ch in w):
            continue
        counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))]


def _kwarg_values(constraints: list[dict[str, Any]]) -> list[str]:
    vals: list[str] = []
    for c in constraints:
        for k, v in c["kwargs"].items():
            if isinstance(v, list):
                vals += [str(x) for x in v]
            # a particle set (`which`) or a digit system (`system`) is named, not quoted, in the text
            elif isinstance(v, (int, str)) and k not in ("which", "system") and v not in ("at least", "less than"):
                vals.append(str(v))
    return vals


def keeps_kwargs(text: str, constraints: list[dict[str, Any]]) -> bool:
    """Every number, keyword and phrase of the constraints still appears in ``text``."""
    low = text.casefold()
    return all(v.casefold() in low for v in _kwarg_values(constraints))
