"""Constraint verifiers, instruction texts and IFEval scoring (langadapt.ifeval, default ``langadapt``
semantics; the reference semantics are tested in tests/test_ifeval.py).

Run: .venv/bin/pytest -q tests/test_synth_constraints.py   (a few seconds)

Each verifier on a passing and a failing response, in Thai and English (Tibetan where it applies),
with IFEval's relations (``less than`` = count < N, ``at least`` = count >= N) and loose mode.
"""

from __future__ import annotations

import json

import pytest

from langadapt.errors import DataError
from langadapt.ifeval import (
    IFEVAL_IDS,
    REGISTRY,
    instruction_text,
    parse_ifeval_record,
    score_ifeval,
    verify,
)
from langadapt.text.profiles import known_languages

TH2 = "วันนี้อากาศดีมาก ฉันไปตลาดกับแม่\n\nเราซื้อผลไม้หลายอย่าง"  # 12 words by newmm, 3 sentences
EN = "The cat sat on the mat. It was happy. Then it slept."  # 12 words, 3 sentences
BO = "བོད་ཀྱི་སྐད་ཡིག་ནི་གལ་ཆེན་པོ་ཡིན། ང་ཚོས་སློབ་སྦྱོང་བྱེད།"  # 14 syllables, 2 sentences

