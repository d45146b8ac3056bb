"""The ``pref`` stage: preference optimisation of the SFT model from verifier feedback, in rounds.

    langadapt pref                                   # paths.sft -> paths.pref, rounds in paths.pref_checkpoints
    langadapt pref -s pref.loss=dpo -s pref.rounds=2
    langadapt pref -s train.ray_address=auto -s train.use_gpu=true -s train.storage_path=s3://bucket/ckpt

Each round (``pref.rounds``) runs sample -> verify -> train from the latest policy:

1. sample: the policy (round 0: the SFT model) answers the held-out synth prompts that carry constraints
   (``records.is_heldout``: never SFT-trained on), ``pref.samples_per_prompt`` answers each at
   ``pref.temperature``, in batches (``langadapt.generation.HFGenerator``, seeded by seed + round);
2. verify: every answer is checked per constraint and for language stability
   (``langadapt.pref.feedback``); it is desirable when every check holds. The records
   (``round_<r>/samples.jsonl``) keep each constraint's outcome, so the data can be audited and reused;
3. train: TRL's ``KTOTrainer`` (``pref.loss: kto``, unpaired: fits verifier labels) or ``DPOTrainer``
   (``dpo``: a passing and a failing answer of one prompt) in Ray Train workers with DeepSpeed
   (``langadapt.pref.train``); the reference model is the round's starting policy (TRL keeps a frozen
   copy, or ``pref.precompute_ref_log_probs`` computes its log-probs once and drops it).

A round whose answers all pass or all fail (nothing to contrast) is skipped with a message: the policy
carries over unchanged. After the last round the final policy is sampled once more on the same prompts
(``final`` in the metrics), so the rounds' pass rates show the effect of training. Finished rounds are
kept (with the params' fingerprint) and a round's samples are read back, so a killed run (``kill -9`` of
the driver and Ray) resumes at the round it stopped in, and inside a round at its last complete checkpoint
(``resumed_from_steps`` in ``per_round``); a finished round is never redone.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langadapt.errors import ConfigError
from langadapt.io import atomic_dir, atomic_write, read_jsonl, write_json, write_jsonl

ROUND_DONE = "round.json"
HF_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt")


def _check_params(cfg: Any) -> None:
    P = cfg.pref
    for key in ("rounds", "samples_per_prompt", "max_new_tokens", "batch_size", "max_steps", "micro_batch_size",
                "grad_accum", "max_length", "checkpoint_every"):
        if getattr(P, key) < 1:
            raise ConfigError(f"params.yaml: pref.{key}: must be >= 1, got {getattr(P, key)}")
    if P.temperature <= 0:
        raise ConfigError(f"params.yaml: pref.temperature: must be > 0 (on-policy samples need variety), "
                          f"got {P.temperature}")
    if P.stepwise and P.loss != "kto":
        raise ConfigError("params.yaml: pref.stepwise: the stepwise weighting is a KTO variant; set pref.loss: kto")
    if P.pairing == "score" and P.loss != "dpo":
        raise ConfigError("params.yaml: pref.pairing: pairs are a DPO option; KTO trains on every sample's label "
                          "(pref.stepwise weighs them by the share of failed checks); set pref.loss: dpo")
    if P.sft_weight < 0:
        raise ConfigError(f"params.yaml: pref.sft_weight: must be >= 0, got {P.sft_weight}")
    if P.sft_weight > 0 and P.loss != "dpo":
        raise ConfigError("params.yaml: pref.sft_weight: the NLL term on chosen answers is a DPO option (RPO); "
                          "set pref.loss: dpo or pref.sft_weight: 0")


def _digest(path: Path) -> str:
    """Content hash of a file or of the files directly in a directory (large files by size only)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes() if p.stat().st_size < (256 << 20) else str(p.stat().st_size).encode())
    return h.hexdigest()


