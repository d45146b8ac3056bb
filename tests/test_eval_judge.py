"""The LLM judge (langadapt.evaluation.judge): reply parsing, the both-orders win rate, and run_judge
against real OpenAI-compatible servers on 127.0.0.1: a scripted one (exact numbers) and `langadapt
serve` of a random tiny checkpoint (its replies are gibberish: all counted as unparsed, no crash).

    .venv/bin/pytest -q tests/test_eval_judge.py        # ~30 s (the serve test loads torch)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from langadapt.evaluation.judge import (
    DIMENSIONS,
    pairwise_prompt,
    parse_scores,
    parse_verdict,
    prompts_for,
    run_judge,
    score_prompt,
    win_rate,
)
from langadapt.io import write_jsonl


def test_parse_scores():
    ok = {"fluency": 4, "relevance": 3, "instruction_following": 5, "helpfulness": 0}
    assert parse_scores('คะแนน: {"fluency": 4, "relevance": 3, "instruction_following": 5, "helpfulness": 0}') == ok
    assert parse_scores("fluency: 4\nrelevance = 3\ninstruction_following: 5\nhelpfulness: 0") == ok
    assert parse_scores('{"fluency": 4, "relevance": 3, "instruction_following": 5}') is None   # one missing
    assert parse_scores('{"fluency": 7, "relevance": 3, "instruction_following": 5, "helpfulness": 1}') is None
    assert parse_scores('{"fluency": 2.5, "relevance": 3, "instruction_following": 5, "helpfulness": 1}') is None
    assert parse_scores("") is None and parse_scores("ดีมาก") is None


def test_parse_verdict():
    assert parse_verdict("คำตอบ A ดีกว่า [[A]]") == "A"
    assert parse_verdict("[[ B ]]") == "B" and parse_verdict("[[C]]") == "tie"
    assert parse_verdict("first [[A]] then, on reflection, [[B]]") == "B"   # the last verdict counts
    assert parse_verdict("A is better") is None


def test_win_rate_both_orders():
    # pref wins as A, then wins as B: 1.0; a judge that always says A: 0.5 with full position bias
    assert win_rate([("pref", "sft", "A"), ("sft", "pref", "B")], "pref")["win_rate"] == 1.0
    w = win_rate([("pref", "sft", "A"), ("sft", "pref", "A"), ("pref", "sft", "tie"), ("sft", "pref", None)], "pref")
    assert w == {"win_rate": 0.5, "judgements": 4, "unparsed": 1, "wins": 1, "ties": 1, "position_a_share": 1.0}
    assert win_rate([("pref", "sft", None)], "pref")["win_rate"] is None


def test_prompts_are_in_the_target_language():
    _p, lang = prompts_for("th")
    assert lang == "th" and "ภาษาไทย" in score_prompt("th", "q", "a") and "[[A]]" in pairwise_prompt("th", "q", "x", "y")
    assert prompts_for("zh-Hant")[1] == "zh-Hant" and "繁體中文" in score_prompt("zh-Hant", "q", "a")
    assert prompts_for("bo")[1] == "en"   # no Tibetan prompt yet: English, and the output says so
    assert all(d in score_prompt("th", "q", "a") for d in DIMENSIONS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Scripted(BaseHTTPRequestHandler):
    """Scores: valid JSON unless the answer contains 'BAD'; pairwise: always [[A]] (position bias)."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        if "[[A]]" in text:
            reply = "ตัดสิน: [[A]]"
        elif "BAD" in text:
            reply = "ขอโทษ ฉันให้คะแนนไม่ได้"
        else:
            reply = '{"fluency": 4, "relevance": 2, "instruction_following": 3, "helpfulness": 3}'
        out = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def _eval_dir(root: Path) -> Path:
    for model, answers in (("sft", ["คำตอบหนึ่ง", "BAD answer", "คำตอบสาม"]), ("pref", ["ตอบ 1", "ตอบ 2", "ตอบ 3"])):
        write_jsonl(root / model / "generations.jsonl", [
            {"model": model, "task": "ifeval", "key": k, "messages": [{"role": "user", "content": f"คำถาม {k}"}],
             "response": a, "finish_reason": "stop"} for k, a in enumerate(answers)]
            + [{"model": model, "task": "translation_to_en", "key": "t", "messages": [{"role": "user", "content": "x"}],
                "response": "y", "finish_reason": "stop"}])
    return root


@pytest.mark.integration
def test_run_judge_against_a_scripted_server(tmp_path):
    from langadapt.generation import OpenAITeacher

    srv = ThreadingHTTPServer(("127.0.0.1", _free_port()), _Scripted)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        judge = OpenAITeacher(f"http://127.0.0.1:{srv.server_address[1]}/v1", "judge", "LANGADAPT_TEST_NO_KEY")
        metrics, records, detail = run_judge(judge, "th", _eval_dir(tmp_path), ["sft", "pref"], ["pref", "sft"], 10)
    finally:
        srv.shutdown()
    assert metrics["sft"]["llm_judge_n"] == 3 and metrics["sft"]["llm_judge_unparsed"] == 1
    assert metrics["sft"]["llm_judge_fluency"] == 4.0 and metrics["sft"]["llm_judge_mean"] == 3.0
    assert metrics["pref"]["llm_judge_unparsed"] == 0
    # always "[[A]]": pref wins when shown first, loses when shown second -> 0.5, full position bias
    assert metrics["pref"]["judge_win_rate_vs_sft"] == 0.5
    assert detail["pairwise"]["position_a_share"] == 1.0 and detail["pairwise"]["order_agreement"] == 0.0
    assert detail["pairwise"]["judgements"] == 6 and detail["prompt_language"] == "th"
    assert sum(r["task"] == "llm_judge_pairwise" for r in records) == 6


