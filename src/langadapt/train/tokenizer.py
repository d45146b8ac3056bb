"""The tokenizer stage: train a byte-level BPE for the tiny default, or measure (and optionally extend)
a real base model's tokenizer for the target language.

    langadapt tokenizer                       # params.yaml model.base / tokenizer.*
    langadapt tokenizer -s model.base=/models/Qwen2.5-0.5B -s tokenizer.extend=true

Writes ``paths.tokenizer`` (HF tokenizer + chat template), ``paths.base`` (the HF checkpoint CPT starts
from) and ``{paths.metrics}/tokenizer.json`` (fertility before/after: tokens per character and per
segmented word on held-out documents, vocabulary sizes).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from langadapt.errors import DataError
from langadapt.io import atomic_dir, write_json
from langadapt.records import Document, is_heldout, read_documents
from langadapt.train.modeling import (
    DEFAULT_CHAT_TEMPLATE,
    EOS_TOKEN,
    IM_END,
    IM_START,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    TINY_BASE,
    build_tiny_qwen3,
    load_causal_lm,
)

# GPT-2's pre-tokenizer splits letters (\p{L}) from combining marks (\p{M}), which cuts Thai and Tibetan
# syllables apart at every vowel sign; this one keeps letters+marks together (scripts without spaces then
# give whole runs of text, and BPE learns the word pieces).
PRETOKENIZE_PATTERN = r" ?[\p{L}\p{M}]+| ?\p{N}{1,3}| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+"

FERTILITY_MAX_DOCS = 200
FERTILITY_MAX_CHARS = 200_000


def split_documents(clean: str | Path, heldout_fraction: float, split: str) -> Iterator[Document]:
    """Documents of one split ('train' or 'heldout') of the clean corpus, streamed in file order."""
    want_heldout = split == "heldout"
    for doc in read_documents(clean):
        if is_heldout(doc.id, heldout_fraction) == want_heldout and doc.text.strip():
            yield doc


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Any:
    """A byte-level BPE (tokenizers) wrapped as a transformers fast tokenizer with the ChatML template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START, IM_END],
        chat_template=DEFAULT_CHAT_TEMPLATE,
        model_max_length=1 << 30,
    )


def fertility(tokenizer: Any, texts: list[str], lang: str) -> dict[str, float]:
    """Tokens per character and per segmented word (langadapt.text.words) over ``texts``."""
    from langadapt.text import words

    n_tok = n_chars = n_words = 0
    for t in texts:
        n_tok += len(tokenizer.encode(t, add_special_tokens=False))
        n_chars += len(t)
        n_words += len(words(t, lang))
    return {
        "tokens_per_char": round(n_tok / max(1, n_chars), 4),
        "tokens_per_word": round(n_tok / max(1, n_words), 4),
        "tokens": n_tok,
        "chars": n_chars,
        "words": n_words,
    }


def _byte_fertility(texts: list[str], lang: str) -> dict[str, float]:
    """What a byte-level tokenizer without merges gives: UTF-8 bytes (the tiny default's 'before')."""
    from langadapt.text import words

    n_b = sum(len(t.encode("utf-8")) for t in texts)
    n_c = sum(len(t) for t in texts)
    n_w = sum(len(words(t, lang)) for t in texts)
    return {"tokens_per_char": round(n_b / max(1, n_c), 4), "tokens_per_word": round(n_b / max(1, n_w), 4),
            "tokens": n_b, "chars": n_c, "words": n_w}


def _fertility_texts(cfg: Any) -> list[str]:
    """Held-out documents (what eval measures on), else the first train documents; capped in size."""
    frac = cfg.data.heldout_fraction
    docs = list(itertools.islice(split_documents(cfg.paths.clean, frac, "heldout"), FERTILITY_MAX_DOCS))
    if not docs:
        docs = list(itertools.islice(split_documents(cfg.paths.clean, frac, "train"), FERTILITY_MAX_DOCS))
    out, total = [], 0
    for d in docs:
        out.append(d.text[: FERTILITY_MAX_CHARS - total])
        total += len(out[-1])
        if total >= FERTILITY_MAX_CHARS:
            break
    return out