# (id, kwargs, lang, response, strict expected)
CASES = [
    ("keywords:existence", {"keywords": ["ตลาด", "ผลไม้"]}, "th", TH2, True),
    ("keywords:existence", {"keywords": ["ตลาด", "ทะเล"]}, "th", TH2, False),
    ("keywords:existence", {"keywords": ["CAT", "mat"]}, "en", EN, True),
    ("keywords:existence", {"keywords": ["dog"]}, "en", EN, False),
    ("keywords:existence", {"keywords": ["སྐད་ཡིག"]}, "bo", BO, True),
    ("keywords:frequency", {"keyword": "it", "frequency": 2, "relation": "at least"}, "en", EN, True),
    ("keywords:frequency", {"keyword": "it", "frequency": 2, "relation": "less than"}, "en", EN, False),
    ("keywords:frequency", {"keyword": "ไป", "frequency": 2, "relation": "less than"}, "th", TH2, True),
    ("keywords:frequency", {"keyword": "ไป", "frequency": 1, "relation": "at least"}, "th", TH2, True),
    ("keywords:frequency", {"keyword": "ไป", "frequency": 2, "relation": "at least"}, "th", TH2, False),
    ("keywords:forbidden_words", {"forbidden_words": ["ca"]}, "en", EN, True),  # \b: "cat" is not "ca"
    ("keywords:forbidden_words", {"forbidden_words": ["Cat"]}, "en", EN, False),
    ("keywords:forbidden_words", {"forbidden_words": ["ทะเล"]}, "th", TH2, True),
    ("keywords:forbidden_words", {"forbidden_words": ["ผลไม้"]}, "th", TH2, False),
    ("keywords:letter_frequency", {"letter": "t", "let_frequency": 9, "let_relation": "at least"}, "en", EN, True),
    ("keywords:letter_frequency", {"letter": "T", "let_frequency": 9, "let_relation": "less than"}, "en", EN, False),
    ("keywords:letter_frequency", {"letter": "า", "let_frequency": 4, "let_relation": "at least"}, "th", TH2, True),
    ("keywords:letter_frequency", {"letter": "า", "let_frequency": 4, "let_relation": "less than"}, "th", TH2, False),
    ("language:response_language", {"language": "th"}, "th", TH2, True),
    ("language:response_language", {"language": "th"}, "th", EN, False),
    ("language:response_language", {"language": "en"}, "en", EN, True),
    ("language:response_language", {"language": "de"}, "en", EN, False),
    ("language:response_language", {"language": "bo"}, "bo", BO, True),
    ("language:response_language", {"language": "bo"}, "bo", TH2, False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "en", EN, True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "en", EN, False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "th", TH2, True),
    ("length_constraints:number_sentences", {"num_sentences": 4, "relation": "at least"}, "th", TH2, False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "bo", BO, True),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"}, "bo", BO, False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "th", "ย่อหน้าหนึ่ง\n***\nย่อหน้าสอง", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "th", TH2, False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "en", "A\n***\n\n***\nB", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "en", "***\nA\n***\nB\n***", True),
    # Thai word counts use newmm (12 words), never whitespace (3 chunks) or \w+ (which splits at vowels)
    ("length_constraints:number_words", {"num_words": 12, "relation": "at least"}, "th", TH2, True),
    ("length_constraints:number_words", {"num_words": 12, "relation": "less than"}, "th", TH2, False),
    ("length_constraints:number_words", {"num_words": 13, "relation": "less than"}, "th", TH2, True),
    ("length_constraints:number_words", {"num_words": 12, "relation": "at least"}, "en", EN, True),
    ("length_constraints:number_words", {"num_words": 13, "relation": "at least"}, "en", EN, False),
    ("length_constraints:number_words", {"num_words": 14, "relation": "at least"}, "bo", BO, True),
    ("length_constraints:number_words", {"num_words": 15, "relation": "at least"}, "bo", BO, False),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "เรา"},
     "th", TH2, True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "เรา"},
     "th", TH2, False),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "en", "First part.\n\n\"Then, more.", True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "then"},
     "en", "First part.\n\nThen, more.", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "th", "ชื่อ [ชื่อ] ที่อยู่ [ที่อยู่]", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 3}, "en", "Name [name] at [address]", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "en", "Hi.\np.s. bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "en", "Hi.\nP.S. bye", False),
    ("detectable_content:postscript", {"postscript_marker": "ป.ล."}, "th", "สวัสดี\nป.ล. ขอบคุณ", True),
    ("detectable_content:postscript", {"postscript_marker": "ป.ล."}, "th", "สวัสดี ขอบคุณ", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "th", "* หนึ่ง\n- สอง", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "en", "* one\n* two\n* three", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "en", "**bold** line\n* one", True),
    ("detectable_format:constrained_response", {}, "en", "My answer is no.", True),
    ("detectable_format:constrained_response", {}, "th", "คำตอบของฉันคือใช่", True),
    ("detectable_format:constrained_response", {}, "th", "ใช่", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "th", "*หนึ่ง* และ **สอง**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "en", "*one* and ** **", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, "en",
     "Section 1\nfoo\nSection 2\nbar", True),
    ("detectable_format:multiple_sections", {"section_spliter": "ส่วนที่", "num_sections": 3}, "th",
     "ส่วนที่ 1\nก\nส่วนที่ 2\nข", False),
    ("detectable_format:multiple_sections", {"section_spliter": "ส่วนที่", "num_sections": 2}, "th",
     "ส่วนที่ 1\nก\nส่วนที่ 2\nข", True),
    ("detectable_format:json_format", {}, "th", '```json\n{"ชื่อ": "แมว"}\n```', True),
    ("detectable_format:json_format", {}, "en", "{'a': 1}", False),
    ("detectable_format:title", {}, "th", "<<ข่าววันนี้>>\nเนื้อหา", True),
    ("detectable_format:title", {}, "en", "<< >>\nbody", False),
    ("combination:two_responses", {}, "th", "คำตอบแรก\n******\nคำตอบที่สอง", True),
    ("combination:two_responses", {}, "en", "same\n******\nsame", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "เขียนกลอน"}, "th", "เขียนกลอน\nกลอนของฉัน", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem"}, "en", "Sure. Write a poem", False),
    ("startend:end_checker", {"end_phrase": "ขอบคุณครับ"}, "th", "สวัสดี ขอบคุณครับ  ", True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "en", '"Done. any other questions?"', True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "en", "Any other questions? Bye", False),
    ("startend:quotation", {}, "th", '"สวัสดี"', True),
    ("startend:quotation", {}, "th", "“สวัสดี”", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "en",
     "THE CAT sat", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, "th",
     "ข่าว NASA และ FBI วันนี้", False),
    ("change_case:english_capital", {}, "en", "THE CAT SAT ON THE MAT AND WAS VERY HAPPY ABOUT IT.", True),
    ("change_case:english_capital", {}, "en", "THE CAT sat ON THE MAT.", False),
    ("change_case:english_capital", {}, "th", "แมวนั่งบนเสื่อ", False),
    ("change_case:english_lowercase", {}, "en", "the cat sat on the mat and was very happy about it.", True),
    ("change_case:english_lowercase", {}, "en", "The cat sat on the mat.", False),
    ("punctuation:no_comma", {}, "th", TH2, True),
    ("punctuation:no_comma", {}, "en", "one, two", False),
    ("punctuation:no_comma", {}, "zh-Hant", "一，二", False),
    # language-specific
    ("langadapt:target_script_only", {"allowance": 1}, "th", "ข่าว AI วันนี้ดีมาก", True),
    ("langadapt:target_script_only", {"allowance": 1}, "th", "ข่าว AI และ GPU วันนี้", False),
    ("langadapt:target_script_only", {}, "bo", BO, True),
    ("langadapt:target_script_only", {}, "bo", BO + " hello", False),
    ("langadapt:polite_particle", {"which": "khrap"}, "th", "ขอบคุณครับ", True),
    ("langadapt:polite_particle", {"which": "kha"}, "th", "ขอบคุณครับ", False),
    ("langadapt:polite_particle", {"which": "kha"}, "th", "ไปไหนคะ", True),
    ("langadapt:digits", {"system": "thai"}, "th", "วันที่ ๑๒ มกราคม", True),
    ("langadapt:digits", {"system": "thai"}, "th", "วันที่ 12 มกราคม", False),
    ("langadapt:digits", {"system": "arabic"}, "th", "วันที่ 12 มกราคม", True),
    ("langadapt:digits", {"system": "arabic"}, "th", "วันที่ ๑๒ มกราคม", False),
    ("langadapt:word_count_range", {"min_words": 10, "max_words": 12}, "th", TH2, True),
    ("langadapt:word_count_range", {"min_words": 13, "max_words": 20}, "th", TH2, False),
    # SEA-IFEval's two ids
    ("startend:first_word", {"first_word": "วันนี้"}, "th", TH2, True),
    ("startend:first_word", {"first_word": "เรา"}, "th", TH2, False),
    ("keywords:number_frequency", {"number": "4", "relation": "exactly", "frequency": 1}, "th", "อายุ 4 ปี 40 วัน", True),
    ("keywords:number_frequency", {"number": "4", "relation": "at least", "frequency": 2}, "th", "อายุ 4 ปี 40 วัน", False),
    ("langadapt:word_count_range", {"min_words": 12, "max_words": 12}, "en", EN, True),
    ("langadapt:start_checker", {"start_phrase": "วันนี้"}, "th", TH2, True),
    ("langadapt:start_checker", {"start_phrase": "เรา"}, "th", TH2, False),
    ("langadapt:paragraph_count", {"num_paragraphs": 2}, "th", TH2, True),
    ("langadapt:paragraph_count", {"num_paragraphs": 1}, "en", EN + "\n\nMore.", False),
]


