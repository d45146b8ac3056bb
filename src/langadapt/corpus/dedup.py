"""dedup: exact (normalised-text hash) and near-duplicate (MinHash LSH) removal, one kept per cluster.

    langadapt dedup                        # data/filtered -> data/clean (params: dedup, language)
    run_dedup(cfg, rank=0, world_size=1)   # ranks compute signatures per shard; the last one clusters
    langadapt dedup -s corpus.executor=ray # the same, every step as Ray tasks (docs/corpus.md)

The stage: signatures per shard (ranks) -> exact groups by hash partition -> LSH buckets by band ->
clusters -> per-shard filter (``global_dedup``; each step's parts run through a ``mapper``: in process,
or as Ray tasks), so no step holds every signature in memory.

``MinHashDeduplicator`` is vectorised end to end:
- shingles (character n-grams of the normalised text, or word n-grams by the language's segmenter) are
  hashed with a rolling polynomial over code points / word hashes in numpy, then mixed to 32 bits;
- the ``num_perm`` permutations are one matrix op per batch of documents, ``h_i(x) = (a_i x + b_i) mod
  2^32`` over uint32 (vectorises natively; the inputs are already mixed hashes), min-reduced per document
  with ``np.minimum.reduceat``;
- LSH: each band's ``rows`` values are hashed to one key; sorting the keys puts each bucket together, and
  every bucket member is paired with its bucket's first member and its neighbour (``_bucket_pairs``);
- candidate pairs are verified (signature agreement = estimated Jaccard >= ``threshold``), and
  connected components (scipy) of the verified pairs are the clusters.

Kept per cluster: the longest text (``keep: longest``) or the smallest id, ties by id: the same
document on every rerun. Exclusions name the kept duplicate (``details.kept``) and the estimate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from langadapt.corpus.shards import ShardTask, local_map, merge_stats, run_shards
from langadapt.io import jsonl_files, write_json, write_jsonl
from langadapt.records import ExclusionWriter, read_documents

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_BATCH_SHINGLES = 1 << 14  # shingles per matrix op: 16k x 128 permutations x 4 bytes = 8 MB


@functools.cache
def _kept_chars() -> np.ndarray:
    """code point -> kept by the dedup normalisation: letters and digits (``str.isalnum``), the Thai
    and Tibetan blocks (their marks are parts of letters), combining accents; spaces, punctuation,
    symbols and emoji are dropped (they do not make two texts different)."""
    keep = np.zeros(0x110000, dtype=bool)
    keep[:0x10000] = [chr(c).isalnum() for c in range(0x10000)]
    keep[0x0E00:0x0E80] = keep[0x0F00:0x1000] = keep[0x0300:0x0370] = True
    keep[0x20000:0x323B0] = True  # Han extensions B-H
    keep[0xD800:0xE000] = False  # lone surrogates
    return keep


def _dedup_codes(text: str) -> np.ndarray:
    codes = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return codes[_kept_chars()[codes]]


def normalize_for_dedup(text: str) -> str:
    """Lower-cased, spaces, punctuation and symbols removed: the text both dedup kinds compare."""
    return _dedup_codes(text).tobytes().decode("utf-32-le")


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all bits (in place on a copy)."""
    x = x.copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _rolling(values: np.ndarray, n: int) -> np.ndarray:
    m = len(values) - n + 1
    if m <= 0:  # shorter than one shingle: the whole text is the shingle
        n, m = len(values), 1
    key = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            key = key * np.uint64(0x100000001B3) + values[k : k + m] + np.uint64(1)
    return key


