"""Language stability and code-switching of generated answers (SiamGPT's failure mode: a model asked
in Thai answers in English, or drifts between scripts mid-answer).

- stability: share of responses whose dominant script (``langadapt.text.dominant_script``, letters
  only: digits, punctuation and spaces are "Common" and do not count) is the target script;
- code-switching rate: share of responses that mix the target script with others: the smaller side
  (target vs other-script letters) is more than ``threshold`` of the letters (responses with fewer
  than ``min_letters`` letters never count);
- foreign token share: mean over responses of the share of words (``langadapt.text.words``) whose
  dominant script is neither the target script nor Common.

Empty responses count as unstable (an empty answer is not an answer in the target language).

    from langadapt.evaluation.stability import language_stability
    language_stability(["สวัสดีครับ", "Hello"], "th")  # {"stability": 0.5, ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NEUTRAL_SCRIPTS = {"Common", "Inherited", "Unknown", "Zyyy", "Zinh", "Zzzz"}


def target_script(lang: str) -> str:
    from langadapt.text import language_script

    return language_script(lang)


def foreign_share(text: str, script: str) -> float:
    """Share of the letters of ``text`` that are not in ``script`` (0.0 for text without letters)."""
    from langadapt.text import script_counts

    counts = {k: v for k, v in script_counts(text).items() if k not in NEUTRAL_SCRIPTS}
    total = sum(counts.values())
    return 0.0 if total == 0 else 1.0 - counts.get(script, 0) / total


def response_stability(text: str, lang: str, *, threshold: float = 0.1, min_letters: int = 1) -> dict[str, Any]:
    """Per-response facts: dominant script, in-target flag, foreign letter/token shares, switched flag."""
    from langadapt.text import dominant_script, script_counts, words

    script = target_script(lang)
    letters = sum(v for k, v in script_counts(text).items() if k not in NEUTRAL_SCRIPTS)
    dom = dominant_script(text) if letters else None
    share = foreign_share(text, script)
    toks = [w for w in words(text, lang) if w.strip()] if text.strip() else []
    scripts = [dominant_script(w) for w in toks]
    lettered = [s for s in scripts if s and s not in NEUTRAL_SCRIPTS]
    foreign_tokens = sum(1 for s in lettered if s != script)
    return {
        "dominant_script": dom,
        "in_target": dom == script,
        "foreign_letter_share": share,
        "foreign_token_share": foreign_tokens / len(lettered) if lettered else 0.0,
        # mixed: the minority side (target vs other scripts) is more than `threshold` of the letters
        "code_switched": letters >= min_letters and min(share, 1.0 - share) > threshold,
    }


def language_stability(
    responses: Sequence[str], lang: str, *, threshold: float = 0.1, min_letters: int = 1
) -> dict[str, Any]:
    """Stability over ``responses``: ``{stability, code_switch_rate, foreign_token_share, n}``.

    A response is code-switched when the smaller side (target-script letters vs other-script letters)
    is more than ``threshold`` of its letters. An all-English answer is unstable but not code-switched.
    """
    n = len(responses)
    if n == 0:
        return {"stability": None, "code_switch_rate": None, "foreign_token_share": None, "n": 0}
    per = [response_stability(r, lang, threshold=threshold, min_letters=min_letters) for r in responses]
    return {
        "stability": sum(p["in_target"] for p in per) / n,
        "code_switch_rate": sum(p["code_switched"] for p in per) / n,
        "foreign_token_share": sum(p["foreign_token_share"] for p in per) / n,
        "n": n,
    }
