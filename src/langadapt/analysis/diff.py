"""What CPT and SFT changed, tensor by tensor: norms, cosines and the spectrum of each update dW.

    from langadapt.analysis.diff import SpectrumOptions, diff_checkpoints
    opts = SpectrumOptions.from_params(cfg.diff, cfg.seed)
    result = diff_checkpoints({"base": "models/base", "cpt": "models/cpt", "sft": "models/sft"}, opts)

For every tensor and every stage pair (base->cpt, cpt->sft, base->sft; or the one pair of two checkpoints):

- ``dw_norm`` ||dW||_F, ``rel_change`` ||dW|| / ||W_before||, ``cosine`` cos(W_before, W_after);
- for matrices, the spectrum of dW: ``stable_rank`` ||dW||_F^2 / sigma_max^2 and ``top_r_energy``, the share
  of ||dW||_F^2 in the top-r singular values (how much of the update a rank-r LoRA could hold): exact when
  min(rows, cols) <= ``svd_max_dim`` (eigenvalues of the Gram matrix dW^T dW, accumulated slab by slab in
  float64; the same singular values svdvals gives), a randomized SVD (Halko et al., the algorithm of
  ``torch.svd_lowrank``, with ``svd_niter`` power iterations) above;
- ``stage_cosine``: cos(dW_cpt, dW_sft), do the two stages push the same directions?

A tensor is read in slabs of about ``chunk_mb`` float32 MB along its long axis, all checkpoints at once,
and every statistic is a sum over slabs. Only the randomized SVD needs several passes: a dW of at most
``hold_mb`` is built whole for them (one stage pair at a time), a larger one is re-read slab by slab.
Peak memory is therefore about one tensor (at most ``hold_mb``) plus a few slabs, whatever the model size.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langadapt.analysis.checkpoint import Alignment, Checkpoint, TensorPlan, align, open_checkpoint
from langadapt.errors import ModelError

KINDS = ("embed", "q", "k", "v", "o", "gate", "up", "down", "norm", "lm_head", "other")
STAGES = ("base", "cpt", "sft")
OVERSAMPLE = 10  # extra columns of the randomized range finder (as torch.svd_lowrank's q - k)

# module name (last component before .weight/.bias) -> kind; Qwen/Llama/Gemma/Mistral, GPT-2/NeoX, Meta
_KIND_BY_MODULE = {
    "embed_tokens": "embed", "wte": "embed", "word_embeddings": "embed", "tok_embeddings": "embed",
    "embed_in": "embed",
    "lm_head": "lm_head", "embed_out": "lm_head",
    "q_proj": "q", "wq": "q", "query": "q",
    "k_proj": "k", "wk": "k", "key": "k",
    "v_proj": "v", "wv": "v", "value": "v",
    "o_proj": "o", "wo": "o", "out_proj": "o",
    "gate_proj": "gate", "w1": "gate",
    "up_proj": "up", "w3": "up", "fc1": "up", "c_fc": "up", "fc_in": "up", "dense_h_to_4h": "up",
    "down_proj": "down", "w2": "down", "fc2": "down", "fc_out": "down", "dense_4h_to_h": "down",
}
_ATTN_PARENT = re.compile(r"attn|attention", re.IGNORECASE)
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\.")
# the fallback for other naming schemes: a keyword anywhere in the module path
_FALLBACK = [
    ("norm", re.compile(r"norm|(^|[._])ln(_|\d|$|\.)")),
    ("embed", re.compile(r"embed")),
    ("gate", re.compile(r"gate")),
    ("up", re.compile(r"(^|[._])up|fc_?1|in_proj")),
    ("down", re.compile(r"down|fc_?2")),
    ("q", re.compile(r"(^|[._])q($|[._])|query")),
    ("k", re.compile(r"(^|[._])k($|[._])|key")),
    ("v", re.compile(r"(^|[._])v($|[._])|value")),
    ("o", re.compile(r"(^|[._])o($|[._])|out")),
]


def layer_and_kind(name: str) -> tuple[int | None, str]:
    """``layers.3.mlp.up_proj.weight`` -> (3, "up"); ``embed_tokens.weight`` -> (None, "embed")."""
    m = _LAYER_RE.search(name)
    layer = int(m.group(1)) if m else None
    parts = name.split(".")
    module = parts[-2] if len(parts) >= 2 and parts[-1] in ("weight", "bias", "scale") else parts[-1]
    parent = parts[-3] if len(parts) >= 3 else ""
    kind = _KIND_BY_MODULE.get(module)
    if kind is None and module == "output" and layer is None:
        kind = "lm_head"
    if kind is None and module in ("c_proj", "dense"):
        kind = "o" if _ATTN_PARENT.search(parent) else "down"
    if kind is None and module in ("c_attn", "qkv_proj", "query_key_value", "gate_up_proj"):
        kind = "other"  # fused projections: not one of q/k/v or gate/up
    if kind is None:
        path = ".".join(parts[:-1]) if len(parts) > 1 else name
        kind = next((k for k, rx in _FALLBACK if rx.search(path)), "other")
    return layer, kind


def stage_pairs(labels: list[str]) -> list[tuple[str, str]]:
    """Consecutive stages, plus first->last when there are three: base->cpt, cpt->sft, base->sft."""
    pairs = list(itertools.pairwise(labels))
    if len(labels) == 3:
        pairs.append((labels[0], labels[2]))
    return pairs


def pair_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}->{pair[1]}"


# ---------------------------------------------------------------------------------------------------
# One tensor


@dataclass
class SpectrumOptions:
    top_r: int = 8
    svd_max_dim: int = 512
    svd_niter: int = 2
    chunk_mb: float = 32.0
    hold_mb: float = 1024.0
    seed: int = 0

    @classmethod
    def from_params(cls, p: Any, seed: int) -> SpectrumOptions:
        return cls(top_r=p.top_r, svd_max_dim=p.svd_max_dim, svd_niter=p.svd_niter, chunk_mb=p.chunk_mb,
                   hold_mb=p.hold_mb, seed=seed)


class _Slabs:
    """Slabs of one tensor in every checkpoint, in its tall orientation (long axis first, float32).

    A matrix with fewer rows than columns is read in column slabs and transposed: the singular values
    are the same, and the Gram matrix is min(rows, cols) square. Small tensors are read once and kept.
    Slabs are read into buffers reused from slab to slab (one per checkpoint): a fresh slab-sized
    allocation is its own mmap (``return_big_blocks_to_os``) and page-faults on every use; a slab is
    therefore only valid until the next one is read.
    """

    def __init__(self, plan: TensorPlan, cks: dict[str, Checkpoint], chunk_elems: int):
        self.plan, self.cks = plan, cks
        shape = plan.shape
        self.matrix = len(shape) == 2 and min(shape) > 1
        if self.matrix:
            self.tall = shape[0] >= shape[1]
            self.long, self.short = (shape[0], shape[1]) if self.tall else (shape[1], shape[0])
        else:
            self.tall, self.long, self.short = True, math.prod(shape) if shape else 1, 1
        self.step = max(1, chunk_elems // max(1, self.short))
        self.slab_elems = min(self.step, self.long) * self.short
        self._cache: list[dict[str, Any]] | None = None
        self._bufs: list[Any] = []

    @property
    def n_slabs(self) -> int:
        return math.ceil(self.long / self.step)

    def _buf(self, k: int, shape: tuple[int, int]):
        import torch

        while len(self._bufs) <= k:
            self._bufs.append(torch.empty(self.slab_elems))
        return self._bufs[k][: shape[0] * shape[1]].view(shape)

    def _read(self, lab: str, i: int, j: int, k: int):
        """Slab [i, j) of checkpoint ``lab`` into buffer ``k``."""
        ck, p = self.cks[lab], self.plan
        if not self.matrix:
            return ck.read(p.name).reshape(-1, 1)
        shared_rows = (0, p.shape[0]) if p.vocab_resized else None
        if self.tall:
            return ck.read(p.name, rows=(i, j), out=self._buf(k, (j - i, self.short)))
        return ck.read(p.name, rows=shared_rows, cols=(i, j), out=self._buf(k, (self.short, j - i))).T

    def whole_diff(self, pair: tuple[str, str], out=None):
        """dW of one stage pair as one float32 matrix (tall orientation), filled slab by slab (into ``out``,
        a long x short float32 matrix, when given: the pairs of a tensor reuse one)."""
        import torch

        if self._cache is not None:  # a one-slab tensor, already in memory
            slab = self._cache[0]
            return slab[pair[1]] - slab[pair[0]]
        del self._bufs[2:]  # two slabs at a time here
        d = torch.empty(self.long, self.short) if out is None else out
        for i in range(0, self.long, self.step):
            j = min(self.long, i + self.step)
            torch.sub(self._read(pair[1], i, j, 0), self._read(pair[0], i, j, 1), out=d[i:j])
        return d

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._cache is not None:
            yield from self._cache
            return
        keep = self.n_slabs == 1
        for i in range(0, self.long, self.step):
            j = min(self.long, i + self.step)
            slab = {lab: self._read(lab, i, j, k) for k, lab in enumerate(self.cks)}
            if keep:
                self._cache = [slab]
            yield slab


def _dot(x, y, scratch=None) -> float:
    """<x, y>: float32 products, torch's cascade summation (relative error ~4e-8 measured on 8M elements;
    BLAS sdot, a running float32 sum, was off by 2e-6, and widening to float64 cost 3x the time).

    ``scratch``: a flat float32 buffer of at least x.numel() elements for the products (the same values
    and summation as without; no fresh allocation: a slab-sized one page-faults on every call, which
    made this 3x slower on 32 MB slabs).
    """
    if scratch is None:
        return float((x * y).sum())
    import torch

    return float(torch.mul(x, y, out=_like(scratch, x)).sum())


def _like(buf, t):
    """A view of the flat buffer ``buf`` with ``t``'s shape and strides (t: contiguous, or the transpose of a
    contiguous matrix, as slabs are), so that ops writing there lay out and reduce as on a fresh tensor."""
    flat = buf[: t.numel()]
    return flat.view(t.shape) if t.is_contiguous() else flat.view(t.T.shape).T


def return_big_blocks_to_os(nbytes: int) -> bool:
    """glibc: serve allocations of >= ``nbytes`` (a slab) from their own mmap, returned on free.

    By default glibc raises its mmap threshold after the first big free and then carves slabs out of the
    heap, which fragments: measured on the ~0.5B benchmark, peak RSS 2.2 GB with the default, 1.07 GB
    with slabs mmapped (same speed). A no-op elsewhere. Returns whether it was applied.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, max(128 * 1024, min(nbytes, 32 * 2**20))))
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def small_factorizations():
    """Run the spectrum work (skinny matmuls with k = top_r + 10 columns, QR, svdvals, eigvalsh) on one thread.

    It does not speed up with threads, and on a busy machine OpenMP threads waiting for each other made
    eigvalsh of a 256x256 matrix 17x slower (0.37 s vs 0.022 s) and QR of a 3072x18 matrix 30x slower,
    measured on 2 shared cores. Nested use keeps one thread.
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def diff_tensor(plan: TensorPlan, cks: dict[str, Checkpoint], opts: SpectrumOptions) -> dict[str, Any]:
    """Every statistic of one tensor for every stage pair, reading each checkpoint slab by slab."""
    import torch

    labels = list(cks)
    pairs = stage_pairs(labels)
    slabs = _Slabs(plan, cks, int(opts.chunk_mb * 2**20 / 4))
    n = slabs.short
    spectral = slabs.matrix
    exact = spectral and n <= opts.svd_max_dim
    k = min(n, opts.top_r + OVERSAMPLE)
    acc = {p: {"w_sq": 0.0, "w2_sq": 0.0, "dot": 0.0, "d_sq": 0.0} for p in pairs}
    cross = 0.0  # <dW_pair0, dW_pair1>: the stage cosine
    gram = {p: torch.zeros(n, n, dtype=torch.float64) for p in pairs} if exact else {}
    y_parts: dict[tuple[str, str], list[Any]] = {p: [] for p in pairs}
    omega = None
    if spectral and not exact:
        g = torch.Generator().manual_seed(opts.seed ^ zlib.crc32(plan.name.encode()))
        omega = torch.randn(n, k, generator=g)

    scratch = torch.empty(slabs.slab_elems)  # products and dW slabs: buffers reused from slab to slab
    d_bufs = {p: torch.empty(slabs.slab_elems) for p in pairs}
    for slab in slabs:
        ds = {}
        sq = {lab: _dot(t, t, scratch) for lab, t in slab.items()}  # once per checkpoint, shared by the pairs
        for p in pairs:
            a, b = slab[p[0]], slab[p[1]]
            d = torch.sub(b, a, out=_like(d_bufs[p], a))
            ds[p] = d
            s = acc[p]
            s["w_sq"] += sq[p[0]]
            s["w2_sq"] += sq[p[1]]
            s["dot"] += _dot(a, b, scratch)
            s["d_sq"] += _dot(d, d, scratch)
            if exact:
                with small_factorizations():
                    gram[p] += (d.T @ d).double()
            elif omega is not None:
                with small_factorizations():
                    y_parts[p].append(d @ omega)
        if len(pairs) == 3:
            cross += _dot(ds[pairs[0]], ds[pairs[1]], scratch)
        del ds
    # the last slab's views hold their buffers: free them before a whole dW is built below
    del scratch, d_bufs, slab, a, b, d

    spectra: dict[tuple[str, str], tuple[Any, str] | None] = {p: None for p in pairs}
    if exact:
        with small_factorizations():
            for p in pairs:
                ev = torch.linalg.eigvalsh(gram[p]).clamp(min=0).flip(0)  # sigma^2, largest first
                spectra[p] = (ev, "exact")
        gram.clear()
    elif omega is not None:
        hold = int(opts.hold_mb * 2**20 / 4)
        with small_factorizations():
            for p, ev in _randomized_sigma_sq(slabs, pairs, y_parts, opts.svd_niter, hold).items():
                spectra[p] = (ev, "randomized")

    out: dict[str, Any] = {}
    for p in pairs:
        rec = _pair_record(acc[p], spectra[p], opts.top_r)
        if plan.vocab_resized:
            rec["new_rows"] = _new_rows(plan, cks, p, acc[p], opts)
        out[pair_name(p)] = rec
    stage_cos = None
    if len(pairs) == 3:
        d0, d1 = acc[pairs[0]]["d_sq"], acc[pairs[1]]["d_sq"]
        stage_cos = cross / math.sqrt(d0 * d1) if d0 > 0 and d1 > 0 else None
    return {"pairs": out, "stage_cosine": stage_cos, "cross_dot": cross}


def _pair_record(s: dict[str, float], spectrum: tuple[Any, str] | None, top_r: int) -> dict[str, Any]:
    """One stage pair's statistics from its accumulated sums and (if a matrix) its dW spectrum."""
    w, w2, d = math.sqrt(s["w_sq"]), math.sqrt(s["w2_sq"]), math.sqrt(s["d_sq"])
    rec: dict[str, Any] = {
        "w_norm": w,
        "w_after_norm": w2,
        "dw_norm": d,
        "rel_change": d / w if w > 0 else None,
        "cosine": s["dot"] / (w * w2) if w > 0 and w2 > 0 else None,
        "sigma_max": None,
        "stable_rank": None,
        "top_r_energy": None,
        "spectrum": None,
    }
    if spectrum is not None:
        ev, how = spectrum
        rec["spectrum"] = how
        rec["sigma_max"] = math.sqrt(float(ev[0])) if len(ev) else 0.0
        if s["d_sq"] > 0 and len(ev) and float(ev[0]) > 0:
            rec["stable_rank"] = s["d_sq"] / float(ev[0])
            rec["top_r_energy"] = min(1.0, float(ev[:top_r].sum()) / s["d_sq"])
    return rec


