"""The langadapt KFP v2 pipeline: the dvc.yaml DAG, one component per stage, params.yaml as a parameter.

    langadapt pipeline compile                 # -> pipelines/langadapt_pipeline.yaml (committed)
    langadapt pipeline run-local --until dedup # kfp.local.SubprocessRunner, the embedded default
    langadapt pipeline submit --host URL       # a KFP endpoint; run named by git SHA + data.dvc md5
    python pipelines/langadapt_pipeline.py     # the same as `langadapt pipeline compile`

The pipeline is built by the library (``langadapt.orchestration.pipeline``: ``pipeline_for`` reads
dvc.yaml and wires the generated components of ``langadapt.orchestration.kfp_components``); this file
only calls it, so the dependencies point one way: pipelines/ -> langadapt.
"""

from pathlib import Path

from langadapt.orchestration.pipeline import compile_pipeline
from langadapt.orchestration.repo import find_root

if __name__ == "__main__":
    root = find_root(Path(__file__).parent)
    print(compile_pipeline(root, root / "params.yaml"))
