"""Benchmark: langadapt's streamed checkpoint diff (probes on) vs loading the three models whole.

    python benchmarks/bench_diff.py                   # ~0.5B Qwen3 (24 layers), then ~1B (48 layers)
    python benchmarks/bench_diff.py --layers 4 --skip-2x      # 3 x 417 MiB bf16 checkpoints (issue #13 item 7)
    python benchmarks/bench_diff.py --layers 4 --vocab 8192   # a quick smoke run

Builds three checkpoints (base, cpt, sft) of a Qwen3-architecture model in a temp dir: random bf16 weights
(state dicts made with torch.randn, no modules instantiated), CPT = base + noise (strong on the embedding),
SFT = CPT + rank-8 updates of the attention/MLP matrices, saved as sharded safetensors (``--shard-mb``)
with model.safetensors.index.json. Then, each in its own subprocess (wall time and peak RSS of that
child, from ``os.wait4``):

- ``whole``: what a user writes first: ``AutoModelForCausalLM.from_pretrained`` x3 (bf16), then the same
  per-tensor statistics on their state dicts (norms, cosines, spectrum of dW for 3 stage pairs,
  cos(dW_cpt, dW_sft)), tensors in float32;
- ``streamed``: what ``langadapt diff`` computes with default ``diff`` params, probes ON:
  ``langadapt.analysis.diff.diff_checkpoints`` (tensor statistics) then ``analysis.probes.run_probes``
  (CKA and logit lens per layer; each checkpoint streamed layer by layer). The checkpoints carry a
  byte-level BPE tokenizer trained on the TALPCo sentences in samples/; probe texts: ``--probe-texts
  pairs`` (the held-out TALPCo pairs, what the stage uses without a corpus; default) or ``docs`` (16
  held-out documents of the shipped Thai news sample, cut at 128 tokens: the logit lens then costs more);
- ``streamed-noprobes`` (``--also-noprobes``): the tensor statistics alone;
- ``streamed-2x``: the streamed diff on checkpoints with twice the layers (same hidden size and vocabulary,
  so the same largest tensor): peak memory should not grow with the model.

Prints the ratios, and checks that both approaches agree on every tensor's statistics. The temp dir is
deleted at the end (``--keep`` keeps it). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------
# Building the checkpoints


def qwen3_config(args, layers: int):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim, tie_word_embeddings=True, max_position_embeddings=4096, dtype="bfloat16",
    )


def layer_shapes(args, i: int) -> dict[str, tuple[int, ...]]:
    h, q, kv, ff = args.hidden, args.heads * args.head_dim, args.kv_heads * args.head_dim, args.intermediate
    p = f"model.layers.{i}."
    return {
        p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
        p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
        p + "self_attn.q_norm.weight": (args.head_dim,), p + "self_attn.k_norm.weight": (args.head_dim,),
        p + "mlp.gate_proj.weight": (ff, h), p + "mlp.up_proj.weight": (ff, h), p + "mlp.down_proj.weight": (h, ff),
        p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
    }


class ShardWriter:
    """Collect tensors into safetensors shards of at most ``max_bytes``; returns the weight map."""

    def __init__(self, directory: Path, prefix: str, max_bytes: int):
        self.dir, self.prefix, self.max_bytes = directory, prefix, max_bytes
        self.buf: dict = {}
        self.size = 0
        self.n = 0
        self.weight_map: dict[str, str] = {}
        self.total = 0

    def add(self, name: str, t) -> None:
        nbytes = t.numel() * t.element_size()
        if self.buf and self.size + nbytes > self.max_bytes:
            self.flush()
        self.buf[name] = t
        self.size += nbytes
        self.total += nbytes

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self.buf:
            return
        self.n += 1
        fname = f"{self.prefix}-{self.n:05d}.safetensors"
        save_file(self.buf, str(self.dir / fname), metadata={"format": "pt"})
        self.weight_map.update({k: fname for k in self.buf})
        self.buf, self.size = {}, 0


def build(args, root: Path, layer_range: range, prefix: str) -> tuple[dict[str, dict[str, str]], dict[str, int]]:
    """Write the tensors of ``layer_range`` (plus embedding and final norm for the first part) for the
    three stages, one tensor at a time; returns each stage's weight map and byte size."""
    import torch

    stages = ("base", "cpt", "sft")
    writers = {s: ShardWriter(root / s, prefix, args.shard_mb * 2**20) for s in stages}
    shapes: dict[str, tuple[int, ...]] = {}
    if layer_range.start == 0:
        shapes["model.embed_tokens.weight"] = (args.vocab, args.hidden)
    for i in layer_range:
        shapes.update(layer_shapes(args, i))
    if layer_range.start == 0:
        shapes["model.norm.weight"] = (args.hidden,)
    for name, shape in shapes.items():
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        if len(shape) == 1:  # norm weights
            w = torch.ones(shape)
            base = w.to(torch.bfloat16)
            cpt = w.add_(0.01 * torch.randn(shape, generator=g)).to(torch.bfloat16)
            sft = w.add_(0.005 * torch.randn(shape, generator=g)).to(torch.bfloat16)
        else:
            w = 0.02 * torch.randn(shape, generator=g)
            base = w.to(torch.bfloat16)
            w.add_(torch.randn(shape, generator=g), alpha=(0.3 if "embed" in name else 0.05) * 0.02)
            cpt = w.to(torch.bfloat16)
            if "embed" in name:
                sft = cpt  # SFT leaves the embedding alone
            else:  # a rank-8 SFT update
                w.add_(torch.randn(shape[0], 8, generator=g) @ torch.randn(8, shape[1], generator=g),
                       alpha=0.002 / math.sqrt(8))
                sft = w.to(torch.bfloat16)
        del w
        for s, t in (("base", base), ("cpt", cpt), ("sft", sft)):
            writers[s].add(name, t)
        del base, cpt, sft
    for w in writers.values():
        w.flush()
    return {s: w.weight_map for s, w in writers.items()}, {s: w.total for s, w in writers.items()}


