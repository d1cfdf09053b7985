"""Detector actors: one per node with a GPU, running the site's model for the camera worker of that node.

Why: on one box the detector runs inside the process that owns the cameras, on the CPU. A node with a GPU would
otherwise load the model into one ONNX Runtime session per worker process, each holding GPU memory and each
running small batches; one actor per GPU holds one session, and the looks of every worker of its node — which
arrive one batch per worker every look interval — are gathered into larger runs (``window_ms``, ``max_batch``),
which is where a GPU gains. Frames go through the node's shared-memory object store, never over the network:
the pool places the actor with node affinity next to the workers that use it.

A worker never waits on a detector actor for long: a look the actor does not answer within
``timeout_seconds`` (restarting, its GPU lost, the node's object store full) is detected by the worker's own
CPU detector, so a dead actor slows a node down and never stops its analytics; the next look tries the actor
again. CPU-only nodes have no actor and detect in the worker, as on one box.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import supervision as sv
from ray.exceptions import GetTimeoutError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from vision.card import ModelCard
from vision.detector import Detector
from wall.cluster.batching import DetectorActorStats, DetectorBatcher
from wall.cluster.messages import DetectorUse
from wall.cluster_settings import DetectorActorSettings
from wall.config import SiteConfig
from wall.logs import configure_logging, default_format

log = logging.getLogger(__name__)
DETECTOR_PREFIX = "citywall-detector-"
IDLE_EXIT_SECONDS = 600.0  # no look for this long (its workers ended): the actor ends and frees its GPU


def detector_name(node_id: str) -> str:
    """The node's named actor: a restarted control plane (and a worker restarted in place) finds it by name."""
    return f"{DETECTOR_PREFIX}{node_id[:12]}"


class RemoteDetector:
    """What a worker's pipeline detects with on a node that has a detector actor (``vision.pipeline.Detects``):
    the actor, and the worker's own CPU detector for a look the actor does not answer in time."""

    def __init__(self, actor: Any, name: str, local: Detector, timeout: float) -> None:  # actor: an ActorHandle
        self.actor, self.local, self.timeout = actor, local, timeout
        self.counters = DetectorUse(actor=name)
        self._lock = threading.Lock()

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        c = self.counters
        try:
            ref = self.actor.detect.remote(images)
            results: list[sv.Detections] = ray.get(ref, timeout=self.timeout)
        except (GetTimeoutError, RayError) as exc:
            with self._lock:
                first = c.fallbacks == 0
                c.fallbacks += 1
                c.last_error = type(exc).__name__
            (log.warning if first else log.debug)("detector actor %s did not answer (%s): this worker detects "
                                                  "the look itself", c.actor, type(exc).__name__)
            return self.local.detect(images)
        with self._lock:
            c.looks += 1
            c.frames += len(images)
        return results


class DetectorActor:
    """The Ray actor: a ``DetectorBatcher`` on the actor's event loop, and an end of its own once no worker has
    sent a look for ``IDLE_EXIT_SECONDS`` (detached like the workers, it would otherwise hold its GPU after the
    site's workers are gone)."""

    def __init__(self, card: ModelCard | Path, settings: DetectorActorSettings, name: str, node_id: str) -> None:
        configure_logging(default_format())
        self.batcher = DetectorBatcher(card, settings, name=name, node_id=node_id)
        self._last = time.monotonic()
        self._watch: asyncio.Task[None] | None = None
        log.info("detector actor %s on node %s: providers %s", name, node_id[:8], self.batcher.detector.providers)

    async def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        self._last = time.monotonic()
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._idle_exit())
        return await self.batcher.detect(images)

    async def stats(self) -> DetectorActorStats:
        return self.batcher.stats()

    async def use_model(self, card: str) -> str:
        """Detect with the card at ``card`` from the next run on (a promotion: each worker of the node asks
        before it switches itself); the runs under way finish with the old one."""
        await asyncio.to_thread(self.batcher.use_card, Path(card))
        log.info("detector actor %s switched to %s", self.batcher.name, card)
        return card

    async def _idle_exit(self) -> None:
        while time.monotonic() - self._last < IDLE_EXIT_SECONDS:
            await asyncio.sleep(min(30.0, IDLE_EXIT_SECONDS))
        log.info("detector actor %s: no look for %.0f s, ending", self.batcher.name, IDLE_EXIT_SECONDS)
        ray.actor.exit_actor()


DetectorActorRemote: Any = ray.remote(DetectorActor)


@dataclass(frozen=True)
class PlacedDetector:
    """A node's detector actor as the pool hands it to that node's worker: its handle (a worker restarted in
    place gets the same one again) and its name (for reports and ``citywall cluster status``)."""

    name: str
    actor: Any  # ray.actor.ActorHandle


def place_detector(node: dict[str, object], site: SiteConfig, settings: DetectorActorSettings,
                   namespace: str) -> PlacedDetector | None:
    """The detector actor for the camera worker of ``node``, started there if it is not running; None where the
    node offers none of ``settings.resource`` (or detector actors are off, or nothing is analysed): that worker
    detects on its own CPU.

    One actor per node: a node runs one camera worker, which batches its cameras' looks already; the actor gives
    that batch the GPU (a node with several GPUs uses one of them until it runs several workers)."""
    resources = node.get("Resources")
    units = float(resources.get(settings.resource, 0)) if isinstance(resources, dict) else 0.0
    card = site.model_card
    if settings.mode == "off" or card is None or site.analytics is None or units < 1:
        return None
    node_id = str(node["NodeID"])
    name = detector_name(node_id)
    wants: dict[str, object] = ({"num_gpus": 1} if settings.resource == "GPU"
                                else {"resources": {settings.resource: 1}})
    actor = DetectorActorRemote.options(
        name=name, namespace=namespace, get_if_exists=True, lifetime="detached", num_cpus=0, max_restarts=-1,
        max_task_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False), **wants,
    ).remote(card, settings, name, node_id)
    return PlacedDetector(name, actor)
