"""CLI commands of langadapt.synth (registered on the root app by langadapt.cli).

    langadapt synth [-p params.yaml] [-s synth.back_translation=50]
    langadapt serve models/sft --port 8000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("synth")(synth)
    app.command("serve")(serve)


@handles_errors
def synth(params: ParamsOpt = Path("params.yaml"), sets: SetOpt = None) -> None:
    """Make verified SFT examples (constraint back-translation, translation pairs, and with a teacher
    AutoIF and translated IFEval) -> paths.synth, metrics/synth.json."""
    from langadapt.synth.stage import run_synth

    cfg = load(params, sets)
    t = Timer()
    m = run_synth(cfg, root=Path(params).resolve().parent)
    by = ", ".join(f"{k} {v}" for k, v in m["by_source"].items()) or "none"
    dropped = sum(sum(c.values()) for k, c in m["dropped"].items() if ":" not in k)
    summary("synth", f"{m['examples']} examples ({by}); {dropped} dropped -> {cfg.paths.synth}", t.seconds)


@handles_errors
def serve(
    checkpoint: Annotated[Path, typer.Argument(help="HF checkpoint directory (config.json + safetensors).")],
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    name: Annotated[str | None, typer.Option(help="Model name clients send (default: the directory name).")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Larger request bodies are refused (413).")] = 1 << 20,
    max_total_tokens: Annotated[int, typer.Option(help="Cap on max_tokens x n per request (400 above).")] = 4096,
) -> None:
    """Serve a checkpoint on an OpenAI-compatible endpoint (POST /v1/chat/completions, GET /v1/models)."""
    from langadapt.synth.serve import serve as run

    typer.secho(f"serving {checkpoint} as {name or checkpoint.name!r} on http://{host}:{port}/v1", err=True)
    run(checkpoint, host=host, port=port, model_name=name, max_body_bytes=max_body_bytes,
        max_total_tokens=max_total_tokens)

