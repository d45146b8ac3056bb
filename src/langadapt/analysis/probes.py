"""Activation probes: per-layer linear CKA between two checkpoints, and a per-layer logit lens.

    texts = probe_texts(cfg)                      # {"target": [...], "en": [...]}
    acts = collect({"base": "models/base", "cpt": "models/cpt"}, texts, lang="th", max_tokens=128)
    linear_cka(X, Y)                              # Kornblith et al. 2019, centred features

Like the tensor diff, the probes never hold a whole model: the checkpoints run one at a time, and each is
streamed (``StreamedModel``): a decoder layer's weights are read from the safetensors files (stored dtype,
computed in float32) just before it runs and freed after; the embedding rows and the LM head are read in
slabs. All probe texts of a model go through in one batch (texts packed in rows, ``_packed_states``), so
each layer is read once per model; the logit lens runs the head over the distinct states only.

- CKA: hidden states of every layer (0 = the embedding output) as features; ``tokens`` uses every token's
  state (needs the same tokenization in both checkpoints, else it falls back to ``pooled``: the mean over
  each text's tokens).
- Logit lens: each layer's hidden state through the final norm and the LM head; the share of top-1
  predictions that are target-script tokens (decoded, checked with ``langadapt.text.script_ratio``): how
  early in depth the model "thinks" in the target language.
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Any

from langadapt.errors import DataError, ModelError

PROBE_DOC_CHARS = 2000  # a probe document is cut to this many characters before tokenization


def probe_texts(cfg: Any) -> dict[str, Any]:
    """Target-language and English probe texts, never trained on.

    Target: held-out clean documents (``records.is_heldout``) from ``paths.clean`` when there are any,
    else the target side of the held-out translation pairs; English: the English side of the held-out
    pairs. Returns ``{"target": [...], "en": [...], "target_source": ...}``.
    """
    from langadapt.records import is_heldout, read_documents, read_translation_pairs, split_pairs

    n = cfg.diff.probe_texts
    target: list[str] = []
    source = ""
    clean = Path(cfg.paths.clean)
    if clean.exists():
        try:
            for doc in read_documents(clean):
                if is_heldout(doc.id, cfg.data.heldout_fraction) and doc.text.strip():
                    target.append(doc.text[:PROBE_DOC_CHARS])
                    if len(target) >= n:
                        break
        except DataError:
            target = []
        source = f"held-out documents of {clean}" if target else ""
    pairs = read_translation_pairs(cfg.paths.translation_pairs, cfg.language.code)
    _, held = split_pairs(pairs, cfg.data.heldout_pairs_fraction)
    held = held or pairs
    if not target:
        target = [p.target for p in held[:n]]
        source = f"held-out pairs of {cfg.paths.translation_pairs}" if target else ""
    english = [p.english for p in held[:n]]
    return {"target": target, "en": english, "target_source": source}


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA of two feature matrices (n samples x d1, n x d2): ||Y^T X||_F^2 / (||X^T X|| ||Y^T Y||)."""
    import torch

    x, y = x.double(), y.double()
    x, y = x - x.mean(0, keepdim=True), y - y.mean(0, keepdim=True)
    if x.shape[0] <= max(x.shape[1], y.shape[1]):  # sample space: <XX^T, YY^T> is the same quantity
        kx, ky = x @ x.T, y @ y.T
        num, den = (kx * ky).sum(), torch.linalg.norm(kx) * torch.linalg.norm(ky)
    else:
        num = torch.linalg.norm(y.T @ x) ** 2
        den = torch.linalg.norm(x.T @ x) * torch.linalg.norm(y.T @ y)
    return float(num / den) if float(den) > 0 else float("nan")


class _TargetTokens:
    """Is token id i a target-script token? (decoded alone; cached per id)."""

    def __init__(self, tok: Any, script: str, script_ratio: Any):
        self.tok, self.script, self.ratio = tok, script, script_ratio
        self.cache: dict[int, bool] = {}

    def __call__(self, i: int) -> bool:
        if i not in self.cache:
            self.cache[i] = self.ratio(self.tok.decode([i]), self.script) >= 0.5
        return self.cache[i]


def _final_norm(model: Any) -> Any:
    base = getattr(model, "base_model", model)
    for attr in ("norm", "ln_f", "final_layer_norm", "final_layernorm"):
        mod = getattr(base, attr, None)
        if mod is not None:
            return mod
    return None


