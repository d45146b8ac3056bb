"""params.yaml: the one configuration, loaded and validated here.

Every section is a pydantic model with ``extra="forbid"``, so an unknown or mistyped key is an error,
and every error names its key path::

    params.yaml: cpt.lr: expected float, got 'fast'
    params.yaml: cpt.learning_rate: unknown key (did you mean 'lr'?)

``load_params()`` raises ``ConfigError`` (exit code 2 in the CLI).

Defaults: each field's default here is the value in the repository's ``params.yaml``, key for key
(``tests/test_config.py::test_params_yaml_matches_defaults`` fails when they drift), so a partial
params.yaml (a test's, a user's) means the same as the full one. Change a default in both places. Overrides use dotted keys,
``load_params(path, overrides=["cpt.max_steps=10"])``, as on the command line (``-s cpt.max_steps=10``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from langadapt.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LanguageParams(Section):
    code: str = "th"
    english_code: str = "en"

    @field_validator("code")
    @classmethod
    def _has_profile(cls, v: str) -> str:
        """A target language is a profile (text/languages/<code>.yaml, or $LANGADAPT_LANGUAGES_DIR)."""
        from langadapt.text.profiles import target_profile

        try:
            target_profile(v)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return v


class PathsParams(Section):
    raw: str = "data/raw"
    extracted: str = "data/extracted"
    filtered: str = "data/filtered"
    clean: str = "data/clean"
    tokenizer: str = "models/tokenizer"
    base: str = "models/base"
    cpt: str = "models/cpt"
    cpt_checkpoints: str = "checkpoints/cpt"
    synth: str = "data/synth"
    sft: str = "models/sft"
    sft_checkpoints: str = "checkpoints/sft"
    pref: str = "models/pref"
    pref_checkpoints: str = "checkpoints/pref"
    diff: str = "reports/diff"
    eval: str = "reports/eval"
    report: str = "reports/report"
    metrics: str = "metrics"
    plots: str = "plots"
    translation_pairs: str = "samples/data/th-en"
    ifeval_seed: str = "samples/data/en/ifeval-input_data.jsonl"


class CrawlParams(Section):
    user_agent: str = "langadapt-crawler/0.1 (+https://github.com/langadapt/langadapt)"
    max_pages: int = 1000
    max_depth: int = 5
    delay: float = 0.5
    concurrency: int = 4
    host_concurrency: int = 1
    timeout: float = 10.0
    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 1_048_576
    allow_hosts: list[str] = []
    warc_max_records: int = 5000


class ExtractParams(Section):
    prefilter_min_script_ratio: float = 0.2
    min_text_chars: int = 50
    shards_per_warc: int = 2
    workers: int = 1


class FilterParams(Section):
    langid_min_score: float = 0.5
    langid_model: str | None = None
    redact_pii: bool = True
    thresholds: dict[str, float | int | bool | None] = {}
    workers: int = 1


class DedupParams(Section):
    exact: bool = True
    near: bool = True
    shingle: Literal["char", "word"] = "char"
    ngram: int = 5
    num_perm: int = 128
    bands: int = 20
    rows: int = 6
    threshold: float = 0.75
    keep: Literal["longest", "smallest_id"] = "longest"
    workers: int = 1
    exact_partitions: int = 16


class CorpusParams(Section):
    """How extract, filter and dedup run (never what they output): local processes or Ray tasks."""

    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_tasks: int = 0
    cpus_per_task: float = 1.0
    max_retries: int = 3


class DataParams(Section):
    heldout_fraction: float = 0.05
    heldout_pairs_fraction: float = 0.1


class TinyModelParams(Section):
    hidden_size: int = 128
    intermediate_size: int = 352
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 1024
    tie_word_embeddings: bool = True


class ModelParams(Section):
    base: str = "tiny-qwen3"
    trust_remote_code: bool = False
    tiny: TinyModelParams = TinyModelParams()


class TokenizerParams(Section):
    vocab_size: int = 4000
    extend: bool = False
    extend_tokens: int = 2000
    min_frequency: int = 2


class TrainParams(Section):
    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: int = 1
    zero_stage: Literal[0, 1, 2, 3] = 2
    cpu_bf16_autocast: bool = False
    ray_address: str | None = None
    storage_path: str | None = None
    max_failures: int = 2
    report_to: list[str] = []


class StageTrainParams(Section):
    """Per-stage optimisation settings (cpt and sft)."""

    seq_len: int = 256
    micro_batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    max_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 25
    checkpoint_every: int = 25
    eval_batches: int = 8


class TeacherParams(Section):
    kind: Literal["none", "hf", "openai"] = "none"
    model: str | None = None
    url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_new_tokens: int = 256
    temperature: float = 0.7
    requests_per_second: float = 5.0
    max_retries: int = 3
    cache_dir: str = ".cache/teacher"
    timeout: float = 120.0
    concurrency: int = 4
    batch_size: int = 8


class SynthParams(Section):
    back_translation: int = 300
    translation_pairs: int = 300
    translate_ifeval: int = 0
    autoif: int = 0
    responses_per_instruction: int = 4
    multi_turn_fraction: float = 0.2
    max_response_chars: int = 1200
    min_response_chars: int = 40
    passages_per_doc: int = 3
    max_constraints: int = 3
    format_fraction: float = 0.3
    min_script_ratio: float = 0.5
    dedup_threshold: float = 0.7
    constraint_ids: list[str] = []
    autoif_rewrite: bool = True
    paraphrase: bool = False
    teacher: TeacherParams = TeacherParams()


class PrefParams(Section):
    """Preference optimisation from verifier feedback (langadapt.pref)."""

    rounds: int = 1
    prompts: int = 16
    samples_per_prompt: int = 4
    temperature: float = 1.0
    max_new_tokens: int = 32
    batch_size: int = 16
    min_script_ratio: float = 0.5
    truncated_desirable: bool = False
    loss: Literal["kto", "dpo"] = "kto"
    stepwise: bool = False
    pairing: Literal["desirable", "score"] = "desirable"
    beta: float = 0.1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    balance_weights: bool = True
    sft_weight: float = 0.0
    precompute_ref_log_probs: bool = False
    deepspeed: bool = True
    lr: float = 1e-4
    warmup_steps: int = 0
    max_steps: int = 8
    micro_batch_size: int = 4
    grad_accum: int = 1
    grad_clip: float = 1.0
    max_length: int = 256
    checkpoint_every: int = 4


class DiffParams(Section):
    top_r: int = 8
    svd_max_dim: int = 512
    svd_niter: int = 2
    chunk_mb: int = 16
    hold_mb: int = 1024
    top_k: int = 20
    probes: bool = True
    probe_texts: int = 16
    probe_max_tokens: int = 128
    probe_features: Literal["tokens", "pooled"] = "tokens"


class EvalParams(Section):
    models: list[Literal["base", "cpt", "sft", "pref"]] = ["base", "cpt", "sft", "pref"]
    max_new_tokens: int = 192
    batch_size: int = 16
    cpu_bf16_autocast: bool = False
    bpb_docs: int = 40
    bpb_window: int = 256
    bpb_stride: int = 128
    translation_pairs: int = 24
    ifeval_prompts: int = 24
    ifeval_file: str | None = None
    # published benchmarks (langadapt.evaluation.benchmarks): subset sizes keep CPU runs short
    sea_ifeval_file: str | None = "samples/data/th/ifeval-th.jsonl"
    sea_ifeval_prompts: int = 24
    en_ifeval_prompts: int = 24
    flores_file: str | None = "samples/data/th-en/flores200-devtest.200.jsonl"
    flores_pairs: int = 24
    multi_turn: int = 12
    code_switch_threshold: float = 0.1
    endpoint: str | None = None
    judge: str | None = None
    judge_model: str | None = None
    judge_pairwise: list[str] = ["pref", "sft"]
    judge_answers: int = 24
    api_key_env: str = "OPENAI_API_KEY"


class ReportParams(Section):
    title: str | None = None  # None: "langadapt: <language name> adaptation of <model.base>"
    model_name: str | None = None
    license: str = "apache-2.0"


class RayPodParams(Section):
    """One Ray pod group of the RayJob (head or workers): size and placement on the cluster."""

    replicas: int = 1
    cpu: str = "2"
    memory: str = "8Gi"
    gpu: int = 0
    shm_size: str = "2Gi"
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class StepResources(Section):
    """A KFP step's pod: size, accelerator and placement (``cluster.step``, per stage ``cluster.stages.<name>``)."""

    cpu: str = "1"
    memory: str = "4Gi"
    gpu: int = 0                             # accelerator limit (eval/diff on a GPU; never cpt/sft: RayJobs)
    accelerator: str = "nvidia.com/gpu"      # the accelerator resource type
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class ClusterParams(Section):
    """Where the KFP pipeline runs; ignored by ``dvc repro`` (see docs/cluster.md)."""

    image: str = "ghcr.io/langadapt/langadapt:0.1.0"
    namespace: str = "langadapt"
    service_account: str = "langadapt-pipeline"
    ray_service_account: str = "langadapt-ray"
    kfp_host: str | None = None
    experiment: str = "langadapt"
    repo_url: str = "https://github.com/langadapt/langadapt.git"
    dvc_remote: str | None = None
    artifact_store: str = "s3://langadapt/runs"
    pipeline_root: str | None = None   # KFP artifacts of a run (None: <artifact_store>/kfp)
    storage_secret: str = "langadapt-object-store"
    storage_endpoint: str | None = None
    train_on: Literal["auto", "rayjob", "local"] = "auto"
    ray_version: str = "2.60.0"
    rayjob_timeout: int = 86400
    rayjob_ttl: int = 3600
    image_pull_secrets: list[str] = []
    step: StepResources = StepResources()
    # per-stage overrides of `step`, e.g. {eval: {gpu: 1}} (langadapt.orchestration.pipeline.stage_resources)
    stages: dict[str, dict[str, Any]] = {
        "extract": {"cpu": "2", "memory": "4Gi"}, "dedup": {"cpu": "2", "memory": "8Gi"},
        "eval": {"cpu": "4", "memory": "16Gi"}, "diff": {"cpu": "2", "memory": "8Gi"},
    }
    head: RayPodParams = RayPodParams()
    worker: RayPodParams = RayPodParams(
        replicas=2, cpu="8", memory="48Gi", gpu=1, shm_size="16Gi",
        node_selector={"langadapt.io/pool": "gpu"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )


class Params(Section):
    seed: int = 1234
    language: LanguageParams = LanguageParams()
    paths: PathsParams = PathsParams()
    crawl: CrawlParams = CrawlParams()
    extract: ExtractParams = ExtractParams()
    filter: FilterParams = FilterParams()
    dedup: DedupParams = DedupParams()
    corpus: CorpusParams = CorpusParams()
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    tokenizer: TokenizerParams = TokenizerParams()
    train: TrainParams = TrainParams()
    cpt: StageTrainParams = StageTrainParams(lr=1e-3, max_steps=600, weight_decay=0.01, eval_every=100,
                                             checkpoint_every=200)
    synth: SynthParams = SynthParams()
    sft: StageTrainParams = StageTrainParams(
        lr=1e-3, max_steps=200, warmup_steps=5, eval_every=50, checkpoint_every=100, eval_batches=4
    )
    pref: PrefParams = PrefParams()
    diff: DiffParams = DiffParams()
    eval: EvalParams = EvalParams()
    report: ReportParams = ReportParams()
    cluster: ClusterParams = ClusterParams()


# ---------------------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "float_parsing": "expected float",
    "float_type": "expected float",
    "int_parsing": "expected int",
    "int_type": "expected int",
    "int_from_float": "expected int",
    "bool_parsing": "expected bool",
    "bool_type": "expected bool",
    "string_type": "expected string",
    "list_type": "expected list",
    "dict_type": "expected mapping",
    "model_type": "expected mapping",
    "model_attributes_type": "expected mapping",
}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Params
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _format_error(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "<root>"
    typ = err["type"]
    if typ == "extra_forbidden":
        parent = _model_at(loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            if close:
                hint = f" (did you mean '{close[0]}'?)"
        return f"{key}: unknown key{hint}"
    if typ in _TYPE_WORDS:
        return f"{key}: {_TYPE_WORDS[typ]}, got {err.get('input')!r}"
    if typ == "value_error":  # a validator's own message (it names what is wrong)
        return f"{key}: {err.get('ctx', {}).get('error', err['msg'])}"
    if typ == "literal_error":
        msg = err["msg"]
        return f"{key}: {msg[:1].lower() + msg[1:]}, got {err.get('input')!r}"
    return f"{key}: {err['msg']}"


def _set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def parse_params(raw: Any, source: str = "params.yaml", overrides: list[str] | None = None) -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r}: expected key=value, e.g. cpt.max_steps=10")
        k, v = ov.split("=", 1)
        _set_dotted(raw, k.strip(), yaml.safe_load(v))
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        lines = [_format_error(err) for err in e.errors()]
        raise ConfigError(f"{source}: " + f"\n{source}: ".join(lines)) from None


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Load and validate params.yaml (a missing file is an error: the user asked for it)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    return parse_params(raw, str(path), overrides)


def dump_params(params: Params) -> str:
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

