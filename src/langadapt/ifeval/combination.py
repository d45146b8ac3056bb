"""combination:* checkers: two_responses, repeat_prompt."""

from __future__ import annotations

import string

from langadapt.ifeval.base import Ctx, InstructionError


def two_responses(r: str, kw: dict, ctx: Ctx) -> bool:
    if ctx.semantics == "sea":  # SEA: two non-empty parts (punctuation alone is empty); may be equal
        return len([p for p in r.strip().split("******") if p.strip().strip(string.punctuation)]) == 2
    valid = []
    parts = r.split("******")
    for i, part in enumerate(parts):
        if not part.strip():
            if i != 0 and i != len(parts) - 1:
                return False
        else:
            valid.append(part)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def repeat_prompt(r: str, kw: dict, ctx: Ctx) -> bool:
    """The response starts with the prompt; SEA and langadapt also need an answer after it."""
    to_repeat = kw.get("prompt_to_repeat") or ctx.prompt
    if not to_repeat:
        raise InstructionError("combination:repeat_prompt needs kwargs.prompt_to_repeat (or the prompt)")
    text, want = r.strip().lower(), to_repeat.strip().lower()
    if not text.startswith(want):
        return False
    return ctx.semantics == "google" or bool(text.removeprefix(want).strip())
