"""One round of preference training: TRL's KTOTrainer (or DPOTrainer) inside Ray Train workers, with
DeepSpeed ZeRO through the transformers integration, resumable after a kill.

The workers (``TorchTrainer``) each build the TRL trainer with ``args.deepspeed`` set from params (gloo +
fp32 on CPU, or bf16 autocast with fp32 weights where ``train.cpu_bf16_autocast`` asks, the CPU has native bf16
and DeepSpeed is off; nccl + bf16 on GPU), wrap it with ``ray.train.huggingface.transformers.prepare_trainer`` and
report every HF checkpoint to Ray with a ``RayTrainReportCallback`` (Ray keeps the last two under
``<storage>/pref_round_<r>``). A rerun of the same round (a killed ``dvc repro``), or Ray after a worker
failure, resumes the HF Trainer from the newest complete checkpoint (model, DeepSpeed optimizer state,
scheduler, RNG and data position, all in the HF checkpoint). Complete means: every rank had finished
saving before any upload began, and every file its manifest (``manifest_rank<r>.json``: names and sizes,
written last) lists is there at that size; a checkpoint whose upload a kill cut short is never loaded.

Reference model: TRL's own handling. With ``ref_model=None`` it keeps a frozen copy of the round's
starting policy (prepared by DeepSpeed like the policy); ``pref.precompute_ref_log_probs`` computes the
reference log-probs of the whole (small) round dataset once before training and never holds the copy
during training: half the model memory.

Stepwise variant (``pref.stepwise``, KTO only): each row carries a weight (``feedback.stepwise_weight``):
a desirable answer weighs 1, an undesirable one the share of its checks that failed, so an answer that
misses one of four constraints is pushed down a quarter as hard as one that misses all. This is how
Step-KTO uses per-step feedback, with the verifiers' per-constraint outcomes as the steps: the KTO
per-sample loss is multiplied by the weight (``StepwiseKTOTrainer``), the rest of KTO is unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langadapt.errors import DataError

HF_CKPT = "checkpoint"          # RayTrainReportCallback's subdirectory of a Ray checkpoint
FAIL_AT_STEP_ENV = "LANGADAPT_PREF_FAIL_AT_STEP"   # test hook: a worker dies once at this step
FAIL_MARKER_ENV = "LANGADAPT_PREF_FAIL_MARKER"


def deepspeed_config(zero_stage: int, use_gpu: bool, grad_clip: float) -> dict[str, Any]:
    """DeepSpeed config for the HF Trainer integration ("auto" = taken from the TrainingArguments)."""
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": grad_clip,
        "zero_optimization": {"stage": zero_stage, "overlap_comm": False, "contiguous_gradients": True,
                              "stage3_gather_16bit_weights_on_model_save": True},
        "bf16": {"enabled": bool(use_gpu)},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def write_manifest(d: Path, rank: int, uploaders: int, resumed_from: list[int]) -> None:
    """``manifest_rank<rank>.json``: every file of the HF checkpoint ``d`` this rank uploads, with its
    size, and the steps the run resumed from; renamed into place after every listed file is written."""
    from langadapt.train.trainer import manifest_files

    files = manifest_files(d)
    tmp = d / f".manifest_rank{rank}.json.tmp"
    tmp.write_text(json.dumps({"uploaders": uploaders, "files": files, "resumed_from": resumed_from}))
    os.replace(tmp, d / f"manifest_rank{rank}.json")


def hf_checkpoint_complete(d: str | Path) -> bool:
    """An HF Trainer checkpoint a resume can use: the manifest of every uploading rank, and every file
    they list present at its listed size (trainer state and model weights among them)."""
    from langadapt.train.trainer import manifests_complete

    d = Path(d)
    if not manifests_complete(d, "uploaders"):
        return False
    try:
        json.loads((d / "trainer_state.json").read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(list(d.glob("*.safetensors")))


def hf_checkpoint_step(d: str | Path) -> int:
    return int(json.loads((Path(d) / "trainer_state.json").read_text())["global_step"])


def resumed_from(d: str | Path) -> list[int]:
    """The steps the run that wrote checkpoint ``d`` resumed from (a killed run, a worker failure)."""
    return list(json.loads((Path(d) / "manifest_rank0.json").read_text()).get("resumed_from", []))


def latest_hf_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint_*/checkpoint`` under a Ray run directory (by global step)."""
    best: tuple[int, Path] | None = None
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    for c in run_dir.glob(f"checkpoint_*/{HF_CKPT}"):
        if hf_checkpoint_complete(c):
            step = hf_checkpoint_step(c)
            if best is None or step > best[0]:
                best = (step, c)
    return best[1] if best else None