class MinHashDeduplicator:
    """MinHash LSH near-duplicate detection (see module docstring)."""

    def __init__(
        self,
        *,
        num_perm: int = 128,
        bands: int = 20,
        rows: int = 6,
        threshold: float = 0.75,
        ngram: int = 5,
        shingle: str = "char",
        lang: str = "th",
        seed: int = 1234,
    ):
        if bands * rows > num_perm:
            raise ValueError(f"dedup.bands x dedup.rows = {bands * rows} exceeds dedup.num_perm = {num_perm}")
        if shingle not in ("char", "word"):
            raise ValueError(f"dedup.shingle must be char or word, not {shingle!r}")
        self.num_perm, self.bands, self.rows, self.threshold = num_perm, bands, rows, threshold
        self.ngram, self.shingle, self.lang = ngram, shingle, lang
        rng = np.random.default_rng(seed)
        # Permutation i of the 32-bit shingle hashes: x -> (a_i x + b_i) mod 2^32, a_i odd (a bijection).
        # The inputs are already well-mixed hashes, so this cheap family estimates Jaccard as well as
        # a Mersenne-prime one (checked against exact Jaccard in tests), at a fraction of the cost.
        self.a = (rng.integers(0, 2**32, size=num_perm, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)
        self.b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)

    # -- signatures ------------------------------------------------------------------------------

    def shingle_hashes(self, text: str) -> np.ndarray:
        """uint32 hashes of the text's shingles; at least one per text."""
        if self.shingle == "char":
            values = _dedup_codes(text).astype(np.uint64)
        else:
            import xxhash

            from langadapt.text import words

            values = np.fromiter(
                (xxhash.xxh64_intdigest(w.lower().encode("utf-8")) for w in words(text, self.lang)),
                dtype=np.uint64,
            )
        if len(values) == 0:
            values = np.zeros(1, dtype=np.uint64)
        return (_mix64(_rolling(values, self.ngram)) >> np.uint64(32)).astype(np.uint32)

    def signatures(self, texts) -> np.ndarray:
        """``[len(texts), num_perm]`` uint32 MinHash signatures, computed in batches of documents."""
        texts = list(texts)
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        buf = np.empty((self.num_perm, _BATCH_SHINGLES), dtype=np.uint32)
        batch: list[np.ndarray] = []
        start = size = 0
        for i, t in enumerate(texts):
            h = self.shingle_hashes(t)
            if len(h) > _BATCH_SHINGLES:  # one long document: chunked on its own
                if batch:
                    out[start:i] = self._minhash(batch, buf)
                out[i] = self._minhash_long(h, buf)
                start, batch, size = i + 1, [], 0
                continue
            if size + len(h) > _BATCH_SHINGLES:
                out[start:i] = self._minhash(batch, buf)
                start, batch, size = i, [], 0
            batch.append(h)
            size += len(h)
        if batch:
            out[start:] = self._minhash(batch, buf)
        return out

    def _permute(self, x: np.ndarray, buf: np.ndarray) -> np.ndarray:
        """``[num_perm, len(x)]``: ``(a_i * x + b_i) mod 2^32`` for every permutation, in ``buf``."""
        v = buf[:, : len(x)]
        np.multiply(self.a[:, None], x[None, :], out=v)
        v += self.b[:, None]
        return v

    def _minhash(self, hashes: list[np.ndarray], buf: np.ndarray) -> np.ndarray:
        offsets = np.zeros(len(hashes), dtype=np.int64)
        np.cumsum([len(h) for h in hashes[:-1]], out=offsets[1:])
        v = self._permute(np.concatenate(hashes), buf)
        return np.minimum.reduceat(v, offsets, axis=1).T

    def _minhash_long(self, h: np.ndarray, buf: np.ndarray) -> np.ndarray:
        m = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
        for c in range(0, len(h), _BATCH_SHINGLES):
            np.minimum(m, self._permute(h[c : c + _BATCH_SHINGLES], buf).min(axis=1), out=m)
        return m

    # -- LSH and clustering ----------------------------------------------------------------------

    def candidate_pairs(self, sigs: np.ndarray) -> np.ndarray:
        """``[k, 2]`` index pairs (i < j) sharing at least one LSH band bucket."""
        n = len(sigs)
        if n < 2:
            return np.zeros((0, 2), dtype=np.int64)
        pairs = []
        idx = np.arange(n)
        for b in range(self.bands):
            band = sigs[:, b * self.rows : (b + 1) * self.rows].astype(np.uint64)
            key = _rolling_rows(band)
            order = np.argsort(key, kind="stable")
            k = key[order]
            same = np.flatnonzero(k[1:] == k[:-1]) + 1  # positions equal to their predecessor
            if len(same) == 0:
                continue
            is_start = np.ones(n, dtype=bool)
            is_start[same] = False
            first = np.maximum.accumulate(np.where(is_start, idx, 0))
            pairs.append(np.stack([order[first[same]], order[same]], axis=1))
            pairs.append(np.stack([order[same - 1], order[same]], axis=1))
        if not pairs:
            return np.zeros((0, 2), dtype=np.int64)
        p = np.concatenate(pairs)
        p = np.sort(p, axis=1)
        p = p[p[:, 0] != p[:, 1]]
        return np.unique(p, axis=0)

    def clusters(self, sigs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels, pairs, agreement)``: a cluster label per document, the verified pairs and their
        estimated Jaccard."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(sigs)
        pairs = self.candidate_pairs(sigs)
        agree = np.zeros(len(pairs))
        for s in range(0, len(pairs), 65536):  # bounded memory for the comparison
            p = pairs[s : s + 65536]
            agree[s : s + 65536] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
        ok = agree >= self.threshold
        pairs, agree = pairs[ok], agree[ok]
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        return labels, pairs, agree


