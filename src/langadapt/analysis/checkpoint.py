"""Read HF checkpoints tensor by tensor (slab by slab), never a whole model.

    ck = open_checkpoint("models/cpt")            # model.safetensors or model.safetensors.index.json
    ck.names()                                    # canonical names ('model.' prefix stripped)
    ck.shape("layers.0.mlp.up_proj.weight")
    ck.read("layers.0.mlp.up_proj.weight", rows=(0, 1024))  # float32, whatever the stored dtype

Every read opens the safetensors file, copies the requested slice out of the memory map and closes it
again: with a handle kept open, the pages touched stay resident and the process grows to the size of
the files it has read (measured: +62 MB per 64 MB tensor). So peak memory is the slabs in flight, not
the checkpoint. Pickle-only checkpoints are refused (``ModelError``): safetensors only.

``align()`` pairs tensors across checkpoints: name prefixes, tied embeddings, a resized vocabulary, tensors
present in some checkpoints only, and architectures that do not match (an error naming the first mismatch).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langadapt.errors import ModelError

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# Prefixes that differ between a *ForCausalLM and its bare model / multimodal wrappers.
_PREFIXES = ("model.language_model.", "language_model.model.", "language_model.", "model.")
EMBED_NAMES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight")
LM_HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight")


def canonical_name(name: str) -> str:
    """``model.layers.0.x`` and ``layers.0.x`` are the same tensor; strip the wrapper prefix."""
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


@dataclass
class Checkpoint:
    """One HF checkpoint: which file holds each tensor, its config, and slab reads in float32."""

    path: Path
    config: dict[str, Any]
    files: dict[str, Path]  # canonical name -> safetensors file
    stored: dict[str, str]  # canonical name -> name inside the file
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    tied: bool = False  # lm_head is the embedding matrix (config says so, or lm_head is not stored)
    aliases: dict[str, str] = field(default_factory=dict)  # lm_head -> embedding when tied

    def names(self) -> list[str]:
        return sorted(set(self.files) | set(self.aliases))

    def resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.resolve(name)]

    def dtype(self, name: str) -> str:
        return self.dtypes[self.resolve(name)]

    def read(self, name: str, rows: tuple[int, int] | None = None, cols: tuple[int, int] | None = None,
             out: Any = None):
        """The tensor (or its ``rows``/``cols`` slice of a matrix) as a float32 torch tensor.

        ``out``: a float32 tensor of the slice's shape to convert into (and return), so that a loop over
        slabs reuses one buffer: a fresh slab-sized allocation costs its page faults every time.
        """
        import torch
        from safetensors import safe_open

        real = self.resolve(name)
        path = self.files[real]
        try:
            with safe_open(str(path), framework="pt") as f:
                sl = f.get_slice(self.stored[real])
                if rows is None and cols is None:
                    t = sl[:]
                else:
                    r = slice(*rows) if rows else slice(None)
                    c = slice(*cols) if cols else slice(None)
                    t = sl[r, c]
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types; name the file
            raise ModelError(f"{path}: cannot read tensor {self.stored[real]!r} ({type(e).__name__}: {e})") from None
        if out is not None:
            if tuple(out.shape) != tuple(t.shape):
                raise ValueError(f"read {name!r}: out has shape {tuple(out.shape)}, the slice {tuple(t.shape)}")
            return out.copy_(t)
        return t.to(torch.float32)

    @property
    def num_layers(self) -> int | None:
        n = self.config.get("num_hidden_layers") or _text_config(self.config).get("num_hidden_layers")
        return int(n) if n is not None else None

    @property
    def model_type(self) -> str | None:
        return self.config.get("model_type")


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    tc = config.get("text_config")
    return tc if isinstance(tc, dict) else {}


def _read_header(path: Path) -> dict[str, Any]:
    """The safetensors JSON header (names, dtypes, shapes) without touching the tensor data."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: not a safetensors file ({e})") from None
    header.pop("__metadata__", None)
    return header


