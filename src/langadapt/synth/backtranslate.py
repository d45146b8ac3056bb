"""Constraint back-translation: real passages of the clean corpus become the responses, and the
instruction is written to ask for what each passage already satisfies (no teacher needed).

For a passage we measure what holds (word/sentence/paragraph counts by the language's segmenter, salient
keywords and their frequencies, words it does not use, its opening and closing phrase, commas, digits,
polite particles, Latin words), optionally reshape it into a format (bullet list, numbered sections,
``***`` paragraphs, a ``<<title>>``), pick 1..max_constraints of the facts, and write the instruction from
per-language templates (templates/<code>.yaml) plus each constraint's instruction text. Every example is
then verified anyway; a failure is dropped with its reason. Some examples get a follow-up turn asking for
a format, answered by the reshaped passage (multi-turn, the follow-up adds a constraint).

    examples = back_translate(documents, "th", n=300, params=cfg.synth, seed=1234, stats=stats)
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable
from typing import Any

from langadapt.records import Document, SFTExample
from langadapt.synth.common import (
    NearDuplicateFilter,
    SynthStats,
    example_id,
    keeps_kwargs,
    language_stable,
    rng_for,
    salient_words,
    templates,
    verify_all,
)

SOURCE = "back_translation"
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_URLISH = re.compile(r"https?://|www\.|\S+@\S+\.\w")


def passages(doc: Document, min_chars: int, max_chars: int, limit: int) -> list[str]:
    """Up to ``limit`` passages of ``doc``: runs of consecutive lines (paragraph breaks kept) between
    ``min_chars`` and ``max_chars`` long, cut at line boundaries, non-overlapping, in document order."""
    # lines with a URL or an e-mail are boilerplate ("ที่มา : http://..."), not prose to imitate
    lines = ["" if _URLISH.search(ln) else ln.strip() for ln in doc.text.replace("\r", "").split("\n")]
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for ln in lines + [""]:
        if not ln:
            if cur and cur[-1] != "":
                cur.append("")  # keep the paragraph break
            continue
        if size + len(ln) > max_chars and size >= min_chars:
            out.append(_join(cur))
            cur, size = [], 0
            if len(out) >= limit:
                return out
        if len(ln) > max_chars:  # a single over-long line cannot make a passage
            cur, size = [], 0
            continue
        cur.append(ln)
        size += len(ln) + 1
    if cur and size >= min_chars and len(out) < limit:
        out.append(_join(cur))
    return out


def _join(lines: list[str]) -> str:
    text = ""
    for ln in lines:
        if ln == "":
            text = text.rstrip("\n") + "\n\n" if text else text
        else:
            text += ln + "\n"
    return text.strip()


def _round_up(x: float, step: int) -> int:
    return max(step, int(math.ceil(x / step) * step))


def _round_down(x: float, step: int) -> int:
    return max(1, int(math.floor(x / step) * step))


def _edge_phrase(text: str, lang: str, first: bool, n_words: int) -> str | None:
    """The first/last ``n_words`` words of ``text`` as they are written there (spaces kept)."""
    from langadapt.text import sentences, words

    sents = sentences(text, lang)
    if not sents:
        return None
    sent = sents[0] if first else sents[-1]
    ws = words(sent, lang)
    if len(ws) < n_words + 1:
        return None
    pos, starts = 0, []
    for w in ws:
        i = sent.find(w, pos)
        if i < 0:
            return None
        starts.append(i)
        pos = i + len(w)
    if first:
        phrase = sent[starts[0]: starts[n_words - 1] + len(ws[n_words - 1])]
    else:
        phrase = sent[starts[-n_words]:]
    phrase = phrase.strip().strip('"')
    return phrase if len(phrase) >= 4 else None


# ---------------------------------------------------------------------------------------------------
# Formats: reshape a passage and name the constraint that asks for the shape


def _reshape(passage: str, fmt: str, lang: str, title: str | None,
             rng: Any = None) -> tuple[str, dict[str, Any]] | None:
    """``passage`` reshaped into ``fmt`` and the constraint that asks for that shape, or None when the
    passage cannot take it. The layout formats (bullets, sections, stars, title) keep the text; the
    IFEval-style wrappers (quotation, postscript, end phrase, two answers, JSON, highlights, placeholders,
    a yes/no/maybe verdict) add what the constraint asks for around it, from the language's templates
    (``synth:`` in ``text/languages/<code>.yaml``). ``repeat_prompt`` is made by the caller (it needs the
    instruction)."""
    from langadapt.text import paragraphs, sentences

    tpl = templates(lang)
    paras = paragraphs(passage)
    if fmt == "bullets":
        # a bullet needs text after its marker (SEA-IFEval does not count "* " or "* ***")
        items = [t for t in (x.lstrip("*-• ").strip() for x in sentences(passage, lang)) if re.search(r"\w", t)]
        if not 3 <= len(items) <= 8:
            return None
        text = "\n".join(f"* {t}" for t in items)
        return text, {"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": len(items)}}
    if fmt == "sections":
        groups = paras if len(paras) >= 2 else _sentence_halves(passage, lang, tpl, min_sentences=4)
        if groups is None:
            return None
        groups = groups[:4]
        spliter = tpl["section_spliter"]
        text = "\n\n".join(f"{spliter} {i}\n{g}" for i, g in enumerate(groups, 1))
        return text, {"id": "detectable_format:multiple_sections",
                      "kwargs": {"section_spliter": spliter, "num_sections": len(groups)}}
    if fmt == "stars":
        if not 2 <= len(paras) <= 5:
            return None
        return "\n\n***\n\n".join(paras), {"id": "length_constraints:number_paragraphs",
                                           "kwargs": {"num_paragraphs": len(paras)}}
    if fmt == "title":
        if not title:
            return None
        return f"<<{title}>>\n\n{passage}", {"id": "detectable_format:title", "kwargs": {}}
    shaped = _wrap(passage, fmt, lang, title, rng or random.Random(0), tpl)
    from langadapt.ifeval import verify

    # a passage that cannot take the shape (e.g. two halves that are the same text) gets another format
    return shaped if shaped and verify(shaped[1]["id"], shaped[1]["kwargs"], shaped[0], lang) else None


Shaped = tuple[str, dict[str, Any]] | None


def _wrap(passage: str, fmt: str, lang: str, title: str | None, rng: Any, tpl: dict[str, Any]) -> Shaped:
    """The IFEval-style wrappers of ``_reshape`` (each needs its templates; a language without them gets
    none of that format)."""
    from langadapt.ifeval import lang_data

    fn = _WRAPPERS.get(fmt)
    return fn(passage, lang, title, rng, tpl, lang_data(lang)) if fn else None


def _quotation(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    if passage.startswith('"') or passage.endswith('"'):
        return None
    return f'"{passage}"', {"id": "startend:quotation", "kwargs": {}}


def _postscript(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    markers, notes = d.get("postscript_markers") or [], tpl.get("postscripts") or []
    if not markers or not notes:
        return None
    marker = rng.choice(markers)
    return (f"{passage}\n\n{marker} {rng.choice(notes)}",
            {"id": "detectable_content:postscript", "kwargs": {"postscript_marker": marker}})


def _end_phrase(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    phrases = tpl.get("end_phrases") or []
    if not phrases:
        return None
    phrase = rng.choice(phrases)
    return f"{passage}\n\n{phrase}", {"id": "startend:end_checker", "kwargs": {"end_phrase": phrase}}


def _halves(passage: str, lang: str, tpl: dict) -> list[str] | None:
    from langadapt.text import paragraphs

    parts = paragraphs(passage)
    if len(parts) >= 2:
        half = len(parts) // 2
        return ["\n\n".join(parts[:half]), "\n\n".join(parts[half:])]
    return _sentence_halves(passage, lang, tpl, min_sentences=2)


def _sentence_halves(passage: str, lang: str, tpl: dict, min_sentences: int) -> list[str] | None:
    """The passage's sentences in two halves (joined by the language's ``sentence_joiner``), or None when it
    has fewer than ``min_sentences``."""
    from langadapt.text import sentences

    sents = sentences(passage, lang)
    if len(sents) < min_sentences:
        return None
    half = len(sents) // 2
    joiner = tpl.get("sentence_joiner", " ")
    return [joiner.join(sents[:half]), joiner.join(sents[half:])]


def _two_responses(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    parts = _halves(passage, lang, tpl)
    if not parts:
        return None
    return "\n\n******\n\n".join(parts), {"id": "combination:two_responses", "kwargs": {}}


def _json(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    from langadapt.text import paragraphs

    keys = tpl.get("json_keys") or {}
    if not keys.get("content"):
        return None
    obj: dict[str, Any] = {}
    if title and keys.get("title"):
        obj[keys["title"]] = title
    paras = paragraphs(passage)
    obj[keys["content"]] = paras if len(paras) > 1 else passage
    body = json.dumps(obj, ensure_ascii=False, indent=2)
    return f"```json\n{body}\n```", {"id": "detectable_format:json_format", "kwargs": {}}


def _highlights(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    from langadapt.text import words

    if "*" in passage:
        return None
    picked = salient_words(words(passage, lang), lang, passage)[:6]
    spans: list[tuple[int, int]] = []
    for w in picked[: rng.randint(2, max(2, min(4, len(picked))))]:  # the first free occurrence of each
        i = passage.find(w)
        while i >= 0 and any(i < b and a < i + len(w) for a, b in spans):
            i = passage.find(w, i + 1)
        if i >= 0:
            spans.append((i, i + len(w)))
    if len(spans) < 2:
        return None
    text, pos = "", 0
    for a, b in sorted(spans):
        text += passage[pos:a] + f"*{passage[a:b]}*"
        pos = b
    return text + passage[pos:], {"id": "detectable_format:number_highlighted_sections",
                                  "kwargs": {"num_highlights": len(spans)}}


def _placeholders(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    frames = tpl.get("placeholder_frames") or []
    if not frames or "[" in passage:
        return None
    text = rng.choice(frames).format(text=passage)
    n = len(re.findall(r"\[[^\]\n]+\]", text))
    return text, {"id": "detectable_content:number_placeholders", "kwargs": {"num_placeholders": n}}


def _verdict(passage: str, lang: str, title: str | None, rng: Any, tpl: dict, d: dict) -> Shaped:
    options = d.get("constrained_options") or []
    if not options or not tpl.get("question_tasks"):
        return None
    return f"{passage}\n\n{rng.choice(options)}", {"id": "detectable_format:constrained_response", "kwargs": {}}


_WRAPPERS = {"quotation": _quotation, "postscript": _postscript, "end_phrase": _end_phrase,
             "two_responses": _two_responses, "json": _json, "highlights": _highlights,
             "placeholders": _placeholders, "verdict": _verdict}


# the formats a follow-up turn may ask for (it reshapes the first answer's passage)
FORMATS = ("bullets", "sections", "stars", "title")
# every format a first turn may ask for: the layouts, the IFEval-style wrappers (SEA-IFEval ids) and the
# prompt repeat; chosen uniformly when an example is reshaped (``synth.format_fraction``)
ALL_FORMATS = FORMATS + ("quotation", "postscript", "end_phrase", "two_responses", "json", "highlights",
                         "placeholders", "verdict", "repeat_prompt")

# ---------------------------------------------------------------------------------------------------
# Facts a passage satisfies


def candidate_constraints(r: str, lang: str, rng: Any, other_words: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Constraints ``r`` satisfies, grouped (one per group is used): length, keywords, edges, style."""
    from langadapt.text import paragraphs, sentences, words

    ws = words(r, lang)
    n_words = len(ws)
    n_sents = len(sentences(r, lang))
    groups: dict[str, list[dict[str, Any]]] = {"length": [], "keywords": [], "edges": [], "style": []}
    if n_words >= 5:
        step = 10 if n_words >= 40 else 5
        groups["length"] += [
            {"id": "length_constraints:number_words",
             "kwargs": {"relation": "less than", "num_words": _round_up(n_words * 1.15 + 1, step)}},
            {"id": "length_constraints:number_words",
             "kwargs": {"relation": "at least", "num_words": _round_down(n_words * 0.85, step)}},
            {"id": "langadapt:word_count_range",
             "kwargs": {"min_words": _round_down(n_words * 0.8, step), "max_words": _round_up(n_words * 1.2, step)}},
        ]
    if n_sents >= 2:
        groups["length"] += [
            {"id": "length_constraints:number_sentences",
             "kwargs": {"relation": "at least", "num_sentences": max(1, n_sents - rng.randint(0, 1))}},
            {"id": "length_constraints:number_sentences",
             "kwargs": {"relation": "less than", "num_sentences": n_sents + rng.randint(1, 2)}},
        ]
    n_paras = len(paragraphs(r))
    if 2 <= n_paras <= 6:
        groups["length"].append({"id": "langadapt:paragraph_count", "kwargs": {"num_paragraphs": n_paras}})
    salient = salient_words(ws, lang, r)
    if salient:
        k = min(len(salient), rng.randint(1, 2))
        groups["keywords"].append({"id": "keywords:existence", "kwargs": {"keywords": rng.sample(salient[:8], k)}})
        top = salient[0]
        freq = sum(1 for w in ws if w == top)
        if freq >= 2:
            groups["keywords"].append({"id": "keywords:frequency",
                                       "kwargs": {"keyword": top, "relation": "at least", "frequency": freq}})
    absent = [w for w in other_words if w.casefold() not in r.casefold()]
    if absent:
        groups["keywords"].append({"id": "keywords:forbidden_words",
                                   "kwargs": {"forbidden_words": rng.sample(absent, min(2, len(absent)))}})
    start = _edge_phrase(r, lang, True, rng.randint(2, 4))
    if start:
        groups["edges"].append({"id": "langadapt:start_checker", "kwargs": {"start_phrase": start}})
    if ws and r.lstrip().startswith(ws[0]) and len(ws[0]) >= 2:
        groups["edges"].append({"id": "startend:first_word", "kwargs": {"first_word": ws[0]}})
    end = _edge_phrase(r, lang, False, rng.randint(2, 4))
    if end:
        groups["edges"].append({"id": "startend:end_checker", "kwargs": {"end_phrase": end}})
    if "," not in r and "，" not in r and "、" not in r:
        groups["style"].append({"id": "punctuation:no_comma", "kwargs": {}})
    groups["style"] += _native_style(r, lang)
    if lang != "en":
        n_latin = len(_LATIN_WORD.findall(r))
        if n_latin <= 3:
            groups["style"].append({"id": "langadapt:target_script_only", "kwargs": {"allowance": n_latin}})
    # only facts: a candidate the verifier would reject (e.g. a passage opening with a quote mark that
    # the start phrase leaves out) is not offered
    # ... and only ids langadapt generates in this language (Thai: SEA-IFEval's ids or langadapt:*)
    # ... and a SEA-IFEval id holds under SEA-HELM's semantics too (a quoted answer "ends" with its quote
    # mark there), so an example never teaches what the reference scorer would fail
    from langadapt.ifeval import SEA_IDS, generatable, verify

    ok = set(generatable(lang))

    def holds(c: dict[str, Any]) -> bool:
        return verify(c["id"], c["kwargs"], r, lang) and (
            c["id"] not in SEA_IDS or verify(c["id"], c["kwargs"], r, lang, semantics="sea"))

    return {g: [c for c in cs if c["id"] in ok and holds(c)] for g, cs in groups.items()}