def representatives(
    labels: np.ndarray, ids: list[str], lengths: np.ndarray, keep: str = "longest"
) -> np.ndarray:
    """Index of the kept document of each document's cluster: longest (or smallest id), ties by id."""
    id_rank = np.empty(len(ids), dtype=np.int64)
    id_rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    primary = (
        -np.asarray(lengths, dtype=np.int64) if keep == "longest" else np.zeros(len(ids), dtype=np.int64)
    )
    order = np.lexsort((id_rank, primary, labels))  # by label, then primary, then id
    first_of_label = {}
    for i in order:
        first_of_label.setdefault(int(labels[i]), int(i))
    return np.array([first_of_label[int(lab)] for lab in labels], dtype=np.int64)


def _rolling_rows(band: np.ndarray) -> np.ndarray:
    key = np.zeros(len(band), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in range(band.shape[1]):
            key = key * np.uint64(0x100000001B3) + band[:, c] + np.uint64(1)
    return key


# ---------------------------------------------------------------------------------------------------
# The stage


def _exact_key(text: str) -> int:
    import xxhash

    return xxhash.xxh3_64_intdigest(_dedup_codes(text).tobytes())


def signature_shard(task: ShardTask, out_dir: Path, mh: MinHashDeduplicator) -> dict[str, Any]:
    """Per-shard step: ids, lengths, exact hashes (``shard-XXXXX.minhash.npz``) and MinHash signatures
    (``shard-XXXXX.sigs.npy``, read memory-mapped by the later steps)."""
    t0 = time.perf_counter()
    docs = list(read_documents(task.inputs[0]))
    texts = [d.text for d in docs]
    sigs = mh.signatures(texts) if docs else np.zeros((0, mh.num_perm), dtype=np.uint32)
    exact = np.array([_exact_key(t) for t in texts], dtype=np.uint64)
    _save(out_dir / f"{task.name}.sigs.npy", sigs)
    _save(
        out_dir / f"{task.name}.minhash.npz",
        ids=np.array([d.id for d in docs], dtype=str),
        lengths=np.array([len(t) for t in texts], dtype=np.int64),
        exact=exact,
    )
    return {"docs_in": len(docs), "signature_seconds": round(time.perf_counter() - t0, 3)}


def _save(path: Path, arr: np.ndarray | None = None, **arrays: np.ndarray) -> None:
    """``np.save`` (one array) or ``np.savez`` (named arrays), atomically."""
    tmp = path.parent / f".{path.name}.tmp{path.suffix}"
    if arr is not None:
        np.save(tmp, arr)
    else:
        np.savez(tmp, **arrays)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------
# The global steps, partitioned so that no step holds every signature (nor every id) in memory:
#   exact:  documents grouped by hash partition (hash % dedup.exact_partitions), one task each;
#   bands:  one task per LSH band: the band's keys of every live document -> buckets -> candidate pairs,
#           verified on the full signatures (memory-mapped, gathered per pair);
#   clusters: connected components of the verified pairs (only documents in a pair take part);
#   write:  one task per shard: its documents minus its drops.
# ``mapper(fn, args_list)`` runs a step's parts: in process (``local_map``) or as Ray tasks
# (``RayMapper``); every part writes its own file atomically and is skipped when that file exists.


class _Shards:
    """The per-shard files of the signature step, addressed by global document index."""

    def __init__(self, staging: Path, names: list[str]):
        self.staging, self.names = staging, names
        counts = [len(np.load(staging / f"{n}.minhash.npz")["lengths"]) for n in names]
        self.offsets = np.zeros(len(names) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.offsets[1:])
        self._sigs: dict[int, np.ndarray] = {}

    @property
    def n(self) -> int:
        return int(self.offsets[-1])

    def meta(self, s: int):
        return np.load(self.staging / f"{self.names[s]}.minhash.npz")

    def sigs(self, s: int) -> np.ndarray:
        if s not in self._sigs:
            self._sigs[s] = np.load(self.staging / f"{self.names[s]}.sigs.npy", mmap_mode="r")
        return self._sigs[s]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Signature rows of global indices ``idx`` (any order), gathered shard by shard."""
        out = np.empty((len(idx), self.sigs(0).shape[1]), dtype=np.uint32)
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            out[sel] = self.sigs(int(s))[idx[sel] - self.offsets[s]]
        return out

    def ids_lengths(self, idx: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(ids, lengths) of sorted global indices ``idx``."""
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        ids: list[str] = []
        lengths = np.empty(len(idx), dtype=np.int64)
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            m = self.meta(int(s))
            local = idx[sel] - self.offsets[s]
            ids += [str(x) for x in m["ids"][local]]
            lengths[sel] = m["lengths"][local]
        return ids, lengths


def exact_partition(staging: Path, names: list[str], work: Path, q: int, parts: int, keep: str) -> int:
    """Exact duplicates among the documents whose normalised-text hash is ``q`` mod ``parts``: writes
    ``exact-<q>.npz`` (dropped global index, kept id). Returns the number dropped."""
    out = work / f"exact-{q:04d}.npz"
    if not out.exists():
        sh = _Shards(staging, names)
        idx, ids, lengths, keys = [], [], [], []
        for s in range(len(names)):
            m = sh.meta(s)
            sel = np.flatnonzero(m["exact"] % np.uint64(parts) == np.uint64(q))
            idx.append(sel + sh.offsets[s])
            ids += [str(x) for x in m["ids"][sel]]
            lengths.append(m["lengths"][sel])
            keys.append(m["exact"][sel])
        gidx = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)
        drop, kept = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str)
        if len(gidx):
            _, labels = np.unique(np.concatenate(keys), return_inverse=True)
            rep = representatives(labels, ids, np.concatenate(lengths), keep)
            d = np.flatnonzero(rep != np.arange(len(gidx)))
            drop, kept = gidx[d], np.array([ids[r] for r in rep[d]], dtype=str)
        _save(out, drop=drop, kept=kept)
    return len(np.load(out)["drop"])


