"""bf16 autocast on CPU only where the CPU has native bf16 (langadapt.hardware).

Run: .venv/bin/pytest -q tests/test_hardware.py   (seconds)
"""

from __future__ import annotations

import torch

from langadapt import hardware


def test_bf16_request_is_turned_down_with_one_warning_on_a_cpu_without_native_bf16(monkeypatch, capsys):
    monkeypatch.setattr(hardware, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(hardware, "_warned", set())
    assert hardware.use_cpu_bf16(False, "cpt") is False
    assert capsys.readouterr().err == ""  # nothing asked, nothing said
    assert hardware.use_cpu_bf16(True, "cpt") is False
    assert hardware.use_cpu_bf16(True, "cpt") is False
    err = capsys.readouterr().err
    assert err.count("cpt: cpu_bf16_autocast requested, but this CPU has no native bf16") == 1
    assert "running fp32" in err


def test_bf16_request_is_granted_on_a_cpu_with_native_bf16(monkeypatch, capsys):
    monkeypatch.setattr(hardware, "cpu_bf16_native", lambda: True)
    assert hardware.use_cpu_bf16(True, "generate") is True
    assert hardware.use_cpu_bf16(False, "generate") is False
    assert capsys.readouterr().err == ""


def test_the_probe_matches_torch():
    hardware.cpu_bf16_native.cache_clear()
    assert hardware.cpu_bf16_native() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
