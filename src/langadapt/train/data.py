"""Training data: packed CPT sequences and chat-formatted SFT examples, streamed from disk.

CPT: documents are tokenized in a streaming pass (batches of documents, never the whole corpus in
memory) into a flat ``uint32`` token file, each document followed by EOS; sequences are fixed-length
``seq_len`` windows of it (only the last one padded), read through ``np.memmap`` -- the corpus is bounded
by disk, not RAM, and the packing efficiency (non-pad / all tokens) is ~1.

SFT: each example's ``messages`` are rendered with the tokenizer's chat template; labels are -100
everywhere but on assistant tokens (every assistant turn, with its end-of-turn token).

Order: sample ``g`` of the run (``g = step * global_batch + ...``) is ``perm(epoch)[g % n]`` with a
permutation seeded by ``(seed, epoch)``, so the data position is just the step: resuming at step N
reads exactly what an uninterrupted run would have read, without replaying the stream.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from langadapt.errors import DataError
from langadapt.io import atomic_dir, jsonl_files
from langadapt.records import is_heldout, read_documents, read_sft_examples

IGNORE_INDEX = -100
TOKENIZE_BATCH = 256


# ---------------------------------------------------------------------------------------------------
# Packing (pure functions, tested exactly)


def pack_tokens(docs: Iterable[list[int]], seq_len: int, eos_id: int, pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """(input_ids, labels) windows of ``seq_len`` over the documents joined with EOS after each;
    the last window is padded with ``pad_id`` (label -100)."""
    stream: list[int] = []
    for d in docs:
        stream.extend(d)
        stream.append(eos_id)
    seqs, labels = [], []
    for i in range(0, len(stream), seq_len):
        chunk = stream[i : i + seq_len]
        n_pad = seq_len - len(chunk)
        seqs.append(chunk + [pad_id] * n_pad)
        labels.append(chunk + [IGNORE_INDEX] * n_pad)
    return seqs, labels


class PackedTokens:
    """Fixed-length windows over a flat token file (memory-mapped)."""

    def __init__(self, path: str | Path, seq_len: int, pad_id: int):
        self.path = Path(path)
        self.seq_len = seq_len
        self.pad_id = pad_id
        n = self.path.stat().st_size // 4
        self.tokens = np.memmap(self.path, dtype=np.uint32, mode="r", shape=(n,)) if n else np.zeros(0, np.uint32)
        self.n_tokens = n

    def __len__(self) -> int:
        return int(-(-self.n_tokens // self.seq_len))

    @property
    def packing_efficiency(self) -> float:
        return self.n_tokens / max(1, len(self) * self.seq_len)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        chunk = np.asarray(self.tokens[i * self.seq_len : (i + 1) * self.seq_len], dtype=np.int64)
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        labels = np.full(self.seq_len, IGNORE_INDEX, dtype=np.int64)
        ids[: len(chunk)] = chunk
        labels[: len(chunk)] = chunk
        return ids, labels


# ---------------------------------------------------------------------------------------------------
# SFT: chat template + assistant-only loss mask


def sft_example_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one conversation; labels are -100 except on assistant tokens.

    Templates with ``{% generation %}`` markers (the default one) give the mask directly; others (most hub
    models) are masked by rendering prefixes: the tokens between ``render(messages[:i], generation
    prompt)`` and ``render(messages[:i+1])`` are assistant message i.
    """
    template = tokenizer.chat_template or ""
    if "{% generation %}" in template or "{%- generation %}" in template:
        out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        ids = list(out["input_ids"])
        mask = list(out["assistant_masks"])
        return ids, [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=True)]

    def render(msgs: list[dict[str, str]], gen: bool) -> list[int]:
        out = tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen, return_dict=True)
        return list(out["input_ids"])

    ids = render(messages, False)
    labels = [IGNORE_INDEX] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(render(messages[:i], True)) if i else 0
        end = len(render(messages[: i + 1], False))
        for j in range(start, min(end, len(ids))):
            labels[j] = ids[j]
    return ids, labels


