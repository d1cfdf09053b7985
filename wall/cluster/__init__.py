"""Cluster mode: the cameras of a site on a Ray cluster, behind the same ``CameraRuntime`` as one box.

``RayRuntime`` (control plane, in the FastAPI process) assigns each enabled camera to one ``CameraWorker`` actor
(one per Ray node), each running the single-box ``LocalRuntime`` for its shard. Nothing here is imported unless
``cluster:`` is configured, so the single-box service never imports Ray.
"""