def write_index(directory: Path, weight_map: dict[str, str], total: int) -> None:
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=1))


def build_all(args, tmp: Path) -> tuple[Path, Path]:
    """The ~0.5B checkpoints in tmp/small, the 2x-layer ones in tmp/large (sharing the small shards)."""
    small, large = tmp / "small", tmp / "large"
    for s in ("base", "cpt", "sft"):
        (small / s).mkdir(parents=True)
        (large / s).mkdir(parents=True)
    maps, totals = build(args, small, range(args.layers), "model-a")
    for s in maps:
        write_index(small / s, maps[s], totals[s])
        qwen3_config(args, args.layers).to_json_file(small / s / "config.json")
    maps2, totals2 = build(args, large, range(args.layers, 2 * args.layers), "model-b")
    for s in maps2:
        for f in set(maps[s].values()):  # the first half of the layers: the same files (symlinked)
            os.symlink(small / s / f, large / s / f)
        write_index(large / s, {**maps[s], **maps2[s]}, totals[s] + totals2[s])
        qwen3_config(args, 2 * args.layers).to_json_file(large / s / "config.json")
    return small, large


# ---------------------------------------------------------------------------------------------------
# The two approaches (each runs in its own child process)


PAIRS = ROOT / "samples" / "data" / "th-en"
NEWS = ROOT / "samples" / "data" / "th" / "thaigov-news.300.jsonl.gz"


def build_tokenizer(args, ck: Path) -> None:
    """A byte-level BPE on the TALPCo sentences (samples/), saved beside every checkpoint (probes need one)."""
    sys.path.insert(0, str(ROOT / "src"))
    from langadapt.records import read_translation_pairs
    from langadapt.train.tokenizer import train_bpe_tokenizer

    pairs = read_translation_pairs(PAIRS, "th")
    tok = train_bpe_tokenizer([p.target for p in pairs] + [p.english for p in pairs],
                              vocab_size=min(4000, args.vocab), min_frequency=2)
    for d in sorted(p for p in ck.glob("*/*") if (p / "config.json").exists()):
        tok.save_pretrained(d)


def write_clean_docs(tmp: Path) -> Path:
    """The shipped Thai news sample as a clean-corpus directory (probe_texts takes its held-out part)."""
    import gzip

    clean = tmp / "clean"
    clean.mkdir(exist_ok=True)
    with gzip.open(NEWS, "rt", encoding="utf-8") as f, open(clean / "docs.jsonl", "w", encoding="utf-8") as g:
        for line in f:
            d = json.loads(line)
            g.write(json.dumps({"id": d["id"], "text": d["text"], "lang": "th"}, ensure_ascii=False) + "\n")
    return clean


def child_streamed(ck: Path, out: Path, probes: bool = True, clean: Path | None = None) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from langadapt.analysis.diff import SpectrumOptions, diff_checkpoints, stage_pairs
    from langadapt.config import DiffParams, Params

    opts = SpectrumOptions.from_params(DiffParams(), seed=1234)
    paths = {s: ck / s for s in ("base", "cpt", "sft")}
    r = diff_checkpoints(paths, opts)
    if probes:
        from langadapt.analysis.probes import run_probes

        cfg = Params.model_validate({"paths": {"translation_pairs": str(PAIRS),
                                               "clean": str(clean or ck / "no-corpus")}})
        pr = run_probes(paths, cfg, stage_pairs(list(paths)))
        if "cka" not in pr:
            raise SystemExit(f"probes did not run: {pr}")
        print(f"  probes: {pr['texts']}, tokens {pr['tokens']['base']}", flush=True)
    stats = {t["name"]: {p: [t["pairs"][p][k] for k in ("rel_change", "cosine", "stable_rank", "top_r_energy")]
                         for p in r["pairs"]} | {"stage_cosine": t["stage_cosine"]} for t in r["tensors"]}
    out.write_text(json.dumps(stats))


