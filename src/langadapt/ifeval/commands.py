"""CLI: ``langadapt ifeval score`` (registered on the root app by langadapt.cli).

    langadapt ifeval score samples/data/th/ifeval-th.jsonl                       # validate: 105 records
    langadapt ifeval score samples/data/th/ifeval-th.jsonl --responses answers.jsonl
    langadapt ifeval score ../shared/data/en/ifeval-gpt4-responses.jsonl         # {prompt, response} lines
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Annotated

import typer

from langadapt.cli_common import handles_errors

ifeval_app = typer.Typer(help="Instruction-following (IFEval) scoring: Google IFEval and SEA-IFEval files.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(ifeval_app, name="ifeval")


@ifeval_app.command("score")
@handles_errors
def ifeval_score(
    input: Annotated[Path, typer.Argument(help="JSONL: Google IFEval (prompt, instruction_id_list, kwargs), "
                                               "SEA-IFEval (prompts[0].text, metadata.subcategory, kwargs), or "
                                               "{prompt, response} lines (ids from --prompts). A 'response' "
                                               "per record is scored; without any, the file is validated.")],
    responses: Annotated[Path | None, typer.Option(help="JSONL of {prompt|key|id, response} joined to the "
                                                        "records.")] = None,
    prompts: Annotated[Path | None, typer.Option(help="Google IFEval prompts for {prompt, response} lines "
                                                      "(default: samples/data/en/ifeval-input_data.jsonl).")] = None,
    semantics: Annotated[str | None, typer.Option(help="google | sea | langadapt (default: by format: Google "
                                                       "records google, SEA records sea).")] = None,
    lang: Annotated[str | None, typer.Option(help="Language of the responses (default: SEA records' "
                                                  "metadata.language, Google records en).")] = None,
    results: Annotated[bool, typer.Option(help="Include per-record results in the JSON.")] = False,
) -> None:
    """Score responses: prompt- and instruction-level accuracy (strict, loose, language-normalised) per
    instruction id. An unknown id or kwarg is an error naming the record (exit 2)."""
    from langadapt.ifeval import SEMANTICS, InstructionError, read_file, score_items

    if semantics is not None and semantics not in SEMANTICS:
        raise InstructionError(f"--semantics must be one of {list(SEMANTICS)}, got {semantics!r}")
    items = read_file(input, lang=lang, prompts=prompts, responses=responses)
    with_resp = [it for it in items if it.response is not None]
    if not with_resp:
        ids = collections.Counter(cid for it in items for cid in it.ids)
        out = {"file": str(input), "records": len(items), "formats": sorted({it.format for it in items}),
               "langs": sorted({it.lang for it in items}), "responses": 0, "instruction_ids": dict(sorted(ids.items())),
               "note": "no responses: every record was read and validated; give --responses to score"}
    else:
        out = {"file": str(input), "records": len(items), "responses": len(with_resp),
               **score_items(with_resp, semantics=semantics, keep_results=results)}
        if len(with_resp) < len(items):
            out["note"] = f"{len(items) - len(with_resp)} records without a response were not scored"
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
