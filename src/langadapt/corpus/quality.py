"""Quality heuristics (Gopher / C4 / FineWeb family) with per-language thresholds kept as data.

Thresholds come from ``text/languages/<code>.yaml`` ``filter:`` (FineWeb-2's per-language values where
it has them), overridable per run with ``filter.thresholds`` in params.yaml. A threshold set to ``null``
(or ``0`` for a ``min_*`` ratio) switches its check off. Words are counted by the language's segmenter
(``langadapt.text.words``: newmm for Thai, tsheg syllables for Tibetan, characters for Chinese), never
by whitespace.

``QualityFilter.check(text, words)`` returns ``(reason, details)``; the reasons, in checking order:

- ``spam:<list>`` (``spam:gambling``, ``spam:adult``): at least ``spam_min_distinct_terms`` distinct
  terms of one list and ``spam_min_term_ratio`` hits per word.
- ``boilerplate:lorem_ipsum``; ``boilerplate:lines`` when more than ``max_boilerplate_lines_ratio`` of
  the lines are boilerplate (C4: cookie/JavaScript/privacy lines; such lines are removed from kept docs).
- ``quality:too_few_words`` / ``quality:too_many_words`` (Gopher), ``quality:short_words`` /
  ``quality:long_words`` (mean word length), ``quality:symbol_word_ratio`` (``#`` and ellipses per word:
  a run of dots ``......`` or ``…`` is one ellipsis),
  ``quality:bullet_lines``, ``quality:ellipsis_lines``, ``quality:non_alpha_words``,
  ``quality:few_stop_words``, ``quality:digit_ratio``, ``quality:symbol_ratio``.
- ``quality:dup_lines``, ``quality:dup_paragraphs``, ``quality:dup_line_chars``, ``quality:dup_para_chars``,
  ``quality:top_<n>gram`` (n = 2..4), ``quality:dup_<n>gram`` (n = 5..10) (Gopher repetition as
  datatrove computes it: characters of the n-gram words over the text length).
- ``quality:line_punct``, ``quality:short_lines``, ``quality:newline_ratio`` (C4 / FineWeb).

Two measurements follow the layout of real pages rather than the raw text (issue 16; measured on 966 Thai
government releases, benchmarks/bench_corpus_thresholds.py):

- a number is one word in ``quality:non_alpha_words`` (``1,287,270`` or ``๐๘.๓๐`` is one number, where the
  Thai segmenter returns three or two digit tokens), so figures in a report do not read as symbol noise;
- a headline restated by a following line in the first lines of a page (headline, then the lede that
  repeats it: Thai news does this on nearly every page) is measured once by the repetition checks.

Separator lines (a rule drawn with ``-``, ``*``, ``=``, ``.``, ``_`` ... and nothing else, as many Thai
releases end with ``........................``) are layout, not prose: the line-based ratios and the
symbol counts skip them (the words and the repetition checks see the text as it is).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from langadapt.errors import ConfigError
from langadapt.text import language_profile, paragraphs
from langadapt.text import words as segment_words

_BULLETS = ("•", "-", "*", "‣", "⁃", "◦", "▪", "●", "○", "➢", "►", "✓", "✔", "–", "—", "·")
_DIGIT_RE = re.compile(r"\d")
# Not a letter/digit/space, and not inside the Thai or Tibetan blocks (tsheg and shad are part of
# Tibetan writing, Thai vowel marks are not symbols), nor a combining accent.
_LOREM_RE = re.compile(r"lorem ipsum", re.IGNORECASE)
_ELLIPSIS_RE = re.compile(r"\.{3,}|…+")  # Gopher counts "..."; a run of dots is one ellipsis, not len/3
_NUMBER_RE = re.compile(r"\d+(?:[.,:/]\d+)*")  # one number, as a reader counts it (any script's digits)
_RESTATE_SPAN = 6  # the headline region: a line among the first this many that a later one repeats
_HEADLINE_CHARS = 300  # longer lines are paragraphs, not headlines
_NORM_RE = re.compile(r"[\s\"'“”‘’]+")
_SEPARATOR_RE = re.compile(r"[-_=*~.·•…#+/\\|<>—–\s]{3,}")  # a whole line of these is a drawn rule
_MASK = np.uint64((1 << 64) - 1)


class QualityFilter:
    """Per-language Gopher/C4/FineWeb heuristics, spam and boilerplate lists (see module docstring)."""

    def __init__(self, lang: str, overrides: dict[str, Any] | None = None):
        prof = language_profile(lang)
        self.lang = lang
        t = dict(prof["filter"])
        for k, v in (overrides or {}).items():
            if k not in t:
                known = ", ".join(sorted(t))
                raise ConfigError(f"filter.thresholds.{k}: unknown threshold for {lang} (known: {known})")
            t[k] = v
        self.t = t
        self.stop_words = {w.lower() for w in prof["stop_words"]}
        self.spam = {cat: [s.lower() for s in terms] for cat, terms in (prof.get("spam") or {}).items()}
        self.boilerplate = [s.lower() for s in prof.get("boilerplate") or []]
        self.line_end = tuple(prof.get("line_end_punct") or ())
        # max_symbol_ratio counts what is not \w, space, or in the profile's not_symbols (a regex class body:
        # the script's marks and signs, which \w misses); Latin combining marks without one
        self.symbol_re = re.compile("[^\\w\\s" + prof.get("not_symbols", "\\u0300-\\u036f") + "]")

    def _on(self, key: str) -> bool:
        v = self.t.get(key)
        return v is not None and v is not False

    # -- spam and boilerplate -------------------------------------------------------------------

    def spam_check(self, text: str, n_words: int) -> tuple[str | None, dict[str, Any]]:
        low = text.lower()
        for cat, terms in self.spam.items():
            hits = {term: c for term in terms if (c := low.count(term))}
            total = sum(hits.values())
            if len(hits) >= self.t.get("spam_min_distinct_terms", 3) and total / max(
                1, n_words
            ) >= self.t.get("spam_min_term_ratio", 0.02):
                top = dict(sorted(hits.items(), key=lambda kv: -kv[1])[:5])
                return f"spam:{cat}", {"terms": len(hits), "hits": total, "top": top}
        return None, {}

    def strip_boilerplate(self, text: str) -> tuple[str | None, str, dict[str, Any]]:
        """``(reason, text_without_boilerplate_lines, details)``."""
        if _LOREM_RE.search(text):
            return "boilerplate:lorem_ipsum", text, {}
        lines = text.split("\n")
        keep = [ln for ln in lines if not any(b in ln.lower() for b in self.boilerplate)]
        n_nonempty = sum(1 for ln in lines if ln.strip())
        removed = len(lines) - len(keep)
        if removed and n_nonempty and removed / n_nonempty > self.t.get("max_boilerplate_lines_ratio", 0.5):
            return "boilerplate:lines", text, {"lines": removed, "of": n_nonempty}
        return None, "\n".join(keep).strip() if removed else text, {"boilerplate_lines": removed}

    # -- Gopher / C4 / FineWeb ------------------------------------------------------------------

    def check(self, text: str, words: list[str]) -> tuple[str | None, dict[str, Any]]:
        n = len(words)
        found = self._word_count_check(n)
        if found:
            return found
        lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=n)
        mean_len = (int(lens.sum()) or 1) / max(1, n)
        all_lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        lines = [ln for ln in all_lines if not _SEPARATOR_RE.fullmatch(ln)]
        prose = "\n".join(lines) if len(lines) < len(all_lines) else text  # text without separator lines
        found = (
            self._word_length_check(mean_len)
            or self._symbol_line_checks(prose, lines, n)
            or self._word_kind_checks(prose, words)
            or self._char_ratio_checks(prose)
            or self._repetition_check(text, lines, words, lens)
            or self._layout_checks(text, lines, n)
        )
        if found:
            return found
        return None, {"words": n, "mean_word_length": round(mean_len, 3)}

    # Each group below returns ``(reason, details)`` for the first check that fails, else None.

    def _word_count_check(self, n: int) -> tuple[str, dict[str, Any]] | None:
        if self._on("min_words") and n < self.t["min_words"]:
            return "quality:too_few_words", {"words": n}
        if self._on("max_words") and n > self.t["max_words"]:
            return "quality:too_many_words", {"words": n}
        return None

    def _word_length_check(self, mean_len: float) -> tuple[str, dict[str, Any]] | None:
        if self._on("min_avg_word_length") and mean_len < self.t["min_avg_word_length"]:
            return "quality:short_words", {"mean_word_length": round(mean_len, 3)}
        if self._on("max_avg_word_length") and mean_len > self.t["max_avg_word_length"]:
            return "quality:long_words", {"mean_word_length": round(mean_len, 3)}
        return None

    def _symbol_line_checks(self, prose: str, lines: list[str], n: int) -> tuple[str, dict[str, Any]] | None:
        """``#`` and ellipses per word, bullet lines, ellipsis lines (Gopher)."""
        t = self.t
        if self._on("max_symbol_word_ratio"):
            r = (prose.count("#") + len(_ELLIPSIS_RE.findall(prose))) / max(1, n)
            if r > t["max_symbol_word_ratio"]:
                return "quality:symbol_word_ratio", {"ratio": round(r, 4)}
        n_lines = max(1, len(lines))
        if self._on("max_bullet_lines_ratio"):
            r = sum(1 for ln in lines if ln.startswith(_BULLETS)) / n_lines
            if r > t["max_bullet_lines_ratio"]:
                return "quality:bullet_lines", {"ratio": round(r, 4)}
        if self._on("max_ellipsis_lines_ratio"):
            r = sum(1 for ln in lines if ln.endswith(("...", "…"))) / n_lines
            if r > t["max_ellipsis_lines_ratio"]:
                return "quality:ellipsis_lines", {"ratio": round(r, 4)}
        return None

    def _word_kind_checks(self, prose: str, words: list[str]) -> tuple[str, dict[str, Any]] | None:
        """Alphabetic words (a number counts as one word) and stop words (Gopher)."""
        t = self.t
        if self._on("min_alpha_words_ratio"):
            alpha = sum(1 for w in words if any(c.isalpha() for c in w))
            symbols = sum(1 for w in words if not any(c.isalnum() for c in w))
            r = alpha / max(1, alpha + symbols + len(_NUMBER_RE.findall(prose)))
            if r < t["min_alpha_words_ratio"]:
                return "quality:non_alpha_words", {"ratio": round(r, 4)}
        if self._on("min_stop_words") and t["min_stop_words"] > 0:
            found = self.stop_words.intersection(w.lower() for w in words)
            if len(found) < t["min_stop_words"]:
                return "quality:few_stop_words", {"stop_words": len(found)}
        return None

    def _char_ratio_checks(self, prose: str) -> tuple[str, dict[str, Any]] | None:
        """Digits and symbols per non-space character."""
        non_space = max(1, len(prose) - sum(prose.count(c) for c in " \n\t"))
        if self._on("max_digit_ratio"):
            r = len(_DIGIT_RE.findall(prose)) / non_space
            if r > self.t["max_digit_ratio"]:
                return "quality:digit_ratio", {"ratio": round(r, 4)}
        if self._on("max_symbol_ratio"):
            r = len(self.symbol_re.findall(prose)) / non_space
            if r > self.t["max_symbol_ratio"]:
                return "quality:symbol_ratio", {"ratio": round(r, 4)}
        return None

    def _repetition_check(self, text: str, lines: list[str], words: list[str],
                          lens: np.ndarray) -> tuple[str, dict[str, Any]] | None:
        """The Gopher repetition checks, with a restated headline measured once (module docstring)."""
        rep = (text, lines, words, lens)
        restated = _restated_head(lines)
        if restated:
            rep_lines = [ln for i, ln in enumerate(lines) if i not in restated]
            rep_text = "\n".join(rep_lines)
            rep_words = segment_words(rep_text, self.lang)
            rep = (rep_text, rep_lines, rep_words, np.array([len(w) for w in rep_words], dtype=np.int64))
        reason, details = self._repetition(*rep)
        return (reason, details) if reason else None

    def _layout_checks(self, text: str, lines: list[str], n: int) -> tuple[str, dict[str, Any]] | None:
        """Line-end punctuation, short lines, newlines per word (C4 / FineWeb)."""
        t = self.t
        n_lines = max(1, len(lines))
        if self._on("min_line_punct_ratio") and t["min_line_punct_ratio"] > 0 and self.line_end:
            r = sum(1 for ln in lines if ln.endswith(self.line_end)) / n_lines
            if r < t["min_line_punct_ratio"]:
                return "quality:line_punct", {"ratio": round(r, 4)}
        if self._on("max_short_line_ratio"):
            short = t.get("short_line_chars", 30)
            r = sum(1 for ln in lines if len(ln) < short) / n_lines
            if r > t["max_short_line_ratio"]:
                return "quality:short_lines", {"ratio": round(r, 4)}
        if self._on("max_newline_word_ratio"):
            r = text.count("\n") / max(1, n)
            if r > t["max_newline_word_ratio"]:
                return "quality:newline_ratio", {"ratio": round(r, 4)}
        return None

    def _repetition(self, text, lines, words, lens) -> tuple[str | None, dict[str, Any]]:
        t = self.t
        text_len = max(1, len(text))
        dl, dlc = _dup_fraction(lines)
        if self._on("dup_line_frac") and dl > t["dup_line_frac"]:
            return "quality:dup_lines", {"fraction": round(dl, 4)}
        paras = paragraphs(text)
        dp, dpc = _dup_fraction(paras)
        if self._on("dup_para_frac") and dp > t["dup_para_frac"]:
            return "quality:dup_paragraphs", {"fraction": round(dp, 4)}
        if self._on("dup_line_char_frac") and dlc / text_len > t["dup_line_char_frac"]:
            return "quality:dup_line_chars", {"fraction": round(dlc / text_len, 4)}
        if self._on("dup_para_char_frac") and dpc / text_len > t["dup_para_char_frac"]:
            return "quality:dup_para_chars", {"fraction": round(dpc / text_len, 4)}
        if not words:
            return None, {}
        ids = _word_ids(words)
        for n in (2, 3, 4):
            key = f"top_{n}gram_frac"
            if self._on(key) and len(ids) >= n:
                f = _top_ngram_char_fraction(ids, lens, n, text_len)
                if f > t[key]:
                    return f"quality:top_{n}gram", {"fraction": round(f, 4)}
        for n in range(5, 11):
            key = f"dup_{n}gram_frac"
            if self._on(key) and len(ids) >= n:
                f = _dup_ngram_char_fraction(ids, lens, n, text_len)
                if f > t[key]:
                    return f"quality:dup_{n}gram", {"fraction": round(f, 4)}
        return None, {}