def _native_style(r: str, lang: str) -> list[dict[str, Any]]:
    """Style facts of ``r`` for a language whose profile has them (``ifeval.native_digits``,
    ``ifeval.polite_particles``; Thai): one digit system, a polite particle (a word, not a substring:
    "คะแนน" (score) is not the particle "คะ"; the verifier decides)."""
    from langadapt.ifeval import lang_data, verify

    d = lang_data(lang)
    out = []
    if native := d.get("native_digits"):
        has_arabic = bool(re.search(r"[0-9]", r))
        has_native = any(c in native for c in r)
        if has_arabic != has_native:  # the kwarg value "thai" names the language's own digits
            out.append({"id": "langadapt:digits", "kwargs": {"system": "arabic" if has_arabic else "thai"}})
    for which in d.get("polite_particles") or {}:
        c = {"id": "langadapt:polite_particle", "kwargs": {"which": which}}
        if verify(c["id"], c["kwargs"], r, lang):
            out.append(c)
            break
    return out


def _pick(groups: dict[str, list[dict[str, Any]]], k: int, rng: Any, allowed: set[str] | None) -> list[dict[str, Any]]:
    from langadapt.ifeval import conflicting

    names = [g for g in sorted(groups) if any(allowed is None or c["id"] in allowed for c in groups[g])]
    rng.shuffle(names)
    out: list[dict[str, Any]] = []
    for g in names[:k]:
        options = [c for c in groups[g] if allowed is None or c["id"] in allowed]
        pick = rng.choice(options)
        if not any(conflicting(pick["id"], o["id"]) for o in out):  # the one definition (langadapt.ifeval)
            out.append(pick)
    return out