def drop_broken_ray_snapshot(run_dir: Path, echo: Any = print) -> None:
    """Ray restores a run from ``checkpoint_manager_snapshot.json``, which it writes in place: a kill in
    the middle leaves a file Ray cannot parse and the rerun would fail. Such a file is removed (the
    driver's scan of complete checkpoints still gives the resume point)."""
    snap = run_dir / "checkpoint_manager_snapshot.json"
    if not snap.is_file():
        return
    try:
        json.loads(snap.read_text())
    except (OSError, ValueError):
        echo(f"pref: {snap} is half-written (killed while Ray saved it): removed")
        snap.unlink()


def _history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-step training rows from the HF Trainer's log history (loss, kl, rewards)."""
    out = []
    for h in log_history:
        if "loss" not in h or "step" not in h:
            continue
        out.append({"step": int(h["step"]), "loss": h.get("loss"), "kl": h.get("kl"),
                    "rewards_chosen": h.get("rewards/chosen"), "rewards_rejected": h.get("rewards/rejected"),
                    "rewards_margins": h.get("rewards/margins")})
    return out


def _train_loop(config: dict[str, Any]) -> None:
    import ray.train
    import torch
    from datasets import Dataset
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from transformers import TrainerCallback

    from langadapt.io import read_jsonl
    from langadapt.train.modeling import load_causal_lm

    torch.set_num_threads(max(1, int(config["threads"])))
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    p = config["pref"]
    model, tok = load_causal_lm(config["policy"], trust_remote_code=config["trust_remote_code"], dtype=torch.float32)
    if not getattr(tok, "chat_template", None):
        from langadapt.train.modeling import DEFAULT_CHAT_TEMPLATE

        tok.chat_template = DEFAULT_CHAT_TEMPLATE
    rows = list(read_jsonl(config["rows"]))
    out_dir = Path(config["work_dir"]) / f"hf-rank{rank}" if config["per_rank_output"] else Path(config["work_dir"]) / "hf"
    common = {
        "output_dir": str(out_dir), "per_device_train_batch_size": p["micro_batch_size"],
        "gradient_accumulation_steps": p["grad_accum"], "learning_rate": p["lr"], "lr_scheduler_type": "cosine",
        "warmup_steps": p["warmup_steps"], "max_steps": p["max_steps"], "weight_decay": 0.0, "max_grad_norm": p["grad_clip"],
        "logging_steps": 1, "save_strategy": "steps", "save_steps": p["checkpoint_every"], "save_total_limit": 2,
        "report_to": [], "seed": config["seed"], "data_seed": config["seed"], "use_cpu": not config["use_gpu"],
        "bf16": config["use_gpu"] or config["cpu_bf16"], "deepspeed": config["ds_config"], "beta": p["beta"],
        "max_length": p["max_length"],
        "precompute_ref_log_probs": p["precompute_ref_log_probs"], "dataloader_num_workers": 0,
        "disable_tqdm": True, "save_only_model": False, "dataset_num_proc": None,
    }

    class FailOnce(TrainerCallback):
        """Test hook: the last rank exits hard once at a step (exercises Ray's restart + resume)."""

        def on_step_end(self, args, state, control, **kw):
            at, marker = config.get("fail_at_step"), config.get("fail_marker")
            if at is not None and state.global_step == at and rank == world - 1 and marker and not os.path.exists(marker):
                Path(marker).write_text(f"failed at step {at}\n")
                sys.stdout.write(f"[test hook] pref worker rank {rank} exits at step {at}\n")
                sys.stdout.flush()
                os._exit(1)

    per_rank = bool(config["per_rank_output"])
    resume, resumes = _resume_point(config, rank)
    if rank == 0 or per_rank:  # checkpoints of an earlier attempt: HF would rotate by mtime among them
        for old in out_dir.glob("checkpoint-*"):
            shutil.rmtree(old, ignore_errors=True)
    _barrier(world)

    class ReportCheckpoint(RayTrainReportCallback):
        """Ray's callback, made safe to kill: it reports this step's checkpoint (not the newest directory in
        output_dir) once every rank has finished saving, with the manifests that make it complete; in one
        shared output directory only rank 0 uploads it (two ranks writing the same file could leave a
        full-size file with a hole)."""

        def on_save(self, args, state, control, **kw):
            from tempfile import TemporaryDirectory

            from ray.train import Checkpoint

            d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            uploads = per_rank or rank == 0
            _barrier(world)  # every rank's shard, rng state and rank 0's trainer state are written
            if uploads:
                write_manifest(d, rank, world if per_rank else 1, resumes)
            metrics: dict[str, Any] = {}
            for log in state.log_history:
                metrics.update(log)
            if not uploads:
                ray.train.report(metrics=metrics, checkpoint=None)
                return
            with TemporaryDirectory() as tmp:
                shutil.copytree(d, Path(tmp) / HF_CKPT)
                ray.train.report(metrics=metrics, checkpoint=Checkpoint.from_directory(tmp))

    class StepLine(TrainerCallback):
        """One line per logged step on rank 0, like cpt/sft's, in place of HF's PrinterCallback (a dict print
        that Ray Train's patched print() echoes twice)."""

        def on_log(self, args, state, control, logs=None, **kw):
            if rank != 0 or not logs or "loss" not in logs:
                return
            extra = " ".join(f"{name} {float(logs[k]):.3f}" for k, name in
                             (("rewards/margins", "margin"), ("rewards/chosen", "chosen"),
                              ("rewards/rejected", "rejected"), ("kl", "kl")) if logs.get(k) is not None)
            sys.stdout.write(f"pref: step {state.global_step}/{state.max_steps} loss {float(logs['loss']):.4f} {extra}\n")
            sys.stdout.flush()

    callbacks = [ReportCheckpoint(), FailOnce(), StepLine()]
    with _unpatched_print():  # datasets hashes the rows' table and TRL's tokenizing maps here
        trainer = _make_trainer(p, common, model, tok, Dataset.from_list(rows), callbacks)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer = prepare_trainer(trainer)

    if resume and rank == 0:
        sys.stdout.write(f"pref: resuming from step {resumes[-1]} ({resume})\n")
    # the HF Trainer saves (and the callback reports) the last step too (DefaultFlowCallback)
    trainer.train(resume_from_checkpoint=resume)


