"""AutoIF (Dong et al. 2024, as SiamGPT adapts it to Thai): the teacher writes instructions with
verifiable constraints, samples k responses each, and only responses that pass every constraint's
verifier are kept.

    examples = run_autoif(teacher, "th", n=100, params=cfg.synth, seed=1234, stats=stats, topics=titles)

1. Draft: a seed task (templates/<code>.yaml ``seeds`` plus corpus titles) + 1..max_constraints
   constraints with sampled kwargs (at most one per group: length, format, edges, keywords, style).
2. Rewrite (``synth.autoif_rewrite``): the teacher rewrites the draft as one natural request; the rewrite
   is used only if every kwarg value (numbers, keywords, phrases) survives in it, else the draft is.
3. Sample k = ``responses_per_instruction`` responses; each is checked in order: finished (not cut at
   max_new_tokens), length limits, language stability (target script), every constraint (pass rates are
   counted per constraint over all responses).
4. Quality-first selection: the passing response with the highest target-script share (then the
   shortest); near-duplicates of already kept responses are dropped.
5. Multi-turn (``synth.multi_turn_fraction``): a follow-up turn adds one more constraint; the answer to it
   must pass the new constraint and all earlier ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from langadapt.generation import Generation
from langadapt.ifeval import CONFLICT_GROUPS, conflict_group, generatable, lang_data
from langadapt.records import SFTExample
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
from langadapt.synth.teachers import Teacher

SOURCE = "autoif"

# Constraint groups: an instruction uses at most one constraint of each group (they would conflict);
# the groups are langadapt.ifeval's one definition of conflicting constraints.
GROUPS = CONFLICT_GROUPS


def sample_kwargs(cid: str, lang: str, rng: random.Random, topic_words: Sequence[str]) -> dict[str, Any] | None:
    """Plausible kwargs for ``cid`` in ``lang`` (None when the constraint does not apply)."""
    tpl = templates(lang)
    rel = rng.choice(["less than", "at least"])  # drawn for every id: the rng sequence stays the same
    if cid in _NO_KWARGS:
        return {}
    sampler = _KWARG_SAMPLERS.get(cid)
    return sampler(rng, tpl, rel, topic_words, lang) if sampler else None


_NO_KWARGS = frozenset({"detectable_format:json_format", "combination:two_responses", "startend:quotation",
                        "detectable_format:title", "punctuation:no_comma"})

# id -> sampler(rng, language templates, relation, topic words, lang): kwargs, or None when it does not apply
_KWARG_SAMPLERS: dict[str, Callable[[random.Random, dict[str, Any], str, Sequence[str], str],
                                    dict[str, Any] | None]] = {
    "length_constraints:number_words": lambda rng, tpl, rel, topic, lang: {
        "relation": rel,
        "num_words": rng.choice([40, 60, 80, 120, 150]) if rel == "less than" else rng.choice([20, 30, 50])},
    "length_constraints:number_sentences": lambda rng, tpl, rel, topic, lang: {
        "relation": rel, "num_sentences": rng.randint(3, 6) if rel == "less than" else rng.randint(2, 4)},
    "langadapt:word_count_range": lambda rng, tpl, rel, topic, lang: _word_count_range(rng),
    "detectable_format:number_bullet_lists": lambda rng, tpl, rel, topic, lang: {"num_bullets": rng.randint(2, 5)},
    "detectable_format:multiple_sections": lambda rng, tpl, rel, topic, lang: {
        "section_spliter": tpl["section_spliter"], "num_sections": rng.randint(2, 3)},
    "length_constraints:number_paragraphs": lambda rng, tpl, rel, topic, lang: {"num_paragraphs": rng.randint(2, 4)},
    "startend:end_checker": lambda rng, tpl, rel, topic, lang: {"end_phrase": rng.choice(tpl["end_phrases"])},
    "langadapt:start_checker": lambda rng, tpl, rel, topic, lang: {"start_phrase": rng.choice(tpl["start_phrases"])},
    "detectable_content:postscript": lambda rng, tpl, rel, topic, lang: {
        "postscript_marker": tpl["postscript_marker"]},
    "keywords:existence": lambda rng, tpl, rel, topic, lang: {"keywords": list(topic[:2])} if topic else None,
    "keywords:frequency": lambda rng, tpl, rel, topic, lang: {
        "keyword": topic[0], "relation": "at least", "frequency": rng.randint(2, 3)} if topic else None,
    "keywords:forbidden_words": lambda rng, tpl, rel, topic, lang: {
        "forbidden_words": rng.sample(tpl["forbidden_pool"], min(2, len(tpl["forbidden_pool"])))},
    "detectable_format:number_highlighted_sections": lambda rng, tpl, rel, topic, lang: {
        "num_highlights": rng.randint(1, 3)},
    "detectable_content:number_placeholders": lambda rng, tpl, rel, topic, lang: {
        "num_placeholders": rng.randint(1, 3)},
    "langadapt:target_script_only": lambda rng, tpl, rel, topic, lang: {
        "allowance": rng.randint(0, 2)} if lang != "en" else None,
    "langadapt:polite_particle": lambda rng, tpl, rel, topic, lang: _polite_particle(rng, lang),
    "langadapt:digits": lambda rng, tpl, rel, topic, lang: {
        "system": rng.choice(["thai", "arabic"])} if lang_data(lang).get("native_digits") else None,
}


def _polite_particle(rng: random.Random, lang: str) -> dict[str, Any] | None:
    which = list(lang_data(lang).get("polite_particles") or [])  # the profile's particle sets
    return {"which": rng.choice(which)} if which else None


def _word_count_range(rng: random.Random) -> dict[str, Any]:
    lo = rng.choice([20, 30, 40])
    return {"min_words": lo, "max_words": lo + rng.choice([40, 60, 100])}


def sample_constraints(lang: str, rng: random.Random, k: int, topic_words: Sequence[str],
                       allowed: set[str] | None, exclude_groups: set[str] = frozenset()) -> list[dict[str, Any]]:
    groups = [g for g in GROUPS if g not in exclude_groups]
    rng.shuffle(groups)
    ok = set(generatable(lang))  # in a language other than English: SEA-IFEval's ids or langadapt:*
    out: list[dict[str, Any]] = []
    for g in groups:
        if len(out) >= k:
            break
        ids = [c for c in GROUPS[g] if c in ok and (allowed is None or c in allowed)]
        rng.shuffle(ids)
        for cid in ids:
            kw = sample_kwargs(cid, lang, rng, topic_words)
            if kw is not None:
                out.append({"id": cid, "kwargs": kw})
                break
    return out


def judge(gen: Generation, constraints: list[dict[str, Any]], lang: str, params: Any, stats: SynthStats,
          source: str, prompt: str, check_language: bool = True) -> str | None:
    """None if ``gen`` is acceptable, else the drop reason."""
    text = gen.text.strip()
    if gen.finish_reason == "length":
        return "truncated"
    if len(text) < params.min_response_chars:
        return "too_short"
    if len(text) > params.max_response_chars:
        return "too_long"
    fail = verify_all(constraints, text, lang, stats, source, prompt=prompt)
    if fail:
        return f"constraint_failed:{fail}"
    if check_language and not language_stable(text, lang, params.min_script_ratio):
        return "wrong_language"
    return None


def select(passing: list[str], lang: str) -> str:
    from langadapt.synth.common import target_script
    from langadapt.text import script_ratio

    script = target_script(lang)
    return min(passing, key=lambda t: (-round(script_ratio(t, script), 3), len(t)))


def sample_and_verify(teacher: Teacher, items: list[dict[str, Any]], lang: str, params: Any, stats: SynthStats,
                      source: str, k: int, check_language: bool = True) -> list[str | None]:
    """For each item (``messages``, ``constraints``), sample k responses and return the selected passing
    one (or None; every failing response is counted in ``stats`` with its reason)."""
    tp = params.teacher
    convs = [it["messages"] for it in items for _ in range(k)]
    gens = teacher.generate(convs, max_new_tokens=tp.max_new_tokens, temperature=tp.temperature) if convs else []
    stats.teacher_calls += len(convs)
    out: list[str | None] = []
    for i, it in enumerate(items):
        passing = []
        prompt = it["messages"][-1]["content"]
        for g in gens[i * k:(i + 1) * k]:
            reason = judge(g, it["constraints"], lang, params, stats, source, prompt, check_language)
            if reason is None:
                passing.append(g.text.strip())
            else:
                stats.dropped[f"{source}:responses"][reason] += 1
        out.append(select(passing, lang) if passing else None)
    return out


def run_autoif(teacher: Teacher, lang: str, n: int, params: Any, seed: int, stats: SynthStats,
               topics: Sequence[str] = ()) -> list[SFTExample]:
    """Up to ``n`` AutoIF examples (single- and multi-turn), each verified by code."""
    if n <= 0:
        return []
    tpl = templates(lang)
    allowed = set(params.constraint_ids) or None
    drafts = _draft_instructions(tpl, lang, n, seed, stats, topics, params.max_constraints, allowed)
    if params.autoif_rewrite and drafts:
        _rewrite_instructions(teacher, drafts, tpl, lang, params, stats)
    kept = _answer_drafts(teacher, drafts, lang, params, seed, stats)
    _add_follow_up_turns(teacher, kept, tpl, lang, params, stats, allowed)
    out = []
    for _, ex in kept:
        stats.keep(ex)
        out.append(ex)
    return out


def _topic_words(task: str, lang: str) -> list[str]:
    from langadapt.text import words

    return salient_words(words(task, lang), lang, task)[:2]


def _draft_instructions(tpl: dict[str, Any], lang: str, n: int, seed: int, stats: SynthStats,
                        topics: Sequence[str], max_constraints: int,
                        allowed: set[str] | None) -> list[dict[str, Any]]:
    """Step 1: ``n`` drafts (a seed task plus sampled constraints), each with its own rng for later turns."""
    seeds = list(tpl["seeds"])
    for t in topics:
        seeds.append(tpl["task_with_title"][0].format(genre=tpl["genres"][0], title=t))
    drafts = []
    for i in range(n):
        rng = rng_for(seed, SOURCE, str(i))
        task = rng.choice(seeds)
        cons = sample_constraints(lang, rng, rng.randint(1, max(1, max_constraints)), _topic_words(task, lang),
                                  allowed)
        if not cons:
            stats.drop(SOURCE, "no_constraint", index=i)
            continue
        from langadapt.synth.backtranslate import build_instruction

        drafts.append({"index": i, "rng": rng, "task": task, "constraints": cons,
                       "instruction": build_instruction(task, cons, lang)})
    return drafts


def _rewrite_instructions(teacher: Teacher, drafts: list[dict[str, Any]], tpl: dict[str, Any], lang: str,
                          params: Any, stats: SynthStats) -> None:
    """Step 2: the teacher's natural rewrite replaces a draft only when it keeps every kwarg value."""
    prompts = [[{"role": "user", "content": tpl["rewrite"].format(instruction=d["instruction"])}] for d in drafts]
    rewrites = teacher.generate(prompts, max_new_tokens=params.teacher.max_new_tokens, temperature=0.0)
    stats.teacher_calls += len(prompts)
    for d, g in zip(drafts, rewrites):
        text = g.text.strip()
        if (g.finish_reason == "stop" and text and keeps_kwargs(text, d["constraints"])
                and language_stable(text, lang, params.min_script_ratio)):
            d["instruction"] = text
            stats.dropped[f"{SOURCE}:rewrites"]["accepted"] += 1
        else:
            stats.dropped[f"{SOURCE}:rewrites"]["rejected_kept_draft"] += 1