def _randomized_sigma_sq(slabs: _Slabs, pairs, y_parts, niter: int, hold_elems: int) -> dict[Any, Any]:
    """Top singular values (squared) of each pair's dW by the randomized range finder.

    Y = dW Omega (pass 1, done with the statistics); ``niter`` power iterations Y = dW (dW^T Q); then
    sigma = svdvals(Q^T dW). Every product is a sum or a concatenation over slabs. A dW of at most
    ``hold_elems`` elements is built whole once per pair (one pair at a time) and the passes run on it;
    a larger one is re-read slab by slab for every pass, so memory stays at a few slabs.
    """
    import torch

    q0 = {p: _orth(torch.cat(y_parts[p])) for p in pairs}
    y_parts.clear()
    if slabs.long * slabs.short <= hold_elems:
        out, buf = {}, None
        for p in pairs:
            d = slabs.whole_diff(p, out=buf)
            if slabs.n_slabs > 1:
                buf = d  # the next pair's dW goes in the same memory (no second round of page faults)
            out.update(_power_passes(lambda p=p, d=d: iter([{p: d}]), [p], {p: q0[p]}, niter))
            del d
        return out

    def d_slabs():
        for slab in slabs:
            yield {p: slab[p[1]] - slab[p[0]] for p in pairs}

    return _power_passes(d_slabs, pairs, q0, niter)