@contextlib.contextmanager
def _unpatched_print() -> Iterator[None]:
    """Python's own print() for the block. Ray Train's workers patch print() into its logger, and
    datasets.map fingerprints a transform with dill, which reads the globals of each function by capturing
    dis.dis() on a swapped sys.stdout: the patched print logged every line of that bytecode listing (about
    a thousand lines of disassembly in a pref run's log)."""
    import builtins

    original = getattr(sys.modules.get("ray.train.v2._internal.logging.patch_print"), "_original_print", None)
    patched = builtins.print
    if original is not None:
        builtins.print = original
    try:
        yield
    finally:
        builtins.print = patched


def _make_trainer(p: dict[str, Any], common: dict[str, Any], model, tok, dataset, callbacks):
    if p["loss"] == "dpo":
        from trl import DPOConfig, DPOTrainer

        # pref.sft_weight > 0: DPO + w x NLL of the chosen answers (RPO, Pang et al. 2024): TRL's multi-loss
        rpo = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, p["sft_weight"]]} if p["sft_weight"] > 0 else {}
        return open_ended_truncated(DPOTrainer)(model=model, ref_model=None, args=DPOConfig(**common, **rpo),
                                                train_dataset=dataset, processing_class=tok, callbacks=callbacks)
    from trl import KTOConfig

    args = KTOConfig(**common, desirable_weight=p["desirable_weight"], undesirable_weight=p["undesirable_weight"])
    cls = open_ended_truncated(_stepwise_kto_trainer() if p["stepwise"] else __import__("trl").KTOTrainer)
    return cls(model=model, ref_model=None, args=args, train_dataset=dataset, processing_class=tok, callbacks=callbacks)


