"""langadapt.text: script-aware normalisation, segmentation and script detection (th, bo, zh-Hant, en).

Used alike by the corpus filters, the synth verifiers and the evaluation metrics, so a "word" or a
"sentence" means the same thing everywhere::

    from langadapt.text import normalize, words, sentences, script_ratio, language_profile
    words("ผมรักภาษาไทย", "th")            # ['ผม', 'รัก', 'ภาษาไทย']
    script_ratio("ข่าว 2024 news", "Thai")  # 0.5 (digits, spaces, punctuation are Common: not counted)
    language_profile("th")["filter"]["min_words"]
"""

from langadapt.text.profiles import language_name, language_profile, language_script, profile_value
from langadapt.text.scripts import SCRIPTS, dominant_script, script_counts, script_of, script_ratio
from langadapt.text.segment import normalize, paragraphs, sentences, words

__all__ = [
    "SCRIPTS",
    "dominant_script",
    "language_name",
    "language_profile",
    "language_script",
    "normalize",
    "paragraphs",
    "profile_value",
    "script_counts",
    "script_of",
    "script_ratio",
    "sentences",
    "words",
]
