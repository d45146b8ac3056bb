"""Teachers: the models that write and answer synthetic instructions, behind one Protocol
(``langadapt.generation.Generator``, where both kinds live: ``HFGenerator`` and ``OpenAITeacher``).

    teacher = HFTeacher("models/cpt")                                     # a local checkpoint
    teacher = OpenAITeacher("http://127.0.0.1:8000/v1", "tiny", "OPENAI_API_KEY", cache_dir=".cache/teacher")
    gens = teacher.generate([[{"role": "user", "content": "สวัสดี"}]], max_new_tokens=64, temperature=0.7)
    gens[0].text, gens[0].finish_reason, gens[0].completion_tokens
    teacher = make_teacher(cfg.synth.teacher, seed)                       # the one synth.teacher describes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langadapt.errors import ConfigError
from langadapt.generation import Generator, HFGenerator, OpenAITeacher

# A teacher is any Generator (langadapt.generation): the one home of HF generation and its Generation record.
Teacher = Generator


class HFTeacher(HFGenerator):
    """A local checkpoint as a teacher: ``langadapt.generation.HFGenerator`` over a model loaded from
    ``path`` (or the given one), its tokenizer left-padded with EOS as the pad token when it has none.

    ``seed`` makes sampling reproducible: the torch generator is reseeded at every ``generate`` call.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 8, seed: int = 0, trust_remote_code: bool = False,
                 model: Any = None, tokenizer: Any = None):
        if model is None or tokenizer is None:
            from langadapt.train.modeling import load_causal_lm

            model, tokenizer = load_causal_lm(path, trust_remote_code=trust_remote_code)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        super().__init__(model.eval(), tokenizer, batch_size=batch_size, seed=seed)
        self.name = str(path)


def make_teacher(tp: Any, seed: int, root: str | Path = ".") -> Teacher | None:
    """The teacher ``synth.teacher`` describes (``None`` for kind ``none``)."""
    if tp.kind == "none":
        return None
    if tp.kind == "hf":
        if not tp.model:
            raise ConfigError("synth.teacher.model: kind 'hf' needs a checkpoint path (e.g. models/cpt)")
        model = Path(tp.model)
        if not model.is_absolute() and (Path(root) / model).exists():
            model = Path(root) / model
        return HFTeacher(model if model.exists() else tp.model, batch_size=tp.batch_size, seed=seed)
    if not tp.url:
        raise ConfigError("synth.teacher.url: kind 'openai' needs the endpoint URL, e.g. http://127.0.0.1:8000/v1")
    cache = Path(tp.cache_dir)
    if not cache.is_absolute():
        cache = Path(root) / cache
    return OpenAITeacher(tp.url, tp.model, tp.api_key_env, requests_per_second=tp.requests_per_second,
                         max_retries=tp.max_retries, cache_dir=cache, timeout=tp.timeout,
                         concurrency=tp.concurrency, seed=seed)
