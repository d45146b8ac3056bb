"""Corpus dedup: MinHash estimates match exact Jaccard, planted near-duplicates are found and nothing
else is merged, the kept representative is the same on reruns and input orders, exclusions name it.

Run: .venv/bin/pytest -q tests/test_corpus_dedup.py
"""

from __future__ import annotations

import json
import random

import numpy as np

from langadapt.config import parse_params
from langadapt.corpus.dedup import MinHashDeduplicator, normalize_for_dedup, representatives, run_dedup
from langadapt.io import write_jsonl
from langadapt.records import Document, read_documents

THAI = "กขคงจฉชซญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
VOWELS = "ะาิีึืุูเแโใไ่้"


def random_thai(rng: random.Random, n_chars: int) -> str:
    out = []
    while len(out) < n_chars:
        out.append(rng.choice(THAI))
        if rng.random() < 0.4:
            out.append(rng.choice(VOWELS))
        if rng.random() < 0.08:
            out.append(" ")
    return "".join(out)


def edit(rng: random.Random, text: str, frac: float) -> str:
    chars = list(text)
    for _ in range(int(len(chars) * frac)):
        chars[rng.randrange(len(chars))] = rng.choice(THAI)
    return "".join(chars)


def exact_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = normalize_for_dedup(a), normalize_for_dedup(b)
    A = {sa[i : i + n] for i in range(len(sa) - n + 1)}
    B = {sb[i : i + n] for i in range(len(sb) - n + 1)}
    return len(A & B) / len(A | B)


def test_signature_agreement_estimates_jaccard():
    rng = random.Random(0)
    mh = MinHashDeduplicator()
    errors = []
    for _ in range(40):
        a = random_thai(rng, 1500)
        b = edit(rng, a, rng.choice([0.005, 0.01, 0.02, 0.04]))
        sig = mh.signatures([a, b])
        errors.append(float((sig[0] == sig[1]).mean()) - exact_jaccard(a, b))
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.02  # unbiased
    assert np.sqrt((errors**2).mean()) < 0.05  # ~ sqrt(J(1-J)/128) = 0.03 expected


def test_signatures_do_not_depend_on_batching():
    rng = random.Random(1)
    texts = [random_thai(rng, rng.randrange(10, 30_000)) for _ in range(12)] + ["", "ก"]
    mh = MinHashDeduplicator()
    together = mh.signatures(texts)
    alone = np.stack([mh.signatures([t])[0] for t in texts])
    assert together.dtype == np.uint32 and together.shape == (14, 128)
    assert (together == alone).all()


def test_planted_near_duplicates_found_and_nothing_else():
    rng = random.Random(2)
    base = [random_thai(rng, 2000) for _ in range(60)]
    texts = list(base)
    planted = {}
    for i in range(0, 60, 3):  # 20 near-copies (Jaccard ~0.8-0.95) and the rest unique
        texts.append(edit(rng, base[i], rng.choice([0.005, 0.01, 0.015])))
        planted[len(texts) - 1] = i
    mh = MinHashDeduplicator()
    labels, pairs, agree = mh.clusters(mh.signatures(texts))
    found = {tuple(p) for p in pairs.tolist()}
    assert found == {(i, j) for j, i in planted.items()}
    assert (agree >= 0.75).all()
    assert len(set(labels.tolist())) == 60


def test_word_shingles_for_thai():
    a = "รัฐบาลประกาศมาตรการใหม่เพื่อช่วยเหลือประชาชนที่ได้รับผลกระทบจากน้ำท่วมในภาคเหนือ " * 3
    mh = MinHashDeduplicator(shingle="word", ngram=3)
    s = mh.signatures([a, a + " ครับ", "แมวกินปลาทูทุกวันที่บ้านของยาย"])
    assert (s[0] == s[1]).mean() > 0.75 and (s[0] == s[2]).mean() < 0.2


def test_representatives_are_deterministic():
    labels = np.array([0, 0, 0, 1, 1, 2])
    ids = ["c", "a", "b", "e", "d", "f"]
    lengths = np.array([10, 10, 5, 7, 7, 1])
    # longest wins, ties by id: cluster 0 -> "a" (10, smaller id than "c"); cluster 1 -> "d"
    assert representatives(labels, ids, lengths, "longest").tolist() == [1, 1, 1, 4, 4, 5]
    assert representatives(labels, ids, lengths, "smallest_id").tolist() == [1, 1, 1, 4, 4, 5]
    lengths2 = np.array([10, 9, 5, 7, 8, 1])
    assert representatives(labels, ids, lengths2, "longest").tolist() == [0, 0, 0, 4, 4, 5]


def _run(tmp_path, docs_by_shard, name="clean"):
    src = tmp_path / "filtered"
    for i, docs in enumerate(docs_by_shard):
        write_jsonl(src / f"shard-{i:05d}.jsonl", docs)
    cfg = parse_params(
        {},
        "test",
        [f"paths.filtered={src}", f"paths.clean={tmp_path / name}", f"paths.metrics={tmp_path / 'metrics'}"],
    )
    return run_dedup(cfg)


def test_run_dedup_stage_and_reruns(tmp_path):
    rng = random.Random(3)
    a, b = random_thai(rng, 3000), random_thai(rng, 3000)
    docs = [
        Document("id-a", a),
        Document("id-a-copy", "  " + a.upper() + "!"),  # exact after normalisation
        Document("id-near", edit(rng, a, 0.01) + " เพิ่ม"),  # near copy, longer -> kept as representative
        Document("id-b", b),
        Document("id-b2", edit(rng, b, 0.01)),
    ]
    res = _run(tmp_path, [docs[:3], docs[3:]])
    assert res["complete"]
    kept = sorted(d.id for d in read_documents(tmp_path / "clean"))
    rows = [json.loads(ln) for p in sorted((tmp_path / "clean").glob("*.excluded.jsonl")) for ln in p.open()]
    dropped = {r["id"]: (r["reason"], r["details"]["kept"]) for r in rows}
    assert dropped["id-a-copy"] == ("dedup:exact", "id-a") or dropped["id-a"] == ("dedup:exact", "id-a-copy")
    assert len(kept) == 2 and "id-near" in kept
    assert dropped.get("id-b2", dropped.get("id-b"))[0] == "dedup:near"
    m = json.loads((tmp_path / "metrics" / "dedup.json").read_text())
    assert (m["docs_in"], m["docs_out"]) == (5, 2)
    assert m["dropped"] == {"dedup:exact": 1, "dedup:near": 2}
    # rerun, and a different shard layout/order: the same documents are kept
    assert _run(tmp_path, [docs[:3], docs[3:]], "clean2")["metrics"]["docs_out"] == 2
    assert sorted(d.id for d in read_documents(tmp_path / "clean2")) == kept
    res3 = _run(tmp_path / "x", [list(reversed(docs))], "clean3")
    assert sorted(d.id for d in read_documents(tmp_path / "x" / "clean3")) == kept
    assert res3["metrics"]["dropped"] == {"dedup:exact": 1, "dedup:near": 2}
