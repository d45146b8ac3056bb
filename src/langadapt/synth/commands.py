"""CLI commands of langadapt.synth (registered on the root app by langadapt.cli).

    langadapt synth [-p params.yaml] [-s synth.back_translation=50]
    langadapt ifeval score responses.jsonl --lang th
    langadapt serve models/sft --port 8000
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import ParamsOpt, SetOpt, Timer, handles_errors, load, summary

ifeval_app = typer.Typer(help="Instruction-following (IFEval) scoring with language-aware verifiers.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("synth")(synth)
    app.command("serve")(serve)
    app.add_typer(ifeval_app, name="ifeval")


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


@ifeval_app.command("score")
@handles_errors
def ifeval_score(
    input: Annotated[Path, typer.Argument(help="JSONL: IFEval (instruction_id_list, kwargs, prompt) or "
                                               "SEA-IFEval (prompts[0].text, metadata.subcategory, kwargs) "
                                               "records, each with a 'response'.")],
    lang: Annotated[str, typer.Option(help="Language of the responses (segmenter for word/sentence "
                                           "counts): th, en, bo, zh-Hant.")] = "th",
    results: Annotated[bool, typer.Option(help="Include per-record results in the JSON.")] = False,
) -> None:
    """Score responses: prompt- and instruction-level strict/loose accuracy, per instruction id; unknown
    ids are listed (and count as failures)."""
    from langadapt.errors import DataError
    from langadapt.synth.constraints import parse_ifeval_record, score_ifeval

    if not input.exists():
        raise DataError(f"{input}: file not found")
    records = []
    with open(input, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{input}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: invalid JSON ({e.msg})") from None
            parse_ifeval_record(rec, where)
            if not isinstance(rec.get("response"), str):
                raise DataError(f"{where}: needs a 'response' string")
            records.append(rec)
    if not records:
        raise DataError(f"{input}: no records")
    out = score_ifeval(records, lang, source=str(input), keep_results=results)
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
