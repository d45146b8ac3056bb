"""Teachers against a real server, and the teacher-driven synth sources end to end at toy size.

Run: .venv/bin/pytest -q tests/test_synth_teachers.py   (about a minute: builds and briefly trains a tiny
Qwen3 with its own tokenizer, serves it with `langadapt serve` on 127.0.0.1, and points the OpenAI
teacher, AutoIF and the `synth` stage at it)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from langadapt.config import Params, TinyModelParams
from langadapt.errors import ConfigError, ModelError
from langadapt.ifeval import verify

pytestmark = pytest.mark.integration

# The tiny model is trained for a few seconds to answer with these (so some constraints pass, some fail)
ANSWERS = ["วันนี้อากาศดีมากครับ เราไปเที่ยวทะเลกันและกินอาหารอร่อยครับ",
           "ขอบคุณมากครับ ผมชอบอ่านหนังสือที่ห้องสมุดทุกวันครับ"]


def _build_tiny(out: Path) -> Path:
    import torch

    from langadapt.records import read_translation_pairs
    from langadapt.train.modeling import IM_END, build_tiny_qwen3, save_hf
    from langadapt.train.tokenizer import train_bpe_tokenizer

    repo = Path(__file__).resolve().parents[1]
    pairs = read_translation_pairs(repo / "samples/data/th-en", "th")
    tok = train_bpe_tokenizer([p.target for p in pairs] + [p.english for p in pairs] + ANSWERS * 20, 600, 2)
    tiny = TinyModelParams(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=32, max_position_embeddings=512)
    model = build_tiny_qwen3(tiny, len(tok), 0, eos_token_id=tok.convert_tokens_to_ids(IM_END),
                             pad_token_id=tok.pad_token_id)
    prompts = ["เขียนข่าวสั้น", "สวัสดี", "Translate into Thai", "เรียบเรียงคำสั่งต่อไปนี้ใหม่"]
    texts = [tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": a}],
                                     tokenize=False) for p in prompts for a in ANSWERS]
    enc = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(50):
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    save_hf(model, tok, out)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """A toy model on a shared CI machine runs far faster on one thread than fighting for all cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _build_tiny(tmp_path_factory.mktemp("tiny") / "tiny")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model):
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "langadapt", "serve", str(tiny_model), "--port", str(port),
                             "--name", "tiny"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}/v1"
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
        proc.kill()
        pytest.fail("langadapt serve did not come up in 120 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_speaks_the_openai_api(server):
    models = requests.get(server + "/models", timeout=5).json()
    assert models["data"][0]["id"] == "tiny"
    body = {"model": "tiny", "messages": [{"role": "user", "content": "สวัสดี"}], "max_tokens": 40,
            "temperature": 0, "n": 2}
    r = requests.post(server + "/chat/completions", json=body, timeout=60).json()
    assert [c["index"] for c in r["choices"]] == [0, 1]
    assert r["choices"][0]["message"]["role"] == "assistant"
    assert r["choices"][0]["message"]["content"] == r["choices"][1]["message"]["content"]  # greedy
    assert r["choices"][0]["message"]["content"] in ANSWERS
    assert r["usage"]["completion_tokens"] > 0
    bad = requests.post(server + "/chat/completions", json={**body, "model": "gpt-9"}, timeout=10)
    assert bad.status_code == 404 and "gpt-9" in bad.text
    assert requests.post(server + "/chat/completions", json={"messages": []}, timeout=10).status_code == 422


def test_serve_limits_body_size_and_tokens(server):
    url = server + "/chat/completions"
    msg = [{"role": "user", "content": "สวัสดี"}]
    # over 1 MiB: refused before it is parsed, whether declared (Content-Length) or streamed (chunked)
    big = json.dumps({"messages": [{"role": "user", "content": "ก" * (1 << 19)}]}).encode()  # 3 bytes a char
    r = requests.post(url, data=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and "over 1048576 bytes" in r.text
    r = requests.post(url, data=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413
    # max_tokens x n over 4096: 400 naming the product and the limit, nothing generated
    r = requests.post(url, json={"messages": msg, "max_tokens": 1024, "n": 5}, timeout=30)
    assert r.status_code == 400 and "1024 x 5 = 5120" in r.text and "4096" in r.text
    r = requests.post(url, json={"messages": msg, "max_tokens": 4, "n": 2, "temperature": 0}, timeout=60)
    assert r.status_code == 200 and len(r.json()["choices"]) == 2


def test_openai_teacher_against_served_model_and_its_cache(server, tmp_path):
    from langadapt.generation import OpenAITeacher

    t = OpenAITeacher(server, "tiny", "LANGADAPT_TEST_NO_KEY", cache_dir=tmp_path / "cache", concurrency=2)
    convs = [[{"role": "user", "content": "สวัสดี"}]] * 2 + [[{"role": "user", "content": "เขียนข่าวสั้น"}]]
    g1 = t.generate(convs, max_new_tokens=40, temperature=0.8)
    assert (t.requests_made, t.cache_hits) == (3, 0)
    assert all(g.finish_reason == "stop" and g.completion_tokens > 0 for g in g1)
    # a second teacher (a rerun) answers from the disk cache: no request at all
    t2 = OpenAITeacher(server, "tiny", "LANGADAPT_TEST_NO_KEY", cache_dir=tmp_path / "cache")
    g2 = t2.generate(convs, max_new_tokens=40, temperature=0.8)
    assert (t2.requests_made, t2.cache_hits) == (0, 3)
    assert [g.text for g in g2] == [g.text for g in g1]
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 3  # the two identical prompts are two samples


def test_bad_teacher_url_is_a_clear_error(tmp_path):
    from langadapt.generation import OpenAITeacher

    with pytest.raises(ConfigError, match=r"synth.teacher.url: 'localhost:8000' is not an http\(s\) URL"):
        OpenAITeacher("localhost:8000", "m")
    t = OpenAITeacher(f"http://127.0.0.1:{_free_port()}/v1", "m", max_retries=1, backoff=0.01)
    with pytest.raises(ModelError, match=r"teacher http://127.0.0.1:\d+/v1/chat/completions: no answer after 2 "
                                         r"attempts \(ConnectionError"):
        t.generate([[{"role": "user", "content": "x"}]], max_new_tokens=4, temperature=0)


def _params(**synth) -> Params:
    p = Params()
    base = {"min_response_chars": 10, "responses_per_instruction": 3, "multi_turn_fraction": 0.5,
            "autoif_rewrite": True, "max_constraints": 2}
    base.update(synth)
    for k, v in base.items():
        setattr(p.synth, k, v)
    p.synth.teacher.max_new_tokens = 48
    p.synth.teacher.temperature = 0.8
    return p


def test_autoif_end_to_end_with_the_hf_teacher(tiny_model):
    from langadapt.synth.autoif import run_autoif
    from langadapt.synth.common import SynthStats
    from langadapt.synth.teachers import HFTeacher

    p = _params(constraint_ids=["punctuation:no_comma", "langadapt:polite_particle",
                                "detectable_format:number_bullet_lists", "keywords:forbidden_words"],
                max_constraints=1)
    stats = SynthStats()
    n, k = 8, 3
    examples = run_autoif(HFTeacher(tiny_model, seed=1), "th", n, p.synth, 1234, stats)
    dropped = stats.dropped["autoif"]
    # every instruction is either kept or dropped with a reason
    assert len(examples) + sum(dropped.values()) == n
    assert stats.kept["autoif"] == len(examples)
    # every sampled response was judged: the passing ones plus the rejected ones (with reasons) = n * k
    responses = stats.dropped["autoif:responses"]
    assert stats.teacher_calls >= n + n * k  # rewrites + samples (+ follow-ups)
    checked = stats.checked["autoif"]
    # a bullet list is never what the tiny model answers; the memorised answers have no commas
    assert checked["detectable_format:number_bullet_lists"] == 0 or \
        stats.passed["autoif"]["detectable_format:number_bullet_lists"] == 0
    assert any(r.startswith("constraint_failed:") for r in responses)
    assert examples, (dict(dropped), dict(responses))
    for ex in examples:
        assert ex.messages[0]["role"] == "user" and ex.messages[-1]["role"] == "assistant"
        for c in ex.constraints:  # kept examples pass every constraint they list, re-verified here
            assert verify(c["id"], c["kwargs"], ex.messages[-1]["content"], "th"), (c, ex.messages[-1])
    rates = stats.pass_rates()["autoif"]
    assert all(0.0 <= r["rate"] <= 1.0 and r["passed"] <= r["checked"] for r in rates.values())


def test_synth_stage_with_the_openai_teacher(server, tmp_path, repo_root):
    from langadapt.synth.stage import run_synth

    clean = tmp_path / "clean"
    clean.mkdir()
    doc = {"id": "d1", "text": "วันนี้อากาศดีมากครับ เราไปเที่ยวทะเลกันและกินอาหารอร่อยครับ\n" * 3,
           "lang": "th", "meta": {"title": "เที่ยวทะเล"}}
    (clean / "part-0.jsonl").write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    p = _params(autoif=4, translate_ifeval=3, back_translation=2, translation_pairs=5, paraphrase=True)
    p.paths.clean = str(clean)
    p.paths.synth = str(tmp_path / "synth")
    p.paths.metrics = str(tmp_path / "metrics")
    p.paths.plots = str(tmp_path / "plots")
    p.paths.translation_pairs = str(repo_root / "samples/data/th-en")
    p.paths.ifeval_seed = str(repo_root / "samples/data/en/ifeval-input_data.jsonl")
    p.synth.teacher.kind = "openai"
    p.synth.teacher.url = server
    p.synth.teacher.model = "tiny"
    p.synth.teacher.cache_dir = str(tmp_path / "cache")
    m1 = run_synth(p, root=tmp_path)
    assert m1["by_source"]["translation_pairs"] == 5
    assert m1["teacher_http_requests"] > 0 and m1["teacher_cache_hits"] == 0
    # the tiny model cannot translate: every IFEval translation is dropped with its reason
    assert sum(m1["dropped"]["translated_ifeval"].values()) == 3
    # nor paraphrase keeping the kwargs: the template wording stays
    n_bt = m1["by_source"]["back_translation"]
    assert m1["dropped"]["back_translation:paraphrases"] == {"rejected_kept_template": n_bt}
    lines = (tmp_path / "synth" / "sft.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == m1["examples"]
    excluded = [json.loads(x) for x in (tmp_path / "synth" / "synth.excluded.jsonl").read_text().splitlines()]
    assert all(e["reason"] for e in excluded)
    # a rerun is identical and costs no request
    m2 = run_synth(p, root=tmp_path)
    assert m2["teacher_http_requests"] == 0 and m2["teacher_cache_hits"] == m1["teacher_http_requests"]
    assert (tmp_path / "synth" / "sft.jsonl").read_text(encoding="utf-8").splitlines() == lines
