"""Every generation in langadapt: a local HF model (``HFGenerator``) or an OpenAI-compatible endpoint
(``OpenAITeacher``), both answering chat conversations with ``Generation`` records.

HF: batched, left-padded ``model.generate``.
Used by evaluation (greedy answers), the synth HF teacher and ``langadapt serve`` (``synth.teachers.HFTeacher``)
and preference sampling (``pref.stage``, through the teacher). One set of stop tokens (EOS plus the chat
end-of-turn tokens), one chat rendering, one ``finish_reason`` rule::

    gen = HFGenerator(model, tokenizer, batch_size=8)
    outs = gen.generate([[{"role": "user", "content": "Translate to English: ..."}]], max_new_tokens=96)
    outs[0].text, outs[0].finish_reason      # "length": cut off at max_new_tokens (metrics count these)

``OpenAITeacher`` talks to any OpenAI-compatible ``/v1/chat/completions`` (vLLM, TGI, a hosted API,
``langadapt serve``; eval.endpoint, the judge, synth.teacher kind openai): retries with exponential backoff
on 429/5xx/connection errors, a rate limit, and a disk cache keyed by a hash of the request, so a rerun (or
a run killed half-way) does not pay twice. Identical requests within one call (k samples of one prompt)
are told apart by their occurrence index, which is part of the cache key and is sent as ``seed``.

HF ``temperature`` 0 is greedy; above 0 it samples (top_p 1, no top_k), the torch generator reseeded with
``seed`` at every call so a rerun repeats. Prompts are batched longest first (little padding); a prompt
that would not fit in the context with the answer keeps its end (the question).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from langadapt.errors import ConfigError, ModelError

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
                 seed: int | None = None, cpu_bf16_autocast: bool = False):
        self.model, self.tokenizer, self.progress, self.seed = model, tokenizer, progress, seed
        self.batch_size = max(1, batch_size)
        # bf16 decoding on a CPU with native bf16: the weights are cast to bfloat16 once, here (the model is
        # the caller's: eval and pref load it for decoding only), and decoding runs under autocast so norms and
        # softmax stay fp32. Autocast alone over fp32 weights re-casts every weight at every new token:
        # measured 1.7x slower per step for SmolLM2-135M, batch 12.
        import torch

        from langadapt.hardware import use_cpu_bf16

        device = next(model.parameters()).device
        self.bf16 = device.type == "cpu" and use_cpu_bf16(cpu_bf16_autocast, "generate")
        if self.bf16:
            model.to(torch.bfloat16)
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
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
            with torch.inference_mode(), autocast:
                seqs = self.model.generate(
                    input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                    eos_token_id=self.stops, pad_token_id=self.pad, use_cache=True, **sampling,
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


# ---------------------------------------------------------------------------------------------------
# OpenAI-compatible endpoint


def chat_completions_url(url: str) -> str:
    """``http://host:8000``, ``.../v1`` or ``.../v1/chat/completions`` -> the chat completions endpoint;
    anything that is not an http(s) URL with a host is a ``ConfigError`` naming it."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"synth.teacher.url: {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class RateLimiter:
    """At most ``rate`` request starts per second over all threads."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class OpenAITeacher:
    """A chat model behind an OpenAI-compatible endpoint, with retries, a rate limit and a disk cache."""

    def __init__(self, url: str, model: str, api_key_env: str = "OPENAI_API_KEY", *,
                 requests_per_second: float = 5.0, max_retries: int = 3, cache_dir: str | Path | None = None,
                 timeout: float = 120.0, concurrency: int = 4, backoff: float = 0.5, seed: int = 0):
        if not model:
            raise ConfigError("synth.teacher.model: the model name the endpoint serves is required "
                              "(GET <url>/models lists them)")
        self.url = url
        self.endpoint = chat_completions_url(url)
        self.model = model
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.backoff = backoff
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.limiter = RateLimiter(requests_per_second)
        self.requests_made = 0
        self.cache_hits = 0
        self._count_lock = threading.Lock()

    # -- cache ------------------------------------------------------------------------------------
    def _key(self, payload: dict[str, Any]) -> str:
        blob = json.dumps({"endpoint": self.endpoint, "payload": payload}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.json"

    def _cache_get(self, key: str) -> Generation | None:
        p = self._cache_path(key)
        if p is None or not p.exists():
            return None
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return Generation(d["text"], d["finish_reason"], int(d["completion_tokens"]))
        except (ValueError, KeyError, OSError):
            return None  # a damaged cache entry is simply asked again

    def _cache_put(self, key: str, gen: Generation) -> None:
        p = self._cache_path(key)
        if p is None:
            return
        from langadapt.io import write_json

        write_json(p, {"text": gen.text, "finish_reason": gen.finish_reason,
                       "completion_tokens": gen.completion_tokens})

    # -- requests ---------------------------------------------------------------------------------
    def _post(self, payload: dict[str, Any]) -> Generation:
        import requests

        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env or "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._retry_wait(attempt, last))
            self.limiter.wait()
            with self._count_lock:
                self.requests_made += 1
            try:
                resp = requests.post(self.endpoint, json=payload, headers=headers, timeout=self.timeout)
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema) as e:
                raise ConfigError(f"synth.teacher.url: {self.url!r} is not a valid URL ({e})") from None
            except (requests.ConnectionError, requests.Timeout) as e:
                last = f"{type(e).__name__}: {str(e)[:200]}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                self._retry_after = resp.headers.get("Retry-After")
                continue
            if resp.status_code != 200:
                raise ModelError(f"teacher {self.endpoint}: HTTP {resp.status_code}: {resp.text[:300]}")
            try:
                body = resp.json()
                choice = body["choices"][0]
                text = choice["message"]["content"] or ""
                reason = "length" if choice.get("finish_reason") == "length" else "stop"
                tokens = int((body.get("usage") or {}).get("completion_tokens") or 0)
            except (ValueError, KeyError, IndexError, TypeError):
                raise ModelError(f"teacher {self.endpoint}: not an OpenAI chat completion response: "
                                 f"{resp.text[:300]}") from None
            return Generation(text, reason, tokens)
        raise ModelError(f"teacher {self.endpoint}: no answer after {self.max_retries + 1} attempts ({last}); "
                         "is the server running and synth.teacher.url right?")

    _retry_after: str | None = None

    def _retry_wait(self, attempt: int, last: str) -> float:
        wait = self.backoff * (2 ** (attempt - 1))
        ra = self._retry_after
        if ra:
            try:
                wait = max(wait, min(float(ra), 60.0))
            except ValueError:
                pass
        return wait

    def _one(self, payload: dict[str, Any]) -> Generation:
        key = self._key(payload)
        hit = self._cache_get(key)
        if hit is not None:
            with self._count_lock:
                self.cache_hits += 1
            return hit
        gen = self._post(payload)
        self._cache_put(key, gen)
        return gen

    def generate(self, conversations: Sequence[Conversation], *, max_new_tokens: int,
                 temperature: float) -> list[Generation]:
        seen: dict[str, int] = {}
        payloads = []
        for conv in conversations:
            ident = json.dumps(conv, sort_keys=True, ensure_ascii=False)
            occurrence = seen.get(ident, 0)
            seen[ident] = occurrence + 1
            payloads.append({"model": self.model, "messages": conv, "max_tokens": max_new_tokens,
                             "temperature": temperature, "n": 1, "seed": self.seed + occurrence})
        if self.concurrency == 1 or len(payloads) == 1:
            return [self._one(p) for p in payloads]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, payloads))


def truncation(gens: Sequence[Any]) -> dict[str, float | int]:
    """``{truncated, truncated_share}``: answers cut off at ``max_new_tokens`` (finish_reason length)."""
    n = len(gens)
    k = sum(1 for g in gens if g.finish_reason == "length")
    return {"truncated": k, "truncated_share": k / n if n else 0.0}


def generation_record(model: str, task: str, key: Any, conv: list[dict], g: Any, **extra: Any) -> dict[str, Any]:
    """One line of ``<model>/generations.jsonl``: the prompt, the answer and how it ended."""
    return {"model": model, "task": task, "key": key, "messages": conv, "response": g.text,
            "finish_reason": g.finish_reason, "completion_tokens": g.completion_tokens, **extra}
