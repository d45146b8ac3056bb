#!/usr/bin/env bash
# Remake the embedded default's raw snapshot: serve samples/site on loopback, crawl it into data/raw
# (WARC), track data/raw with DVC in data.dvc and push it to the repo-local remote samples/dvc-remote.
#
#   bash samples/make_snapshot.sh        # from anywhere; uses .venv/bin/{python,dvc} unless PY/DVC are set
#   git add data.dvc samples/dvc-remote .dvc/config && git commit -m "Remake the sample snapshot"
#
# Deterministic: the server sends a fixed Date/Server and no Last-Modified, SOURCE_DATE_EPOCH fixes the
# WARC dates and record ids, concurrency 1 fixes the fetch order, the port is fixed (it is in every URL):
# the WARC files come out byte-identical (crawl-stats.json differs only in duration_s and pages_per_s).
# A real crawl replaces this: `langadapt crawl SEEDS --out data/raw && dvc add data/raw` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DVC=${DVC:-.venv/bin/dvc}
PORT=${PORT:-8765}
export SOURCE_DATE_EPOCH=1700000000   # 2023-11-14T22:13:20Z

tmp=$(mktemp -d)
"$PY" -m langadapt.corpus.sitehost samples/site --port "$PORT" --fixed-date "$SOURCE_DATE_EPOCH" >/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do
  "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.1
done

"$PY" -m langadapt crawl "http://127.0.0.1:$PORT/" --out "$tmp/crawl" --allow-host 127.0.0.1 \
  -s crawl.delay=0 -s crawl.concurrency=1 -s crawl.max_pages=2000

rm -rf data/raw
mkdir -p data/raw
cp "$tmp"/crawl/crawl-*.warc.gz "$tmp/crawl/crawl-stats.json" "$tmp/crawl/crawl-skipped.jsonl" data/raw/

[ -d .dvc ] || "$DVC" init -q
"$DVC" config core.analytics false
"$DVC" remote list | grep -q '^local' || "$DVC" remote add -d local samples/dvc-remote
if [ -f data.dvc ]; then
  "$DVC" add -q data/raw                 # updates data.dvc in place
else
  "$DVC" add -q data/raw                 # writes data/raw.dvc; the project keeps it at the root as data.dvc
  mv data/raw.dvc data.dvc
  sed -i 's|^  path: raw$|  path: data/raw|' data.dvc
fi
"$DVC" push -q -r local data.dvc
echo "snapshot: $(ls data/raw/*.warc.gz | wc -l) WARC files, $(du -sh data/raw | cut -f1) in data/raw; data.dvc:"
cat data.dvc