def band_pairs(staging: Path, names: list[str], work: Path, band: int, mh: MinHashDeduplicator) -> int:
    """Candidate pairs of one LSH band among the live documents (``alive.npy``), verified on the full
    signatures: writes ``pairs-<band>.npy`` (``[k, 2]`` global indices, i < j). Returns k."""
    out = work / f"pairs-{band:04d}.npy"
    if not out.exists():
        sh = _Shards(staging, names)
        alive = np.load(work / "alive.npy", mmap_mode="r")
        r0, r1 = band * mh.rows, (band + 1) * mh.rows
        live, keys = [], []
        for s in range(len(names)):
            a = np.flatnonzero(alive[sh.offsets[s] : sh.offsets[s + 1]])
            live.append(a + sh.offsets[s])
            keys.append(_rolling_rows(np.asarray(sh.sigs(s)[a, r0:r1], dtype=np.uint64)))
        live_idx = np.concatenate(live)
        pairs = live_idx[_bucket_pairs(np.concatenate(keys))]
        agree = np.zeros(len(pairs))
        for c in range(0, len(pairs), 65536):  # bounded memory for the comparison
            p = pairs[c : c + 65536]
            agree[c : c + 65536] = (sh.rows(p[:, 0]) == sh.rows(p[:, 1])).mean(axis=1)
        _save(out, pairs[agree >= mh.threshold])
    return len(np.load(out, mmap_mode="r"))