def _cpu_bf16_training(cfg) -> bool:
    """train.cpu_bf16_autocast for pref's TRL training on CPU: the HF Trainer's bf16 mixed precision
    (torch.autocast on CPU, fp32 weights and optimizer), where the CPU has native bf16. Not under DeepSpeed
    (its config decides precision; ZeRO on CPU stays fp32) nor on GPU (bf16 there anyway)."""
    from langadapt.hardware import use_cpu_bf16

    if cfg.train.use_gpu or not cfg.train.cpu_bf16_autocast:
        return False
    if cfg.pref.deepspeed:
        sys.stderr.write("pref: train.cpu_bf16_autocast does not apply under DeepSpeed (pref.deepspeed: true): "
                         "training runs fp32 (sampling still uses bf16)\n")
        return False
    return use_cpu_bf16(True, "pref training")


def _barrier(world: int) -> None:
    import torch.distributed as dist

    if world > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()


def _resume_point(config: dict[str, Any], rank: int) -> tuple[str | None, list[int]]:
    """The newest complete checkpoint among Ray's (``get_checkpoint``: after a worker failure, or the run
    snapshot of a killed one) and, on local storage, a scan of the run directory (a complete checkpoint
    whose registration a kill or a worker failure prevented); with the resume history: its steps resumed
    from, plus its own."""
    import ray.train

    latest = latest_hf_checkpoint(config["run_dir"]) if config.get("run_dir") else None
    path = str(latest) if latest else None
    step = hf_checkpoint_step(latest) if latest else -1
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            hf = Path(d) / HF_CKPT
            if hf_checkpoint_complete(hf) and hf_checkpoint_step(hf) > step:
                local = Path(config["work_dir"]) / f"resume-rank{rank}"
                shutil.rmtree(local, ignore_errors=True)
                shutil.copytree(hf, local)
                path, step = str(local), hf_checkpoint_step(hf)
    if path is None:
        return None, []
    return path, [*resumed_from(path), step]


def end_of_turn_ids(tok: Any) -> list[int]:
    """The token ids the chat template writes after an assistant message's content (ChatML: ``<|im_end|>``
    and a newline); [] when the template does not show it."""
    sentinel = "\u2063langadapt\u2063"
    try:
        text = tok.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}],
                                       tokenize=False)
    except Exception:  # noqa: BLE001 - no usable chat template: nothing to strip by it
        return []
    if not isinstance(text, str) or sentinel not in text:
        return []
    tail = text.split(sentinel, 1)[1]
    return list(tok(tail, add_special_tokens=False)["input_ids"]) if tail else []


def strip_end_of_turn(ids: list[int], suffix: list[int], eos_id: int | None) -> list[int]:
    """``ids`` without the trailing end of turn (``suffix``, else a lone EOS); never emptied."""
    if suffix and len(ids) > len(suffix) and list(ids[-len(suffix):]) == list(suffix):
        return list(ids[: -len(suffix)])
    if eos_id is not None and len(ids) > 1 and ids[-1] == eos_id:
        return list(ids[:-1])
    return list(ids)


# (flag column, token-id column) of rows whose completion was cut at the token limit (feedback.kto_rows,
# dpo_pairs): TRL renders every completion as a finished assistant turn, i.e. with the end-of-turn token
# the model never produced there. Kept, a truncated answer would teach "stop here" (desirable) or push down
# stopping at that point (undesirable); stripped, it trains only on the tokens the model wrote.
TRUNCATION_COLUMNS = (("truncated", "completion_ids"), ("chosen_truncated", "chosen_ids"),
                      ("rejected_truncated", "rejected_ids"))