def build_instruction(task: str, constraints: list[dict[str, Any]], lang: str, rng: Any = None) -> str:
    parts = [task] + [_instruction_text(c, lang, rng) for c in constraints]
    return templates(lang).get("joiner", " ").join(parts)


def _instruction_text(c: dict[str, Any], lang: str, rng: Any = None) -> str:
    """The constraint's instruction: the profile's ``ifeval.texts`` wording, or with ``rng`` one of it and
    its ``synth.instruction_variants`` (other wordings of the same request, so a model learns the request,
    not one sentence)."""
    from langadapt.ifeval import instruction_text

    text = instruction_text(c["id"], c["kwargs"], lang)
    variants = (templates(lang).get("instruction_variants") or {}).get(c["id"]) or []
    if rng is None or not variants:
        return text
    pick = rng.randrange(len(variants) + 1)
    if pick == len(variants):
        return text
    from langadapt.ifeval.registry import instruction_context

    return variants[pick].format(**instruction_context(c["id"], c["kwargs"], lang))


def _task(lang: str, rng: Any, title: str | None, topic_words: list[str], question: bool = False) -> str:
    tpl = templates(lang)
    genre = rng.choice(tpl["genres"])
    quote = tpl.get("topic_quote", "“{}”")
    topic = tpl.get("topic_joiner", " ").join(quote.format(w) for w in topic_words)
    if question and tpl.get("question_tasks"):
        return rng.choice(tpl["question_tasks"]).format(subject=f"“{title}”" if title else topic)
    if title:
        return rng.choice(tpl["task_with_title"]).format(genre=genre, title=title)
    return rng.choice(tpl["task_with_topic"]).format(genre=genre, topic=topic)


