"""Teachers: the models that write and answer synthetic instructions, behind one Protocol.

    teacher = HFTeacher("models/cpt")                                     # local transformers generate
    teacher = OpenAITeacher("http://127.0.0.1:8000/v1", "tiny", "OPENAI_API_KEY", cache_dir=".cache/teacher")
    gens = teacher.generate([[{"role": "user", "content": "สวัสดี"}]], max_new_tokens=64, temperature=0.7)
    gens[0].text, gens[0].finish_reason, gens[0].completion_tokens

``OpenAITeacher`` talks to any OpenAI-compatible ``/v1/chat/completions`` (vLLM, TGI, a hosted API,
``langadapt serve``): retries with exponential backoff on 429/5xx/connection errors, a rate limit, and a
disk cache keyed by a hash of the request, so a rerun (or a run killed half-way) does not pay twice.
Identical requests within one call (k samples of one prompt) are told apart by their occurrence index,
which is part of the cache key and is sent as ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from langadapt.errors import ConfigError, ModelError
from langadapt.generation import Conversation, Generation, Generator, HFGenerator

# A teacher is any Generator (langadapt.generation): the one home of HF generation and its Generation record.
Teacher = Generator


class HFTeacher(HFGenerator):
    """A local checkpoint as a teacher: ``langadapt.generation.HFGenerator`` over a model loaded from
    ``path`` (or the given one), its tokenizer left-padded with EOS as the pad token when it has none.

    ``seed`` makes sampling reproducible: the torch generator is reseeded at every ``generate`` call.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 8, seed: int = 0, trust_remote_code: bool = False,
                 model: Any = None, tokenizer: Any = None):
        if model is None or tokenizer is None:
            from langadapt.train.modeling import load_causal_lm

            model, tokenizer = load_causal_lm(path, trust_remote_code=trust_remote_code)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        super().__init__(model.eval(), tokenizer, batch_size=batch_size, seed=seed)
        self.name = str(path)


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


def make_teacher(tp: Any, seed: int, root: str | Path = ".") -> Teacher | None:
    """The teacher ``synth.teacher`` describes (``None`` for kind ``none``)."""
    if tp.kind == "none":
        return None
    if tp.kind == "hf":
        if not tp.model:
            raise ConfigError("synth.teacher.model: kind 'hf' needs a checkpoint path (e.g. models/cpt)")
        model = Path(tp.model)
        if not model.is_absolute() and (Path(root) / model).exists():
            model = Path(root) / model
        return HFTeacher(model if model.exists() else tp.model, batch_size=tp.batch_size, seed=seed)
    if not tp.url:
        raise ConfigError("synth.teacher.url: kind 'openai' needs the endpoint URL, e.g. http://127.0.0.1:8000/v1")
    cache = Path(tp.cache_dir)
    if not cache.is_absolute():
        cache = Path(root) / cache
    return OpenAITeacher(tp.url, tp.model, tp.api_key_env, requests_per_second=tp.requests_per_second,
                         max_retries=tp.max_retries, cache_dir=cache, timeout=tp.timeout,
                         concurrency=tp.concurrency, seed=seed)
