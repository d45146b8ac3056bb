"""Greedy generation for evaluation: a local HF checkpoint (batched, left-padded ``generate``) or an
OpenAI-compatible endpoint (vLLM on the cluster, ``eval.endpoint``).

Each answer keeps its ``finish_reason``: ``"length"`` means it hit ``max_new_tokens`` and was cut off;
the metrics report how many answers were truncated instead of silently scoring the stubs.

    gen = HFGenerator(model, tokenizer, batch_size=8)
    outs = gen.generate([[{"role": "user", "content": "Translate to English: ..."}]], max_new_tokens=96)
    outs[0].text, outs[0].finish_reason
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langadapt.synth.teachers import Generation


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """EOS plus the chat end-of-turn token(s): any of them ends an answer normally."""
    ids: list[int] = []
    cands: list[Any] = [tokenizer.eos_token_id]
    for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
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
    """Batched greedy decoding with ``model.generate`` (a ``langadapt.synth.teachers.Teacher``).

    Unlike ``HFTeacher`` (sampling for synthetic data) it sorts prompts by length so batches pad
    little, shows progress, runs on the model's device and keeps the end of a prompt that would not
    fit in the context with the answer."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8, progress: Callable | None = None):
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, batch_size, progress
        self.stops = stop_token_ids(tokenizer, model)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stops[0]

    def generate(self, conversations: list[list[dict]], *, max_new_tokens: int,
                 temperature: float = 0.0) -> list[Generation]:
        import torch

        prompts = [render_chat(self.tokenizer, c) for c in conversations]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit:  # keep the prompt's end (the question) when it would not fit with the answer
            prompts = [p[-(limit - max_new_tokens):] if len(p) + max_new_tokens > limit else p for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        out: list[Generation | None] = [None] * len(prompts)
        device = next(self.model.parameters()).device
        it = self.progress(batches, desc="generate", total=len(batches), unit="batch") if self.progress else batches
        for idx in it:
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[r, width - len(prompts[i]) :] = 1
            with torch.inference_mode():
                seqs = self.model.generate(
                    input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                    do_sample=False, temperature=None, top_p=None, top_k=None,
                    eos_token_id=self.stops, pad_token_id=self.pad,
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


def generation_record(model: str, task: str, key: Any, conv: list[dict], g: Any, **extra: Any) -> dict[str, Any]:
    """One line of ``<model>/generations.jsonl``: the prompt, the answer and how it ended."""
    return {"model": model, "task": task, "key": key, "messages": conv, "response": g.text,
            "finish_reason": g.finish_reason, "completion_tokens": g.completion_tokens, **extra}