def _answer_drafts(teacher: Teacher, drafts: list[dict[str, Any]], lang: str, params: Any, seed: int,
                   stats: SynthStats) -> list[tuple[dict[str, Any], SFTExample]]:
    """Steps 3-4: sample, verify and select a response per draft; drop near-duplicates. (draft, example) pairs."""
    items = [{"messages": [{"role": "user", "content": d["instruction"]}], "constraints": d["constraints"]}
             for d in drafts]
    chosen = sample_and_verify(teacher, items, lang, params, stats, SOURCE, params.responses_per_instruction)
    dedup = NearDuplicateFilter(params.dedup_threshold)
    kept: list[tuple[dict[str, Any], SFTExample]] = []
    for d, it, resp in zip(drafts, items, chosen):
        if resp is None:
            stats.drop(SOURCE, "no_passing_response", index=d["index"], instruction=d["instruction"],
                       constraints=d["constraints"])
            continue
        if dedup.seen(resp):
            stats.drop(SOURCE, "near_duplicate", index=d["index"], instruction=d["instruction"])
            continue
        ex = SFTExample(id=example_id(SOURCE, str(seed), str(d["index"])),
                        messages=it["messages"] + [{"role": "assistant", "content": resp}],
                        lang=lang, source=SOURCE, constraints=d["constraints"])
        kept.append((d, ex))
    return kept