HEAD_SLAB_MB = 16  # float32 MB of LM-head rows read at a time by the logit lens
TOP1_TRIALS = 3  # head slabs timed per thread count before the logit lens settles on one (per model)
TOP1_SPEEDUP = 1.25  # all threads only if their slab is this much faster than one thread's


def _faster(seconds: dict[int, float], threads: int) -> int:
    """The thread count for the remaining head slabs, from the best trial time of each."""
    if threads == 1 or 1 not in seconds or threads not in seconds:
        return threads
    return threads if seconds[threads] * TOP1_SPEEDUP < seconds[1] else 1
LOGITS_BLOCK_MB = 64  # float32 MB of logits computed at a time


class StreamedModel:
    """A causal LM whose weights stay on disk: each decoder layer is read when it runs and freed after.

    The model is built from its config with parameters on the ``meta`` device (buffers such as rotary
    frequencies are real); forward hooks load a layer's tensors from the safetensors files just before
    it runs (stored dtype -> float32, one layer at a time) and drop them after. The embedding is not
    loaded: ``embed`` gathers the rows of the given token ids slab by slab; the LM head is never loaded:
    ``top1`` streams it in row slabs. Peak memory: one layer plus a slab, plus activations.

    Every layer is read into the same float32 buffers (one per parameter name and shape), and the head
    slabs and logits into one buffer each: a fresh allocation of that size is served by its own mmap
    (``diff.return_big_blocks_to_os``) and costs its page faults on every use.
    """

    def __init__(self, path: str | Path):
        import torch
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM

        from langadapt.analysis.checkpoint import EMBED_NAMES, LM_HEAD_NAMES, open_checkpoint
        from langadapt.train.modeling import check_checkpoint_dir, load_tokenizer

        path = Path(path)
        check_checkpoint_dir(path)
        self.ck = open_checkpoint(path)
        self.tok = load_tokenizer(path)
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=False)
            with init_empty_weights(include_buffers=False):
                self.model = AutoModelForCausalLM.from_config(config, trust_remote_code=False,
                                                              dtype=torch.float32)
        except Exception as e:  # noqa: BLE001 - transformers raises many types; name the checkpoint
            raise ModelError(f"model {str(path)!r}: cannot be built from its config ({type(e).__name__}: {e})") from None
        self.model.eval()
        self._pool: dict[tuple[str, tuple[int, ...]], Any] = {}  # layer parameter buffers, reused by every layer
        self.top1_threads: int | None = None  # the thread count top1 found faster (set by top1)
        self.base = getattr(self.model, "base_model", self.model)
        self.embed_name = next((n for n in EMBED_NAMES if n in self.ck.names()), None)
        self.head_name = next((n for n in LM_HEAD_NAMES if n in self.ck.names()), self.embed_name)
        if self.embed_name is None:
            raise ModelError(f"{path}: no embedding tensor ({', '.join(EMBED_NAMES)})")
        self.layers = max((m for m in self.base.children() if isinstance(m, torch.nn.ModuleList)), key=len)
        prefixes = {id(m): n for n, m in self.model.named_modules()}
        self._hooks = []
        for layer in self.layers:
            prefix = prefixes[id(layer)] + "."
            self._hooks.append(layer.register_forward_pre_hook(lambda m, a, p=prefix: self._load(m, p)))
            self._hooks.append(layer.register_forward_hook(lambda m, a, o: self._free(m)))
        # the rest (final norm and the like: small) is loaded once; embedding and head never
        skip = {id(p) for p in self.layers.parameters()}
        for mod in (self.model.get_input_embeddings(), self.model.get_output_embeddings()):
            if mod is not None:
                skip |= {id(p) for p in mod.parameters()}
        for name, param in self.model.named_parameters():
            if id(param) not in skip:
                self._set(name, self._read(name))

    def _read(self, name: str, out: Any = None) -> Any:
        from langadapt.analysis.checkpoint import canonical_name

        canon = canonical_name(name)
        if canon not in self.ck.names():
            raise ModelError(f"{self.ck.path}: tensor {canon!r} (parameter {name!r}) is not in the checkpoint")
        return self.ck.read(canon, out=out)

    def _set(self, name: str, value: Any) -> None:
        from accelerate.utils import set_module_tensor_to_device

        set_module_tensor_to_device(self.model, name, "cpu" if value is not None else "meta", value=value)

    def _load(self, module: Any, prefix: str) -> None:
        import torch
        from accelerate.utils import set_module_tensor_to_device

        for name, param in module.named_parameters():
            key = (name, tuple(param.shape))
            if key not in self._pool:  # the previous layer is freed (meta) by now: its buffers are free
                self._pool[key] = torch.empty(param.shape, dtype=torch.float32)
            set_module_tensor_to_device(module, name, "cpu", value=self._read(prefix + name, out=self._pool[key]))

    def _free(self, module: Any) -> None:
        module.to("meta")

    def embed(self, ids: Any) -> Any:
        """Embeddings of a LongTensor of token ids (any shape), gathered from row slabs of the matrix."""
        import torch

        rows, dim = self.ck.shape(self.embed_name)
        out = torch.zeros(*ids.shape, dim, dtype=torch.float32)
        step = max(1, int(HEAD_SLAB_MB * 2**20) // (4 * dim))
        wanted = torch.unique(ids)
        buf = torch.empty(min(step, rows), dim)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            inside = wanted[(wanted >= r0) & (wanted < r1)]
            if inside.numel() == 0:
                continue
            slab = self.ck.read(self.embed_name, rows=(r0, r1), out=buf[: r1 - r0])
            for i in inside.tolist():
                out[ids == i] = slab[i - r0]
        scale = getattr(self.model.get_input_embeddings(), "embed_scale", None)  # Gemma scales its embeddings
        return out * scale.to(torch.float32) if scale is not None else out

    def hidden_states(self, input_ids: Any, attention_mask: Any = None, position_ids: Any = None) -> tuple[Any, ...]:
        """Every layer's hidden states (0 = embedding output), one layer's weights in memory at a time."""
        import torch

        with torch.no_grad():
            out = self.base(inputs_embeds=self.embed(input_ids), attention_mask=attention_mask,
                            position_ids=position_ids, output_hidden_states=True, use_cache=False)
        return out.hidden_states

    def top1(self, z: Any, threads: int | None = None) -> Any:
        """argmax over the vocabulary of ``z @ head.T`` (z: n x d), reading the head in row slabs.

        Identical rows of z (the same token at layer 0, a text's first token at every layer, repeated
        texts) go through the head once: the head product is most of the probes' arithmetic.

        Threads: slabs 1-6 run alternately with ``threads`` (default ``torch.get_num_threads()``) and
        with one, timed, and the rest with ``threads`` only if those were at least ``TOP1_SPEEDUP``
        times faster; ``top1_threads`` keeps the choice. On an idle machine they are; on a shared one a
        multi-threaded op waits for its slowest thread: on 2 cores with other jobs running, the probes
        took 40.2 s of CPU with 2 threads and 29.0 s with 1 (wall 40.8 vs 30.9 s), the same results.
        """
        import math
        import time

        import torch

        if z.shape[0] == 0:
            return torch.zeros(0, dtype=torch.long)
        z, inverse = torch.unique(z, dim=0, return_inverse=True)
        rows, dim = self.ck.shape(self.head_name)
        n = z.shape[0]
        step = max(1, int(HEAD_SLAB_MB * 2**20) // (4 * dim))
        block = max(1, LOGITS_BLOCK_MB * 2**20 // (4 * step))
        best = torch.full((n,), -float("inf"))
        arg = torch.zeros(n, dtype=torch.long)
        w_buf = torch.empty(min(step, rows), dim)
        logits_buf = torch.empty(min(block, n) * min(step, rows))
        entry = torch.get_num_threads()
        threads = threads or entry
        trials = [threads, 1] * TOP1_TRIALS if threads > 1 else []  # for slabs 1.. (slab 0 warms up)
        seconds: dict[int, float] = {}
        try:
            for s, r0 in enumerate(range(0, rows, step)):
                trial = 1 <= s <= len(trials)
                use = trials[s - 1] if trial else _faster(seconds, threads)
                torch.set_num_threads(use)
                t = time.perf_counter()
                r1 = min(rows, r0 + step)
                w = self.ck.read(self.head_name, rows=(r0, r1), out=w_buf[: r1 - r0])
                for b0 in range(0, n, block):
                    b1 = min(n, b0 + block)
                    logits = torch.mm(z[b0:b1], w.T, out=logits_buf[: (b1 - b0) * (r1 - r0)].view(b1 - b0, r1 - r0))
                    vals, idx = logits.max(-1)
                    better = vals > best[b0:b1]
                    best[b0:b1] = torch.where(better, vals, best[b0:b1])
                    arg[b0:b1] = torch.where(better, idx + r0, arg[b0:b1])
                if trial and r1 - r0 == step:
                    seconds[use] = min(seconds.get(use, math.inf), time.perf_counter() - t)
        finally:
            torch.set_num_threads(entry)
        self.top1_threads = _faster(seconds, threads)
        return arg[inverse]

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self.model = self.base = self.layers = None
        self._pool.clear()


@contextlib.contextmanager
def _num_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def collect(paths: dict[str, str | Path], texts: dict[str, list[str]], lang: str, max_tokens: int,
            info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every checkpoint (one at a time, streamed layer by layer) on the probe texts.

    Returns ``{label: {set: {"tokens": [L+1 x (n_tokens x d)], "pooled": [...], "ids": [...],
    "lens": [share per layer], "n_tokens": n}}}`` for sets ``target`` and ``en``. Both sets go through
    a model in one batch (packed rows), so its layers, embedding and head are each read once.

    A model's forward runs with the thread count the previous model's head product found faster
    (``StreamedModel.top1``: one thread when the machine is busy; measured on 2 shared cores, the
    packed forward took 0.85 s with 1 thread and 2.7 s with 2); ``info["threads"]``: the last choice.
    """
    import torch

    from langadapt.text import language_script, script_ratio

    script = language_script(lang)
    sets = {k: v for k, v in texts.items() if k in ("target", "en") and v}
    out: dict[str, Any] = {}
    threads = use = torch.get_num_threads()
    for label, path in paths.items():
        sm = StreamedModel(path)
        with _num_threads(use):
            out[label] = _probe_sets(sm, _TargetTokens(sm.tok, script, script_ratio), sets, max_tokens, threads)
        use = sm.top1_threads or threads
        sm.close()
        del sm
        gc.collect()
    if info is not None:
        info["threads"] = use
    return out


PACK_RTOL = 1e-4  # packed vs separate forward of the same text: float noise only (a leak between texts is O(1))


def _packed_states(sm: StreamedModel, flat: list[list[int]]) -> list[Any] | None:
    """Per layer, the states of every token of ``flat`` (n_tokens x d, texts in order), texts packed in rows.

    A padded batch computes every text at the longest one's length (the TALPCo probe pairs: 227 tokens
    in 32 texts of 3-17, padded to 544 positions). Here the texts are packed, longest first, into rows
    as wide as the longest text (first fit), position ids restarting at 0 for each text and for the
    filler after it; transformers turns that into a block-diagonal causal mask
    (``masking_utils.find_packed_sequence_indices``), so each text sees only itself, and no row is
    longer than a padded one (attention stays per text length, not the total's square).
    The shortest text goes in once more, after the longest, as a check: None when its two copies'
    states differ (a model whose mask ignores packed positions) or the model takes no position ids,
    and the caller falls back to the padded batch.
    """
    import torch

    width = max(len(e) for e in flat)
    rows: list[list[int]] = []  # text indices per row; -1 = the check copy
    room: list[int] = []
    for i in sorted(range(len(flat)), key=lambda i: -len(flat[i])):
        r = next((r for r, free in enumerate(room) if free >= len(flat[i])), len(rows))
        if r == len(rows):
            rows.append([])
            room.append(width)
        rows[r].append(i)
        room[r] -= len(flat[i])
    k = min(range(len(flat)), key=lambda i: len(flat[i]))
    rows[0].append(-1)
    row_width = max(sum(len(flat[k if i < 0 else i]) for i in row) for row in rows)
    ids = torch.zeros(len(rows), row_width, dtype=torch.long)
    positions = torch.zeros(len(rows), row_width, dtype=torch.long)
    where: dict[int, tuple[int, int]] = {}  # text -> (row, offset)
    for r, row in enumerate(rows):
        o = 0
        for i in row:
            e = flat[k if i < 0 else i]
            ids[r, o : o + len(e)] = torch.tensor(e)
            positions[r, o : o + len(e)] = torch.arange(len(e))
            where[i] = (r, o)
            o += len(e)
        positions[r, o:] = torch.arange(row_width - o)  # filler: a sequence of its own, after the texts
    try:
        hs = sm.hidden_states(ids, None, positions)
    except (TypeError, ValueError):  # a model without position ids (ALiBi, say): the padded batch then
        return None
    m = len(flat[k])
    (r0, o0), (r1, o1) = where[k], where[-1]
    for h in hs:
        a, b = h[r0, o0 : o0 + m], h[r1, o1 : o1 + m]
        if not torch.allclose(a, b, rtol=PACK_RTOL, atol=PACK_RTOL * float(a.abs().max())):
            return None
    return [torch.cat([h[where[i][0], where[i][1] : where[i][1] + len(e)] for i, e in enumerate(flat)]).float()
            for h in hs]


def _padded_states(sm: StreamedModel, flat: list[list[int]]) -> list[Any]:
    """As ``_packed_states``, from one right-padded batch (a causal model's states of real tokens are unchanged)."""
    import torch

    width = max(len(e) for e in flat)
    ids = torch.zeros(len(flat), width, dtype=torch.long)
    mask = torch.zeros(len(flat), width, dtype=torch.long)
    for i, e in enumerate(flat):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    hs = sm.hidden_states(ids, mask)
    return [torch.cat([h[i, : len(e)] for i, e in enumerate(flat)]).float() for h in hs]


def _probe_sets(sm: StreamedModel, target_token: Any, sets: dict[str, list[str]], max_tokens: int,
                threads: int | None = None) -> dict[str, Any]:
    """The probe sets through one model: features per layer and the logit-lens share per layer, per set."""
    import torch

    encs = {name: [e for e in (sm.tok(t, truncation=True, max_length=max_tokens)["input_ids"] for t in texts) if e]
            for name, texts in sets.items()}
    flat = [e for es in encs.values() for e in es]
    if not flat:
        return {name: {"tokens": [], "pooled": [], "ids": [], "lens": [], "n_tokens": 0} for name in sets}
    # per layer, every real token of every text, in order (set by set): rows of one matrix per layer
    states = _packed_states(sm, flat)
    if states is None:
        states = _padded_states(sm, flat)
    norm, last = _final_norm(sm.model), len(states) - 1
    with torch.no_grad():  # the last layer's output is normed already
        z = torch.cat([h if (li == last or norm is None) else norm(h) for li, h in enumerate(states)])
        top = sm.top1(z, threads).view(len(states), -1)
    del z
    out, t0 = {}, 0
    for name, es in encs.items():
        n = sum(len(e) for e in es)
        if n == 0:
            out[name] = {"tokens": [], "pooled": [], "ids": [], "lens": [], "n_tokens": 0}
            continue
        per_layer = [h[t0 : t0 + n] for h in states]
        bounds = [0]
        for e in es:
            bounds.append(bounds[-1] + len(e))
        out[name] = {
            "tokens": per_layer,
            "pooled": [torch.stack([h[bounds[i] : bounds[i + 1]].mean(0) for i in range(len(es))]) for h in per_layer],
            "ids": es,
            "lens": [sum(target_token(t) for t in top[li, t0 : t0 + n].tolist()) / n for li in range(len(states))],
            "n_tokens": n,
        }
        t0 += n
    return out


def run_probes(paths: dict[str, str | Path], cfg: Any, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """CKA per layer for each stage pair and the logit lens per checkpoint, on both probe sets."""
    import torch

    texts = probe_texts(cfg)
    if not texts["target"] and not texts["en"]:
        return {"skipped": f"no probe texts (no held-out documents in {cfg.paths.clean} and no pairs in "
                           f"{cfg.paths.translation_pairs} for {cfg.language.code})"}
    info: dict[str, Any] = {}
    try:
        acts = collect(paths, texts, cfg.language.code, cfg.diff.probe_max_tokens, info)
    except ModelError as e:  # e.g. a checkpoint without tokenizer files: the tensor diff still stands
        return {"skipped": f"{e} (the tensor diff does not need it; --no-probes skips the probes)"}
    cka: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        name = f"{a}->{b}"
        cka[name] = {}
        for set_name in ("target", "en"):
            if set_name not in acts[a] or set_name not in acts[b]:
                continue
            fa, fb = acts[a][set_name], acts[b][set_name]
            feats = cfg.diff.probe_features
            if feats == "tokens" and fa["ids"] != fb["ids"]:
                feats = "pooled"  # different tokenizations: no token-to-token correspondence
            n_layers = min(len(fa[feats]), len(fb[feats]))
            with _num_threads(info.get("threads", torch.get_num_threads())):  # as the probes found faster
                values = [linear_cka(fa[feats][i], fb[feats][i]) for i in range(n_layers)]
            cka[name][set_name] = {"features": feats, "cka": values}
    lens = {lab: {s: v["lens"] for s, v in sets.items()} for lab, sets in acts.items()}
    return {
        "texts": {"target": len(texts["target"]), "en": len(texts["en"]), "target_source": texts["target_source"]},
        "tokens": {lab: {s: v["n_tokens"] for s, v in sets.items()} for lab, sets in acts.items()},
        "cka": cka,
        "logit_lens": lens,
        "script": cfg.language.code,
        "script_name": _script_name(cfg.language.code),
    }


def _script_name(lang: str) -> str:
    from langadapt.text import language_script

    return language_script(lang, default=lang)
