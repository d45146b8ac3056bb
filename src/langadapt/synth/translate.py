"""Translation data: translation pairs as instructions (both directions, no teacher), and English IFEval
prompts translated into the target language by the teacher, keeping their kwargs, then answered and
re-verified.

    pair_examples(read_translation_pairs(dir, "th"), "th", n=300, seed=1234, heldout_fraction=0.1, stats=stats)
    translate_ifeval(teacher, ifeval_records, "th", n=50, params=cfg.synth, seed=1234, stats=stats)

Pairs come from the TRAIN split only (``records.split_pairs``): the held-out pairs are eval's. Each pair
example carries the constraint that the answer is in the requested language (and, for Thai answers,
the polite particle the reference uses), so it is verified like every other example.
"""

from __future__ import annotations

from typing import Any

from langadapt.records import SFTExample, TranslationPair, split_pairs
from langadapt.synth.common import SynthStats, example_id, language_stable, rng_for, templates, verify_all

PAIRS = "translation_pairs"
IFEVAL = "translated_ifeval"

# IFEval ids that do not survive translation: English-only casing, a fixed language, or a prompt that
# must be repeated verbatim (it changes when translated).
UNTRANSLATABLE = {"change_case:english_capital", "change_case:english_lowercase",
                  "change_case:capital_word_frequency", "language:response_language",
                  "keywords:letter_frequency", "combination:repeat_prompt"}


def _answer_constraints(answer: str, answer_lang: str, rng: Any) -> tuple[list[dict[str, Any]], str]:
    """The answer-language constraint (implied by "translate into X") and, for half of the answers that
    use a polite particle (languages whose profile has ``ifeval.polite_particles``: Thai), that
    particle, asked for in the instruction (returned as extra text)."""
    from langadapt.ifeval import instruction_text, lang_data

    cons: list[dict[str, Any]] = [{"id": "language:response_language", "kwargs": {"language": answer_lang}}]
    extra = ""
    table = lang_data(answer_lang).get("polite_particles") or {}
    if table and rng.random() < 0.5:
        which = next((w for w, ps in table.items() if any(p in answer for p in ps)), None)
        if which:
            cons.append({"id": "langadapt:polite_particle", "kwargs": {"which": which}})
            extra = instruction_text("langadapt:polite_particle", {"which": which}, answer_lang)
    return cons, extra


def pair_examples(pairs: list[TranslationPair], lang: str, n: int, seed: int, heldout_fraction: float,
                  stats: SynthStats) -> list[SFTExample]:
    """Up to ``n`` translation instructions from the train split, alternating direction by seed."""
    if n <= 0 or not pairs:
        return []
    train, _ = split_pairs(pairs, heldout_fraction)
    tpl = templates(lang)
    out: list[SFTExample] = []
    order = sorted(train, key=lambda p: rng_for(seed, PAIRS, "order", p.id).random())
    for p in order:
        if len(out) >= n:
            break
        rng = rng_for(seed, PAIRS, p.id)
        to_english = rng.random() < 0.5
        src, tgt, tgt_lang = (p.target, p.english, "en") if to_english else (p.english, p.target, lang)
        instruction = rng.choice(tpl["to_english" if to_english else "from_english"]).format(text=src)
        cons, extra = _answer_constraints(tgt, tgt_lang, rng)
        if extra:
            instruction = f"{instruction}\n{extra}" if "\n" in instruction else f"{extra} {instruction}"
        fail = verify_all(cons, tgt, tgt_lang, stats, PAIRS, prompt=instruction)
        if fail:
            stats.drop(PAIRS, f"verify_failed:{fail}", pair_id=p.id, direction="to_en" if to_english else "from_en",
                       text=tgt)
            continue
        ex = SFTExample(id=example_id(PAIRS, p.id), lang=lang, source=PAIRS, constraints=cons,
                        messages=[{"role": "user", "content": instruction}, {"role": "assistant", "content": tgt}])
        out.append(ex)
        stats.keep(ex)
    return out


def translate_ifeval(teacher: Any, records: list[dict[str, Any]], lang: str, n: int, params: Any, seed: int,
                     stats: SynthStats) -> list[SFTExample]:
    """English IFEval prompts -> target language (teacher), kwargs kept; the translation must keep every
    kwarg value and be in the target script; then k answers are sampled and verified."""
    from langadapt.ifeval import generatable, parse_ifeval_record
    from langadapt.synth.autoif import keeps_kwargs, sample_and_verify

    if n <= 0:
        return []
    tpl = templates(lang)
    ok = set(generatable(lang))  # a Thai prompt carries only ids SEA-IFEval knows (or langadapt:*)
    cands = []
    for i, rec in enumerate(records, 1):
        prompt, ids, kwargs = parse_ifeval_record(rec, f"ifeval_seed:{i}")
        if any(cid in UNTRANSLATABLE or cid not in ok for cid in ids):
            continue
        cands.append((str(rec.get("key", i)), prompt, [{"id": c, "kwargs": k} for c, k in zip(ids, kwargs)]))
    cands.sort(key=lambda c: rng_for(seed, IFEVAL, c[0]).random())
    cands = cands[:n]
    tp = params.teacher
    convs = [[{"role": "user", "content": tpl["translate"].format(instruction=c[1])}] for c in cands]
    gens = teacher.generate(convs, max_new_tokens=tp.max_new_tokens, temperature=0.0) if convs else []
    stats.teacher_calls += len(convs)
    items, keys = [], []
    for (key, _prompt, cons), g in zip(cands, gens):
        text = g.text.strip()
        if g.finish_reason == "length" or not text:
            stats.drop(IFEVAL, "translation_truncated", key=key)
        elif not language_stable(text, lang, params.min_script_ratio):
            stats.drop(IFEVAL, "translation_wrong_language", key=key)
        elif not keeps_kwargs(text, cons):
            stats.drop(IFEVAL, "translation_lost_kwargs", key=key)
        else:
            items.append({"messages": [{"role": "user", "content": text}], "constraints": cons})
            keys.append(key)
    answers = sample_and_verify(teacher, items, lang, params, stats, IFEVAL, params.responses_per_instruction)
    out = []
    for key, it, resp in zip(keys, items, answers):
        if resp is None:
            stats.drop(IFEVAL, "no_passing_response", key=key)
            continue
        ex = SFTExample(id=example_id(IFEVAL, key), lang=lang, source=IFEVAL, constraints=it["constraints"],
                        messages=it["messages"] + [{"role": "assistant", "content": resp}])
        out.append(ex)
        stats.keep(ex)
    return out