def _whole_stats(a, b, top_r: int, svd_max_dim: int, niter: int) -> list:
    """The same statistics on whole float32 tensors (what a state-dict diff computes)."""
    import torch

    # the same kernels as langadapt: float64-accumulated dot products, single-threaded factorizations
    from langadapt.analysis.diff import _dot, small_factorizations

    d = b - a
    wn, w2, dn = math.sqrt(_dot(a, a)), math.sqrt(_dot(b, b)), math.sqrt(_dot(d, d))
    rel = dn / wn if wn > 0 else None
    cos = _dot(a, b) / (wn * w2) if wn > 0 and w2 > 0 else None
    sr = en = None
    if d.ndim == 2 and min(d.shape) > 1 and dn > 0:
        if min(d.shape) <= svd_max_dim:
            m = d if d.shape[0] >= d.shape[1] else d.T
            with small_factorizations():
                ev = torch.linalg.eigvalsh((m.T @ m).double()).clamp(min=0).flip(0)
        else:
            with small_factorizations():
                _, s, _ = torch.svd_lowrank(d, q=min(min(d.shape), top_r + 10), niter=niter)
            ev = s.double() ** 2
        sr = dn**2 / float(ev[0])
        en = min(1.0, float(ev[:top_r].sum()) / dn**2)
    return [rel, cos, sr, en]


def child_whole(ck: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    sys.path.insert(0, str(ROOT / "src"))
    from langadapt.analysis.checkpoint import canonical_name
    from langadapt.analysis.diff import _dot
    from langadapt.config import DiffParams

    p = DiffParams()
    sds = {}
    for s in ("base", "cpt", "sft"):
        model = AutoModelForCausalLM.from_pretrained(ck / s, dtype=torch.bfloat16, use_safetensors=True)
        sds[s] = model.state_dict()
    stats = {}
    seen = set()
    for name, t in sds["base"].items():
        if t.data_ptr() in seen:  # tied lm_head: the embedding again, counted once
            continue
        seen.add(t.data_ptr())
        a, b, c = (sds[s][name].float() for s in ("base", "cpt", "sft"))
        rec = {"base->cpt": _whole_stats(a, b, p.top_r, p.svd_max_dim, p.svd_niter),
               "cpt->sft": _whole_stats(b, c, p.top_r, p.svd_max_dim, p.svd_niter),
               "base->sft": _whole_stats(a, c, p.top_r, p.svd_max_dim, p.svd_niter)}
        d1, d2 = b - a, c - b
        n1, n2 = math.sqrt(_dot(d1, d1)), math.sqrt(_dot(d2, d2))
        rec["stage_cosine"] = _dot(d1, d2) / (n1 * n2) if n1 > 0 and n2 > 0 else None
        stats[canonical_name(name)] = rec
        del a, b, c, d1, d2
    out.write_text(json.dumps(stats))


def run_child(mode: str, ck: Path, out: Path, extra: list[str] = ()) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one approach in a fresh child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, "--ck", str(ck), "--child-out", str(out),
                             *extra])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} child failed (status {status})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def compare(a: dict, b: dict) -> dict[str, float]:
    """Largest absolute difference per statistic between the two approaches, over all tensors."""
    names = ("rel_change", "cosine", "stable_rank (relative)", "top_r_energy")
    worst = dict.fromkeys(names, 0.0)
    worst["stage_cosine"] = 0.0
    assert set(a) == set(b), sorted(set(a) ^ set(b))[:5]
    for t, rec in a.items():
        for p, va in rec.items():
            vb = b[t][p]
            if p == "stage_cosine":
                if va is not None and vb is not None:
                    worst["stage_cosine"] = max(worst["stage_cosine"], abs(va - vb))
                continue
            for i, n in enumerate(names):
                if va[i] is None or vb[i] is None:
                    continue
                diff = abs(va[i] - vb[i]) / (abs(vb[i]) if i == 2 else 1.0)
                worst[n] = max(worst[n], diff)
    return worst