def write_shard(staging: Path, names: list[str], work: Path, s: int) -> dict[str, int]:
    """One output shard: its documents minus its drops (``drops-<s>.npz``), exclusions naming the kept
    duplicate. Returns its counts."""
    name = names[s]
    done = work / f"written-{s:05d}.json"
    if done.exists():
        return json.loads(done.read_text())
    d = np.load(work / f"drops-{s:05d}.npz")
    reasons = {int(i): (str(r), str(k), float(e)) for i, r, k, e in zip(d["local"], d["reason"], d["kept"],
                                                                      d["estimate"], strict=True)}
    inputs = json.loads((work / "inputs.json").read_text())
    kept = []
    with ExclusionWriter(staging / f"{name}.excluded.jsonl") as excl:
        for j, doc in enumerate(read_documents(inputs[s])):
            if j in reasons:
                reason, kept_id, est = reasons[j]
                details: dict[str, Any] = {"kept": kept_id}
                if reason == "dedup:near":
                    details["jaccard_estimate"] = round(est, 4)
                excl.drop(doc, reason, **details)
            else:
                kept.append(doc)
    write_jsonl(staging / f"{name}.jsonl", kept)
    counts = {"docs_out": len(kept), **{k: v for k, v in excl.counts.items()}}
    write_json(done, counts)
    return counts


def _bucket_pairs(key: np.ndarray) -> np.ndarray:
    """``[k, 2]`` positions (i < j) sharing a bucket ``key``: each member with its bucket's first member
    and with its neighbour in the sorted order (enough to connect the bucket)."""
    n = len(key)
    order = np.argsort(key, kind="stable")
    k = key[order]
    same = np.flatnonzero(k[1:] == k[:-1]) + 1  # positions equal to their predecessor
    if len(same) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    is_start = np.ones(n, dtype=bool)
    is_start[same] = False
    first = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
    p = np.concatenate([np.stack([order[first[same]], order[same]], axis=1),
                        np.stack([order[same - 1], order[same]], axis=1)])
    p = np.sort(p, axis=1)
    return np.unique(p[p[:, 0] != p[:, 1]], axis=0)


