"""CPT and SFT on Ray Train (TorchTrainer) with DeepSpeed ZeRO; resumable at the step it stopped.

    langadapt cpt                      # paths.base -> paths.cpt, Ray checkpoints in paths.cpt_checkpoints
    langadapt sft                      # paths.cpt + paths.synth -> paths.sft
    langadapt cpt -s train.ray_address=auto -s train.use_gpu=true -s train.storage_path=s3://bucket/ckpt

The driver tokenizes the data once (a disk-backed token file), then starts a ``TorchTrainer`` whose
workers each run the HF model under a DeepSpeed engine (config generated from params; gloo + fp32 on
CPU, nccl + bf16 on GPU). Every ``checkpoint_every`` steps the workers save DeepSpeed state + a
``train_state.json`` (step, loss history) and report it to Ray, which writes each checkpoint to its own
directory under ``storage_path/<stage>`` and keeps the last two. A rerun with the same params (a killed
``dvc repro``), or Ray after a worker failure (``FailureConfig``), resumes from the latest complete
checkpoint; the data position is the step (see langadapt.train.data), so nothing is replayed or skipped.
The final model is exported in HF format (safetensors + config + tokenizer) to ``paths.<stage>``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langadapt.errors import ConfigError, DataError
from langadapt.io import atomic_dir, atomic_write, write_json

STAGES = ("cpt", "sft")
RUN_FILE = "langadapt_run.json"
STATE_FILE = "train_state.json"
DS_TAG = "ds"
HF_SUBDIR = "hf"

# Test hooks: fail one worker once at a step (exercises FailureConfig + resume).
FAIL_AT_STEP_ENV = "LANGADAPT_FAIL_AT_STEP"
FAIL_MARKER_ENV = "LANGADAPT_FAIL_MARKER"
# Test hook: seconds each step sleeps (the cluster tests kill a node between two checkpoints).
STEP_SLEEP_ENV = "LANGADAPT_STEP_SLEEP"


# ---------------------------------------------------------------------------------------------------
# Pieces the workers use (plain functions, unit-testable)


def lr_lambda(step: int, warmup: int, max_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def deepspeed_config(stage_params: dict[str, Any], zero_stage: int, use_gpu: bool) -> dict[str, Any]:
    """The DeepSpeed config, generated from params (the optimizer/scheduler are passed as objects)."""
    return {
        "train_micro_batch_size_per_gpu": stage_params["micro_batch_size"],
        "gradient_accumulation_steps": stage_params["grad_accum"],
        "gradient_clipping": stage_params["grad_clip"],
        "zero_optimization": {"stage": zero_stage, "overlap_comm": False, "contiguous_gradients": True},
        "bf16": {"enabled": bool(use_gpu)},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def write_manifest(directory: Path, rank: int, world: int) -> None:
    """List the files this rank wrote (with sizes); a checkpoint is complete when every rank's listed
    files are present with those sizes (a save killed half-way is not)."""
    from langadapt.train.cloud import rank_hashes

    files = manifest_files(directory)
    # SHA-256 per file: checked before a resume unpickles optimizer state (langadapt.train.cloud)
    (directory / f"manifest_rank{rank}.json").write_text(
        json.dumps({"world": world, "files": files, "sha256": rank_hashes(directory, list(files))}))


def manifest_files(directory: Path) -> dict[str, int]:
    """Every file under ``directory`` but the manifests, with its size (what a ``manifest_rank<r>.json`` lists)."""
    return {p.relative_to(directory).as_posix(): p.stat().st_size for p in sorted(directory.rglob("*"))
            if p.is_file() and not p.name.startswith("manifest_rank")}


def manifests_complete(directory: str | Path, ranks_key: str = "world") -> bool:
    """Every ``manifest_rank<r>.json`` (r below rank 0's ``ranks_key``) is there and every file it lists is
    present at its listed size: a save killed half-way is not."""
    d = Path(directory)
    try:
        ranks = json.loads((d / "manifest_rank0.json").read_text())[ranks_key]
        for r in range(ranks):
            for rel, size in json.loads((d / f"manifest_rank{r}.json").read_text())["files"].items():
                if not (d / rel).is_file() or (d / rel).stat().st_size != size:
                    return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def checkpoint_complete(directory: str | Path) -> bool:
    return (Path(directory) / STATE_FILE).exists() and manifests_complete(directory)


def checkpoint_step(directory: str | Path) -> int:
    return int(json.loads((Path(directory) / STATE_FILE).read_text())["step"])


def latest_complete_checkpoint(run_dir: str | Path) -> Path | None:
    """The highest-step complete ``checkpoint_*`` directory under a run directory (local storage)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for d in run_dir.glob("checkpoint_*"):
        if d.is_dir() and checkpoint_complete(d):
            s = checkpoint_step(d)
            if best is None or s > best[0]:
                best = (s, d)
    return best[1] if best else None


def _pick_checkpoint(reported: Any, config: dict[str, Any]) -> Any:
    """The newest complete checkpoint among Ray's (``get_checkpoint``), the driver's pick and, on local
    storage, a scan of the run directory: a worker that dies within Ray's poll interval after a save can
    leave a complete checkpoint Ray has not registered yet."""
    from ray.train import Checkpoint

    found: list[tuple[int, Any]] = []
    if config.get("resume_from") and "://" in str(config["resume_from"]):
        # the driver's pick in object storage (langadapt.train.cloud.run_state); verified after download
        found.append((int(config.get("resume_step") or 0), Checkpoint(config["resume_from"])))
    if reported is not None:
        with reported.as_directory() as d:
            if checkpoint_complete(d):
                found.append((checkpoint_step(d), reported))
    for path in (config.get("resume_from"), latest_complete_checkpoint(config["run_dir"]) if config.get("run_dir") else None):
        if path and checkpoint_complete(path):
            found.append((checkpoint_step(path), Checkpoint(str(path))))
    if not found:
        return reported  # None, or an incomplete one the caller reports
    return max(found, key=lambda x: x[0])[1]


def _maybe_fail(step: int, rank: int, world: int, config: dict[str, Any]) -> None:
    if config.get("step_sleep"):
        time.sleep(config["step_sleep"])
    at, marker = config.get("fail_at_step"), config.get("fail_marker")
    if at is not None and step == at and rank == world - 1 and marker and not os.path.exists(marker):
        Path(marker).write_text(f"failed at step {step}\n")
        print(f"[test hook] worker rank {rank} exits at step {step}")
        os._exit(1)


# ---------------------------------------------------------------------------------------------------
# The per-worker training loop


def _train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: set up (or resume), then train step by step, evaluating and checkpointing
    every ``eval_every`` / ``checkpoint_every`` steps and at the last one."""
    t_start = time.perf_counter()
    w = _Worker(config)
    ckpt = w.resume()
    w.log(f"{w.stage}: worker ready in {time.perf_counter() - t_start:.1f}s (world {w.world}, "
          f"ZeRO-{config['zero_stage']})")
    p = w.p
    w.engine.train()
    last_eval = w.history[-1]["eval_loss"] if w.history else None
    window_tokens, window_start = 0, time.perf_counter()
    for step in range(w.start_step, w.max_steps):
        _maybe_fail(step, w.rank, w.world, config)
        train_loss, step_tokens = w.train_step(step)
        window_tokens += step_tokens
        s = step + 1
        row: dict[str, Any] = {"step": s, "train_loss": round(train_loss, 5), "eval_loss": None}
        is_last = s == w.max_steps
        if s % p["eval_every"] == 0 or is_last:
            last_eval = w.evaluate()
            row["eval_loss"] = round(last_eval, 5)
        w.record(row, train_loss, last_eval, window_tokens, window_start)
        if s % p["checkpoint_every"] == 0 or is_last:
            w.save(s, w.step_metrics(s, train_loss, last_eval), final=is_last)
            window_tokens, window_start = 0, time.perf_counter()
    if w.start_step >= w.max_steps:
        w.report_finished(ckpt, last_eval)


class _Worker:
    """One worker's DeepSpeed engine, its data, and the progress a checkpoint records (``STATE_FILE``)."""

    def __init__(self, config: dict[str, Any]):
        import deepspeed
        import ray.train
        import torch

        ctx = ray.train.get_context()
        self.config = config
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        torch.set_num_threads(max(1, int(config["threads"])))
        use_gpu = config["use_gpu"]
        deepspeed.init_distributed(dist_backend="nccl" if use_gpu else "gloo")
        self.device = torch.device(f"cuda:{ctx.get_local_rank()}" if use_gpu else "cpu")
        self.p = p = config["stage_params"]
        self.stage, self.max_steps = config["stage"], p["max_steps"]
        self.micro_bs, self.accum = p["micro_batch_size"], p["grad_accum"]
        self.ext = _ExternalLogger(config["report_to"], self.stage, p) if self.rank == 0 and config["report_to"] else None
        # progress, saved in every checkpoint
        self.start_step, self.history, self.tokens_done, self.train_seconds = 0, [], 0, 0.0
        self.initial_eval: float | None = None
        self.resumes: list[int] = []
        torch.manual_seed(config["seed"])
        self._load_model_and_data()
        self._init_engine()

    def _load_model_and_data(self) -> None:
        import torch

        from langadapt.storage import localize
        from langadapt.train.data import PackedTokens, SFTTokens
        from langadapt.train.modeling import load_causal_lm

        config, p = self.config, self.p
        # local paths, or URLs in object storage (a worker on another node): downloaded and verified
        inputs_cache = Path(tempfile.gettempdir()) / "langadapt-inputs"
        self.model, self.tok = load_causal_lm(localize(config["init_model"], inputs_cache),
                                              trust_remote_code=config["trust_remote_code"], dtype=torch.float32)
        self.model.config.use_cache = False
        tok = self.tok
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        data_dir = localize(config["data_dir"], inputs_cache)
        if self.stage == "cpt":
            self.train_set = PackedTokens(data_dir / "train.bin", p["seq_len"], self.pad_id)
            self.eval_set = PackedTokens(data_dir / "heldout.bin", p["seq_len"], self.pad_id)
        else:
            self.train_set = SFTTokens(data_dir / "train", p["seq_len"], self.pad_id)
            self.eval_set = SFTTokens(data_dir / "heldout", p["seq_len"], self.pad_id)

    def _init_engine(self) -> None:
        """AdamW (no weight decay on norms and biases) and the warm-up + cosine schedule, under DeepSpeed."""
        import deepspeed
        import torch

        p, model = self.p, self.model
        decay = [q for n, q in model.named_parameters() if q.ndim >= 2 and "norm" not in n]
        no_decay = [q for n, q in model.named_parameters() if not (q.ndim >= 2 and "norm" not in n)]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": p["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=p["lr"], betas=(0.9, 0.95), eps=1e-8,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_lambda(s, p["warmup_steps"], self.max_steps, p["min_lr_ratio"]))
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=self.config["ds_config"])

    # ---- logging

    def log(self, msg: str) -> None:
        # sys.stdout, not print: Ray Train patches print() in workers and would echo each line twice.
        if self.rank == 0:
            sys.stdout.write(msg + "\n")
            sys.stdout.flush()

    def record(self, row: dict[str, Any], train_loss: float, last_eval: float | None, window_tokens: int,
               window_start: float) -> None:
        """Append a step's row to the history, send it to MLflow/W&B, print its line (tokens per second
        since the last checkpoint)."""
        self.history.append(row)
        if self.ext is not None:
            self.ext.log(row)
        lr = self.scheduler.get_last_lr()[0]
        tps = window_tokens / max(1e-9, time.perf_counter() - window_start)
        self.log(f"{self.stage}: step {row['step']}/{self.max_steps} loss {train_loss:.4f} lr {lr:.2e} {tps:,.0f} tok/s"
                 + (f" eval_loss {last_eval:.4f}" if row["eval_loss"] is not None else ""))

    # ---- batches, steps, evaluation

    def batch_at(self, indices: list[int], dataset: Any, shuffle: bool) -> dict[str, Any]:
        from langadapt.train.data import collate, sample_index

        n = len(dataset)
        samples = [dataset.get(sample_index(g, n, self.config["seed"]) if shuffle else g % n) for g in indices]
        return {k: v.to(self.device) for k, v in collate(samples, self.pad_id).items()}

    def all_sum(self, values: list[float]) -> list[float]:
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def autocast(self) -> Any:
        """bfloat16 autocast of the forward pass on CPU (``train.cpu_bf16_autocast``), else a no-op."""
        import torch

        from langadapt.hardware import use_cpu_bf16

        on = use_cpu_bf16(bool(self.config.get("cpu_bf16_autocast")), f"{self.stage} (rank {self.rank})")
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=on)

    def train_step(self, step: int) -> tuple[float, int]:
        """One optimizer step (``grad_accum`` micro-batches): (mean train loss over workers, tokens seen)."""
        from langadapt.train.data import micro_batch_indices

        engine = self.engine
        t0 = time.perf_counter()
        loss_sum, step_tokens = 0.0, 0
        for m in range(self.accum):
            idx = micro_batch_indices(step, m, self.rank, self.world, self.micro_bs, self.accum)
            batch = self.batch_at(idx, self.train_set, shuffle=True)
            with self.autocast():
                loss = engine(**batch).loss
            engine.backward(loss)
            engine.step()
            loss_sum += loss.item()
            step_tokens += int(batch["attention_mask"].sum().item())
        train_loss, step_tokens_all = self.all_sum([loss_sum / self.accum, float(step_tokens)])
        train_loss /= self.world
        self.train_seconds += time.perf_counter() - t0
        self.tokens_done += int(step_tokens_all)
        return train_loss, int(step_tokens_all)

    def evaluate(self) -> float:
        """Mean per-token loss on the first eval_batches x global micro-batch held-out samples."""
        import torch

        from langadapt.train.data import IGNORE_INDEX, micro_batch_indices

        engine = self.engine
        engine.eval()
        loss_sum = n_tok = 0.0
        with torch.no_grad():
            for b in range(self.p["eval_batches"]):
                idx = micro_batch_indices(b, 0, self.rank, self.world, self.micro_bs, 1)
                batch = self.batch_at(idx, self.eval_set, shuffle=False)
                with self.autocast():
                    logits = engine(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                shift_logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
                shift_labels = batch["labels"][:, 1:].reshape(-1)
                loss_sum += torch.nn.functional.cross_entropy(
                    shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="sum").item()
                n_tok += (shift_labels != IGNORE_INDEX).sum().item()
        engine.train()
        total, count = self.all_sum([loss_sum, n_tok])
        return total / max(1.0, count)

    def step_metrics(self, s: int, train_loss: float, last_eval: float | None) -> dict[str, Any]:
        """What a checkpoint reports to Ray."""
        return {"step": s, "train_loss": train_loss, "eval_loss": last_eval, "tokens": self.tokens_done,
                "epoch": s * self.micro_bs * self.accum * self.world / max(1, len(self.train_set))}

    # ---- checkpoints

    def resume(self) -> Any:
        """Restore the newest complete checkpoint (engine and progress), else measure the step-0 eval loss.
        Returns the checkpoint (None on a fresh start)."""
        import ray.train

        from langadapt.train.cloud import verify_checkpoint

        ckpt = _pick_checkpoint(ray.train.get_checkpoint(), self.config)
        if ckpt is None:
            self.initial_eval = self.evaluate()
            self.history.append({"step": 0, "train_loss": None, "eval_loss": round(self.initial_eval, 5)})
            self.log(f"{self.stage}: step 0/{self.max_steps} eval_loss {self.initial_eval:.4f}")
            return None
        with ckpt.as_directory() as d:
            if not checkpoint_complete(d):
                raise DataError(f"checkpoint {ckpt.path}: incomplete (a killed save?); delete it to resume "
                                "from the one before")
            verify_checkpoint(d)  # SHA-256 of every file before DeepSpeed unpickles its state
            self.engine.load_checkpoint(d, tag=DS_TAG, load_optimizer_states=True, load_lr_scheduler_states=True)
            state = json.loads((Path(d) / STATE_FILE).read_text())
        self.start_step, self.history = state["step"], state["history"]
        self.tokens_done, self.train_seconds = state["tokens"], state["train_seconds"]
        self.initial_eval = state.get("initial_eval_loss")
        self.resumes = state.get("resumed_from", []) + [self.start_step]
        self.log(f"{self.stage}: resuming from step {self.start_step} (checkpoint {ckpt.path})")
        return ckpt

    def save(self, step: int, metrics: dict[str, Any], final: bool, name_suffix: str = "") -> None:
        """DeepSpeed state (+ the HF export when ``final``), progress and manifests, reported to Ray."""
        import ray.train
        from ray.train import Checkpoint

        engine, rank = self.engine, self.rank
        tmp = Path(tempfile.mkdtemp(prefix=f"langadapt-{self.stage}-ckpt-"))
        try:
            engine.save_checkpoint(str(tmp), tag=DS_TAG)
            if final:
                if self.config["zero_stage"] == 3:
                    sd = engine._zero3_consolidated_16bit_state_dict()  # all ranks take part
                else:
                    sd = engine.module.state_dict()
                if rank == 0:
                    # training turned the KV cache off; the exported model generates with it (a config
                    # saying use_cache=false made every generate() re-run the whole sequence per token)
                    engine.module.config.use_cache = True
                    engine.module.save_pretrained(tmp / HF_SUBDIR, state_dict=sd, safe_serialization=True)
                    self.tok.save_pretrained(tmp / HF_SUBDIR)
            if rank == 0:
                state = {"step": step, "history": self.history, "tokens": self.tokens_done,
                         "train_seconds": self.train_seconds, "initial_eval_loss": self.initial_eval,
                         "fingerprint": self.config["fingerprint"], "world": self.world, "resumed_from": self.resumes}
                (tmp / STATE_FILE).write_text(json.dumps(state))
            write_manifest(tmp, rank, self.world)
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(str(tmp)),
                             checkpoint_dir_name=f"checkpoint_{step:06d}{name_suffix}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def report_finished(self, ckpt: Any, last_eval: float | None) -> None:
        """Already finished (a rerun after completion): the restored checkpoint is the result. It is
        re-saved (under another name, so that keeping the last two never deletes it) only when it
        lacks the HF export."""
        import ray.train

        with ckpt.as_directory() as d:
            has_export = (Path(d) / HF_SUBDIR / "config.json").exists()
        if has_export:
            ray.train.report({"step": self.start_step, "eval_loss": last_eval})
        else:
            self.save(self.start_step, {"step": self.start_step, "eval_loss": last_eval}, final=True,
                      name_suffix="_export")


# ---------------------------------------------------------------------------------------------------
# The driver


def _stage_paths(cfg: Any, stage: str) -> tuple[str, str, str]:
    """(init checkpoint, output model dir, checkpoints dir) of a stage, all from cfg.paths."""
    if stage == "cpt":
        return cfg.paths.base, cfg.paths.cpt, cfg.paths.cpt_checkpoints
    return cfg.paths.cpt, cfg.paths.sft, cfg.paths.sft_checkpoints


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.iterdir()):
        if p.is_file() and (p.suffix in (".json", ".safetensors") or p.name.endswith(".jinja")):
            h.update(p.name.encode())
            if p.stat().st_size < (256 << 20):
                h.update(p.read_bytes())
            else:
                h.update(str(p.stat().st_size).encode())
    return h.hexdigest()


