"""Corpus stages (extract -> filter -> dedup) with 1 and 2 workers: docs/s, the speed-up, and the outputs
compared byte for byte (local processes, and the Ray executor on a local Ray).

    python benchmarks/bench_corpus_ray.py                     # 4,023 pages x 3 runs per configuration: ~3 min idle
    python benchmarks/bench_corpus_ray.py --posts 500         # quicker (~1,470 pages)
    python benchmarks/bench_corpus_ray.py --no-ray            # local executor only

The snapshot (4 WARC files, ``extract.shards_per_warc: 4`` -> 16 shards) is built from
../shared/data/th (or $LANGADAPT_SHARED_DATA/th): the 966 Thai government news releases and ``--posts``
Wisesight posts of at least 200 characters, each wrapped as a page with site chrome. Each configuration
runs the three stages from scratch in its own directory; docs/s = input pages / wall seconds of the
three stages (process start-up of the workers, lingua and pythainlp loading included: what a user waits
for); each configuration runs ``--repeat`` times and the best counts (the first run of the first
configuration otherwise pays the cold page cache and imports for all). The three outputs
(paths.extracted, paths.filtered, paths.clean) are hashed and must be equal.

Runs: local executor with 1 and 2 worker processes, then ``ray``: ``corpus.executor: ray`` with
``corpus.ray_tasks: 2`` on a local Ray started by the script
(2 CPUs, 200 MB object store, its own temp dir); the Ray start-up is outside the timing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LANGADAPT_SHARED_DATA", REPO.parent / "shared" / "data")) / "th"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_corpus_datatrove import page_html
from bench_corpus_thresholds import articles

from langadapt.config import load_params
from langadapt.corpus.warcs import Page, write_warc


def build(raw: Path, n_posts: int) -> int:
    pages = [Page(f"http://th.example/news/{i}.html", page_html("th", t, p)) for i, (_, t, p) in enumerate(articles())]
    posts = []
    for name in ("neg", "neu", "pos", "q"):
        p = SHARED / "wisesight" / f"{name}.txt"
        posts += [ln.strip() for ln in p.open(encoding="utf-8") if len(ln.strip()) >= 200]
    step = max(1, len(posts) // max(1, n_posts))
    for i, post in enumerate(posts[::step][:n_posts]):
        pages.append(Page(f"http://social.example/{i}.html", page_html("th", "โพสต์", [post])))
    for k in range(4):
        write_warc(raw / f"snapshot-{k:05d}.warc.gz", pages[k::4])
    return len(pages)


def digest(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def run(raw: Path, work: Path, workers: int, executor: str) -> tuple[float, dict, str]:
    from langadapt.corpus.dedup import run_dedup
    from langadapt.corpus.extract import run_extract
    from langadapt.corpus.filter import run_filter
    from langadapt.corpus.shards import run_stage

    sets = [f"paths.raw={raw}", f"paths.extracted={work / 'extracted'}", f"paths.filtered={work / 'filtered'}",
            f"paths.clean={work / 'clean'}", f"paths.metrics={work / 'metrics'}", "language.code=th",
            "extract.shards_per_warc=4", f"corpus.executor={executor}", f"corpus.ray_tasks={workers}"]
    cfg = load_params(REPO / "params.yaml", sets)
    t0 = time.perf_counter()
    m = {}
    for name, fn in (("extract", run_extract), ("filter", run_filter), ("dedup", run_dedup)):
        m[name] = run_stage(fn, cfg, workers)["metrics"]
    secs = time.perf_counter() - t0
    dig = "/".join(digest(work / d) for d in ("extracted", "filtered", "clean"))
    return secs, m, dig


def start_local_ray(tmp: str, attempts: int = 5) -> None:
    """A local Ray (2 CPUs, 200 MB object store, its own temp dir); retried because a node gets 30 s to
    start, which a loaded 2-core machine can miss."""
    import ray

    for i in range(attempts):
        try:
            ray.init(num_cpus=2, object_store_memory=200_000_000, include_dashboard=False, log_to_driver=False,
                     _temp_dir=tmp, runtime_env={"env_vars": {"PYTHONPATH": str(REPO / "src")}})
            return
        except Exception:
            ray.shutdown()
            if i == attempts - 1:
                raise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=3100, help="wisesight posts added to the 966 articles")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray executor runs")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration; the best counts")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench-corpus-ray-"))
    ray_tmp = None
    try:
        n = build(root / "raw", args.posts)
        print(f"{n} pages in 4 WARC files (16 shards); {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} at start (a shared machine: timings are noisy)", flush=True)
        configs = [("local", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
        res = {}
        for executor, w in configs:
            if executor == "ray":
                ray_tmp = tempfile.mkdtemp(prefix="r-bench-", dir="/tmp")
                start_local_ray(ray_tmp)
            times = []
            for r in range(args.repeat):  # the first pass also pays cold caches and worker imports
                work = root / f"{executor}-{w}-{r}"
                secs, m, dig = run(root / "raw", work, w, executor)
                times.append(secs)
                if r < args.repeat - 1:
                    shutil.rmtree(work, ignore_errors=True)
            secs = min(times)
            res[(executor, w)] = (secs, dig)
            print(f"{executor:5s} {w} worker(s): {secs:7.1f} s (best of {', '.join(f'{t:.1f}' for t in times)}) "
                  f"= {n / secs:6.1f} docs/s; kept "
                  f"{m['extract']['docs_out']} / {m['filter']['docs_out']} / {m['dedup']['docs_out']} "
                  f"(extract/filter/dedup); outputs {dig}; load average {os.getloadavg()[0]:.1f}", flush=True)
        same = len({d for _, d in res.values()}) == 1
        for executor in ("local", "ray"):
            if (executor, 2) in res:
                r = res[("local", 1)][0] / res[(executor, 2)][0]
                print(f"{executor} 2 workers vs local 1 worker: x{r:.2f} (goal >= 1.6 on 2 cores)")
        print("outputs identical across all runs" if same else "OUTPUTS DIFFER")
    finally:
        if ray_tmp:
            import ray

            ray.shutdown()
            shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
