"""What the CPU can do fast. bfloat16 autocast on a CPU is only a speed-up where the CPU computes bf16
natively (AVX512-BF16 or AMX, which oneDNN uses); elsewhere (e.g. AVX2-only CPUs) PyTorch falls back to a
reference bf16 GEMM that is ~100x slower than fp32. ``train.cpu_bf16_autocast`` / ``eval.cpu_bf16_autocast``
therefore mean "when the CPU has native bf16": on any other CPU they are off, with one warning."""

from __future__ import annotations

import functools
import sys


@functools.lru_cache(maxsize=1)
def cpu_bf16_native() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older/newer torch without the probe: do not guess
        return False


_warned: set[str] = set()


def use_cpu_bf16(requested: bool, where: str) -> bool:
    """Whether to run ``where`` under CPU bf16 autocast: only when ``requested`` and the CPU has native bf16.
    Says once per ``where`` (on stderr) when a request is turned down."""
    if not requested:
        return False
    if cpu_bf16_native():
        return True
    if where not in _warned:
        _warned.add(where)
        sys.stderr.write(f"{where}: cpu_bf16_autocast requested, but this CPU has no native bf16 (AVX512-BF16/AMX): "
                         "running fp32 (bf16 would fall back to a reference GEMM, ~100x slower)\n")
    return False
