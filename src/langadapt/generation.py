"""Every HF generation in langadapt: batched, left-padded ``model.generate`` over chat conversations.

Used by evaluation (greedy answers), the synth HF teacher and ``langadapt serve`` (``synth.teachers.HFTeacher``)
and preference sampling (``pref.stage``, through the teacher). One set of stop tokens (EOS plus the chat
end-of-turn tokens), one chat rendering, one ``finish_reason`` rule::

    gen = HFGenerator(model, tokenizer, batch_size=8)
    outs = gen.generate([[{"role": "user", "content": "Translate to English: ..."}]], max_new_tokens=96)
    outs[0].text, outs[0].finish_reason      # "length": cut off at max_new_tokens (metrics count these)

``temperature`` 0 is greedy; above 0 it samples (top_p 1, no top_k), the torch generator reseeded with
``seed`` at every call so a rerun repeats. Prompts are batched longest first (little padding); a prompt
that would not fit in the context with the answer keeps its end (the question).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Conversation = list[dict[str, str]]


@dataclass
class Generation:
    text: str
    finish_reason: Literal["stop", "length"]
    completion_tokens: int


class Generator(Protocol):
    """Anything that answers conversations: ``HFGenerator``, ``synth.teachers.OpenAITeacher``."""

    def generate(self, conversations: Sequence[Conversation], *, max_new_tokens: int,
                 temperature: float) -> list[Generation]: ...


END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>")


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """EOS plus the chat end-of-turn token(s) the vocabulary has, plus the model's generation-config
    EOS: any of them ends an answer normally."""
    ids: list[int] = []
    cands: list[Any] = [tokenizer.eos_token_id]
    for t in END_OF_TURN_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(t) if t in tokenizer.get_vocab() else None
        cands.append(tid)
    gc = getattr(model, "generation_config", None)
    if gc is not None and gc.eos_token_id is not None:
        cands.extend(gc.eos_token_id if isinstance(gc.eos_token_id, list) else [gc.eos_token_id])
    for c in cands:
        if c is not None and c not in ids and c != tokenizer.unk_token_id:
            ids.append(int(c))
    return ids


def render_chat(tokenizer: Any, messages: list[dict]) -> list[int]:
    """Token ids of ``messages`` with the generation prompt (the checkpoint's chat template, else
    langadapt's ChatML default)."""
    template = None
    if not getattr(tokenizer, "chat_template", None):
        from langadapt.train.modeling import DEFAULT_CHAT_TEMPLATE

        template = DEFAULT_CHAT_TEMPLATE
    out = tokenizer.apply_chat_template(messages, chat_template=template, add_generation_prompt=True,
                                        tokenize=True, return_dict=True)
    return list(out["input_ids"])


class HFGenerator:
    """Batched decoding with ``model.generate`` on the model's device (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8, progress: Callable | None = None,
                 seed: int | None = None):
        self.model, self.tokenizer, self.progress, self.seed = model, tokenizer, progress, seed
        self.batch_size = max(1, batch_size)
        self.stops = stop_token_ids(tokenizer, model)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stops[0]

    def prompt_tokens(self, conversation: Conversation) -> int:
        return len(render_chat(self.tokenizer, conversation))

    def generate(self, conversations: Sequence[Conversation], *, max_new_tokens: int,
                 temperature: float = 0.0) -> list[Generation]:
        import torch

        if self.seed is not None:
            torch.manual_seed(self.seed)
        prompts = [render_chat(self.tokenizer, c) for c in conversations]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit:  # keep the prompt's end (the question) when it would not fit with the answer
            prompts = [p[-(limit - max_new_tokens):] if len(p) + max_new_tokens > limit else p for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        out: list[Generation | None] = [None] * len(prompts)
        device = next(self.model.parameters()).device
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        it = self.progress(batches, desc="generate", total=len(batches), unit="batch") if self.progress else batches
        for idx in it:
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(idx):  # left padding: the prompts end where generation starts
                ids[r, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[r, width - len(prompts[i]) :] = 1
            with torch.inference_mode():
                seqs = self.model.generate(
                    input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                    eos_token_id=self.stops, pad_token_id=self.pad, **sampling,
                )
            for r, i in enumerate(idx):
                new = seqs[r, width:].tolist()
                stop_at = next((k for k, t in enumerate(new) if t in self.stops), None)
                if stop_at is None:
                    toks, reason = new, "length"
                else:
                    toks, reason = new[:stop_at], "stop"
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                out[i] = Generation(text=text.strip(), finish_reason=reason, completion_tokens=len(toks))
        return [g for g in out if g is not None]


def truncation(gens: Sequence[Any]) -> dict[str, float | int]:
    """``{truncated, truncated_share}``: answers cut off at ``max_new_tokens`` (finish_reason length)."""
    n = len(gens)
    k = sum(1 for g in gens if g.finish_reason == "length")
    return {"truncated": k, "truncated_share": k / n if n else 0.0}
