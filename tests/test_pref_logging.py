"""pref's training log under Ray Train's patched print(): datasets.map must not log bytecode listings."""
import builtins
import logging

import pytest


def _map_under_ray_print_patch(caplog, wrap):
    from datasets import Dataset
    from ray.train.v2._internal.logging import patch_print

    builtins.print = patch_print.redirected_print  # what every Ray Train worker runs with
    try:
        with caplog.at_level(logging.INFO), wrap():
            Dataset.from_list([{"a": 1}, {"a": 2}]).map(lambda ex: {"b": ex["a"] + 1})
    finally:
        builtins.print = patch_print._original_print
    return [r.getMessage() for r in caplog.records if "LOAD_" in r.getMessage()]


def test_dataset_map_logs_no_disassembly_under_unpatched_print(caplog):
    import contextlib

    from langadapt.pref.train import _unpatched_print

    leaked = _map_under_ray_print_patch(caplog, contextlib.nullcontext)
    if not leaked:
        pytest.skip("this datasets/dill pair does not disassemble transforms while hashing them")
    caplog.clear()
    assert _map_under_ray_print_patch(caplog, _unpatched_print) == []


def test_unpatched_print_restores_the_patched_print():
    from langadapt.pref.train import _unpatched_print

    def patched(*a, **k):
        return None

    saved = builtins.print
    builtins.print = patched
    try:
        with _unpatched_print():
            assert builtins.print is not patched
        assert builtins.print is patched
    finally:
        builtins.print = saved