def fit(trainer: Any) -> tuple[Any, float]:
    """``trainer.fit()`` and its wall time; a bad-input error raised inside a worker (DataError,
    ConfigError) comes out as itself, not wrapped in Ray's TrainingFailedError, so the CLI prints it."""
    t0 = time.perf_counter()
    try:
        result = trainer.fit()
    except Exception as e:
        cause = e
        while getattr(cause, "__cause__", None) is not None:
            cause = cause.__cause__
        if isinstance(cause, DataError | ConfigError):
            raise cause from None
        raise
    return result, time.perf_counter() - t0


def _fingerprint(cfg: Any, stage: str, init_model: Path, data_dir: Path) -> str:
    """What makes two runs the same run: init weights, data, stage params, the train settings that
    change the math (not where it runs) and the training code. A rerun with the same fingerprint
    resumes (or, if finished, just re-exports); otherwise it starts fresh."""
    sp = getattr(cfg, stage).model_dump()
    tp = cfg.train.model_dump()
    for k in ("ray_address", "storage_path", "max_failures", "report_to", "cpus_per_worker"):
        tp.pop(k, None)
    code = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):  # the training code itself
        code.update(f.read_bytes())
    blob = json.dumps({"stage": stage, "seed": cfg.seed, "stage_params": sp, "train": tp,
                       "init": _file_digest(init_model), "data": data_dir.name, "code": code.hexdigest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _init_ray(cfg: Any) -> None:
    import ray

    if ray.is_initialized():
        return
    if cfg.train.ray_address:
        ray.init(address=cfg.train.ray_address, log_to_driver=True)
    else:
        need = cfg.train.num_workers * cfg.train.cpus_per_worker
        # The dashboard process serves Ray's state API, which Ray Train's controller polls.
        # Ray's own INFO/WARNING chatter (e.g. state-API polling without the full dashboard) is hidden;
        # the training log is the workers' rank-0 lines.
        ray.init(num_cpus=max(need, 1) + 1, log_to_driver=True, configure_logging=False,
                 logging_config=ray.LoggingConfig(log_level="ERROR"))


def _write_curves(history: list[dict[str, Any]], path: Path) -> None:
    with atomic_write(path) as f:
        w = csv.writer(f)
        w.writerow(["step", "train_loss", "eval_loss"])
        for r in history:
            w.writerow([r["step"], "" if r["train_loss"] is None else r["train_loss"],
                        "" if r["eval_loss"] is None else r["eval_loss"]])


def run_stage(cfg: Any, stage: str, *, echo: Any = print) -> dict[str, Any]:
    """Train one stage (cpt or sft) and export it; returns the metrics written to metrics/<stage>.json."""
    from langadapt.train.modeling import check_checkpoint_dir, load_tokenizer

    sp = _checked_stage_params(cfg, stage)
    init_model, out_dir, ckpt_dir = _stage_paths(cfg, stage)
    what = "paths.base (run `langadapt tokenizer` first)" if stage == "cpt" else "paths.cpt (run `langadapt cpt` first)"
    check_checkpoint_dir(Path(init_model), what=f"{what}:")
    tok = load_tokenizer(init_model, trust_remote_code=cfg.model.trust_remote_code)
    # data: tokenized once, kept beside the checkpoints (survives reruns)
    data_dir, data_info = _tokenize_stage_data(cfg, stage, tok, init_model, Path(ckpt_dir) / "data")

    # storage: same params => same run (resume); otherwise start fresh
    storage = cfg.train.storage_path or str(Path(ckpt_dir).resolve())
    fingerprint = _fingerprint(cfg, stage, Path(init_model), data_dir)
    resume_from, resume_step = None, 0
    init_location, data_location = str(Path(init_model).resolve()), str(data_dir.resolve())
    if "://" not in storage:
        resume_from, finished = _local_run_state(Path(storage) / stage, stage, fingerprint, sp.max_steps, echo)
        if finished is not None:
            return _finish(cfg, stage, finished, out_dir, data_info, 0.0)
    else:
        # workers may be on other nodes: they read inputs and checkpoints from the object store only
        from langadapt.train import cloud

        resume_from, resume_step = cloud.run_state(storage, stage, fingerprint, echo=echo)
        if resume_from and resume_step >= sp.max_steps:
            done = _export_finished_cloud_run(cfg, stage, resume_from, out_dir, data_info, echo)
            if done is not None:
                return done
        init_location, data_location = cloud.stage_inputs(storage, stage, Path(init_model), data_dir)

    config = _worker_config(cfg, stage, storage, init_location, data_location, fingerprint, resume_from, resume_step)
    _init_ray(cfg)
    result, wall = fit(_torch_trainer(cfg, stage, storage, config))
    if result.checkpoint is None:
        raise DataError(f"{stage}: training finished without a checkpoint in {storage}/{stage}")
    with result.checkpoint.as_directory() as d:
        return _finish(cfg, stage, Path(d), out_dir, data_info, wall)


def _checked_stage_params(cfg: Any, stage: str) -> Any:
    """``cfg.<stage>``, after checking the stage name and that every count is at least 1."""
    if stage not in STAGES:
        raise ConfigError(f"unknown training stage {stage!r} (cpt | sft)")
    sp = getattr(cfg, stage)
    for key in ("eval_every", "checkpoint_every", "max_steps", "micro_batch_size", "grad_accum", "seq_len"):
        if getattr(sp, key) < 1:
            raise ConfigError(f"params.yaml: {stage}.{key}: must be >= 1, got {getattr(sp, key)}")
    return sp


def _tokenize_stage_data(cfg: Any, stage: str, tok: Any, init_model: str,
                         cache_root: Path) -> tuple[Path, dict[str, Any]]:
    """(token data directory, its counts for the metrics): CPT packs the clean corpus, SFT the synth
    examples; a split without data is a DataError naming the input."""
    from langadapt.cli_common import progress
    from langadapt.train.data import PackedTokens, build_cpt_tokens, build_sft_tokens

    sp = getattr(cfg, stage)
    if stage == "cpt":
        data_dir = build_cpt_tokens(cfg.paths.clean, tok, init_model, cache_root, cfg.data.heldout_fraction,
                                    progress=lambda it: progress(it, desc="tokenize", unit="doc"))
        meta = json.loads((data_dir / "meta.json").read_text())
        train_set = PackedTokens(data_dir / "train.bin", sp.seq_len, tok.pad_token_id or 0)
        if len(train_set) == 0:
            raise DataError(f"{cfg.paths.clean}: no training tokens")
        if meta["heldout"]["tokens"] == 0:
            raise DataError(f"{cfg.paths.clean}: no held-out documents (data.heldout_fraction="
                            f"{cfg.data.heldout_fraction}); CPT needs them for eval loss")
        data_info = {"train_docs": meta["train"]["docs"], "train_tokens": meta["train"]["tokens"],
                     "heldout_docs": meta["heldout"]["docs"], "heldout_tokens": meta["heldout"]["tokens"],
                     "train_sequences": len(train_set),
                     "packing_efficiency": round(train_set.packing_efficiency, 5)}
        return data_dir, data_info
    data_dir = build_sft_tokens(cfg.paths.synth, tok, init_model, cache_root, cfg.data.heldout_fraction, sp.seq_len)
    meta = json.loads((data_dir / "meta.json").read_text())
    data_info = {"train_examples": meta["train"]["examples"], "heldout_examples": meta["heldout"]["examples"],
                 "truncated": meta["train"]["truncated"], "dropped_no_assistant": meta["train"]["dropped_no_assistant"],
                 "supervised_tokens": meta["train"]["supervised_tokens"], "train_tokens": meta["train"]["tokens"]}
    if meta["heldout"]["examples"] == 0:
        raise DataError(f"{cfg.paths.synth}: no held-out SFT example (needs at least 2 examples)")
    return data_dir, data_info


def _local_run_state(run_dir: Path, stage: str, fingerprint: str, max_steps: int,
                     echo: Any) -> tuple[str | None, Path | None]:
    """(checkpoint to resume from, finished checkpoint to export) of a run on local storage. A run
    directory with another fingerprint is removed; otherwise the run file records this one."""
    run_file = run_dir / RUN_FILE
    resume_from = None
    if run_dir.exists():
        old = json.loads(run_file.read_text()).get("fingerprint") if run_file.exists() else None
        if old != fingerprint:
            echo(f"{stage}: {run_dir} holds a run with other params/data: starting fresh")
            shutil.rmtree(run_dir)
        else:
            latest = latest_complete_checkpoint(run_dir)
            resume_from = str(latest) if latest else None
            if latest:
                echo(f"{stage}: resuming from step {checkpoint_step(latest)} ({latest})")
            if latest and checkpoint_step(latest) >= max_steps and (latest / HF_SUBDIR / "config.json").exists():
                echo(f"{stage}: already trained to step {max_steps}; exporting {latest}")
                return resume_from, latest
    run_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"fingerprint": fingerprint, "stage": stage}))
    return resume_from, None


