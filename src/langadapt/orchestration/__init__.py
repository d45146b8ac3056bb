"""langadapt.orchestration: the same stages as `dvc repro`, as a KFP v2 pipeline, on Kubernetes, by GitOps.

- dvcgraph: the stage DAG read from dvc.yaml (inputs/outputs are params.yaml ``paths`` keys)
- codegen: kfp_components.py generated from that DAG (one KFP component per stage)
- stage: one stage as its command ``langadapt <stage> -s paths.X=<location>`` (shared by run and rayjob)
- run: what a component body calls: the stage on its artifacts + artifact metadata
- rayjob: training stages on a cluster: a KubeRay RayJob rendered from params, submitted and watched
- data: the first step (snapshot from DVC at the run's revision) and the last (``dvc push``)
- pipeline: the pipeline built from dvc.yaml; compile / run-local (kfp.local) / submit (kfp.Client)
- kustomize, validate, policy, manifests: k8s/ rendered, schema-validated and policy-checked offline
- commands: ``langadapt pipeline ...`` and ``langadapt k8s ...``
"""
