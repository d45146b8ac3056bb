"""Offline language identification: script ratio first, then a detector restricted to a sensible set.

1. The target script's share of the letters (``langadapt.text.script_ratio``) must reach the profile's
   ``filter.min_script_ratio``: cheap, and enough to reject English, Japanese or Lao pages for Thai.
2. Then a statistical detector scores the target language: lingua-language-detector (ships its models;
   built once per process over the profile's ``langid.lingua_candidates``), or, when
   ``filter.langid_model`` names a fastText/GlotLID ``.bin`` file and ``fasttext`` is importable, that
   model (production setting). Tibetan has no lingua model: the script ratio decides.
3. zh-Hant only: Simplified-only characters outnumbering their Traditional forms reject the document.

The result's ``reason`` is ``lang:not_<code>`` (e.g. ``lang:not_th``) or ``None``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langadapt.errors import ConfigError
from langadapt.text import dominant_script, script_ratio
from langadapt.text.profiles import profile_path, target_profile

# Lingua is given at most this many characters: its confidence settles long before, and cost is linear.
_LINGUA_CHARS = 10_000


@dataclass
class LangResult:
    reason: str | None
    score: float
    details: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _lingua_detector(names: tuple[str, ...]):
    from lingua import Language, LanguageDetectorBuilder

    langs = [getattr(Language, n) for n in names]
    return LanguageDetectorBuilder.from_languages(*langs).build()


@functools.cache
def _fasttext_model(path: str):
    try:
        import fasttext  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            f"filter.langid_model: {path} needs the `fasttext` package (pip install fasttext-wheel)"
        ) from None
    if not Path(path).is_file():
        raise ConfigError(f"filter.langid_model: {path}: file not found")
    return fasttext.load_model(path)


class LanguageIdentifier:
    """``identify(text) -> LangResult`` for one target language (``th``, ``bo``, ``zh-Hant``)."""

    def __init__(
        self,
        lang: str,
        *,
        min_score: float = 0.5,
        min_script_ratio: float | None = None,
        model_path: str | None = None,
    ):
        prof = target_profile(lang)
        self.lang = lang
        self.script = prof["script"]
        self.min_score = min_score
        self.min_script_ratio = (
            prof["filter"].get("min_script_ratio", 0.5) if min_script_ratio is None else min_script_ratio
        )
        lid = prof["langid"]
        self.model_path = model_path
        self.fasttext_labels = set(lid.get("fasttext_labels") or [])
        self.lingua_name = lid.get("lingua")
        self.lingua_candidates = tuple(dict.fromkeys([*(lid.get("lingua_candidates") or [])]))
        variants = lid.get("variant_chars") or {}
        self.accept_chars = set(variants.get("accept", ""))
        self.reject_chars = set(variants.get("reject", ""))
        if model_path:
            _fasttext_model(model_path)  # fail early, naming the file
        elif self.lingua_name:
            from lingua import Language

            for n in (self.lingua_name, *self.lingua_candidates):
                if not hasattr(Language, n):
                    raise ConfigError(f"{profile_path(lang)}: langid: {n!r} is not a lingua language")

    def identify(self, text: str) -> LangResult:
        not_lang = f"lang:not_{self.lang}"
        ratio = script_ratio(text, self.script)
        details: dict[str, Any] = {"script_ratio": round(ratio, 4)}
        if ratio < self.min_script_ratio:
            details["dominant_script"] = dominant_script(text)
            return LangResult(not_lang, 0.0, details)
        if self.model_path:
            score = self._fasttext_score(text)
            details["model"] = "fasttext"
        elif self.lingua_name:
            score = self._lingua_score(text)
            details["model"] = "lingua"
        else:
            score = ratio
            details["model"] = "script"
        details["score"] = round(score, 4)
        if score < self.min_score:
            return LangResult(not_lang, score, details)
        if self.reject_chars:
            acc = sum(1 for c in text if c in self.accept_chars)
            rej = sum(1 for c in text if c in self.reject_chars)
            if rej > acc:
                details["variant"] = {"accept": acc, "reject": rej}
                return LangResult(not_lang, score, details)
        return LangResult(None, score, details)

    def _lingua_score(self, text: str) -> float:
        from lingua import Language

        det = _lingua_detector(tuple(dict.fromkeys((self.lingua_name, *self.lingua_candidates))))
        return float(
            det.compute_language_confidence(text[:_LINGUA_CHARS], getattr(Language, self.lingua_name))
        )

    def _fasttext_score(self, text: str) -> float:
        model = _fasttext_model(self.model_path)
        labels, probs = model.predict(text[:_LINGUA_CHARS].replace("\n", " "), k=5)
        return float(sum(p for lab, p in zip(labels, probs, strict=False) if lab in self.fasttext_labels))
