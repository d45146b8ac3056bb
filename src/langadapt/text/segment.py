"""Script-aware normalisation and segmentation: ``normalize``, ``words``, ``sentences``, ``paragraphs``.

Which sentence rule a language gets is its profile's ``segmenter.sentences`` (``SENTENCE_SEGMENTERS``);
words are chosen per script run, so every language gets the rule of the scripts it is written in:

- Thai (``th``): no spaces between words and no sentence punctuation. Words by pythainlp ``newmm``
  (dictionary maximal matching), run line by line with an LRU cache (newmm is super-linear on long
  strings and web pages repeat lines); sentences by pythainlp ``crfcut``.
- Tibetan (``bo``): words are syllables, split on the tsheg ``་``; sentences end at a shad ``།``
  (a shad group such as ``། །`` stays with its sentence). No botok: it downloads data at first use.
- Traditional Chinese (``zh-Hant``): each Han character is a word; sentences end at ``。！？``
  (closing quotes stay with their sentence).
- Latin and everything else: regex words (letters/digits, inner apostrophes and hyphens) and
  sentences ending at ``.!?`` before whitespace.

Mixed-script text is handled run by run: a Thai run inside Chinese text still goes to newmm, an English
word inside Thai text is one word. Punctuation, spaces and emoji are never words.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Zero-width and invisible formatting characters removed by ``normalize`` (ZWSP, ZWNJ, ZWJ, word
# joiner, BOM, soft hyphen): web pages use them to defeat spam filters and they split words.
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_NEWLINES_RE = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_SPACES_RE = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t\f\v]")
_SPACES_BUT_IDEOGRAPHIC_RE = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\t\f\v]")


def _keeps_ideographic_space(lang: str) -> bool:
    from langadapt.text.profiles import profile_value

    return bool(profile_value(lang, "normalize", "keep_ideographic_space", default=False))


def normalize(text: str, lang: str = "th") -> str:
    """NFC, zero-width characters removed, newlines unified (``\\r\\n`` -> ``\\n``), odd spaces and tabs
    -> ``" "`` (U+3000 kept where the profile says ``normalize.keep_ideographic_space``: the space of CJK
    layout); for text with Thai letters also pythainlp's character-order fixes (``เเ`` -> ``แ``, tone
    mark/vowel order, repeated vowels and tone marks, spaces before marks). Line and paragraph breaks are kept."""
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _NEWLINES_RE.sub("\n", text)
    if not _keeps_ideographic_space(lang):
        text = _SPACES_RE.sub(" ", text)
    else:
        text = _SPACES_BUT_IDEOGRAPHIC_RE.sub(" ", text)
    if _THAI_RE.search(text):
        from pythainlp.util import remove_repeat_vowels, remove_spaces_before_marks, reorder_vowels

        # Not pythainlp.util.normalize itself: its remove_dup_spaces folds "\n\n" into "\n", which
        # would lose paragraphs (the Gopher duplicate-paragraph filter needs them).
        text = reorder_vowels(remove_spaces_before_marks(text))
        if _needs_repeat_fix(text):  # 22 regex passes: ~6x the cost of the rest, and rarely needed
            text = remove_repeat_vowels(text)
    return text


@functools.cache
def _repeat_checks() -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    import sys

    from pythainlp.util import remove_repeat_vowels

    pairs = getattr(sys.modules[remove_repeat_vowels.__module__], "_NOREPEAT_PAIRS", None)
    if not pairs:
        return (), None
    chars = "".join(p[1] for p in pairs if len(p[1]) == 1)
    doubles = tuple(c + c for c in chars)
    return doubles, re.compile(f"([{re.escape(chars)}]) +\\1|[\u0e48-\u0e4b]{{2,}}")


def _needs_repeat_fix(text: str) -> bool:
    doubles, spaced = _repeat_checks()
    if spaced is None:
        return True
    return any(d in text for d in doubles) or spaced.search(text) is not None


# ---------------------------------------------------------------------------------------------------
# Words

_THAI_RE = re.compile("[\u0e01-\u0e5b]")
_THAI_RUN = "[\u0e01-\u0e3a\u0e40-\u0e4e\u0e50-\u0e59]+"
_TIB_SYL = "[\u0f00\u0f20-\u0f33\u0f35\u0f37\u0f39\u0f3e-\u0fbc\u0fc6]+"
_HAN = "[\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]"


def _combining_marks() -> str:
    """A regex class body of every BMP combining mark (Unicode category M*): \\w does not match marks,
    and a Lao, Khmer or Indic word holds them (its vowel signs and tone marks)."""
    out, start, prev = [], None, None
    for cp in range(0x10000):
        if unicodedata.category(chr(cp))[0] == "M":
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            out.append(f"\\u{start:04x}-\\u{prev:04x}" if prev != start else f"\\u{start:04x}")
            start = None
    return "".join(out)


# Letters and digits of other scripts (\w), marks of any script's words, inner ' ’ - joins.
_MARKS = f"[\u0300-\u036f\u0900-\u0dff{_combining_marks()}]"
_OTHER_CHARS = "[^\\W_\u0e00-\u0e7f\u0f00-\u0fff\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]"
_OTHER_WORD = f"{_OTHER_CHARS}{_MARKS}*(?:{_OTHER_CHARS}{_MARKS}*)*"
_TOKEN_RE = re.compile(
    f"(?P<thai>{_THAI_RUN})|(?P<tib>{_TIB_SYL})|(?P<han>{_HAN})"
    f"|(?P<word>{_OTHER_WORD}(?:['’\\-]{_OTHER_WORD})*)"
)
_THAI_WORD_RE = re.compile(_THAI_RUN)


@functools.lru_cache(maxsize=200_000)
def _newmm(text: str) -> tuple[str, ...]:
    return tuple(_newmm_segmenter()(text))


@functools.lru_cache(maxsize=1)
def _newmm_segmenter():
    """newmm over pythainlp's dictionary: nlpo3 (its Rust port, ~8x faster) when installed, else pythainlp's
    Python newmm. They agree on Thai words except abbreviations with a dot (nlpo3: "ศปก" where pythainlp
    gives "ศป", "ก"): 57 of 2,962 lines of the shipped Thai news differ."""
    import os

    try:
        import nlpo3
        import pythainlp
    except ImportError:
        from pythainlp.tokenize.newmm import segment

        return segment
    path = os.path.join(os.path.dirname(pythainlp.__file__), "corpus", "words_th.txt")
    nlpo3.load_dict(path, "langadapt-th")
    return lambda text: nlpo3.segment(text, "langadapt-th")


def _regex_words(text: str) -> list[str]:
    out: list[str] = []
    for m in _TOKEN_RE.finditer(text):
        if m.lastgroup == "thai":  # newmm returns unmatched stray marks as tokens: keep Thai words only
            out.extend(t for t in _newmm(m.group()) if _THAI_WORD_RE.fullmatch(t))
        else:
            out.append(m.group())
    return out


@functools.lru_cache(maxsize=100_000)
def _line_words(line: str) -> tuple[str, ...]:
    """A line with Thai goes through newmm whole (about twice as fast as run by run), its non-Thai
    stretches through the regex; web pages repeat lines (menus, footers), hence the cache."""
    if not _THAI_RE.search(line):
        return tuple(_regex_words(line))
    out: list[str] = []
    other: list[str] = []
    for tok in _newmm(line):
        if _THAI_WORD_RE.fullmatch(tok):
            if other:
                out.extend(_regex_words("".join(other)))
                other = []
            out.append(tok)
        else:
            other.append(tok)
    if other:
        out.extend(_regex_words("".join(other)))
    return tuple(out)


def words(text: str, lang: str = "th") -> list[str]:
    """The words of ``text`` by the language's segmenter (see the module docstring); never whitespace
    splitting for th/bo/zh-Hant. Punctuation, spaces, emoji and tsheg/shad are not words.

    ``lang`` is accepted for symmetry with ``sentences``; segmentation is chosen per script run, so
    mixed-language text gets each run's own rule."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            out.extend(_line_words(line))
    return out


