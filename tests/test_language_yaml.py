"""A language is one YAML file: a new language's profile (Lao, ``lo``), written to a temporary directory
named by ``LANGADAPT_LANGUAGES_DIR``, runs extract -> filter -> dedup on a tiny WARC and IFEval scoring,
with no code change. Without the directory, ``language.code=lo`` is a config error naming the code.

Run: pytest -q tests/test_language_yaml.py
"""

from __future__ import annotations

import json

import pytest

from langadapt.config import parse_params
from langadapt.corpus.warcs import Page, write_warc
from langadapt.errors import ConfigError
from langadapt.records import read_documents
from langadapt.text.profiles import LANGUAGES_DIR_ENV

# Real Lao: Laos and its capital, the Mekong, the official language; sticky rice, farming, Luang Prabang.
LAO_GEOGRAPHY = (
    "ປະເທດລາວ ເປັນປະເທດທີ່ບໍ່ມີທາງອອກສູ່ທະເລ ຕັ້ງຢູ່ໃນພາກພື້ນອາຊີຕາເວັນອອກສ່ຽງໃຕ້. "
    "ນະຄອນຫຼວງວຽງຈັນ ເປັນນະຄອນຫຼວງ ແລະ ເປັນເມືອງທີ່ໃຫຍ່ທີ່ສຸດຂອງປະເທດ.</p><p>"
    "ແມ່ນ້ຳຂອງ ໄຫຼຜ່ານປະເທດລາວ ຈາກທິດເໜືອຫາທິດໃຕ້ ແລະ ເປັນແຫຼ່ງນ້ຳທີ່ສຳຄັນ ສຳລັບການກະສິກຳ ແລະ ການຫາປາ.</p><p>"
    "ພາສາລາວ ແມ່ນພາສາລາດຊະການ ຂອງສາທາລະນະລັດ ປະຊາທິປະໄຕ ປະຊາຊົນລາວ. ຕິດຕໍ່ ອີເມວ info@example.la"
)
LAO_FOOD = (
    "ເຂົ້າໜຽວ ແມ່ນອາຫານຫຼັກ ຂອງຄົນລາວ ແລະ ມັກກິນກັບລາບ ຫຼື ຕຳໝາກຫຸ່ງ.</p><p>"
    "ຊາວກະສິກອນ ປູກເຂົ້າ ໃນລະດູຝົນ ແລະ ເກັບກ່ຽວ ໃນລະດູໜາວ.</p><p>"
    "ຫຼວງພະບາງ ເປັນເມືອງມໍລະດົກໂລກ ທີ່ມີວັດວາອາຮາມ ທີ່ສວຍງາມຫຼາຍແຫ່ງ ແລະ ນັກທ່ອງທ່ຽວ ມາຢ້ຽມຢາມທຸກປີ."
)
LAO_SPAM = "ຄາສິໂນ ອອນລາຍ ບາຄາຣ່າ ສະລັອດ ແທງບານ ຝາກຖອນ ບໍ່ມີຂັ້ນຕ່ຳ</p><p>ສະລັອດ ຄາສິໂນ ບາຄາຣ່າ ແທງບານ ໄດ້ເງິນແທ້"

# The whole language: what the corpus stages and IFEval scoring read. (No lingua model for Lao: the
# script ratio decides; words are runs between spaces, Lao writes spaces between phrases.)
LO_YAML = r"""
code: lo
name: Lao
script: Lao
pair_file: data_lao.txt
word_spacing: false
segmenter: {words: regex, sentences: punctuation}
langid: {lingua: null}
filter:
  min_script_ratio: 0.5
  min_words: 5
  max_words: 100000
  max_avg_word_length: 60
  min_stop_words: 1
  max_symbol_ratio: 0.25
  dup_line_frac: 0.3
  dup_para_frac: 0.3
  spam_min_distinct_terms: 3
  spam_min_term_ratio: 0.02
not_symbols: '\u0e80-\u0eff\u0300-\u036f'
stop_words: [ແລະ, ຂອງ, ທີ່, ເປັນ, ໃນ, ແມ່ນ, ຫຼື]
spam:
  gambling: [ຄາສິໂນ, ບາຄາຣ່າ, ສະລັອດ, ແທງບານ, casino, baccarat]
boilerplate: [javascript, cookie]
ifeval:
  texts:
    language:response_language: ຕອບເປັນ{language_name}ທັງໝົດ
    keywords:existence: 'ໃນຄຳຕອບ ຕ້ອງມີຄຳວ່າ: {keywords}'
  language_names: {lo: ພາສາລາວ, en: ພາສາອັງກິດ}
"""


@pytest.fixture
def lao_dir(tmp_path, monkeypatch):
    d = tmp_path / "languages"
    d.mkdir()
    (d / "lo.yaml").write_text(LO_YAML, encoding="utf-8")
    monkeypatch.setenv(LANGUAGES_DIR_ENV, str(d))
    return d


def page(body: str) -> str:
    return f"<html><head><title>t</title></head><body><article><p>{body}</p></article></body></html>"


def test_lao_needs_its_profile(tmp_path, monkeypatch):
    monkeypatch.setenv(LANGUAGES_DIR_ENV, str(tmp_path))  # an empty directory: no lo.yaml anywhere
    with pytest.raises(ConfigError, match="language.code: no language profile for 'lo'"):
        parse_params({"language": {"code": "lo"}})