class SFTTokens:
    """Tokenized SFT examples (int32 files + offsets), one example per sample, memory-mapped."""

    def __init__(self, directory: str | Path, seq_len: int, pad_id: int):
        d = Path(directory)
        self.offsets = np.load(d / "offsets.npy")
        n = int(self.offsets[-1]) if len(self.offsets) else 0
        self.ids = np.memmap(d / "input_ids.bin", dtype=np.int32, mode="r", shape=(n,)) if n else np.zeros(0, np.int32)
        self.labels = np.memmap(d / "labels.bin", dtype=np.int32, mode="r", shape=(n,)) if n else np.zeros(0, np.int32)
        self.seq_len = seq_len
        self.pad_id = pad_id

    def __len__(self) -> int:
        return max(0, len(self.offsets) - 1)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        b = min(b, a + self.seq_len)
        return np.asarray(self.ids[a:b], dtype=np.int64), np.asarray(self.labels[a:b], dtype=np.int64)


# ---------------------------------------------------------------------------------------------------
# Building the token files (streaming)


def _corpus_key(files: list[Path], tokenizer_dir: str | Path, extra: dict[str, Any]) -> str:
    # by content, not path or mtime: the same corpus downloaded again (a retried RayJob re-fetches its
    # inputs) must give the same key, so the training fingerprint matches and the run resumes
    from langadapt.storage import sha256_file

    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}|{sha256_file(f)}\n".encode())
    for name in ("tokenizer.json", "tokenizer_config.json"):
        p = Path(tokenizer_dir) / name
        if p.exists():
            h.update(hashlib.sha256(p.read_bytes()).digest())
    h.update(json.dumps(extra, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def build_cpt_tokens(clean: str | Path, tokenizer: Any, tokenizer_dir: str | Path, cache_root: str | Path,
                     heldout_fraction: float, progress: Any = None) -> Path:
    """Tokenize the corpus once into ``cache_root/cpt-<key>/{train,heldout}.bin`` (+ meta.json); reused
    while the corpus files and tokenizer are unchanged. Returns the directory."""
    files = jsonl_files(clean)
    key = _corpus_key(files, tokenizer_dir, {"heldout_fraction": heldout_fraction, "kind": "cpt"})
    out = Path(cache_root) / f"cpt-{key}"
    if (out / "meta.json").exists():
        return out
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError(f"tokenizer {tokenizer_dir}: has no EOS token (needed to separate packed documents)")
    counts = {"train": [0, 0], "heldout": [0, 0]}  # docs, tokens
    with atomic_dir(out) as staging:
        fh = {s: open(staging / f"{s}.bin", "wb") for s in counts}  # noqa: SIM115 - closed below
        try:
            docs = read_documents(clean)
            if progress is not None:
                docs = progress(docs)
            for batch in _batched((d for d in docs if d.text.strip()), TOKENIZE_BATCH):
                enc = tokenizer([d.text for d in batch], add_special_tokens=False)["input_ids"]
                for d, ids in zip(batch, enc, strict=True):
                    split = "heldout" if is_heldout(d.id, heldout_fraction) else "train"
                    arr = np.asarray(list(ids) + [eos], dtype=np.uint32)
                    fh[split].write(arr.tobytes())
                    counts[split][0] += 1
                    counts[split][1] += len(arr)
        finally:
            for f in fh.values():
                f.close()
        meta = {s: {"docs": c[0], "tokens": c[1]} for s, c in counts.items()}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2))
    _drop_stale(out)
    return out


def _drop_stale(current: Path) -> None:
    """Remove token caches of earlier corpora/tokenizers beside ``current`` (same kind)."""
    import shutil

    kind = current.name.split("-")[0]
    for d in current.parent.glob(f"{kind}-*"):
        if d != current and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)


def split_sft(examples: list[Any], heldout_fraction: float) -> tuple[list[Any], list[Any]]:
    """(train, heldout) SFT examples by id hash; at least one held out when there are two or more."""
    train = [e for e in examples if not is_heldout("sft:" + e.id, heldout_fraction)]
    held = [e for e in examples if is_heldout("sft:" + e.id, heldout_fraction)]
    if not held and len(train) > 1:
        held = [train.pop()]
    return train, held