def _export_finished_cloud_run(cfg: Any, stage: str, resume_from: str, out_dir: str, data_info: dict[str, Any],
                               echo: Any) -> dict[str, Any] | None:
    """The metrics of exporting a finished run's checkpoint from object storage; None when it lacks the
    HF export (the workers then re-save it)."""
    from langadapt.train import cloud

    with tempfile.TemporaryDirectory() as tmp:
        final = cloud.fetch_checkpoint(resume_from, Path(tmp) / "ckpt")
        if (final / HF_SUBDIR / "config.json").exists():
            echo(f"{stage}: already trained to step {getattr(cfg, stage).max_steps}; exporting {resume_from}")
            return _finish(cfg, stage, final, out_dir, data_info, 0.0)
    return None


def _worker_config(cfg: Any, stage: str, storage: str, init_location: str, data_location: str, fingerprint: str,
                   resume_from: str | None, resume_step: int) -> dict[str, Any]:
    """``train_loop_config``: everything a worker needs, as plain values (and the test hooks' env vars)."""
    sp, tp = getattr(cfg, stage), cfg.train
    cloud = "://" in storage
    return {
        "stage": stage,
        "stage_params": sp.model_dump(),
        "seed": cfg.seed,
        "init_model": init_location,
        "trust_remote_code": cfg.model.trust_remote_code,
        "data_dir": data_location,
        "use_gpu": tp.use_gpu,
        "zero_stage": tp.zero_stage,
        "threads": tp.cpus_per_worker,
        "cpu_bf16_autocast": bool(tp.cpu_bf16_autocast and not tp.use_gpu),
        "ds_config": deepspeed_config(sp.model_dump(), tp.zero_stage, tp.use_gpu),
        "fingerprint": fingerprint,
        "resume_from": resume_from,
        "resume_step": resume_step if cloud else None,
        "run_dir": str(Path(storage) / stage) if not cloud else None,
        "fail_at_step": int(os.environ[FAIL_AT_STEP_ENV]) if os.environ.get(FAIL_AT_STEP_ENV) else None,
        "fail_marker": os.environ.get(FAIL_MARKER_ENV),
        "step_sleep": float(os.environ.get(STEP_SLEEP_ENV) or 0),
        "report_to": _check_report_to(tp.report_to),
    }