def test_lao_corpus_stages(lao_dir, tmp_path):
    from langadapt.corpus.dedup import run_dedup
    from langadapt.corpus.extract import run_extract
    from langadapt.corpus.filter import run_filter

    write_warc(tmp_path / "raw" / "a.warc.gz", [
        Page("http://la.test/geo", page(LAO_GEOGRAPHY)),
        Page("http://la.test/geo-copy", page(LAO_GEOGRAPHY + " ")),  # the same text after normalisation
        Page("http://la.test/food", page(LAO_FOOD)),
        Page("http://la.test/spam", page(LAO_SPAM * 3)),
        Page("http://la.test/en", page("An English page about the Mekong river and rice farming. " * 10)),
    ])
    paths = {k: str(tmp_path / k) for k in ("raw", "extracted", "filtered", "clean", "metrics")}
    cfg = parse_params({"language": {"code": "lo"}, "paths": paths})
    for run in (run_extract, run_filter, run_dedup):
        assert run(cfg)["complete"]
    m = {s: json.loads((tmp_path / "metrics" / f"{s}.json").read_text()) for s in ("extract", "filter", "dedup")}
    assert m["extract"]["lang"] == "lo"
    assert m["extract"]["dropped"] == {"prefilter:script_ratio": 1}
    assert m["filter"]["dropped"] == {"spam:gambling": 1}
    assert m["filter"]["pii"] == {"EMAIL": 2}  # no phone or ID rules in lo.yaml: e-mails and IPs only
    assert m["dedup"]["dropped"] == {"dedup:exact": 1} and m["dedup"]["docs_out"] == 2
    clean = list(read_documents(tmp_path / "clean"))
    urls = sorted(d.url for d in clean)
    assert urls[0] == "http://la.test/food" and urls[1].startswith("http://la.test/geo")  # one of the copies
    assert all(d.lang == "lo" for d in clean)
    assert "<EMAIL>" in next(d.text for d in clean if "/geo" in d.url)


def test_lao_ifeval_scoring(lao_dir):
    from langadapt.ifeval import generatable, instruction_text, score_ifeval

    assert instruction_text("language:response_language", {"language": "lo"}, "lo") == "ຕອບເປັນພາສາລາວທັງໝົດ"
    # a constraint whose language data Lao lacks (polite particles) is never generated for it
    assert "langadapt:polite_particle" not in generatable("lo")
    assert "keywords:existence" in generatable("lo")
    lao = "ເຂົ້າໜຽວ ແມ່ນອາຫານຫຼັກ ຂອງຄົນລາວ"

    def rec(key, ids, kwargs, response):
        return {"key": key, "prompt": "ຂຽນກ່ຽວກັບອາຫານລາວ", "instruction_id_list": ids, "kwargs": kwargs,
                "response": response}

    recs = [
        rec(1, ["language:response_language"], [{"language": "lo"}], lao),
        rec(2, ["language:response_language"], [{"language": "lo"}], "Sticky rice is the staple food."),
        rec(3, ["keywords:existence"], [{"keywords": ["ເຂົ້າໜຽວ"]}], lao),
        rec(4, ["keywords:existence"], [{"keywords": ["ເຂົ້າ"]}], lao),  # a whole word, not a substring
        rec(5, ["length_constraints:number_words"], [{"num_words": 3, "relation": "at least"}], lao),
        rec(6, ["langadapt:target_script_only"], [{"allowance": 0}], lao),
        rec(7, ["langadapt:target_script_only"], [{"allowance": 0}], lao + " OK sticky rice"),
    ]
    out = score_ifeval(recs, "lo", semantics="langadapt")
    assert [r["follow_all_strict"] for r in out["results"]] == [True, False, True, False, True, True, False]
    assert out["lang"] == "lo" and out["n_prompts"] == 7


def test_packaged_profiles_and_their_errors(tmp_path, monkeypatch):
    from langadapt.text import sentences
    from langadapt.text.profiles import known_languages, language_profile, profile_value, target_profile

    assert {"th", "bo", "zh-Hant", "en"} <= set(known_languages())
    for code in ("th", "bo", "zh-Hant"):
        assert target_profile(code)["code"] == code
    with pytest.raises(ConfigError, match="en.yaml: missing keys for a target language: langid, filter, spam, boilerplate"):
        target_profile("en")  # the pivot language: IFEval texts, judge prompts, no corpus sections
    assert language_profile("th")["synth"]["keyword_min_chars"] == 4
    # a language IFEval names without a profile: the facts scoring needs, from other_languages.yaml
    assert profile_value("ja", "word_spacing") is False and profile_value("km", "script") == "Khmer"
    # a profile in LANGADAPT_LANGUAGES_DIR wins over the packaged one; a bad value names file and key
    (tmp_path / "th.yaml").write_text("code: th\nname: Thai\nscript: Thai\nsegmenter: {sentences: nope}\n")
    monkeypatch.setenv(LANGUAGES_DIR_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=r"th\.yaml: segmenter\.sentences: unknown segmenter 'nope'"):
        sentences("ก ข", "th")
    (tmp_path / "b").mkdir()  # profiles are read once per file: another directory for another content
    (tmp_path / "b" / "th.yaml").write_text("code: th\nname: Thai\nscript: Thaii\n")
    monkeypatch.setenv(LANGUAGES_DIR_ENV, str(tmp_path / "b"))
    with pytest.raises(ConfigError, match="script: unknown script 'Thaii'"):
        language_profile("th")
