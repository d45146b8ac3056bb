"""langadapt.text: segmentation counts checked against hand-counted values, script detection, normalisation.

Run: .venv/bin/pytest -q tests/test_text.py
"""

from __future__ import annotations

import pytest

from langadapt.errors import ConfigError
from langadapt.text import (
    dominant_script,
    language_profile,
    language_script,
    normalize,
    paragraphs,
    script_counts,
    script_of,
    script_ratio,
    sentences,
    words,
)


def test_script_of():
    assert script_of("ก") == "Thai"
    assert script_of("๙") == "Thai"  # Thai digit
    assert script_of("་") == "Tibetan"  # tsheg
    assert script_of("愛") == "Han"
    assert script_of("a") == "Latin"
    assert script_of("é") == "Latin"
    assert script_of("Ж") == "Cyrillic"
    assert script_of("ກ") == "Lao"
    for c in "1 .,!?🎉\n":
        assert script_of(c) == "Common"


def test_script_counts_and_ratio():
    # ข่าว = 4 Thai code points (ข ่ า ว); "news" = 4 Latin; digits/spaces/punctuation are Common
    assert script_counts("ข่าว 2024 news!") == {"Latin": 4, "Thai": 4}
    assert script_ratio("ข่าว 2024 news!", "Thai") == 0.5
    assert script_ratio("ข่าว 2024!", "Thai") == 1.0
    assert script_ratio("12345 !!", "Thai") == 0.0
    assert script_ratio("", "Thai") == 0.0
    assert dominant_script("我愛台灣 ok") == "Han"
    assert dominant_script("...") == "Common"
    assert {c: language_script(c) for c in ("th", "bo", "zh-Hant", "en")} == {
        "th": "Thai", "bo": "Tibetan", "zh-Hant": "Han", "en": "Latin"}
    with pytest.raises(ValueError):
        script_ratio("x", "Klingon")


def test_thai_words_hand_counted():
    # ผม | รัก | ภาษาไทย | มาก  (newmm keeps ภาษาไทย whole: it is one dictionary word)
    assert words("ผมรักภาษาไทยมาก", "th") == ["ผม", "รัก", "ภาษาไทย", "มาก"]
    # English words, digits inside Thai text are words; punctuation, spaces and emoji are not
    assert words("ผมรักแมว 2 ตัว! I love cats 🎉", "th") == ["ผม", "รัก", "แมว", "2", "ตัว", "I", "love", "cats"]
    # วันนี้ | อากาศ | ดีมาก (ดีมาก is one entry in pythainlp's dictionary)
    assert words("วันนี้อากาศดีมาก", "th") == ["วันนี้", "อากาศ", "ดีมาก"]


def test_thai_sentences():
    text = "วันนี้อากาศดีมาก ผมไปเที่ยวทะเลกับเพื่อน เราสนุกกันมาก\nHello there. How are you?"
    assert sentences(text, "th") == [
        "วันนี้อากาศดีมาก",
        "ผมไปเที่ยวทะเลกับเพื่อน",
        "เราสนุกกันมาก",
        "Hello there.",
        "How are you?",
    ]


def test_tibetan_syllables_and_sentences():
    # བཀྲ་ཤིས་བདེ་ལེགས = 4 syllables; ང་བོད་པ་ཡིན = 4 syllables; head mark ༄༅ and shad are not words
    text = "༄༅། །བཀྲ་ཤིས་བདེ་ལེགས། །ང་བོད་པ་ཡིན།"
    assert words(text, "bo") == ["བཀྲ", "ཤིས", "བདེ", "ལེགས", "ང", "བོད", "པ", "ཡིན"]
    assert sentences(text, "bo") == ["༄༅། །བཀྲ་ཤིས་བདེ་ལེགས། །", "ང་བོད་པ་ཡིན།"]


def test_chinese_chars_and_sentences():
    assert words("我愛台灣。iPhone 15", "zh-Hant") == ["我", "愛", "台", "灣", "iPhone", "15"]
    assert sentences("我愛台灣。「你好嗎？」他說！好", "zh-Hant") == [
        "我愛台灣。",
        "「你好嗎？」",
        "他說！",
        "好",
    ]


def test_latin():
    assert words("It's a well-known fact, isn't it?", "en") == [
        "It's",
        "a",
        "well-known",
        "fact",
        "isn't",
        "it",
    ]
    assert sentences("Hello there. How are you? Fine!", "en") == ["Hello there.", "How are you?", "Fine!"]
    # a numbered-list marker opens its sentence (it was split off as a sentence of its own)
    assert sentences("Steps: 1. Boil water. 2. Add tea.", "en") == ["Steps:", "1. Boil water.", "2. Add tea."]
    assert sentences("1. Boil water.\n2. Add tea.", "en") == ["1. Boil water.", "2. Add tea."]


def test_paragraphs():
    assert paragraphs("a\nb\n\n  \nc\n") == ["a\nb", "c"]
    assert paragraphs("\n\n") == []


def test_normalize():
    # two Sara E -> Sara Ae; repeated vowel removed; zero-width space removed; CRLF -> LF; NBSP -> space
    assert normalize("เเปลก\u200b นานาาา\r\n\r\nok\u00a0x", "th") == "แปลก นานา\n\nok x"
    # NFC: e + combining acute -> é
    assert normalize("e\u0301", "en") == "é"
    assert normalize("a\u00adb\ufeff", "en") == "ab"


def test_language_profiles():
    for code, script in (("th", "Thai"), ("bo", "Tibetan"), ("zh-Hant", "Han")):
        p = language_profile(code)
        assert p["script"] == script
        assert p["filter"]["min_words"] > 0
        assert p["stop_words"]
    th = language_profile("th")
    assert "บาคาร่า" in th["spam"]["gambling"]
    assert th["pair_file"] == "data_tha.txt"
    th["filter"]["min_words"] = -1  # a copy: the cached profile is untouched
    assert language_profile("th")["filter"]["min_words"] == 50
    with pytest.raises(ConfigError, match="no language profile"):
        language_profile("xx")