def extend_tokenizer(model: Any, tokenizer: Any, texts: Iterable[str], n_tokens: int, min_frequency: int) -> list[str]:
    """Add up to ``n_tokens`` corpus-learned BPE pieces to ``tokenizer`` and grow the embeddings.

    A new token's embedding (and LM-head row, when untied) is the mean of the rows of the pieces the
    *old* tokenizer splits it into, so the model starts where it was on text containing it.
    """
    import torch
    from tokenizers import decoders

    learned = train_bpe_tokenizer(texts, vocab_size=256 + len(SPECIAL_TOKENS) + n_tokens, min_frequency=min_frequency)
    byte_decoder = decoders.ByteLevel()
    inv = sorted(learned.get_vocab().items(), key=lambda kv: kv[1])  # BPE ids are in merge order
    old_vocab = tokenizer.get_vocab()
    candidates: list[str] = []
    for piece, _ in inv:
        if piece in SPECIAL_TOKENS:
            continue
        text = byte_decoder.decode([piece])
        if len(text) < 2 or not text.strip() or "\ufffd" in text or text in old_vocab:
            continue
        if len(tokenizer.encode(text, add_special_tokens=False)) < 2:
            continue  # the old tokenizer already has it as one token
        candidates.append(text)
    candidates = list(dict.fromkeys(candidates))[:n_tokens]
    old_ids = {t: tokenizer.encode(t, add_special_tokens=False) for t in candidates}
    n_old = len(tokenizer)
    tokenizer.add_tokens(candidates)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is None or head.weight.data_ptr() == emb.data_ptr()
    with torch.no_grad():
        for t in candidates:
            new_id = tokenizer.convert_tokens_to_ids(t)
            if new_id < n_old:
                continue
            src = torch.tensor(old_ids[t])
            emb[new_id] = emb[src].mean(0)
            if not tied:
                head.weight[new_id] = head.weight[src].mean(0)
    return candidates


def run_tokenizer(cfg: Any) -> dict[str, Any]:
    """The tokenizer stage (see the module docstring). Returns the metrics written."""
    lang = cfg.language.code
    frac = cfg.data.heldout_fraction
    fert_texts = _fertility_texts(cfg)
    if not fert_texts:
        raise DataError(f"{cfg.paths.clean}: no documents to measure the tokenizer on")
    metrics: dict[str, Any] = {"base": cfg.model.base, "lang": lang, "fertility_docs": len(fert_texts)}

    if cfg.model.base == TINY_BASE:
        n_docs = 0

        def train_texts() -> Iterator[str]:
            nonlocal n_docs
            for d in split_documents(cfg.paths.clean, frac, "train"):
                n_docs += 1
                yield d.text

        tok = train_bpe_tokenizer(train_texts(), cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency)
        if n_docs == 0:
            raise DataError(f"{cfg.paths.clean}: no training documents (all held out or empty)")
        model = build_tiny_qwen3(
            cfg.model.tiny, len(tok), cfg.seed,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
        model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids(IM_END)]
        model.generation_config.pad_token_id = tok.pad_token_id
        metrics.update({
            "train_docs": n_docs,
            "vocab_size_before": 256,
            "vocab_size_after": len(tok),
            "fertility_before": _byte_fertility(fert_texts, lang),
            "fertility_after": fertility(tok, fert_texts, lang),
            "added_tokens": len(tok) - 256,
            "parameters": sum(p.numel() for p in model.parameters()),
        })
    else:
        model, tok = load_causal_lm(cfg.model.base, trust_remote_code=cfg.model.trust_remote_code)
        before = fertility(tok, fert_texts, lang)
        n_before = len(tok)
        added: list[str] = []
        if not tok.chat_template:
            # Base (non-instruct) checkpoints often ship no template: use ChatML.
            tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
            tok.chat_template = DEFAULT_CHAT_TEMPLATE
        if cfg.tokenizer.extend:
            texts = (d.text for d in split_documents(cfg.paths.clean, frac, "train"))
            added = extend_tokenizer(model, tok, texts, cfg.tokenizer.extend_tokens, cfg.tokenizer.min_frequency)
        if len(tok) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tok), mean_resizing=True)
        metrics.update({
            "vocab_size_before": n_before,
            "vocab_size_after": len(tok),
            "fertility_before": before,
            "fertility_after": fertility(tok, fert_texts, lang),
            "added_tokens": len(added),
            "added_examples": added[:20],
            "parameters": sum(p.numel() for p in model.parameters()),
        })

    with atomic_dir(cfg.paths.tokenizer) as d:
        tok.save_pretrained(d)
    with atomic_dir(cfg.paths.base) as d:
        model.save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
    write_json(Path(cfg.paths.metrics) / "tokenizer.json", metrics)
    return metrics