def _restated_head(lines: list[str]) -> set[int]:
    """Indices of headline-length lines among the first ``_RESTATE_SPAN`` whose text (spaces and quotes
    aside) one of the next two lines repeats: the headline that a page's title, its dateline and its
    lede restate. Only near neighbours and short lines, so a page pasted twice is still a duplicate."""
    head = lines[: _RESTATE_SPAN + 2]
    norm = [_NORM_RE.sub("", ln) if len(ln) <= _HEADLINE_CHARS else "\0" for ln in head]
    full = [_NORM_RE.sub("", ln) for ln in head]
    return {
        i for i in range(min(_RESTATE_SPAN, len(head)))
        if norm[i] and norm[i] != "\0" and any(norm[i] in full[j] for j in range(i + 1, min(i + 3, len(head))))
    }


def _dup_fraction(items: list[str]) -> tuple[float, int]:
    """(fraction of items that repeat an earlier one, characters in those repeats) -- Gopher."""
    seen: set[str] = set()
    dup = dup_chars = 0
    for x in items:
        if x in seen:
            dup += 1
            dup_chars += len(x)
        else:
            seen.add(x)
    return (dup / len(items) if items else 0.0), dup_chars


def _word_ids(words: list[str]) -> np.ndarray:
    vocab: dict[str, int] = {}
    return np.fromiter(
        (vocab.setdefault(w.lower(), len(vocab)) for w in words), dtype=np.uint64, count=len(words)
    )