def _title_of(doc: Document) -> str | None:
    t = str(doc.meta.get("title") or "").strip().lstrip("\ufeff")
    if not t or len(t) > 120:
        return None
    parts = [p.strip() for p in re.split(r" \| | - | – | — ", t) if p.strip()]
    if len(parts) == 1 and parts[0].count("-") >= 2:  # "Site-Section-Headline": keep the headline
        parts = [parts[0].rsplit("-", 1)[-1].strip()]
    return max(parts, key=len) if parts else None


# ---------------------------------------------------------------------------------------------------


def back_translate(documents: Iterable[Document], lang: str, n: int, params: Any, seed: int,
                   stats: SynthStats, heldout_fraction: float = 0.0) -> list[SFTExample]:
    """Up to ``n`` verified examples from ``documents`` (held-out documents are skipped)."""
    from langadapt.records import is_heldout
    from langadapt.text import words

    if n <= 0:
        return []
    allowed = set(params.constraint_ids) or None
    dedup = NearDuplicateFilter(params.dedup_threshold)
    vocab_pool: list[str] = []
    out: list[SFTExample] = []
    for doc in documents:
        if len(out) >= n:
            break
        if is_heldout(doc.id, heldout_fraction):
            continue
        title = _title_of(doc)
        for pi, passage in enumerate(passages(doc, params.min_response_chars, params.max_response_chars,
                                              params.passages_per_doc)):
            if len(out) >= n:
                break
            rng = rng_for(seed, SOURCE, doc.id, str(pi))
            rec = {"doc_id": doc.id, "passage": pi, "text": passage[:300]}
            if not language_stable(passage, lang, params.min_script_ratio):
                stats.drop(SOURCE, "wrong_language", **rec)
                continue
            if dedup.seen(passage):
                stats.drop(SOURCE, "near_duplicate", **rec)
                continue
            ex = _example(passage, doc, pi, lang, params, rng, title, vocab_pool, allowed, stats)
            pw = salient_words(words(passage, lang), lang, passage)
            vocab_pool = (pw[:5] + vocab_pool)[:200]  # words of other passages: candidates for forbidden_words
            if ex is not None:
                out.append(ex)
                stats.keep(ex)
    return out