def _torch_trainer(cfg: Any, stage: str, storage: str, config: dict[str, Any]) -> Any:
    """The TorchTrainer of ``num_workers`` workers (a GPU each when ``use_gpu``), keeping the last two
    checkpoints and restarting after up to ``max_failures`` worker failures."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    tp = cfg.train
    resources = {"CPU": tp.cpus_per_worker}
    if tp.use_gpu:
        resources["GPU"] = 1
    return TorchTrainer(
        _train_loop,
        train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if tp.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=tp.num_workers, use_gpu=tp.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=stage,
            storage_path=storage,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=tp.max_failures),
        ),
    )


def _finish(cfg: Any, stage: str, ckpt: Path, out_dir: str, data_info: dict[str, Any], wall: float) -> dict[str, Any]:
    """Export the final checkpoint's HF model to ``out_dir`` (atomically) and write metrics + curves."""
    sp, tp = getattr(cfg, stage), cfg.train
    state = json.loads((ckpt / STATE_FILE).read_text())
    if not (ckpt / HF_SUBDIR / "config.json").exists():
        raise DataError(f"{stage}: final checkpoint {ckpt} has no HF export")
    with atomic_dir(out_dir) as staging:
        shutil.copytree(ckpt / HF_SUBDIR, staging, dirs_exist_ok=True)
    history = state["history"]
    evals = [r for r in history if r["eval_loss"] is not None]
    trains = [r for r in history if r["train_loss"] is not None]
    metrics = {
        "steps": state["step"],
        "initial_eval_loss": round(state["initial_eval_loss"], 5) if state.get("initial_eval_loss") else None,
        "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
        "final_train_loss": trains[-1]["train_loss"] if trains else None,
        "tokens": state["tokens"],
        "tokens_per_second": round(state["tokens"] / max(1e-9, state["train_seconds"]), 1),
        "train_seconds": round(state["train_seconds"], 2),
        "wall_seconds": round(wall, 2),
        "num_workers": tp.num_workers,
        "zero_stage": tp.zero_stage,
        "global_batch": sp.micro_batch_size * sp.grad_accum * tp.num_workers,
        "seq_len": sp.seq_len,
        "resumed_from_steps": state.get("resumed_from", []),
        **data_info,
    }
    write_json(Path(cfg.paths.metrics) / f"{stage}.json", metrics)
    _write_curves(history, Path(cfg.paths.plots) / f"{stage}_loss.csv")
    return metrics


