"""params.yaml validation: exact messages naming the key path. Run: pytest tests/test_config.py"""

from __future__ import annotations

import subprocess
import sys

import pytest

from langadapt.config import Params, load_params, parse_params
from langadapt.errors import ConfigError


def test_repo_params_yaml_is_valid(repo_root):
    p = load_params(repo_root / "params.yaml")
    assert p.language.code == "th"
    assert p.model.base == "tiny-qwen3"


def test_wrong_type_names_key_path():
    with pytest.raises(ConfigError) as e:
        parse_params({"cpt": {"lr": "fast"}})
    assert str(e.value) == "params.yaml: cpt.lr: expected float, got 'fast'"


def test_unknown_key_names_key_path_and_suggests():
    with pytest.raises(ConfigError) as e:
        parse_params({"dedup": {"treshold": 0.8}})
    assert str(e.value) == "params.yaml: dedup.treshold: unknown key (did you mean 'threshold'?)"


def test_unknown_section():
    with pytest.raises(ConfigError) as e:
        parse_params({"cptt": {}})
    assert str(e.value) == "params.yaml: cptt: unknown key (did you mean 'cpt'?)"


def test_language_must_be_supported():
    with pytest.raises(ConfigError) as e:
        parse_params({"language": {"code": "fr"}})
    assert "language.code: input should be 'th', 'bo' or 'zh-Hant', got 'fr'" in str(e.value)


def test_overrides_apply_and_validate():
    p = parse_params({}, overrides=["cpt.max_steps=7", "language.code=bo"])
    assert p.cpt.max_steps == 7 and p.language.code == "bo"
    with pytest.raises(ConfigError, match="cpt.max_steps: expected int"):
        parse_params({}, overrides=["cpt.max_steps=many"])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "nope.yaml")
    assert str(e.value) == f"{tmp_path / 'nope.yaml'}: params file not found"


def test_defaults_are_a_valid_config():
    assert Params().language.code == "th"


def test_cli_exit_code_2_and_message(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("cpt:\n  lr: fast\n")
    r = subprocess.run([sys.executable, "-m", "langadapt", "config", "validate", "-p", str(bad)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2
    assert f"error: {bad}: cpt.lr: expected float, got 'fast'" in r.stderr
    assert "Traceback" not in r.stderr
