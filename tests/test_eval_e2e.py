"""`eval` and `report` end to end on tiny random Qwen3 checkpoints saved to tmp (about 30 s).

Run: .venv/bin/pytest -q tests/test_eval_e2e.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from langadapt.config import parse_params

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project dir with data/clean (Thai documents) and models/{base,cpt,sft} (tiny, random)."""
    from langadapt.io import write_jsonl
    from langadapt.records import Document
    from langadapt.train.modeling import build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    root = tmp_path_factory.mktemp("evalproj")
    lines = (REPO / "samples/data/th-en/data_tha.txt").read_text(encoding="utf-8").splitlines()
    sents = [ln.split("\t", 1)[1] for ln in lines]
    docs = [Document(id=f"d{i}", text=" ".join(sents[i * 4 : i * 4 + 4]), lang="th") for i in range(120)]
    write_jsonl(root / "data/clean/shard-00000.jsonl", docs)
    tok = train_bpe_tokenizer([d.text for d in docs], vocab_size=400, min_frequency=2)
    tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 512, "tie_word_embeddings": True}
    for seed, name in enumerate(("base", "cpt", "sft")):
        model = build_tiny_qwen3(tiny, vocab_size=len(tok), seed=seed, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        save_hf(model, tok, root / "models" / name)
    return root


def _cfg(root: Path, *extra: str):
    overrides = [
        f"paths.translation_pairs={REPO / 'samples/data/th-en'}",
        "data.heldout_fraction=0.25",
        "eval.bpb_docs=6", "eval.bpb_window=32", "eval.bpb_stride=16", "eval.batch_size=4",
        "eval.translation_pairs=4", "eval.ifeval_prompts=4", "eval.multi_turn=2", "eval.max_new_tokens=6",
        f"eval.sea_ifeval_file={REPO / 'samples/data/th/ifeval-th.jsonl'}", "eval.sea_ifeval_prompts=2",
        f"paths.ifeval_seed={REPO / 'samples/data/en/ifeval-input_data.jsonl'}", "eval.en_ifeval_prompts=2",
        f"eval.flores_file={REPO / 'samples/data/th-en/flores200-devtest.200.jsonl'}", "eval.flores_pairs=2",
        *extra,
    ]
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    cfg = parse_params(raw, "params.yaml", overrides)
    for k in ("clean", "base", "cpt", "sft", "eval", "report", "metrics", "plots", "diff"):
        setattr(cfg.paths, k, str(root / getattr(cfg.paths, k)))
    return cfg


def test_eval_and_report_end_to_end(project: Path):
    from langadapt.evaluation.report import run_report
    from langadapt.evaluation.runner import run_eval

    cfg = _cfg(project)
    res = run_eval(cfg, root=project, log=lambda s: None)
    metrics = json.loads((project / "metrics/eval.json").read_text(encoding="utf-8"))
    assert list(metrics) == ["base", "cpt", "sft"]
    for name, m in metrics.items():
        for key in ("bpb", "token_ppl", "chrf_to_en", "chrf_from_en", "bleu_from_en", "chrfpp_to_en",
                    "ifeval_prompt_strict", "ifeval_inst_loose", "multiturn_turn2_prompt_strict",
                    "stability", "code_switch_rate", "translation_truncated_share", "truncated",
                    "ifeval_sea_prompt_strict", "ifeval_sea_lang_normalized", "ifeval_en_prompt_strict",
                    "flores_chrf_to_en", "flores_chrfpp_from_en", "flores_bleu_from_en",
                    "ifeval_sea_prompt_strict_baseline", "flores_chrfpp_from_en_baseline"):
            assert key in m, (name, key)
        if name != "base":  # prompt by prompt against base on the same IFEval-Th / English IFEval prompts
            detail_b = json.loads((project / "reports/eval" / name / "detail.json").read_text(encoding="utf-8"))
            n_sea = len(detail_b["benchmarks"]["sea_ifeval"]["prompt_strict_pass"])
            assert n_sea == detail_b["benchmarks"]["sea_ifeval"]["n_prompts"] > 0
            assert 0 <= m["ifeval_sea_vs_base_wins"] + m["ifeval_sea_vs_base_losses"] <= n_sea
            assert 0 < m["ifeval_sea_vs_base_sign_p"] <= 1 and "ifeval_en_vs_base_sign_p" in m
        else:
            assert not any("_vs_" in k for k in m)
        # a random model never stops by itself in 6 tokens: every answer is reported as truncated
        gens = [json.loads(x) for x in (project / "reports/eval" / name / "generations.jsonl").read_text(
            encoding="utf-8").splitlines()]
        n_trans = [g for g in gens if g["task"].startswith("translation")]
        # + the benchmarks: 2 SEA-IFEval (IFEval-Th), 2 English IFEval, 2 FLORES pairs both ways
        assert len(n_trans) == 8 and len(gens) == 8 + 4 + 2 + 2 + 2 + 2 + 4
        flores = [g for g in gens if g["task"] == "flores_from_en"]
        assert flores[0]["messages"][0]["content"].startswith("แปลข้อความต่อไปนี้เป็นภาษาไทย")
        assert m["translation_truncated"] == sum(g["finish_reason"] == "length" for g in n_trans)
        assert m["truncated"] == sum(g["finish_reason"] == "length" for g in gens)
        assert m["generated"] == 24
        assert 0 < m["bpb"] < 20
    # a random model's bpb is about log2(vocab) bits per token spread over the bytes: all three differ
    assert len({round(m["bpb"], 6) for m in metrics.values()}) == 3
    detail = json.loads((project / "reports/eval/base/detail.json").read_text(encoding="utf-8"))
    assert "tok:none+seg:th-words" in detail["translation"]["from_en"]["signatures"]["bleu"]
    assert "tok:13a" in detail["translation"]["to_en"]["signatures"]["bleu"]
    assert res["counts"]["translation_pairs"] == 4
    # honesty: a constant answer scored by the same code, flags per model, the held-out overlap check
    assert set(res["baseline"]["metrics"]) >= {"ifeval_prompt_strict", "multiturn_turn2_prompt_strict"}
    assert res["heldout_overlap"]["heldout_docs"] == 6 and res["heldout_overlap"]["train_docs"] > 0
    assert res["counts"]["heldout_docs"] == 6 - res["heldout_overlap"]["dropped"]
    for name in metrics:  # a random model: every answer truncated, so every generated metric is flagged
        assert "100% of answers truncated" in res["flags"][name]["ifeval_prompt_strict"]
    csv_rows = (project / "plots/eval.csv").read_text(encoding="utf-8").splitlines()
    assert csv_rows[0] == "model,metric,value" and any(r.startswith("sft,bpb,") for r in csv_rows)

    # the report: markdown + self-contained html + charts + model card with model-index
    (project / "plots/cpt.csv").write_text("step,train_loss,val_loss\n0,6.0,6.1\n10,4.0,4.2\n20,3.0,3.3\n")
    out = run_report(cfg, root=project)
    rep = project / "reports/report"
    assert {"report.md", "report.html", "MODEL_CARD.md", "eval_comparison.png", "loss_curves.png"} <= set(out["files"])
    md = (rep / "report.md").read_text(encoding="utf-8")
    assert "![" in md and "eval_comparison.png" in md and "| metric | base | CPT | SFT | SFT - base |" in md
    assert "SEA-IFEval (IFEval-Th) strict" in md and "FLORES-200 chrF++ en->" in md
    assert "SFT raises IFEval-Th (SEA-IFEval, prompt strict) over base" in md and "sign test p =" in md
    assert "| constant baseline | flags |" in md and "**Not results:**" in md and "What each number rests on" in md
    html = (rep / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "<table>" in html
    card = (rep / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "**Not results**" in card and "constant baseline" in card and "held-out documents" in card
    front = yaml.safe_load(card.split("---")[1])
    assert front["language"] == ["th", "en"] and front["license"] == "apache-2.0"
    assert front["datasets"] == ["matbahasa/TALPCo"]
    results = front["model-index"][0]["results"]
    bpb = next(m for r in results for m in r["metrics"] if m["type"] == "bits_per_byte")
    assert bpb["value"] == round(metrics["sft"]["bpb"], 4)
    assert {r["task"]["type"] for r in results} == {"text-generation", "translation"}


def test_missing_checkpoint_is_skipped_with_a_note(project: Path, tmp_path: Path):
    from langadapt.evaluation.runner import run_eval

    cfg = _cfg(project, "eval.multi_turn=0", "eval.ifeval_prompts=2", "eval.translation_pairs=2")
    cfg.paths.cpt = str(tmp_path / "no-such-cpt")
    cfg.paths.metrics = str(tmp_path / "metrics")
    cfg.paths.plots = str(tmp_path / "plots")
    cfg.paths.eval = str(tmp_path / "eval")
    logs: list[str] = []
    res = run_eval(cfg, root=project, log=logs.append)
    assert list(res["models"]) == ["base", "sft"]
    assert "no-such-cpt" in res["skipped"]["cpt"] and any("no-such-cpt" in x for x in logs)


def test_cli_bad_ifeval_file_is_a_clear_error(project: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from langadapt.cli import app

    bad = tmp_path / "my_ifeval.jsonl"
    bad.write_text('{"key": 1, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}\n'
                   '{"key": 2, "prompt": "y", "instruction_id_list": ["punctuation:no_comma"], "kwargs": {}}\n',
                   encoding="utf-8")
    r = CliRunner().invoke(app, ["eval", "-p", str(REPO / "params.yaml"), "-s", f"eval.ifeval_file={bad}",
                                 "-s", f"paths.clean={project / 'data/clean'}"])
    assert r.exit_code == 1
    assert f"{bad}:2" in r.output and "kwargs" in r.output and "Traceback" not in r.output


def test_endpoint_and_judge_go_through_openai_teachers(project: Path, tmp_path: Path, monkeypatch):
    """eval.endpoint generates with an OpenAI-compatible teacher per checkpoint; eval.judge rates turn 2."""
    from langadapt.evaluation import runner
    from langadapt.generation import Generation

    made: list[tuple[str, str]] = []

    class Stub:
        def __init__(self, url, model):
            self.url, self.model = url, model

        def generate(self, convs, *, max_new_tokens, temperature):
            if self.model == "judge-model":
                return [Generation("ok. Rating: [[6]]", "stop", 5) for _ in convs]
            return [Generation("สวัสดีครับ ขอบคุณครับ", "stop", 4) for _ in convs]

    def fake(url, model, cfg, root):
        made.append((url, model))
        return Stub(url, model)

    monkeypatch.setattr(runner, "_openai_teacher", fake)
    cfg = _cfg(project, "eval.models=[sft]", "eval.endpoint=http://vllm-{model}:8000/v1",
               "eval.judge=http://judge:8000/v1", "eval.judge_model=judge-model")
    cfg.paths.metrics, cfg.paths.plots, cfg.paths.eval = (str(tmp_path / d) for d in ("m", "p", "e"))
    res = runner.run_eval(cfg, root=project, log=lambda s: None)
    assert ("http://judge:8000/v1", "judge-model") in made and ("http://vllm-sft:8000/v1", "sft") in made
    m = res["models"]["sft"]
    assert m["judge_score"] == 6.0
    assert m["stability"] == 1.0 and m["code_switch_rate"] == 0.0 and m["truncated"] == 0
    assert m["ifeval_prompt_strict"] is not None