def _ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """One uint64 key per n-gram (polynomial hash over word ids; collisions are astronomically rare)."""
    m = len(ids) - n + 1
    key = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            key = key * np.uint64(1_000_003) + ids[k : k + m] + np.uint64(1)
    return key


def _top_ngram_char_fraction(ids, lens, n, text_len) -> float:
    """Characters covered by the most frequent n-gram (all its occurrences) / text length (Gopher)."""
    keys = _ngram_keys(ids, n)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    best = int(np.argmax(counts))
    if counts[best] < 2:
        return 0.0
    start = int(first[best])
    return int(counts[best]) * int(lens[start : start + n].sum()) / text_len


def _dup_ngram_char_fraction(ids, lens, n, text_len) -> float:
    """Characters in repeated occurrences of n-grams (the first occurrence not counted, overlapping
    windows counted once) / text length: datatrove's ``find_all_duplicate``, which FineWeb-2's
    per-language thresholds were fitted with, computed without a Python loop."""
    keys = _ngram_keys(ids, n)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    starts = np.flatnonzero(first[inverse] < np.arange(len(keys)))
    if len(starts) == 0:
        return 0.0
    covered = np.zeros(len(ids) + 1, dtype=np.int64)
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + n, -1)
    mask = np.cumsum(covered[:-1]) > 0
    return int(lens[mask].sum()) / text_len