@pytest.mark.parametrize("cid,kwargs,lang,response,expected", CASES, ids=[f"{c[0]}-{c[2]}-{c[4]}" for c in CASES])
def test_verify_strict(cid, kwargs, lang, response, expected):
    assert verify(cid, kwargs, response, lang) is expected


def test_every_constraint_has_a_passing_and_a_failing_case():
    passing = {c[0] for c in CASES if c[4]}
    failing = {c[0] for c in CASES if not c[4]}
    assert passing == failing == set(REGISTRY)
    assert len(IFEVAL_IDS) == 25


def test_loose_mode_tries_ifeval_variants():
    # a chatty first line breaks the title-less JSON in strict mode, not in loose mode
    r = 'Here is the JSON:\n{"a": 1}'
    assert verify("detectable_format:json_format", {}, r, "en") is False
    assert verify("detectable_format:json_format", {}, r, "en", strict=False) is True
    # '*' removed: "**ขอบคุณครับ**" ends with the phrase once the stars are gone
    r = "สวัสดี\n**ขอบคุณครับ**"
    assert verify("startend:end_checker", {"end_phrase": "ขอบคุณครับ"}, r, "th") is False
    assert verify("startend:end_checker", {"end_phrase": "ขอบคุณครับ"}, r, "th", strict=False) is True
    # an empty response never follows anything, not even "no commas"
    assert verify("punctuation:no_comma", {}, "  ", "th", strict=False) is False


def test_unknown_id_and_bad_kwargs_are_clear_errors():
    with pytest.raises(DataError, match="unknown constraint id 'keywords:nope'"):
        verify("keywords:nope", {}, "x", "th")
    with pytest.raises(DataError, match="kwarg 'relation' must be one of"):
        verify("length_constraints:number_words", {"num_words": 3, "relation": "at most"}, "x", "en")
    with pytest.raises(DataError, match="missing kwarg 'num_words'"):
        verify("length_constraints:number_words", {"relation": "at least"}, "x", "en")
    with pytest.raises(DataError, match="unknown kwarg 'num_word'"):
        verify("length_constraints:number_words", {"num_word": 3, "relation": "at least"}, "x", "en")
    # HF's google/IFEval fills absent kwargs with null: those are ignored
    assert verify("punctuation:no_comma", {"num_words": None}, "x", "en") is True


