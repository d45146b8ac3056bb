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
    assert "params.yaml: language.code: no language profile for 'fr'" in str(e.value)
    with pytest.raises(ConfigError, match="language.code: .*missing keys for a target language"):
        parse_params({"language": {"code": "en"}})  # a profile, but not a corpus target


def test_params_yaml_matches_defaults(repo_root):
    """Each setting is declared once: the repo's params.yaml holds every key with its default value
    (config.py's), so neither can drift from the other."""
    import yaml

    declared = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    defaults = Params().model_dump(mode="json")

    def diff(a, b, pre=""):
        out = []
        for k in sorted(set(a) | set(b)):
            key = f"{pre}{k}"
            if k not in b:
                out.append(f"{key}: in params.yaml, not in config.py")
            elif k not in a:
                out.append(f"{key}: default {b[k]!r} in config.py, missing in params.yaml")
            elif isinstance(a[k], dict) and isinstance(b[k], dict) and a[k] and set(a[k]) <= set(b[k]):
                out += diff(a[k], b[k], key + ".")
            elif a[k] != b[k]:
                out.append(f"{key}: params.yaml {a[k]!r} != config.py default {b[k]!r}")
        return out

    assert diff(declared, defaults) == []


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
