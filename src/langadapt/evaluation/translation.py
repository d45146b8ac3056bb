"""Translation quality: chrF, chrF++ and BLEU (sacrebleu) with the tokenisation right for the script.

sacrebleu's default BLEU tokenizer (13a) splits on spaces and punctuation, so unsegmented Thai or
Tibetan text becomes one "word" per phrase and BLEU collapses to ~0. Into a target language we
therefore segment both hypothesis and reference with ``langadapt.text.words`` (pythainlp newmm for
Thai, tsheg syllables for Tibetan), join with spaces and score with ``tokenize="none"``; Traditional
Chinese uses sacrebleu's ``zh`` tokenizer (one token per Han character). chrF's character n-grams ignore
whitespace, so segmentation only changes chrF++'s word n-grams (which need it for the same reason).
Every score carries its sacrebleu signature, with the segmenter named (``tok:none+seg:th-words``).

    from langadapt.evaluation.translation import translation_scores
    translation_scores(hyps, refs, lang="th")   # scores into Thai
    translation_scores(hyps, refs, lang="en")   # scores into English (13a)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def bleu_tokenisation(lang: str) -> tuple[bool, str]:
    """How BLEU/chrF++ tokenise text of ``lang``: (segment first with ``langadapt.text.words``, sacrebleu
    tokenizer), from the profile's ``evaluation.bleu_segment`` / ``bleu_tokenize`` (default: no, 13a)."""
    from langadapt.text import profile_value

    return (bool(profile_value(lang, "evaluation", "bleu_segment", default=False)),
            profile_value(lang, "evaluation", "bleu_tokenize", default="13a"))


def segment_for_bleu(text: str, lang: str) -> str:
    """``text`` as space-separated words of ``lang`` (what BLEU counts as tokens)."""
    from langadapt.text import words

    return " ".join(w for w in words(text, lang) if w.strip())


def translation_scores(hyps: Sequence[str], refs: Sequence[str], lang: str) -> dict[str, Any]:
    """Corpus chrF, chrF++ and BLEU of ``hyps`` against one reference each, translating *into* ``lang``.

    Returns ``{chrf, chrfpp, bleu, n, signatures: {chrf, chrfpp, bleu}}`` (scores on sacrebleu's 0-100 scale).
    """
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    if not hyps:
        return {"chrf": None, "chrfpp": None, "bleu": None, "n": 0, "signatures": {}}
    segment, tok = bleu_tokenisation(lang)
    seg_h = [segment_for_bleu(h, lang) for h in hyps] if segment else list(hyps)
    seg_r = [segment_for_bleu(r, lang) for r in refs] if segment else list(refs)
    suffix = f"+seg:{lang}-words" if segment else ""

    chrf, chrfpp, bleu = CHRF(), CHRF(word_order=2), BLEU(tokenize=tok)
    s_chrf = chrf.corpus_score(list(hyps), [list(refs)])
    s_chrfpp = chrfpp.corpus_score(seg_h, [seg_r])
    s_bleu = bleu.corpus_score(seg_h, [seg_r])
    return {
        "chrf": s_chrf.score,
        "chrfpp": s_chrfpp.score,
        "bleu": s_bleu.score,
        "n": len(hyps),
        "signatures": {
            "chrf": str(chrf.get_signature()),
            "chrfpp": str(chrfpp.get_signature()) + suffix,
            "bleu": str(bleu.get_signature()).replace(f"tok:{tok}", f"tok:{tok}{suffix}"),
        },
    }


def translation_prompt(text: str, src: str, tgt: str) -> list[dict[str, str]]:
    """The chat messages asking for a translation (``Translate to English: ...``)."""
    from langadapt.text import language_name

    name = language_name(tgt)
    return [{"role": "user", "content": f"Translate to {name}: {text}"}]


def clean_translation(response: str) -> str:
    """The translation inside a response: its first non-empty line, stripped (chat models often add
    a note after the translation; an empty response stays empty and scores 0)."""
    for line in response.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


# --- FLORES-200 with SEA-HELM's prompts -----------------------------------------------------------


def seahelm_template(lang: str, direction: str) -> dict[str, str] | None:
    """SEA-HELM's zero-shot translation template of ``lang`` (``direction``: from_en | to_en) from the
    language's profile (``translation:``), or None when the profile has none."""
    from langadapt.text import profile_value

    return profile_value(lang, "translation", direction)


def benchmark_prompt(text: str, lang: str, direction: str) -> list[dict[str, str]]:
    """The chat messages of one FLORES item: SEA-HELM's template (preamble, blank line, task) when the
    language has one, else ``translation_prompt``."""
    t = seahelm_template(lang, direction)
    if t is None:
        src, tgt = (lang, "en") if direction == "to_en" else ("en", lang)
        return translation_prompt(text, src, tgt)
    content = t["preamble"].format(answer_tag=t["answer_tag"]) + "\n\n" + t["task_template"].format(text=text)
    return [{"role": "user", "content": content}]


def extract_answer(response: str, lang: str, direction: str) -> tuple[str, bool]:
    """(translation, tag found): the text after SEA-HELM's answer tag (its regex
    ``TAG[\\s\\r\\n`*]*(.*)``), else the first non-empty line (``clean_translation``)."""
    import re

    t = seahelm_template(lang, direction)
    if t is not None:
        m = re.search(re.escape(t["answer_tag"]) + r"[\s\r\n`*]*(.*)", response)
        if m:
            return m.group(1).strip(), True
    return clean_translation(response), False


def read_flores(path: Any, lang: str, n: int) -> list[dict[str, str]]:
    """The first ``n`` FLORES-200 pairs ``{id, en, <lang>}`` of a JSONL file (SEA-HELM's devtest)."""
    from langadapt.errors import DataError
    from langadapt.io import read_jsonl

    out = []
    for i, rec in enumerate(read_jsonl(path), 1):
        if not isinstance(rec, dict) or not isinstance(rec.get("en"), str) or not isinstance(rec.get(lang), str):
            raise DataError(f"{path}:{i}: a FLORES record needs 'en' and {lang!r} strings")
        out.append({"id": rec.get("id", i), "en": rec["en"], lang: rec[lang]})
        if len(out) >= n:
            break
    return out