def open_ended_truncated(cls: type) -> type:
    """``cls`` (a TRL KTO/DPO trainer) whose tokenized truncated completions end where the model was cut."""

    class OpenEnded(cls):  # type: ignore[misc, valid-type]
        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            ds = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            cols = [(f, k) for f, k in TRUNCATION_COLUMNS if f in ds.column_names and k in ds.column_names]
            if not cols:
                return ds
            tok = getattr(processing_class, "tokenizer", processing_class)
            suffix, eos = end_of_turn_ids(tok), getattr(tok, "eos_token_id", None)
            ds = ds.map(lambda ex: {k: strip_end_of_turn(ex[k], suffix, eos) if ex[f] else ex[k] for f, k in cols})
            if "KL_completion_ids" in ds.column_names:
                # KTO's mismatched (prompt, completion) pairs for the KL estimate are the completions rotated
                # by one within each batch (TRL, before this strip): rotate the stripped ones the same way
                bs = args.per_device_train_batch_size
                ds = ds.map(lambda b: {"KL_completion_ids": [b["completion_ids"][-1]] + b["completion_ids"][:-1]},
                            batched=True, batch_size=bs)
            return ds

    OpenEnded.__name__ = OpenEnded.__qualname__ = f"OpenEnded{cls.__name__}"
    return OpenEnded


def _stepwise_kto_trainer() -> type:
    """KTOTrainer whose per-sample losses are multiplied by the rows' ``weight`` column."""
    import torch
    from trl import KTOTrainer
    from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

    class WeightedCollator(DataCollatorForUnpairedPreference):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            out = super().torch_call(examples)
            out["weight"] = torch.tensor([float(e["weight"]) for e in examples])
            return out

    class StepwiseKTOTrainer(KTOTrainer):
        def __init__(self, *a: Any, **kw: Any):
            super().__init__(*a, **kw)
            self.data_collator = WeightedCollator(pad_token_id=self.data_collator.pad_token_id,
                                                  max_length=self.data_collator.max_length,
                                                  pad_to_multiple_of=self.data_collator.pad_to_multiple_of)
            self._base_weights = (self.desirable_weight, self.undesirable_weight)

        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            if "weight" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "weight"]

        def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
            # KTO's loss is cat(desirable_weight * chosen_losses, undesirable_weight * rejected_losses):
            # per-sample weight vectors in place of the two scalars weight each sample's loss.
            inputs = dict(inputs)
            w = inputs.pop("weight").to(self.accelerator.device)
            label = torch.as_tensor(inputs["label"], dtype=torch.bool, device=w.device)
            d, u = self._base_weights
            self.desirable_weight, self.undesirable_weight = d * w[label], u * w[~label]
            try:
                return super()._compute_loss(model, inputs, return_outputs)
            finally:
                self.desirable_weight, self.undesirable_weight = d, u

    return StepwiseKTOTrainer