def fingerprint(cfg: Any, init_model: Path) -> str:
    """Same fingerprint => same run (a rerun resumes finished rounds); else it starts fresh."""
    tp = cfg.train.model_dump()
    for k in ("ray_address", "storage_path", "max_failures", "report_to", "cpus_per_worker"):
        tp.pop(k, None)
    code = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        code.update(f.read_bytes())
    blob = json.dumps({"seed": cfg.seed, "lang": cfg.language.code, "pref": cfg.pref.model_dump(), "train": tp,
                       "heldout": cfg.data.heldout_fraction, "init": _digest(init_model),
                       "synth": _digest(Path(cfg.paths.synth)), "code": code.hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sample_round(policy: Path, prompts: list[dict[str, Any]], cfg: Any, seed: int,
                 progress: Callable | None = None) -> list[dict[str, Any]]:
    """``samples_per_prompt`` answers per prompt from ``policy``, each with its verifier feedback."""
    import torch

    from langadapt.generation import HFGenerator
    from langadapt.pref.feedback import feedback
    from langadapt.train.modeling import load_causal_lm

    P, lang = cfg.pref, cfg.language.code
    model, tok = load_causal_lm(policy, trust_remote_code=cfg.model.trust_remote_code)
    if torch.cuda.is_available():
        model.to("cuda")
    teacher = HFGenerator(model.eval(), tok, batch_size=P.batch_size, seed=seed,
                          cpu_bf16_autocast=cfg.train.cpu_bf16_autocast)
    convs = [p["messages"] for p in prompts for _ in range(P.samples_per_prompt)]
    gens = []
    for i in range(0, len(convs), P.batch_size):
        gens.extend(teacher.generate(convs[i : i + P.batch_size], max_new_tokens=P.max_new_tokens,
                                     temperature=P.temperature))
        if progress:
            progress(min(i + P.batch_size, len(convs)), len(convs))
    records = []
    for j, g in enumerate(gens):
        p = prompts[j // P.samples_per_prompt]
        records.append({
            "id": f"{p['id']}#s{j % P.samples_per_prompt}", "prompt_id": p["id"], "sample": j % P.samples_per_prompt,
            "messages": p["messages"], "response": g.text, "finish_reason": g.finish_reason,
            "completion_tokens": g.completion_tokens, "lang": lang,
            "feedback": feedback(g.text, p["constraints"], lang, P.min_script_ratio,
                                 truncated=g.finish_reason == "length", truncated_desirable=P.truncated_desirable),
        })
    del model, teacher
    return records


def _copy_hf(src: Path, dst: Path) -> None:
    """An HF model directory without trainer/optimizer state (config, safetensors, tokenizer)."""
    with atomic_dir(dst) as staging:
        for f in src.iterdir():
            if f.is_file() and (f.name in HF_FILES or f.suffix == ".safetensors" or f.name.endswith(".safetensors.index.json")):
                shutil.copy2(f, staging / f.name)


def run_pref(cfg: Any, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Every round, the export to ``paths.pref`` and the metrics; returns metrics/pref.json's content."""
    from langadapt.pref.feedback import dpo_pairs, kto_rows, round_stats, select_prompts, skip_reason
    from langadapt.records import read_sft_examples
    from langadapt.train.modeling import check_checkpoint_dir

    _check_params(cfg)
    P = cfg.pref
    sft = Path(cfg.paths.sft)
    check_checkpoint_dir(sft, what="paths.sft (run `langadapt sft` first):")
    prompts, counts = select_prompts(read_sft_examples(cfg.paths.synth), cfg.data.heldout_fraction, P.prompts)
    root = Path(cfg.paths.pref_checkpoints)
    fp = fingerprint(cfg, sft)
    run_file = root / "pref_run.json"
    if root.exists():
        old = json.loads(run_file.read_text()).get("fingerprint") if run_file.exists() else None
        if old != fp:
            echo(f"pref: {root} holds a run with other params/data: starting fresh")
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    write_json(run_file, {"fingerprint": fp})

    rounds: list[dict[str, Any]] = []
    policy = sft
    t0 = time.perf_counter()
    if not prompts:
        msg = (f"{cfg.paths.synth}: no held-out prompt with constraints ({counts['examples']} examples: "
               f"{counts['train_split']} in the SFT train split, {counts['no_constraints']} held out without "
               f"constraints; data.heldout_fraction={cfg.data.heldout_fraction}); every round skipped, "
               "paths.pref is the SFT model")
        echo(f"pref: {msg}")
        rounds = [{"round": r, "skipped": msg} for r in range(P.rounds)]
        final = None
    else:
        echo(f"pref: {len(prompts)} held-out prompts with constraints x {P.samples_per_prompt} samples, "
             f"{P.rounds} round(s) of {P.loss}{' (stepwise)' if P.stepwise else ''}")
        for r in range(P.rounds):
            rdir = root / f"round_{r}"
            done = rdir / ROUND_DONE
            if done.exists():
                info = json.loads(done.read_text())
                echo(f"pref: round {r} already done ({'skipped' if info.get('skipped') else 'trained'})")
                rounds.append(info)
                if (rdir / "policy" / "config.json").exists():
                    policy = rdir / "policy"
                continue
            records = _samples(rdir / "samples.jsonl", policy, prompts, cfg, cfg.seed + r, echo, f"round {r}")
            stats = round_stats(records)
            info: dict[str, Any] = {"round": r, "policy": str(policy), **stats}
            echo(f"pref: round {r}: desirable {stats['desirable']}/{stats['samples']}, constraint pass rate "
                 f"{_f(stats['constraint_pass_rate'])}, language stability {_f(stats['language_stability'])}, "
                 f"truncated {_f(stats['truncated_share'])}"
                 + (f" ({stats['truncated_passing']} cut at pref.max_new_tokens={P.max_new_tokens} pass every "
                    "check: not desirable)" if stats["truncated_passing"] and not P.truncated_desirable else ""))
            reason = skip_reason(records, P.loss, P.pairing)
            if reason:
                info["skipped"] = f"round {r} skipped: {reason}; the policy carries over unchanged"
                echo(f"pref: {info['skipped']}")
            else:
                from langadapt.pref.train import train_round

                rows = (dpo_pairs(records, cfg.seed + r, P.pairing) if P.loss == "dpo"
                        else kto_rows(records, P.stepwise))
                write_jsonl(rdir / "train_rows.jsonl", rows)
                res = train_round(cfg, policy, rdir, r, echo=echo)
                info.update(train=res, train_rows=len(rows))
                policy = rdir / "policy"
            write_json(done, info)
            rounds.append(info)
        final_records = _samples(root / "final_samples.jsonl", policy, prompts, cfg, cfg.seed + P.rounds, echo, "final")
        final = round_stats(final_records)
        echo(f"pref: final policy: desirable {final['desirable']}/{final['samples']}, constraint pass rate "
             f"{_f(final['constraint_pass_rate'])}")

    _copy_hf(policy, Path(cfg.paths.pref))
    trained = [r for r in rounds if "train" in r]
    metrics = {
        "loss": P.loss, "stepwise": P.stepwise, "pairing": P.pairing, "sft_weight": P.sft_weight, "rounds": P.rounds, "rounds_trained": len(trained),
        "rounds_skipped": len(rounds) - len(trained), "prompts": len(prompts),
        "samples_per_prompt": P.samples_per_prompt, "prompt_selection": counts,
        "initial": _headline(rounds[0]) if rounds and "samples" in rounds[0] else None,
        "final": _headline(final) if final else None,
        "per_round": [_round_metrics(r) for r in rounds],
        "policy": str(policy), "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(Path(cfg.paths.metrics) / "pref.json", metrics)
    _write_plots(cfg, rounds, final)
    return metrics


def _samples(path: Path, policy: Path, prompts: list[dict[str, Any]], cfg: Any, seed: int,
             echo: Callable[[str], None], what: str) -> list[dict[str, Any]]:
    """A round's samples: read back when a killed run already wrote them (same seed => same samples)."""
    if path.exists():
        return list(read_jsonl(path))
    echo(f"pref: {what}: sampling {len(prompts) * cfg.pref.samples_per_prompt} answers from {policy}")
    records = sample_round(policy, prompts, cfg, seed)
    write_jsonl(path, records)
    return records


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _headline(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats.get(k) for k in ("samples", "desirable_share", "constraint_pass_rate", "language_stability",
                                       "truncated_share", "truncated_passing", "pass_rate")}


def _round_metrics(info: dict[str, Any]) -> dict[str, Any]:
    out = {k: info.get(k) for k in ("round", "samples", "desirable_share", "constraint_pass_rate",
                                     "language_stability", "truncated_share", "truncated_passing", "skipped",
                                     "train_rows")}
    if "train" in info:
        out.update({k: info["train"].get(k) for k in ("steps", "train_loss", "kl", "rewards_chosen",
                                                       "rewards_rejected", "rewards_margins", "train_seconds",
                                                       "resumed_from_steps", "kto_weights")})
    return out


def _write_plots(cfg: Any, rounds: list[dict[str, Any]], final: dict[str, Any] | None) -> None:
    """plots/pref_rounds.csv (one row per round + final), pref_constraints.csv (pass rate per constraint
    per round), pref_loss.csv (training curves of every round, one global step axis)."""
    plots = Path(cfg.paths.plots)
    rows = [(str(r["round"]), r) for r in rounds] + ([("final", final)] if final else [])
    with atomic_write(plots / "pref_rounds.csv") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["round", "desirable_share", "constraint_pass_rate", "language_stability", "train_loss", "kl",
                    "rewards_margins"])
        for name, r in rows:
            t = r.get("train") or {}
            w.writerow([name] + [_cell(r.get(k)) for k in ("desirable_share", "constraint_pass_rate",
                                                           "language_stability")]
                       + [_cell(t.get(k)) for k in ("train_loss", "kl", "rewards_margins")])
    with atomic_write(plots / "pref_constraints.csv") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["round", "constraint", "pass_rate", "n"])
        for name, r in rows:
            for cid, v in (r.get("pass_rate") or {}).items():
                w.writerow([name, cid, v, r["checked"][cid]])
    with atomic_write(plots / "pref_loss.csv") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["step", "round", "loss", "kl", "rewards_margins"])
        offset = 0
        for r in rounds:
            hist = (r.get("train") or {}).get("history", [])
            for h in hist:
                w.writerow([offset + h["step"], r["round"], _cell(h.get("loss")), _cell(h.get("kl")),
                            _cell(h.get("rewards_margins"))])
            offset += hist[-1]["step"] if hist else 0


def _cell(x: Any) -> Any:
    return "" if x is None else (round(x, 6) if isinstance(x, float) else x)