def global_dedup(staging: Path, tasks: list[ShardTask], p, mh: MinHashDeduplicator, mapper, key: str) -> dict[str, Any]:
    """The global step over every shard's signatures (see above); ``key`` names this input set, so a
    relaunch reuses the parts finished for the same inputs and params."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t0 = time.perf_counter()
    work = staging / "dedup-global"
    stale = work.exists() and (not (work / "key").exists() or (work / "key").read_text() != key)
    if stale:  # parts of another input set or params
        shutil.rmtree(work)
    work.mkdir(exist_ok=True)
    (work / "key").write_text(key)
    names = [t.name for t in tasks]
    write_json(work / "inputs.json", [t.inputs[0] for t in tasks])
    sh = _Shards(staging, names)
    n = sh.n
    drop_idx, drop_reason, drop_kept = [], [], []
    alive = np.ones(n, dtype=bool)
    if p.exact and n:
        parts = max(1, p.exact_partitions)
        mapper(exact_partition, [(staging, names, work, q, parts, p.keep) for q in range(parts)])
        for q in range(parts):
            e = np.load(work / f"exact-{q:04d}.npz")
            alive[e["drop"]] = False
            drop_idx.append(e["drop"])
            drop_reason += ["dedup:exact"] * len(e["drop"])
            drop_kept += [str(x) for x in e["kept"]]
    _save(work / "alive.npy", alive)
    n_clusters = largest = n_pairs = 0
    n_live = int(alive.sum())
    if p.near and n_live > 1:
        mapper(band_pairs, [(staging, names, work, b, mh) for b in range(mh.bands)])
        pairs = np.concatenate([np.load(work / f"pairs-{b:04d}.npy") for b in range(mh.bands)])
        pairs = np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), dtype=np.int64)
        n_pairs = len(pairs)
        largest = 1
        if n_pairs:
            nodes, local = np.unique(pairs, return_inverse=True)  # only documents in a pair
            local = local.reshape(-1, 2)
            m = len(nodes)
            graph = coo_matrix((np.ones(n_pairs), (local[:, 0], local[:, 1])), shape=(m, m))
            _, labels = connected_components(graph, directed=False)
            ids, lengths = sh.ids_lengths(nodes)
            rep = representatives(labels, ids, lengths, p.keep)
            counts = np.bincount(labels)
            n_clusters, largest = int((counts > 1).sum()), int(counts.max())
            d = np.flatnonzero(rep != np.arange(m))
            drop_idx.append(nodes[d])
            drop_reason += ["dedup:near"] * len(d)
            drop_kept += [ids[r] for r in rep[d]]
            near_pairs = np.stack([nodes[d], nodes[rep[d]]], axis=1)
        else:
            near_pairs = np.zeros((0, 2), dtype=np.int64)
    else:
        near_pairs = np.zeros((0, 2), dtype=np.int64)
    # Per-shard drop lists (the estimate of a near drop: its agreement with the kept document).
    didx = np.concatenate(drop_idx) if drop_idx else np.zeros(0, dtype=np.int64)
    dreason = np.array(drop_reason, dtype=str)
    dkept = np.array(drop_kept, dtype=str)
    est = np.zeros(len(didx))
    n_exact = len(didx) - len(near_pairs)
    for c in range(0, len(near_pairs), 65536):
        q = near_pairs[c : c + 65536]
        est[n_exact + c : n_exact + c + len(q)] = (sh.rows(q[:, 0]) == sh.rows(q[:, 1])).mean(axis=1)
    shard_of = np.searchsorted(sh.offsets, didx, side="right") - 1
    for s in range(len(names)):
        sel = np.flatnonzero(shard_of == s)
        _save(work / f"drops-{s:05d}.npz", local=didx[sel] - sh.offsets[s], reason=dreason[sel],
              kept=dkept[sel], estimate=est[sel])
    written = mapper(write_shard, [(staging, names, work, s) for s in range(len(names))])
    dropped: dict[str, int] = {}
    for w in written:
        for k, v in w.items():
            if k.startswith("dedup:"):
                dropped[k] = dropped.get(k, 0) + v
    for name in names:
        for suffix in (".minhash.npz", ".sigs.npy"):
            (staging / f"{name}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(work)
    return {
        "docs_out": sum(w["docs_out"] for w in written),
        "dropped": dict(sorted(dropped.items())),
        "near_duplicate_clusters": n_clusters,
        "largest_cluster": largest,
        "verified_pairs": n_pairs,
        "cluster_seconds": round(time.perf_counter() - t0, 3),
    }


def run_dedup(cfg, rank: int = 0, world_size: int = 1, *, finalize: bool = True, mapper=None) -> dict[str, Any]:
    """Signatures for this rank's shards; the rank that completes the set runs the global steps (through
    ``mapper``: in process by default, Ray tasks under the Ray executor) and writes the output and
    ``metrics/dedup.json``."""
    p = cfg.dedup
    lang = cfg.language.code
    from langadapt.errors import ConfigError

    if p.bands * p.rows > p.num_perm:
        raise ConfigError(
            f"dedup.bands x dedup.rows = {p.bands * p.rows} exceeds dedup.num_perm = {p.num_perm}"
        )
    tasks = [ShardTask(i, (str(f),)) for i, f in enumerate(jsonl_files(cfg.paths.filtered))]
    mh = MinHashDeduplicator(
        num_perm=p.num_perm,
        bands=p.bands,
        rows=p.rows,
        threshold=p.threshold,
        ngram=p.ngram,
        shingle=p.shingle,
        lang=lang,
        seed=cfg.seed,
    )
    params = {"lang": lang, "seed": cfg.seed, **p.model_dump(exclude={"workers", "exact_partitions"})}
    global_stats: dict[str, Any] = {}

    def on_complete(staging: Path, shard_stats: list[dict[str, Any]]) -> None:
        key = hashlib.blake2b("".join(sorted(s["fingerprint"] for s in shard_stats)).encode(),
                              digest_size=12).hexdigest()
        global_stats.update(global_dedup(staging, tasks, p, mh, mapper or local_map, key))

    run = run_shards(
        tasks,
        cfg.paths.clean,
        lambda t, out: signature_shard(t, out, mh),
        params,
        rank=rank,
        world_size=world_size,
        on_complete=on_complete,
        finalize=finalize,
    )
    result: dict[str, Any] = {"complete": run.complete, "processed": run.processed, "skipped": run.skipped}
    if run.complete:
        merged = merge_stats(run.shard_stats)
        metrics = {
            "stage": "dedup",
            "lang": lang,
            "shards": len(tasks),
            "docs_in": merged.get("docs_in", 0),
            **global_stats,
            "signature_seconds": merged.get("signature_seconds", 0.0),
        }
        if global_stats:
            write_json(Path(cfg.paths.metrics) / "dedup.json", metrics)
        result["metrics"] = metrics
    return result