def test_instruction_texts_exist_in_every_language():
    sample = {"int": 3, "str": "x", "list": ["a", "b"], "relation": "at least"}
    for cid, c in REGISTRY.items():
        kw = {k: (s.choices[0] if s.choices else sample[s.type]) for k, s in c.kwargs.items()
              if k not in c.one_of[1:]}  # Google's and SEA's name for one kwarg: give one
        for lang in known_languages():
            text = instruction_text(cid, kw, lang)
            assert text and "{" not in text.replace("{}", ""), (cid, lang, text)
    assert instruction_text("length_constraints:number_words", {"num_words": 50, "relation": "less than"}, "th") \
        == "ตอบโดยมีความยาว น้อยกว่า 50 คำ"
    assert instruction_text("keywords:frequency", {"keyword": "AI", "frequency": 2, "relation": "at least"}, "en") \
        == 'In your response, the word "AI" should appear at least 2 times.'


GOOGLE = [
    {"key": 1, "prompt": "Write without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}],
     "response": "No commas here."},
    {"key": 2, "prompt": "Two things.", "instruction_id_list": ["punctuation:no_comma", "detectable_format:title"],
     "kwargs": [{}, {}], "response": "Sure:\n<<Title>> a, b"},
    {"key": 3, "prompt": "Quote.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}], "response": "x"},
]


def test_score_ifeval_google_form_known_accuracies():
    s = score_ifeval(GOOGLE, "en")
    assert s["n_prompts"] == 3 and s["n_instructions"] == 4
    assert s["prompt_level_strict"] == round(1 / 3, 4)
    assert s["instruction_level_strict"] == 0.5
    # loose, as in IFEval, tries the variants per instruction: no_comma passes on "Sure:" (last line
    # removed) while the title passes on the whole response
    assert s["prompt_level_loose"] == round(2 / 3, 4)
    assert s["instruction_level_loose"] == 0.75
    assert s["semantics"] == "google"
    assert s["per_instruction"]["punctuation:no_comma"] == {"n": 2, "strict": 0.5, "loose": 1.0}
    assert s["per_instruction"]["startend:quotation"] == {"n": 1, "strict": 0.0, "loose": 0.0}
    # an unknown id is an error naming the record and the id (issue 14), never a silent failure
    with pytest.raises(DataError, match=r"records:1 \(key 3\): unknown constraint id 'made:up'"):
        score_ifeval([{**GOOGLE[2], "instruction_id_list": ["made:up"]}], "en")


def test_score_ifeval_sea_form():
    recs = [
        {"id": "a", "prompts": [{"text": "เขียนสั้นๆ"}], "metadata": {"language": "th",
         "subcategory": "length_constraints:number_words"}, "kwargs": [{"num_words": 5, "relation": "less than"}],
         "response": "สวัสดีครับ"},
        {"id": "b", "prompts": [{"text": "จบด้วย"}], "metadata": {"subcategory": "startend:end_checker"},
         "kwargs": {"end_phrase": "ขอบคุณ"}, "response": "สวัสดี\n**ขอบคุณ**"},
    ]
    s = score_ifeval(recs, "th")
    # SEA-HELM's semantics: Thai word counts are not scored (excluded), the end phrase after ** fails
    # strict and passes loose
    assert s["semantics"] == "sea" and s["excluded"] == {"length_constraints:number_words": 1}
    assert (s["n_prompts"], s["prompt_level_strict"], s["prompt_level_loose"]) == (1, 0.0, 1.0)
    assert s["results"][0]["key"] == "b"
    s = score_ifeval(recs, "th", semantics="langadapt")
    assert (s["prompt_level_strict"], s["prompt_level_loose"]) == (0.5, 1.0)


def test_parse_ifeval_record_errors_name_where():
    with pytest.raises(DataError, match="in.jsonl:7: not an IFEval record"):
        parse_ifeval_record({"text": "x"}, "in.jsonl:7")
    with pytest.raises(DataError, match="in.jsonl:2: 'kwargs' must be a list with one object"):
        parse_ifeval_record({"prompt": "p", "instruction_id_list": ["a:b", "c:d"], "kwargs": [{}]}, "in.jsonl:2")


def test_the_shipped_ifeval_seed_parses(repo_root):
    n = 0
    for line in (repo_root / "samples/data/en/ifeval-input_data.jsonl").read_text().splitlines():
        _prompt, ids, _kws = parse_ifeval_record(json.loads(line), "seed")
        assert all(i in REGISTRY for i in ids)
        n += 1
    assert n == 541