def _check_report_to(report_to: list[str]) -> list[str]:
    """Optional MLflow / W&B logging (rank 0 logs each step's metrics), only when the package is installed."""
    import importlib.util

    out = []
    for name in report_to:
        if name not in ("mlflow", "wandb"):
            raise ConfigError(f"params.yaml: train.report_to: unknown {name!r} (mlflow | wandb)")
        if importlib.util.find_spec(name) is None:
            print(f"warning: train.report_to {name}: not installed; skipped", file=sys.stderr)
        else:
            out.append(name)
    return out


class _ExternalLogger:
    """Rank 0's MLflow / W&B run (environment-configured: MLFLOW_TRACKING_URI, WANDB_PROJECT, ...)."""

    def __init__(self, names: list[str], stage: str, params: dict[str, Any]):
        self.mlflow = self.wandb = None
        if "mlflow" in names:
            import mlflow

            mlflow.start_run(run_name=f"langadapt-{stage}")
            mlflow.log_params({k: v for k, v in params.items() if not isinstance(v, dict)})
            self.mlflow = mlflow
        if "wandb" in names:
            import wandb

            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "langadapt"), name=f"langadapt-{stage}",
                                    config=params, resume="allow")

    def log(self, row: dict[str, Any]) -> None:
        vals = {k: v for k, v in row.items() if k != "step" and v is not None}
        if self.mlflow:
            self.mlflow.log_metrics(vals, step=row["step"])
        if self.wandb:
            self.wandb.log(vals, step=row["step"])