def model_args(args) -> list[str]:
    return [f"--{k}={getattr(args, k.replace('-', '_'))}" for k in
            ("layers", "hidden", "intermediate", "heads", "kv-heads", "head-dim", "vocab", "shard-mb")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=24, help="layers of the small model (the large has 2x)")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--intermediate", type=int, default=3072)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--shard-mb", type=int, default=200)
    ap.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoints")
    ap.add_argument("--probe-texts", choices=("pairs", "docs"), default="pairs",
                    help="probe texts: held-out TALPCo pairs (default) or held-out Thai news documents")
    ap.add_argument("--also-noprobes", action="store_true", help="also time the streamed diff with probes off")
    ap.add_argument("--skip-2x", action="store_true", help="skip the 2x-layer run")
    ap.add_argument("--child", choices=("streamed", "streamed-noprobes", "whole", "build"), help=argparse.SUPPRESS)
    ap.add_argument("--clean", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ck", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "build":
        build_all(args, args.ck)
        build_tokenizer(args, args.ck)
        return
    if args.child == "whole":
        child_whole(args.ck, args.child_out)
        return
    if args.child:
        child_streamed(args.ck, args.child_out, probes=args.child == "streamed", clean=args.clean)
        return

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_diff.", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        # built in a child too: a child's peak RSS counts the parent's pages it was forked from (Linux keeps
        # the pre-exec high-water mark), so this parent never imports torch and stays small
        subprocess.run([sys.executable, __file__, "--child", "build", "--ck", str(tmp), *model_args(args)], check=True)
        small, large = tmp / "small", tmp / "large"
        n_small = sum(math.prod(s) for i in range(args.layers) for s in layer_shapes(args, i).values()) \
            + args.vocab * args.hidden + args.hidden
        n_large = n_small + sum(math.prod(s) for i in range(args.layers) for s in layer_shapes(args, i).values())
        size = sum(f.stat().st_size for f in (small / "base").glob("*.safetensors")) / 2**30
        print(f"built 3 x {n_small / 1e9:.2f}B-parameter checkpoints ({size:.2f} GiB bf16 each, "
              f"{len(list((small / 'base').glob('*.safetensors')))} shards) and 3 x {n_large / 1e9:.2f}B "
              f"in {time.perf_counter() - t0:.0f}s", flush=True)
        w_wall, w_cpu, w_rss = run_child("whole", small, tmp / "whole.json")
        print(f"whole-model (from_pretrained x3 + state-dict diff): wall {w_wall:6.1f} s  CPU {w_cpu:6.1f} s  "
              f"peak RSS {w_rss:7.0f} MiB", flush=True)
        extra = ["--clean", str(write_clean_docs(tmp))] if args.probe_texts == "docs" else []
        s_wall, s_cpu, s_rss = run_child("streamed", small, tmp / "streamed.json", extra)
        print(f"langadapt streamed diff, probes on                : wall {s_wall:6.1f} s  CPU {s_cpu:6.1f} s  "
              f"peak RSS {s_rss:7.0f} MiB", flush=True)
        if args.also_noprobes:
            n_wall, n_cpu, n_rss = run_child("streamed-noprobes", small, tmp / "noprobes.json")
            print(f"langadapt streamed diff, probes off               : wall {n_wall:6.1f} s  CPU {n_cpu:6.1f} s  "
                  f"peak RSS {n_rss:7.0f} MiB", flush=True)
        if not args.skip_2x:
            l_wall, l_cpu, l_rss = run_child("streamed", large, tmp / "streamed2.json", extra)
            print(f"langadapt streamed diff + probes, 2x layers ({n_large / 1e9:.2f}B): wall {l_wall:6.1f} s  "
                  f"CPU {l_cpu:6.1f} s  peak RSS {l_rss:7.0f} MiB", flush=True)
        agree = compare(json.loads((tmp / "streamed.json").read_text()), json.loads((tmp / "whole.json").read_text()))
        print()
        print(f"peak RSS  streamed+probes / whole = {s_rss / w_rss:.3f}   (goal <= 0.3)")
        print(f"wall time streamed+probes / whole = {s_wall / w_wall:.3f}   (goal <= 1.5)")
        print(f"CPU time  streamed+probes / whole = {s_cpu / w_cpu:.3f}")
        if args.also_noprobes:
            print(f"peak RSS  probes off / whole      = {n_rss / w_rss:.3f}")
            print(f"wall time probes off / whole      = {n_wall / w_wall:.3f}")
        if not args.skip_2x:
            print(f"peak RSS  2x model / 1x model     = {l_rss / s_rss:.3f}   (goal <= 1.10)")
            print(f"wall time 2x model / 1x model     = {l_wall / s_wall:.3f}")
        print("largest difference streamed vs whole: " + ", ".join(f"{k} {v:.2g}" for k, v in agree.items()))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