def _add_follow_up_turns(teacher: Teacher, kept: list[tuple[dict[str, Any], SFTExample]], tpl: dict[str, Any],
                         lang: str, params: Any, stats: SynthStats, allowed: set[str] | None) -> None:
    """Step 5: a follow-up adds one constraint from a group not used yet; an example gains the turn only
    when an answer passes every constraint (else it stays single-turn)."""
    follow_items, follow_of = [], []
    for d, ex in kept:
        if d["rng"].random() >= params.multi_turn_fraction:
            continue
        used = {conflict_group(c["id"]) for c in ex.constraints}
        new = sample_constraints(lang, d["rng"], 1, _topic_words(d["task"], lang), allowed, used)
        if not new:
            continue
        text2 = d["rng"].choice(tpl["followup"]) + " " + _instruction(new[0], lang)
        follow_items.append({"messages": ex.messages + [{"role": "user", "content": text2}],
                             "constraints": ex.constraints + new})
        follow_of.append(ex)
    if not follow_items:
        return
    answers = sample_and_verify(teacher, follow_items, lang, params, stats, SOURCE + ":turn2",
                                params.responses_per_instruction)
    for it, ex, resp in zip(follow_items, follow_of, answers):
        if resp is None:
            stats.dropped[SOURCE + ":turn2"]["no_passing_response_kept_single_turn"] += 1
            continue
        ex.messages = it["messages"] + [{"role": "assistant", "content": resp}]
        ex.constraints = it["constraints"]


def _instruction(c: dict[str, Any], lang: str) -> str:
    from langadapt.ifeval import instruction_text

    return instruction_text(c["id"], c["kwargs"], lang)
