"""Loading, building and saving causal LMs (HF format, safetensors only).

    from langadapt.train.modeling import load_causal_lm, build_tiny_qwen3, DEFAULT_CHAT_TEMPLATE
    model, tok = load_causal_lm("models/cpt")                # a local HF checkpoint
    model, tok = load_causal_lm("Qwen/Qwen2.5-0.5B")          # a hub id already in the HF cache
    model = build_tiny_qwen3(cfg.model.tiny, vocab_size=4000, seed=1234)

Hub ids are resolved from the local cache only (``local_files_only``) unless the environment says
``HF_HUB_OFFLINE=0``: the pipeline never downloads at run time unless asked to. Pickle weights
(``pytorch_model.bin``) are refused: safetensors only. ``trust_remote_code`` is off unless asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langadapt.errors import ModelError

TINY_BASE = "tiny-qwen3"

# Special tokens of the tiny default tokenizer (ChatML, as Qwen uses).
EOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = [EOS_TOKEN, IM_START, IM_END, PAD_TOKEN]

# ChatML. `{% generation %}` marks the tokens the model is trained on in SFT (assistant content and
# its closing <|im_end|>), so `apply_chat_template(..., return_assistant_tokens_mask=True)` gives the
# loss mask; templates without the markers (most hub models) are masked by prefix rendering instead
# (see langadapt.train.data.sft_example_tokens).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def hub_downloads_allowed() -> bool:
    """Downloads from the HF hub only when the user sets HF_HUB_OFFLINE=0 (default: offline)."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("0", "false", "no", "off")


def _looks_like_hub_id(s: str) -> bool:
    return (
        s.count("/") == 1
        and not s.startswith((".", "/", "~"))
        and not s.endswith("/")
        and "\\" not in s
    )


def check_checkpoint_dir(path: Path, what: str = "model") -> None:
    """A local HF checkpoint: a directory with config.json and safetensors weights (never pickle)."""
    if not path.exists():
        raise ModelError(f"{what} {str(path)!r}: does not exist (expected an HF checkpoint directory, "
                         f"a hub id in the local HF cache, or '{TINY_BASE}')")
    if not path.is_dir():
        raise ModelError(f"{what} {str(path)!r}: not a directory (expected an HF checkpoint directory)")
    if not (path / "config.json").exists():
        raise ModelError(f"{what} {str(path)!r}: no config.json (not a Hugging Face checkpoint)")
    safes = list(path.glob("*.safetensors"))
    if not safes:
        pickles = [p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        if pickles:
            raise ModelError(f"{what} {str(path)!r}: only pickle weights ({', '.join(sorted(pickles))}); "
                             "langadapt loads safetensors only (convert with save_pretrained("
                             "safe_serialization=True))")
        raise ModelError(f"{what} {str(path)!r}: no *.safetensors weights")


def load_tokenizer(path_or_id: str | Path, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    src = str(path_or_id)
    local = Path(src).exists()
    try:
        tok = AutoTokenizer.from_pretrained(
            src, trust_remote_code=trust_remote_code,
            local_files_only=local or not hub_downloads_allowed(),
        )
    except Exception as e:  # noqa: BLE001 - transformers raises many types; the user needs the path
        raise ModelError(f"tokenizer {src!r}: cannot be loaded ({type(e).__name__}: {_first_line(e)})") from None
    if tok.pad_token is None:
        # Causal LMs often have no pad token; padding is masked out of the loss anyway.
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(
    path_or_id: str | Path, *, dtype: Any = None, trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """(model, tokenizer) from a local HF checkpoint or a hub id (local cache unless HF_HUB_OFFLINE=0).

    Raises ``ModelError`` naming the path when it does not exist, is not HF format, has only pickle
    weights, or fails to load. ``dtype``: a torch dtype or None (the checkpoint's own, else float32).
    """
    from transformers import AutoModelForCausalLM

    src = str(path_or_id)
    if src == TINY_BASE:
        raise ModelError(f"'{TINY_BASE}' is built, not loaded: run `langadapt tokenizer` first "
                         "(it writes the tiny base to paths.base)")
    p = Path(src).expanduser()
    if p.suffix == ".gguf":
        raise ModelError(f"model {src!r}: a GGUF file; import it first: `langadapt base import {src} --out "
                         "models/<name>` and use that directory as model.base")
    local = p.exists() or not _looks_like_hub_id(src)
    if local:
        check_checkpoint_dir(p)
        src = str(p)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            src,
            dtype=dtype if dtype is not None else "auto",
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            local_files_only=local or not hub_downloads_allowed(),
        )
    except Exception as e:  # noqa: BLE001
        hint = ""
        if not local and not hub_downloads_allowed():
            hint = " (hub ids are read from the local HF cache only; set HF_HUB_OFFLINE=0 to download)"
        raise ModelError(f"model {src!r}: cannot be loaded ({type(e).__name__}: {_first_line(e)}){hint}") from None
    tok = load_tokenizer(src, trust_remote_code=trust_remote_code)
    return model, tok


def build_tiny_qwen3(
    tiny_params: Any,
    vocab_size: int,
    seed: int,
    *,
    eos_token_id: int | None = None,
    bos_token_id: int | None = None,
    pad_token_id: int | None = None,
) -> Any:
    """A small Qwen3ForCausalLM from ``model.tiny`` params; same params + seed => same weights."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    t = tiny_params.model_dump() if hasattr(tiny_params, "model_dump") else dict(tiny_params)
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=t["hidden_size"],
        intermediate_size=t["intermediate_size"],
        num_hidden_layers=t["num_hidden_layers"],
        num_attention_heads=t["num_attention_heads"],
        num_key_value_heads=t["num_key_value_heads"],
        head_dim=t["head_dim"],
        max_position_embeddings=t["max_position_embeddings"],
        tie_word_embeddings=t["tie_word_embeddings"],
        eos_token_id=eos_token_id,
        bos_token_id=bos_token_id,
        pad_token_id=pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.to(torch.float32)
    return model


def save_hf(model: Any, tokenizer: Any, out_dir: str | Path, *, extra_files: dict[str, str] | None = None) -> Path:
    """Export an HF checkpoint (safetensors + config + tokenizer) atomically: readers see the previous
    complete directory or the new complete one, never a half-written one."""
    from langadapt.io import atomic_dir

    out_dir = Path(out_dir)
    cfg = getattr(model, "config", None)
    if cfg is not None and getattr(cfg, "use_cache", None) is False:
        cfg.use_cache = True  # an exported model generates with its KV cache (training turns it off)
    with atomic_dir(out_dir) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
    return out_dir


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else ""