def _example(passage: str, doc: Document, pi: int, lang: str, params: Any, rng: Any, title: str | None,
             vocab_pool: list[str], allowed: set[str] | None, stats: SynthStats) -> SFTExample | None:
    from langadapt.text import words

    rec = {"doc_id": doc.id, "passage": pi, "text": passage[:300]}
    k = rng.randint(1, max(1, params.max_constraints))
    response = passage
    constraints: list[dict[str, Any]] = []
    multi = rng.random() < params.multi_turn_fraction
    fmt_order = list(ALL_FORMATS)
    rng.shuffle(fmt_order)
    repeat = question = False
    if not multi and rng.random() < params.format_fraction:
        for fmt in fmt_order:
            if fmt == "repeat_prompt":  # made below, once the instruction is written
                if allowed is None or "combination:repeat_prompt" in allowed:
                    repeat, k = True, 0
                    break
                continue
            shaped = _reshape(passage, fmt, lang, title, rng)
            if shaped and (allowed is None or shaped[1]["id"] in allowed):
                response, fc = shaped
                constraints.append(fc)
                question = fmt == "verdict"  # a yes/no/maybe verdict answers a question
                k -= 1
                break
    other = [w for w in vocab_pool if w != title]
    groups = candidate_constraints(response, lang, rng, rng.sample(other, min(20, len(other))))
    topic_words: list[str] = []
    if not title:  # the keywords become the topic of the task
        kw = next((c for c in groups["keywords"] if c["id"] == "keywords:existence"), None)
        if kw is None:
            salient = salient_words(words(response, lang), lang, response)
            if not salient:
                stats.drop(SOURCE, "no_topic", **rec)
                return None
            kw = {"id": "keywords:existence", "kwargs": {"keywords": salient[:1]}}
        topic_words = kw["kwargs"]["keywords"]
        constraints.append(kw)
        groups.pop("keywords", None)
    constraints += _pick(groups, max(0, k), rng, allowed)
    if not constraints:
        stats.drop(SOURCE, "no_constraint", **rec)
        return None
    task = _task(lang, rng, title, topic_words, question=question)
    shown = [c for c in constraints if not (c["id"] == "keywords:existence" and c["kwargs"]["keywords"] == topic_words)]
    rng.shuffle(shown)
    instruction = build_instruction(task, shown, lang, rng)
    if repeat:  # SEA-IFEval's shape: the request, then the instruction to repeat it first
        rc = {"id": "combination:repeat_prompt", "kwargs": {"prompt_to_repeat": instruction}}
        response = f"{instruction}\n\n{response}"
        instruction = instruction + "\n\n" + _instruction_text(rc, lang, rng)
        constraints.append(rc)
    fail = verify_all(constraints, response, lang, stats, SOURCE, prompt=instruction)
    if fail:
        stats.drop(SOURCE, f"verify_failed:{fail}", **rec)
        return None
    messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
    final = constraints
    if multi:
        follow = _follow_up(passage, lang, rng, title, constraints, allowed, stats, rec)
        if follow is not None:
            text2, response2, final = follow
            messages += [{"role": "user", "content": text2}, {"role": "assistant", "content": response2}]
    return SFTExample(id=example_id(SOURCE, doc.id, str(pi)), messages=messages, lang=lang, source=SOURCE,
                      constraints=final)


