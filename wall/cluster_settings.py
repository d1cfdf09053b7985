"""The ``cluster:`` settings of server.yaml: which Ray cluster runs the cameras, and how its GPUs detect.

Kept apart from ``wall.config`` (which re-exports them) so that the cluster's knobs sit together: the camera
workers (one per node) and the detector actors (one per GPU of a node) that batch the looks of that node's
workers on the GPU.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from settings.model import Strict


class DetectorActorSettings(Strict):
    """Detector actors: where a node offers ``resource``, one actor per unit of it runs the site's model with
    the first of ``providers`` ONNX Runtime has, for every camera worker of that node. Nodes without it keep
    the detector inside the worker (the CPU, as on one box)."""

    mode: Literal["auto", "off"] = Field(default="auto", description="auto: an actor per GPU where nodes have "
                                         "GPUs; off: every worker detects on its own CPU.")
    resource: str = Field(default="GPU", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                          description="The Ray resource one actor takes one unit of (GPU, or a custom resource "
                                      "a node declares, e.g. for an accelerator Ray does not know).")
    providers: Literal["auto"] | list[str] = Field(
        default="auto", description="ONNX Runtime execution providers: auto (TensorRT, then CUDA, then the CPU: "
                                    "those the node's onnxruntime has), or a list of names (cpu, cuda, tensorrt "
                                    "or full names), each of which must be available there.")
    max_batch: int = Field(default=32, ge=1, le=256, description="Frames in one detector run at most.")
    window_ms: float = Field(default=5.0, ge=0, le=200, description="How long a run waits for more looks to "
                                                                   "join its batch.")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="A look the actor has not answered "
                                   "by then is detected by the worker itself (the actor restarting, its GPU "
                                   "gone): analytics never stop for it.")


class ClusterSettings(Strict):
    """Run the cameras on a Ray cluster (wall/cluster/) instead of in this process."""

    address: str = Field(description="The Ray cluster to join, e.g. 10.0.0.5:6379 (its head's GCS address).")
    namespace: str = Field(default="citywall", description="Ray namespace of this site's camera workers.")
    worker_cpus: float = Field(default=1.0, gt=0, description="CPUs one camera worker (one per node) reserves.")
    detectors: DetectorActorSettings = Field(default_factory=DetectorActorSettings,
                                             description="Detector actors on nodes with GPUs.")