def _weight_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ModelError(f"{path}: not a safetensors file (langadapt reads safetensors only)")
        return [path]
    index = path / INDEX_FILE
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{index}: not a safetensors index (needs 'weight_map': {e})") from None
        files = sorted({path / f for f in weight_map.values()})
        missing = [f for f in files if not f.exists()]
        if missing:
            raise ModelError(f"{index}: names shard {missing[0].name!r}, which does not exist")
        return files
    if (path / SINGLE_FILE).exists():
        return [path / SINGLE_FILE]
    files = sorted(path.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(
            f"{path}: only pickle weights ({', '.join(pickles)}); langadapt reads safetensors only "
            "(convert with model.save_pretrained(dir, safe_serialization=True))"
        )
    raise ModelError(f"{path}: no safetensors weights ({SINGLE_FILE} or {INDEX_FILE}) in this directory")


def open_checkpoint(path: str | Path, what: str = "checkpoint") -> Checkpoint:
    """Index an HF checkpoint directory (or one ``.safetensors`` file) by reading headers only."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{what} {str(path)!r}: does not exist")
    cfg_dir = path if path.is_dir() else path.parent
    config: dict[str, Any] = {}
    cfg_file = cfg_dir / "config.json"
    if cfg_file.exists():
        try:
            config = json.loads(cfg_file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ModelError(f"{cfg_file}: invalid JSON ({e})") from None
    files: dict[str, Path] = {}
    stored: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for f in _weight_files(path):
        for name, info in _read_header(f).items():
            canon = canonical_name(name)
            if canon in files:
                raise ModelError(f"{f}: tensor {name!r} also stored as {stored[canon]!r} in {files[canon].name}")
            files[canon], stored[canon] = f, name
            shapes[canon] = tuple(int(d) for d in info["shape"])
            dtypes[canon] = str(info["dtype"])
    ck = Checkpoint(path=path, config=config, files=files, stored=stored, shapes=shapes, dtypes=dtypes)
    embed = next((n for n in EMBED_NAMES if n in files), None)
    head = next((n for n in LM_HEAD_NAMES if n in files), None)
    tie_cfg = config.get("tie_word_embeddings", _text_config(config).get("tie_word_embeddings"))
    if embed is not None and (head is None or tie_cfg is True):
        # Tied: the LM head *is* the embedding matrix. Reported once (on the embedding), never twice.
        ck.tied = True
        head = head or "lm_head.weight"
        if head in files:  # stored anyway (some exporters do): the config says it is the same matrix
            del files[head], stored[head], shapes[head], dtypes[head]
        ck.aliases[head] = embed
    return ck


# ---------------------------------------------------------------------------------------------------
# Aligning checkpoints


@dataclass
class TensorPlan:
    """One tensor to compare across checkpoints: its name and the rows all of them share."""

    name: str
    shape: tuple[int, ...]  # the shape of the shared part
    rows: dict[str, int]  # checkpoint label -> its number of rows (differs for a resized vocabulary)
    tied: bool = False  # the LM head tied to this embedding (counted here, once)
    tied_in: list[str] = field(default_factory=list)  # checkpoints in which lm_head is this matrix
    vocab_resized: bool = False


@dataclass
class Alignment:
    plans: list[TensorPlan]
    only_in: dict[str, list[str]]  # tensor name -> checkpoint labels that have it (not all)
    tied: dict[str, bool]  # checkpoint label -> lm_head tied to the embedding


_VOCAB_RE = re.compile(r"(^|\.)(embed_tokens|wte|word_embeddings|tok_embeddings|lm_head|embed_out|output)\.weight$")


def align(checkpoints: dict[str, Checkpoint]) -> Alignment:
    """Pair tensors by canonical name; raise ``ModelError`` at the first architecture mismatch."""
    labels = list(checkpoints)
    first = checkpoints[labels[0]]
    for lab in labels[1:]:
        ck = checkpoints[lab]
        for key, a, b in (
            ("config model_type", first.model_type, ck.model_type),
            ("num_hidden_layers", first.num_layers, ck.num_layers),
        ):
            if a is not None and b is not None and a != b:
                raise ModelError(
                    f"architectures differ: {key} is {a!r} in {labels[0]} ({first.path}) but {b!r} in "
                    f"{lab} ({ck.path})"
                )
    all_names = sorted(set().union(*(ck.names() for ck in checkpoints.values())), key=_natural)
    plans: list[TensorPlan] = []
    only_in: dict[str, list[str]] = {}
    for name in all_names:
        have = [lab for lab in labels if name in checkpoints[lab].names()]
        if len(have) < len(labels):
            only_in[name] = have
            continue
        # an lm_head that is the embedding in *every* checkpoint is reported once, on the embedding
        aliased = [lab for lab in labels if name in checkpoints[lab].aliases]
        if len(aliased) == len(labels):
            continue
        shapes = {lab: checkpoints[lab].shape(name) for lab in labels}
        ref = shapes[labels[0]]
        resized = False
        for lab in labels[1:]:
            s = shapes[lab]
            if s == ref:
                continue
            if len(s) == len(ref) == 2 and s[1:] == ref[1:] and _VOCAB_RE.search(name):
                resized = True  # a resized vocabulary: compare the shared rows, report the new ones
                continue
            raise ModelError(
                f"architectures differ: tensor {name!r} has shape {list(ref)} in {labels[0]} "
                f"({checkpoints[labels[0]].path}) but {list(s)} in {lab} ({checkpoints[lab].path})"
            )
        rows = {lab: shapes[lab][0] if shapes[lab] else 1 for lab in labels}
        shared = (min(rows.values()), *ref[1:]) if resized else ref
        is_embed = any(
            checkpoints[lab].aliases.get(h) == name for lab in labels for h in LM_HEAD_NAMES
        )
        plans.append(TensorPlan(
            name=name, shape=tuple(shared), rows=rows, vocab_resized=resized,
            tied=is_embed and all(checkpoints[lab].tied for lab in labels),
            tied_in=[lab for lab in labels if name in checkpoints[lab].aliases] if not is_embed else
            [lab for lab in labels if checkpoints[lab].tied],
        ))
    return Alignment(plans=plans, only_in=only_in, tied={lab: ck.tied for lab, ck in checkpoints.items()})


def _natural(name: str) -> list[Any]:
    """layers.2 before layers.10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in name.split(".")]
