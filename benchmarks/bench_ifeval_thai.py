"""IFEval word counting on Thai: google-research's rule (nltk ``RegexpTokenizer(r"\\w+")``) and plain
whitespace splitting against langadapt's segmenter (pythainlp newmm), on real Thai news passages, and
how often a length instruction gets the wrong verdict because of it. Also: scoring throughput.

Run: python benchmarks/bench_ifeval_thai.py [CORPUS.jsonl|DIR] [--n 300]
     (default corpus: data/clean, else ../shared/data/th/thaigov-news.jsonl)

For each passage P with newmm count W (the reference), the instruction "answer with less than N words"
with N = ceil(1.1 W) is satisfied by P; a counter that reports >= N gets the verdict wrong; likewise
"at least N" with N = floor(0.9 W). The ratio columns are counts / newmm count.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def load_passages(path: Path, n: int) -> list[str]:
    from langadapt.records import Document, read_documents
    from langadapt.synth.backtranslate import passages

    docs = read_documents(path) if path.is_dir() or "clean" in str(path) else (
        Document(id=r["id"], text=r["text"]) for r in map(json.loads, path.open(encoding="utf-8")))
    out: list[str] = []
    for d in docs:
        out += passages(d, 200, 1200, 3)
        if len(out) >= n:
            break
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=None)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    corpus = Path(args.corpus) if args.corpus else (
        REPO / "data/clean" if (REPO / "data/clean").exists() else REPO.parent / "shared/data/th/thaigov-news.jsonl")
    from langadapt.ifeval import score_ifeval, verify
    from langadapt.text import words

    try:
        from nltk.tokenize import RegexpTokenizer

        ifeval_count = lambda t: len(RegexpTokenizer(r"\w+").tokenize(t))
        ifeval_name = "IFEval count_words (nltk \\w+)"
    except ImportError:
        ifeval_count = lambda t: len(re.findall(r"\w+", t))
        ifeval_name = "IFEval count_words (re \\w+)"
    ps = load_passages(corpus, args.n)
    print(f"corpus: {corpus} ({len(ps)} passages of 200-1200 chars)")
    counters = {"langadapt (newmm)": lambda t: len(words(t, "th")), ifeval_name: ifeval_count,
                "Python re \\w+ (marks split words)": lambda t: len(re.findall(r"\w+", t)),
                "whitespace split": lambda t: len(t.split())}
    ref = [len(words(p, "th")) for p in ps]
    print(f"{'counter':34s} {'median ratio':>12s} {'wrong verdict: less than':>25s} {'at least':>9s}")
    for name, fn in counters.items():
        counts = [fn(p) for p in ps]
        ratios = [c / r for c, r in zip(counts, ref) if r]
        wrong_lt = sum(c >= math.ceil(1.1 * r) for c, r in zip(counts, ref)) / len(ps)
        wrong_al = sum(c < math.floor(0.9 * r) for c, r in zip(counts, ref)) / len(ps)
        print(f"{name:34s} {statistics.median(ratios):12.2f} {wrong_lt:25.1%} {wrong_al:9.1%}")
    # scoring throughput: every passage against a number_words and a sentence constraint, strict + loose
    recs = [{"prompt": "p", "instruction_id_list": ["length_constraints:number_words",
                                                    "length_constraints:number_sentences", "punctuation:no_comma"],
             "kwargs": [{"relation": "less than", "num_words": math.ceil(1.1 * r)},
                        {"relation": "at least", "num_sentences": 1}, {}], "response": p} for p, r in zip(ps, ref)]
    from langadapt.text.segment import _crfcut, _newmm_line

    _newmm_line.cache_clear()
    _crfcut.cache_clear()
    t = time.perf_counter()
    s = score_ifeval(recs, "th", keep_results=False)
    dt = time.perf_counter() - t
    print(f"score_ifeval: {len(recs)} responses x 3 instructions (strict+loose) in {dt:.2f}s "
          f"({len(recs) / dt:.0f} responses/s, cold segmenter caches); "
          f"number_words strict accuracy {s['per_instruction']['length_constraints:number_words']['strict']}")
    assert all(verify("length_constraints:number_words", r["kwargs"][0], r["response"], "th") for r in recs)


if __name__ == "__main__":
    main()