def train_round(cfg: Any, policy: Path, round_dir: Path, r: int, *, echo: Any = print) -> dict[str, Any]:
    """Train round ``r`` from ``policy`` on ``round_dir/train_rows.jsonl``; export ``round_dir/policy``."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from langadapt.train.trainer import _init_ray, fit

    P, tp = cfg.pref, cfg.train
    storage = tp.storage_path or str(Path(cfg.paths.pref_checkpoints).resolve())
    name = f"pref_round_{r}"
    if "://" not in storage:  # the workers pick the same checkpoint (and a newer one after a worker failure)
        drop_broken_ray_snapshot(Path(storage) / name, echo)
        latest = latest_hf_checkpoint(Path(storage) / name)
        if latest is not None:
            done = hf_checkpoint_step(latest)
            if done >= P.max_steps:  # a rerun after the round's training finished: export it
                echo(f"pref: round {r}: already trained to step {done}; exporting {latest}")
                return _export(latest, round_dir, 0.0, cfg)
            echo(f"pref: round {r}: resuming from step {done} ({latest})")
    work = (round_dir / "work").resolve()
    shutil.rmtree(work, ignore_errors=True)  # a killed attempt's local copies: the resume is from storage
    work.mkdir(parents=True, exist_ok=True)
    pref = P.model_dump()
    if P.loss == "kto":
        from langadapt.io import read_jsonl
        from langadapt.pref.feedback import kto_class_weights

        rows = list(read_jsonl(round_dir / "train_rows.jsonl"))
        pref["desirable_weight"], pref["undesirable_weight"] = kto_class_weights(
            rows, P.desirable_weight, P.undesirable_weight, P.balance_weights)
        echo(f"pref: round {r}: KTO weights desirable {pref['desirable_weight']:g}, undesirable "
             f"{pref['undesirable_weight']:g} ({sum(x['label'] for x in rows)} desirable of {len(rows)} rows"
             f"{', balanced' if P.balance_weights else ''})")
    config = {
        "pref": pref, "seed": cfg.seed + r, "policy": str(Path(policy).resolve()),
        "trust_remote_code": cfg.model.trust_remote_code, "rows": str((round_dir / "train_rows.jsonl").resolve()),
        "work_dir": str(work), "threads": tp.cpus_per_worker, "use_gpu": tp.use_gpu,
        "cpu_bf16": _cpu_bf16_training(cfg),
        "ds_config": deepspeed_config(tp.zero_stage, tp.use_gpu, P.grad_clip) if P.deepspeed else None,
        "per_rank_output": tp.ray_address is not None,  # several nodes: no shared local directory
        "run_dir": str((Path(storage) / name).resolve()) if "://" not in storage else None,
        "fail_at_step": int(os.environ[FAIL_AT_STEP_ENV]) if os.environ.get(FAIL_AT_STEP_ENV) else None,
        "fail_marker": os.environ.get(FAIL_MARKER_ENV),
    }
    _init_ray(cfg)
    resources = {"CPU": tp.cpus_per_worker, **({"GPU": 1} if tp.use_gpu else {})}
    trainer = TorchTrainer(
        _train_loop, train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if tp.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=tp.num_workers, use_gpu=tp.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(name=name, storage_path=storage, checkpoint_config=CheckpointConfig(num_to_keep=2),
                             failure_config=FailureConfig(max_failures=tp.max_failures)),
    )
    result, wall = fit(trainer)
    if result.checkpoint is None:
        raise DataError(f"pref round {r}: training finished without a checkpoint in {storage}/{name}")
    with result.checkpoint.as_directory() as d:
        out = _export(Path(d) / HF_CKPT, round_dir, wall, cfg)
    shutil.rmtree(work, ignore_errors=True)
    if P.loss == "kto":
        out["kto_weights"] = {"desirable": pref["desirable_weight"], "undesirable": pref["undesirable_weight"]}
    return out


def _export(hf: Path, round_dir: Path, wall: float, cfg: Any) -> dict[str, Any]:
    """The round's policy to ``round_dir/policy``; the training summary from its state. The model is
    reloaded and saved by transformers (not copied): the DeepSpeed save writes tied weights twice."""
    from langadapt.train.modeling import load_causal_lm, save_hf

    state = json.loads((hf / "trainer_state.json").read_text())
    model, tok = load_causal_lm(hf, trust_remote_code=cfg.model.trust_remote_code)
    save_hf(model, tok, round_dir / "policy")
    del model
    hist = _history(state.get("log_history", []))
    last = hist[-1] if hist else {}

    def mean_of(key: str) -> float | None:
        vals = [h[key] for h in hist if h.get(key) is not None]
        return round(sum(vals) / len(vals), 6) if vals else None

    return {"steps": int(state["global_step"]), "train_loss": last.get("loss"), "kl": mean_of("kl"),
            "rewards_chosen": mean_of("rewards_chosen"), "rewards_rejected": mean_of("rewards_rejected"),
            "rewards_margins": mean_of("rewards_margins"), "history": hist, "train_seconds": round(wall, 2),
            "resumed_from_steps": resumed_from(hf),
            "num_workers": cfg.train.num_workers,
            "deepspeed_zero_stage": cfg.train.zero_stage if cfg.pref.deepspeed else None}