def _follow_up(passage: str, lang: str, rng: Any, title: str | None, constraints: list[dict[str, Any]],
               allowed: set[str] | None, stats: SynthStats, rec: dict[str, Any]) -> tuple[str, str, list] | None:
    """A second turn asking for a format; the answer is the passage reshaped. When the reshaped answer
    still follows every first-turn constraint, the follow-up *adds* the format ("also", templates'
    ``followup``) and turn 2 carries all of them; otherwise it *changes* the requirement (templates'
    ``followup_change``: "instead") and turn 2 carries only the new one. A language without a
    ``followup_change`` wording gets no second turn then. Never an "also" that the answer breaks."""
    from langadapt.ifeval import instruction_text, verify

    tpl = templates(lang)
    order = list(FORMATS)
    rng.shuffle(order)
    for fmt in order:
        shaped = _reshape(passage, fmt, lang, title)
        if not shaped or (allowed is not None and shaped[1]["id"] not in allowed):
            continue
        response2, fc = shaped
        if verify_all([fc], response2, lang, stats, SOURCE):
            stats.drop(SOURCE, f"follow_up_failed:{fc['id']}", **rec)
            return None
        kept_all = all(verify(c["id"], c["kwargs"], response2, lang) for c in constraints)
        if kept_all:
            lead, final = rng.choice(tpl["followup"]), [fc] + list(constraints)
        elif tpl.get("followup_change"):
            lead, final = rng.choice(tpl["followup_change"]), [fc]
        else:
            continue
        return lead + " " + instruction_text(fc["id"], fc["kwargs"], lang), response2, final
    return None


def paraphrase_instructions(teacher: Any, examples: list[SFTExample], lang: str, params: Any,
                            stats: SynthStats) -> None:
    """Let the teacher reword each first-turn instruction (``synth.paraphrase``). A paraphrase is used
    only if it keeps every kwarg value (numbers, keywords, phrases) and stays in the target language;
    otherwise the template wording stays. The response, and so the verification, is unchanged."""

    if not examples:
        return
    tpl = templates(lang)
    convs = [[{"role": "user", "content": tpl["rewrite"].format(instruction=ex.messages[0]["content"])}]
             for ex in examples]
    gens = teacher.generate(convs, max_new_tokens=params.teacher.max_new_tokens, temperature=0.0)
    stats.teacher_calls += len(convs)
    for ex, g in zip(examples, gens):
        text = g.text.strip()
        if (g.finish_reason == "stop" and text and keeps_kwargs(text, ex.constraints)
                and language_stable(text, lang, params.min_script_ratio)):
            ex.messages[0] = {"role": "user", "content": text}
            stats.dropped[f"{SOURCE}:paraphrases"]["accepted"] += 1
        else:
            stats.dropped[f"{SOURCE}:paraphrases"]["rejected_kept_template"] += 1
