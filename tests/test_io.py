"""langadapt.io atomic outputs: what a reader sees, and the file modes a plain open()/mkdir would give."""

from __future__ import annotations

import os
import stat

import pytest

from langadapt.io import _umask, atomic_dir, atomic_write


def test_atomic_outputs_get_the_umask_modes_not_the_temp_files_0600(tmp_path):
    old = os.umask(0o022)
    _umask.cache_clear()  # read once per process: read it again under this test's umask
    try:
        with atomic_write(tmp_path / "a.json") as f:
            f.write("{}")
        with atomic_dir(tmp_path / "model") as d:
            (d / "config.json").write_text("{}")
    finally:
        os.umask(old)
        _umask.cache_clear()
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755  # pods of another uid can read it
    assert (tmp_path / "model" / "config.json").read_text() == "{}"


def test_a_failed_atomic_dir_leaves_the_previous_one_whole(tmp_path):
    with atomic_dir(tmp_path / "out") as d:
        (d / "x").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out") as d:
        (d / "x").write_text("2")
        raise RuntimeError("killed")
    assert (tmp_path / "out" / "x").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