def _orth(m):
    import torch

    with small_factorizations():
        return torch.linalg.qr(m).Q


def _power_passes(d_source, pairs, q, niter: int) -> dict[Any, Any]:
    """Power iterations and the final small SVD over dW slabs from ``d_source()`` ({pair: slab})."""
    import torch

    def t_products(qs):  # dW^T Q, summed over slabs
        z = dict.fromkeys(pairs)
        row = 0
        for ds in d_source():
            m = next(iter(ds.values())).shape[0]
            for p in pairs:
                part = ds[p].T @ qs[p][row:row + m]
                z[p] = part if z[p] is None else z[p] + part
            row += m
        return z

    for _ in range(niter):
        z = {p: _orth(v) for p, v in t_products(q).items()}
        parts: dict[Any, list[Any]] = {p: [] for p in pairs}
        for ds in d_source():
            for p in pairs:
                parts[p].append(ds[p] @ z[p])
        q = {p: _orth(torch.cat(parts[p])) for p in pairs}
    bt = t_products(q)  # (Q^T dW)^T
    with small_factorizations():
        return {p: torch.linalg.svdvals(bt[p]).double() ** 2 for p in pairs}


def _new_rows(plan: TensorPlan, cks, p, s, opts: SpectrumOptions) -> dict[str, Any]:
    """Rows of a resized vocabulary that only the later checkpoint has: count and norms."""
    shared = plan.shape[0]
    after_rows = plan.rows[p[1]]
    before_rows = plan.rows[p[0]]
    rec: dict[str, Any] = {"shared": shared, "added": max(0, after_rows - shared),
                           "removed": max(0, before_rows - shared)}
    sq = 0.0
    step = max(1, int(opts.chunk_mb * 2**20 / 4) // max(1, plan.shape[1]))
    for i in range(shared, after_rows, step):
        t = cks[p[1]].read(plan.name, rows=(i, min(after_rows, i + step)))
        sq += _dot(t, t)
        del t
    rec["added_norm"] = math.sqrt(sq)
    rec["added_rms_row_norm"] = math.sqrt(sq / rec["added"]) if rec["added"] else None
    rec["shared_rms_row_norm"] = math.sqrt(s["w2_sq"] / shared) if shared else None
    return rec


# ---------------------------------------------------------------------------------------------------
# Whole checkpoints


def open_stages(paths: dict[str, str | Path]) -> dict[str, Checkpoint]:
    """Open the given checkpoints (labels in stage order); at least two are needed."""
    given = {lab: p for lab, p in paths.items() if p is not None}
    if len(given) < 2:
        raise ModelError(f"diff needs at least two checkpoints (got {', '.join(given) or 'none'}): "
                         "e.g. --base models/base --cpt models/cpt")
    order = [lab for lab in STAGES if lab in given] + [lab for lab in given if lab not in STAGES]
    return {lab: open_checkpoint(given[lab], what=f"{lab} checkpoint") for lab in order}


def diff_checkpoints(
    paths: dict[str, str | Path] | dict[str, Checkpoint],
    opts: SpectrumOptions,
    progress: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Compare 2-3 checkpoints tensor by tensor; returns per-tensor records, aggregates and metrics."""
    cks = paths if all(isinstance(v, Checkpoint) for v in paths.values()) else open_stages(paths)  # type: ignore[arg-type]
    return_big_blocks_to_os(int(opts.chunk_mb * 2**20))
    alignment: Alignment = align(cks)  # type: ignore[arg-type]
    labels = list(cks)
    pairs = [pair_name(p) for p in stage_pairs(labels)]
    plans = alignment.plans
    it = progress(plans, desc="diff", total=len(plans), unit="tensor") if progress else plans
    tensors: list[dict[str, Any]] = []
    for plan in it:
        layer, kind = layer_and_kind(plan.name)
        stats = diff_tensor(plan, cks, opts)  # type: ignore[arg-type]
        tensors.append({
            "name": plan.name,
            "layer": layer,
            "kind": kind,
            "shape": list(plan.shape),
            "numel": math.prod(plan.shape) if plan.shape else 1,
            "dtype": {lab: cks[lab].dtype(plan.name) for lab in labels},
            "tied": plan.tied,
            "tied_in": plan.tied_in,
            "vocab_resized": plan.vocab_resized,
            "rows": plan.rows if plan.vocab_resized else None,
            **stats,
        })
    return {
        "checkpoints": {lab: str(ck.path) for lab, ck in cks.items()},
        "pairs": pairs,
        "tied": alignment.tied,
        "only_in": alignment.only_in,
        "top_r": opts.top_r,
        "tensors": tensors,
        "aggregates": aggregate(tensors, pairs),
        "metrics": headline_metrics(tensors, pairs),
    }


def aggregate(tensors: list[dict[str, Any]], pairs: list[str]) -> list[dict[str, Any]]:
    """One row per (pair, layer, kind): energy-weighted relative change and the mean over tensors.

    ``rel_change`` = sqrt(sum ||dW||^2) / sqrt(sum ||W||^2) over the group's tensors (a big matrix weighs
    more than a norm vector); ``mean_rel_change`` is the plain mean of the tensors' relative changes.
    """
    groups: dict[tuple[str, int | None, str], list[dict[str, Any]]] = {}
    for t in tensors:
        for p in pairs:
            groups.setdefault((p, t["layer"], t["kind"]), []).append(t)
    rows = []
    for (p, layer, kind), ts in groups.items():
        dsq = sum(t["pairs"][p]["dw_norm"] ** 2 for t in ts)
        wsq = sum(t["pairs"][p]["w_norm"] ** 2 for t in ts)
        rels = [t["pairs"][p]["rel_change"] for t in ts if t["pairs"][p]["rel_change"] is not None]
        coss = [t["pairs"][p]["cosine"] for t in ts if t["pairs"][p]["cosine"] is not None]
        rows.append({
            "pair": p, "layer": layer, "kind": kind, "n_tensors": len(ts), "numel": sum(t["numel"] for t in ts),
            "dw_norm": math.sqrt(dsq), "w_norm": math.sqrt(wsq),
            "rel_change": math.sqrt(dsq / wsq) if wsq > 0 else None,
            "mean_rel_change": sum(rels) / len(rels) if rels else None,
            "mean_cosine": sum(coss) / len(coss) if coss else None,
        })
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (pairs.index(r["pair"]), -1 if r["layer"] is None else r["layer"], order[r["kind"]]))
    return rows


def headline_metrics(tensors: list[dict[str, Any]], pairs: list[str]) -> dict[str, Any]:
    """The numbers `dvc metrics show` lists per stage pair (keys without '->': base_cpt, cpt_sft, ...)."""
    out: dict[str, Any] = {}
    for p in pairs:
        dsq_total = sum(t["pairs"][p]["dw_norm"] ** 2 for t in tensors)
        wsq_total = sum(t["pairs"][p]["w_norm"] ** 2 for t in tensors)
        by_kind: dict[str, list[float]] = {}
        share: dict[str, float] = {}
        for t in tensors:
            r = t["pairs"][p]["rel_change"]
            if r is not None:
                by_kind.setdefault(t["kind"], []).append(r)
            share[t["kind"]] = share.get(t["kind"], 0.0) + t["pairs"][p]["dw_norm"] ** 2
        top = max(tensors, key=lambda t: t["pairs"][p]["rel_change"] or 0.0, default=None)
        out[p.replace("->", "_")] = {
            "rel_change_total": math.sqrt(dsq_total / wsq_total) if wsq_total > 0 else None,
            "dw_norm_total": math.sqrt(dsq_total),
            "mean_rel_change": {k: sum(v) / len(v) for k, v in sorted(by_kind.items(), key=lambda kv: KINDS.index(kv[0]))},
            "embed_share": share.get("embed", 0.0) / dsq_total if dsq_total > 0 else None,
            "lm_head_share": share.get("lm_head", 0.0) / dsq_total if dsq_total > 0 else None,
            "top_tensor": top["name"] if top else None,
        }
    if len(pairs) == 3:
        cs = [t["stage_cosine"] for t in tensors if t["stage_cosine"] is not None]
        d0 = sum(t["pairs"][pairs[0]]["dw_norm"] ** 2 for t in tensors)
        d1 = sum(t["pairs"][pairs[1]]["dw_norm"] ** 2 for t in tensors)
        cross = sum(t["cross_dot"] for t in tensors)
        out["cpt_sft_cosine"] = {
            "mean": sum(cs) / len(cs) if cs else None,
            "global": cross / math.sqrt(d0 * d1) if d0 > 0 and d1 > 0 else None,
        }
    return out
