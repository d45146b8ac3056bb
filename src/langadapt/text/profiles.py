"""Per-language data: ``language_profile(code)`` loads ``languages/<code>.yaml``: script, segmenters,
language-id names, quality thresholds, stop words, spam and boilerplate lists, PII patterns, IFEval
wording, synth prompt templates, translation and judge prompts, evaluation tokenisation.

Adding a language is adding a YAML file, not code. Profiles are looked up first in the directories
named by the ``LANGADAPT_LANGUAGES_DIR`` environment variable (``os.pathsep``-separated; a profile
there overrides a packaged one of the same code), then in the package's ``languages/``::

    LANGADAPT_LANGUAGES_DIR=/path/to/my-languages langadapt extract -s language.code=lo

Languages langadapt only meets in IFEval data (Google IFEval asks for answers in ~30 languages) have
no profile; ``other_languages.yaml`` holds the few facts scoring needs about them, under the same keys
(``profile_value`` falls back to it). A profile needs ``code``, ``name`` and ``script``; a corpus target language (``language.code``) also
needs the sections the corpus stages read (``TARGET_KEYS``). Every other key is optional, and code that
reads one says what it does without it.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from langadapt.errors import ConfigError

LANGUAGES_DIR = Path(__file__).parent / "languages"
LANGUAGES_DIR_ENV = "LANGADAPT_LANGUAGES_DIR"
OTHER_LANGUAGES = Path(__file__).parent / "other_languages.yaml"
_REQUIRED = ("code", "name", "script")
TARGET_KEYS = ("segmenter", "langid", "filter", "stop_words", "spam", "boilerplate", "pair_file")


def language_dirs() -> tuple[Path, ...]:
    """Where profiles are looked up, first match wins: ``$LANGADAPT_LANGUAGES_DIR`` entries, then the package."""
    extra = [Path(p) for p in os.environ.get(LANGUAGES_DIR_ENV, "").split(os.pathsep) if p.strip()]
    return (*extra, LANGUAGES_DIR)


def profile_path(code: str) -> Path | None:
    """The YAML file of ``code``, or None when no directory has one."""
    return _find(code, language_dirs())


@functools.lru_cache(maxsize=256)
def _find(code: str, dirs: tuple[Path, ...]) -> Path | None:
    for d in dirs:
        p = d / f"{code}.yaml"
        if p.is_file():
            return p
    return None


def known_languages() -> list[str]:
    """The codes of every profile found (extra directories and the package)."""
    return sorted({p.stem for d in language_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def has_profile(code: str) -> bool:
    return profile_path(code) is not None


@functools.cache
def _load(path: Path, code: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{path}: missing keys: {', '.join(missing)}")
    if data["code"] != code:
        raise ConfigError(f"{path}: code is {data['code']!r}, expected {code!r}")
    from langadapt.text.scripts import SCRIPTS

    if data["script"] not in SCRIPTS:
        raise ConfigError(f"{path}: script: unknown script {data['script']!r} (known: {', '.join(SCRIPTS)})")
    return data


def _profile(code: str) -> dict[str, Any]:
    path = profile_path(code)
    if path is None:
        dirs = ", ".join(str(d) for d in language_dirs())
        raise ConfigError(
            f"no language profile for {code!r} (looked for {code}.yaml in {dirs}; known: "
            f"{', '.join(known_languages())}; add a directory with ${LANGUAGES_DIR_ENV})"
        )
    return _load(path, code)


def language_profile(code: str) -> dict[str, Any]:
    """The ``<code>.yaml`` data as a dict (a copy: callers may modify it)."""
    return copy.deepcopy(_profile(code))


def target_profile(code: str) -> dict[str, Any]:
    """``language_profile`` of a corpus target language: every ``TARGET_KEYS`` section must be there."""
    prof = language_profile(code)
    missing = [k for k in TARGET_KEYS if k not in prof]
    if missing:
        raise ConfigError(f"{profile_path(code)}: missing keys for a target language: {', '.join(missing)}")
    return prof


@functools.cache
def _other_languages() -> dict[str, Any]:
    data = yaml.safe_load(OTHER_LANGUAGES.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{OTHER_LANGUAGES}: expected a mapping of language codes")
    return data


def profile_value(code: str, *keys: str, default: Any = None) -> Any:
    """``profile[k1][k2]...`` of ``code`` (a copy), or ``default`` when the profile lacks the key (for
    settings with a language-independent default). A language without a profile reads its entry in
    ``other_languages.yaml``, if any."""
    path = profile_path(code)
    node: Any = _load(path, code) if path is not None else _other_languages().get(code)
    if node is None:
        return copy.deepcopy(default)
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return copy.deepcopy(default)
        node = node[k]
    return copy.deepcopy(node)


def language_script(code: str, default: str = "Latin") -> str:
    """The Unicode script ``code`` is written in (its profile's ``script``; ``default`` without a profile)."""
    return profile_value(code, "script", default=default)


def word_spacing(code: str) -> bool:
    """Whether ``code`` puts spaces between words (``word_spacing``, default true); false: counting words
    needs a segmenter (Thai, Lao, Khmer, Burmese, Tibetan, Chinese, Japanese)."""
    return bool(profile_value(code, "word_spacing", default=True))


def profile_codes(*keys: str) -> list[str]:
    """Codes (profiles and other_languages.yaml) whose ``keys`` value is truthy, sorted."""
    codes = set(known_languages()) | set(_other_languages())
    return sorted(c for c in codes if profile_value(c, *keys))


def language_name(code: str) -> str:
    """The language's English name (its profile's ``name``; the code itself without a profile)."""
    return profile_value(code, "name", default=code)