def build_sft_tokens(synth: str | Path, tokenizer: Any, tokenizer_dir: str | Path, cache_root: str | Path,
                     heldout_fraction: float, seq_len: int) -> Path:
    """Tokenize SFT examples into ``cache_root/sft-<key>/{train,heldout}/`` (input_ids/labels/offsets)."""
    files = jsonl_files(synth)
    key = _corpus_key(files, tokenizer_dir, {"heldout_fraction": heldout_fraction, "kind": "sft",
                                             "seq_len": seq_len})
    out = Path(cache_root) / f"sft-{key}"
    if (out / "meta.json").exists():
        return out
    examples = list(read_sft_examples(synth))
    if not examples:
        raise DataError(f"{synth}: no SFT examples")
    meta: dict[str, Any] = {}
    with atomic_dir(out) as staging:
        for split, exs in zip(("train", "heldout"), split_sft(examples, heldout_fraction), strict=True):
            d = staging / split
            d.mkdir()
            offsets = [0]
            n_trunc = n_empty = n_tok = n_sup = 0
            with open(d / "input_ids.bin", "wb") as fi, open(d / "labels.bin", "wb") as fl:
                for ex in exs:
                    ids, labels = sft_example_tokens(tokenizer, ex.messages)
                    if len(ids) > seq_len:
                        n_trunc += 1
                        ids, labels = ids[:seq_len], labels[:seq_len]
                    if all(lab == IGNORE_INDEX for lab in labels):
                        n_empty += 1  # nothing to learn once truncated
                        continue
                    fi.write(np.asarray(ids, dtype=np.int32).tobytes())
                    fl.write(np.asarray(labels, dtype=np.int32).tobytes())
                    offsets.append(offsets[-1] + len(ids))
                    n_tok += len(ids)
                    n_sup += sum(lab != IGNORE_INDEX for lab in labels)
            np.save(d / "offsets.npy", np.asarray(offsets, dtype=np.int64))
            meta[split] = {"examples": len(offsets) - 1, "truncated": n_trunc, "dropped_no_assistant": n_empty,
                           "tokens": n_tok, "supervised_tokens": n_sup}
        if meta["train"]["examples"] == 0:
            raise DataError(f"{synth}: no SFT example has assistant tokens within sft.seq_len={seq_len}")
        (staging / "meta.json").write_text(json.dumps(meta, indent=2))
    _drop_stale(out)
    return out


# ---------------------------------------------------------------------------------------------------
# Deterministic order and batches


def sample_index(g: int, n: int, seed: int, _cache: dict[tuple[int, int, int], np.ndarray] = {}) -> int:  # noqa: B006
    """Sample ``g`` of the run -> an index in [0, n): a fresh seeded permutation every epoch."""
    epoch, pos = divmod(g, n)
    key = (n, seed, epoch)
    perm = _cache.get(key)
    if perm is None:
        _cache.clear()
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        _cache[key] = perm
    return int(perm[pos])


def micro_batch_indices(step: int, micro: int, rank: int, world: int, micro_batch: int, grad_accum: int) -> list[int]:
    """The run-level sample numbers of one rank's micro-batch ``micro`` of optimizer step ``step``."""
    global_batch = micro_batch * grad_accum * world
    start = step * global_batch + micro * micro_batch * world + rank * micro_batch
    return list(range(start, start + micro_batch))


def collate(samples: list[tuple[np.ndarray, np.ndarray]], pad_id: int) -> dict[str, Any]:
    """Right-pad a list of (ids, labels) to the longest; attention_mask 0 on padding."""
    import torch

    n = max(len(s[0]) for s in samples)
    ids = torch.full((len(samples), n), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), n), IGNORE_INDEX, dtype=torch.long)
    att = torch.zeros((len(samples), n), dtype=torch.long)
    for i, (a, b) in enumerate(samples):
        ids[i, : len(a)] = torch.from_numpy(a)
        labels[i, : len(b)] = torch.from_numpy(b)
        att[i, : len(a)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": att}


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default