# ---------------------------------------------------------------------------------------------------
# Sentences and paragraphs

_BO_SENT_RE = re.compile("[^\u0f0d-\u0f12]+?(?:[\u0f0d-\u0f12](?:[ \u0f0b]*[\u0f0d-\u0f12])*|$)")
_TIB_LETTER_RE = re.compile("[\u0f40-\u0fbc]")
_ZH_SENT_RE = re.compile("[^。！？!?]+(?:[。！？!?]+[」』”’）)]*|$)|[。！？!?]+[」』”’）)]*")
_LATIN_SPLIT_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=\S)")
_PARA_RE = re.compile(r"\n[ \t]*\n")


@functools.lru_cache(maxsize=50_000)
def _crfcut(line: str) -> tuple[str, ...]:
    from pythainlp.tokenize import sent_tokenize

    return tuple(sent_tokenize(line, engine="crfcut"))


def sentences(text: str, lang: str = "th") -> list[str]:
    """Sentences, stripped, non-empty. A line break always ends a sentence (unlike NLTK punkt, which
    Google's IFEval counts with: ``langadapt.ifeval`` uses punkt for English under its semantics); a list
    marker such as "1." stays with the sentence it opens."""
    split = SENTENCE_SEGMENTERS[_sentence_segmenter(lang)]
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        parts = split(line)
        out.extend(_join_list_markers([p.strip() for p in parts if p.strip()]))
    return out


