"""An OpenAI-compatible chat endpoint for one HF checkpoint (``langadapt serve CHECKPOINT``).

    langadapt serve models/sft --port 8000
    curl http://127.0.0.1:8000/v1/models
    curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
         -d '{"model": "sft", "messages": [{"role": "user", "content": "สวัสดี"}], "max_tokens": 32}'

Enough of the API for teachers, evaluation and a quick look at a checkpoint: ``POST /v1/chat/completions``
(messages, max_tokens, temperature, n, seed) and ``GET /v1/models``. Generation is HF ``generate`` (one
request at a time); for throughput serve the same checkpoint with vLLM, which speaks the same API.

Limits (one request must not hold the one model for minutes or exhaust memory): a request body over
``max_body_bytes`` is refused with 413 before it is parsed (Content-Length, or counted as it streams);
``max_tokens x n`` over ``max_total_tokens`` and a prompt over ``max_prompt_tokens`` are refused with 400.
"""

# No `from __future__ import annotations` here: FastAPI reads the request model from the annotation.
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MAX_BODY_BYTES = 1 << 20        # 1 MiB of JSON is ~250k Thai characters: far more than any chat needs
MAX_TOTAL_TOKENS = 4096         # max_tokens x n per request
MAX_PROMPT_TOKENS = 8192        # chat-templated prompt tokens per request
DEFAULT_MAX_TOKENS = 256


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    n: int = Field(default=1, ge=1, le=16)
    seed: int | None = None


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (declared or streamed), before parsing."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_bytes:
                await self._reject(send)
                return
        seen = 0
        rejected = False

        async def counted() -> dict:
            # a streamed (chunked) body: answer 413 once it passes the limit and tell the app the client
            # went away; whatever the app then tries to send is dropped
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    rejected = True
                    await self._reject(send)
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: dict) -> None:
            if not rejected:
                await send(msg)

        await self.app(scope, counted, guarded_send)

    async def _reject(self, send: Any) -> None:
        import json

        body = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(checkpoint: str | Path, *, model_name: str | None = None, batch_size: int = 8,
               teacher: Any = None, max_body_bytes: int = MAX_BODY_BYTES,
               max_total_tokens: int = MAX_TOTAL_TOKENS, max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> Any:
    from fastapi import FastAPI, HTTPException

    from langadapt.synth.teachers import HFTeacher

    teacher = teacher or HFTeacher(checkpoint, batch_size=batch_size)
    name = model_name or Path(str(checkpoint)).name
    lock = threading.Lock()
    created = int(time.time())

    app = FastAPI(title=f"langadapt serve: {name}")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                            "owned_by": "langadapt", "root": str(checkpoint)}]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest) -> dict[str, Any]:
        if req.model not in (None, name):
            raise HTTPException(404, f"The model {req.model!r} does not exist (this server serves {name!r})")
        for m in req.messages:
            if m.role not in ("system", "user", "assistant"):
                raise HTTPException(400, f"message role must be system|user|assistant, got {m.role!r}")
        conv = [{"role": m.role, "content": m.content} for m in req.messages]
        max_new = req.max_completion_tokens or req.max_tokens or min(DEFAULT_MAX_TOKENS, max_total_tokens)
        if max_new * req.n > max_total_tokens:
            raise HTTPException(400, f"max_tokens x n = {max_new} x {req.n} = {max_new * req.n} is over this "
                                     f"server's limit of {max_total_tokens} tokens per request")
        n_prompt = teacher.prompt_tokens(conv)
        if n_prompt > max_prompt_tokens:
            raise HTTPException(400, f"the prompt is {n_prompt} tokens, over this server's limit of "
                                     f"{max_prompt_tokens}")
        with lock:  # one generate at a time: the model and the torch RNG are shared
            if req.seed is not None:
                teacher.seed = req.seed
            gens = teacher.generate([conv] * req.n, max_new_tokens=max_new, temperature=req.temperature)
        prompt_tokens = n_prompt
        completion = sum(g.completion_tokens for g in gens)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": g.text},
                         "finish_reason": g.finish_reason} for i, g in enumerate(gens)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                      "total_tokens": prompt_tokens + completion},
        }

    return app


def serve(checkpoint: str | Path, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
          *, max_body_bytes: int = MAX_BODY_BYTES, max_total_tokens: int = MAX_TOTAL_TOKENS) -> None:
    import uvicorn

    app = create_app(checkpoint, model_name=model_name, max_body_bytes=max_body_bytes,
                     max_total_tokens=max_total_tokens)
    uvicorn.run(app, host=host, port=port, log_level="warning")