@pytest.mark.integration
def test_run_judge_against_langadapt_serve(tmp_path):
    """A random tiny checkpoint as the judge: nothing parses, every reply is counted, nothing crashes."""
    import requests

    from langadapt.generation import OpenAITeacher
    from langadapt.train.modeling import build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    sents = (Path(__file__).resolve().parents[1] / "samples/data/th-en/data_tha.txt").read_text(encoding="utf-8")
    tok = train_bpe_tokenizer([ln.split("\t", 1)[-1] for ln in sents.splitlines()[:300]], vocab_size=300, min_frequency=2)
    tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 1024, "tie_word_embeddings": True}
    save_hf(build_tiny_qwen3(tiny, vocab_size=len(tok), seed=0, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id), tok, tmp_path / "judge")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "langadapt", "serve", str(tmp_path / "judge"), "--port", str(port),
                             "--name", "judge"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"langadapt serve exited: {proc.stdout.read()}")
            try:
                if requests.get(url + "/models", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            pytest.fail("langadapt serve did not come up in 120 s")
        judge = OpenAITeacher(url, "judge", "LANGADAPT_TEST_NO_KEY", cache_dir=tmp_path / "cache")
        metrics, records, detail = run_judge(judge, "th", _eval_dir(tmp_path / "eval"), ["sft", "pref"],
                                             ["pref", "sft"], 2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for m in ("sft", "pref"):
        assert metrics[m]["llm_judge_n"] == 2
        assert metrics[m]["llm_judge_unparsed"] == sum(r["scores"] is None for r in records
                                                       if r.get("model") == m and r["task"] == "llm_judge")
    pw = detail["pairwise"]
    assert pw["judgements"] == 4 and pw["unparsed"] == sum(r["verdict"] is None for r in records
                                                           if r["task"] == "llm_judge_pairwise")


@pytest.mark.integration
def test_eval_with_pref_and_judge_then_report(tmp_path):
    """`eval` with sft and pref checkpoints and the judge on (a scripted server): the judge metrics land
    in metrics/eval.json beside the others, and the report shows the sft -> pref comparison."""
    import yaml

    from langadapt.config import parse_params
    from langadapt.evaluation.report import run_report
    from langadapt.evaluation.runner import run_eval
    from langadapt.records import Document
    from langadapt.train.modeling import build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    repo = Path(__file__).resolve().parents[1]
    sents = [ln.split("\t", 1)[-1] for ln in (repo / "samples/data/th-en/data_tha.txt").read_text(
        encoding="utf-8").splitlines()]
    write_jsonl(tmp_path / "data/clean/shard-00000.jsonl",
                [Document(id=f"d{i}", text=" ".join(sents[i * 4: i * 4 + 4]), lang="th") for i in range(40)])
    tok = train_bpe_tokenizer(sents[:300], vocab_size=300, min_frequency=2)
    tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 512, "tie_word_embeddings": True}
    for seed, name in enumerate(("sft", "pref")):
        save_hf(build_tiny_qwen3(tiny, vocab_size=len(tok), seed=seed, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id), tok, tmp_path / "models" / name)
    srv = ThreadingHTTPServer(("127.0.0.1", _free_port()), _Scripted)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    raw = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    cfg = parse_params(raw, "params.yaml", [
        f"paths.translation_pairs={repo / 'samples/data/th-en'}", "data.heldout_fraction=0.25",
        "eval.models=[sft, pref]", "eval.bpb_docs=2", "eval.bpb_window=32", "eval.bpb_stride=16",
        "eval.translation_pairs=2", "eval.ifeval_prompts=3", "eval.multi_turn=1", "eval.max_new_tokens=4",
        f"eval.judge=http://127.0.0.1:{srv.server_address[1]}/v1", "eval.judge_model=judge",
        "eval.api_key_env=LANGADAPT_TEST_NO_KEY"])
    for k in ("clean", "sft", "pref", "eval", "report", "metrics", "plots", "diff"):
        setattr(cfg.paths, k, str(tmp_path / getattr(cfg.paths, k)))
    try:
        run_eval(cfg, root=tmp_path, log=lambda s: None)
    finally:
        srv.shutdown()
    metrics = json.loads((tmp_path / "metrics/eval.json").read_text(encoding="utf-8"))
    assert list(metrics) == ["sft", "pref"]
    assert metrics["pref"]["judge_win_rate_vs_sft"] == 0.5 and metrics["sft"]["llm_judge_n"] == 3
    assert metrics["sft"]["llm_judge_unparsed"] == 0 and metrics["pref"]["llm_judge_fluency"] == 4.0
    assert (tmp_path / "reports/eval/judge/summary.json").exists()
    (tmp_path / "metrics/pref.json").write_text(json.dumps({
        "rounds": 1, "loss": "kto", "stepwise": False, "samples_per_prompt": 4, "prompts": 8, "rounds_trained": 1,
        "rounds_skipped": 0, "per_round": [{"round": 0, "samples": 32, "desirable_share": 0.5}], "final": None}))
    run_report(cfg, root=tmp_path)
    md = (tmp_path / "reports/report/report.md").read_text(encoding="utf-8")
    assert "sft -> pref" in md and "LLM judge win rate of pref vs sft" in md
    card = (tmp_path / "reports/report/MODEL_CARD.md").read_text(encoding="utf-8")
    assert "preference-optimization" in card and "Checkpoint evaluated: **pref**" in card