# A numbered or lettered list marker ("1.", "iv.", "a)") is not a sentence of its own: it opens the next.
_LIST_MARKER_RE = re.compile(r"^(?:\(?\d{1,3}[.)]|[A-Za-z][.)]|[ivxIVX]{1,4}\.)$")


def _join_list_markers(parts: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for p in parts:
        if _LIST_MARKER_RE.match(p):
            carry += p + " "
            continue
        head, _, last = p.rpartition(" ")
        if head and _LIST_MARKER_RE.match(last) and last[0].isdigit():  # "Steps: 1." -> "Steps:" + "1. ..."
            out.append(carry + head)
            carry = last + " "
            continue
        out.append(carry + p)
        carry = ""
    if carry:
        out.append(carry.strip())
    return out


def _tibetan_sentences(line: str) -> list[str]:
    pieces = [p for p in _BO_SENT_RE.findall(line) if p.strip()]
    out: list[str] = []
    carry = ""
    for p in pieces:
        # A piece with no letter (the head mark "༄༅།") opens the next sentence rather than standing alone.
        if not _TIB_LETTER_RE.search(p):
            carry += p
            continue
        out.append(carry + p)
        carry = ""
    if carry:
        if out:
            out[-1] += carry
        else:
            out.append(carry)
    return out


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines (as Gopher's duplicate-paragraph filter counts them), stripped."""
    return [p.strip() for p in _PARA_RE.split(text) if p.strip()]


def _thai_sentences(line: str) -> list[str]:
    return list(_crfcut(line)) if _THAI_RE.search(line) else _LATIN_SPLIT_RE.split(line)


# A profile's ``segmenter.sentences`` names one of these (a language without a profile: punctuation).
SENTENCE_SEGMENTERS = {
    "pythainlp-crfcut": _thai_sentences,  # Thai has no sentence punctuation
    "shad": _tibetan_sentences,  # Tibetan: a sentence ends at a shad
    "cjk-punctuation": _ZH_SENT_RE.findall,  # 。！？ (closing quotes stay with their sentence)
    "punctuation": _LATIN_SPLIT_RE.split,  # .!? before whitespace
}


def _sentence_segmenter(lang: str) -> str:
    from langadapt.errors import ConfigError
    from langadapt.text.profiles import profile_path, profile_value

    name = profile_value(lang, "segmenter", "sentences", default="punctuation")
    if name not in SENTENCE_SEGMENTERS:
        raise ConfigError(f"{profile_path(lang)}: segmenter.sentences: unknown segmenter {name!r} "
                          f"(known: {', '.join(SENTENCE_SEGMENTERS)})")
    return name
