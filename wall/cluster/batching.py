"""The batching inside a detector actor (wall/cluster/detector.py), without Ray: looks from several callers
gathered into one detector run.

Apart from the actor so that it is tested on the real model in-process, and so that importing it does not import
Ray (which reads its environment once, when first imported).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from pydantic import BaseModel

from vision.card import ModelCard
from vision.detector import Detector
from wall.cluster_settings import DetectorActorSettings

log = logging.getLogger(__name__)


class DetectorActorStats(BaseModel):
    """What one detector actor did since it started (``citywall cluster status``, ``/metrics``)."""

    name: str
    node_id: str
    providers: list[str]
    requests: int
    frames: int
    runs: int
    max_batch_seen: int
    queued_frames: int
    busy_seconds: float
    model: str = ""  # the card it detects with (its path), after a promotion the new one


@dataclass
class _Request:
    images: list[np.ndarray]
    answer: asyncio.Future[list[sv.Detections]]


@dataclass
class _Totals:
    requests: int = 0
    frames: int = 0
    runs: int = 0
    max_batch_seen: int = 0
    busy_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


class DetectorBatcher:
    """The actor's body, without Ray: requests wait in a queue on the event loop; one task takes every request
    waiting (after ``window_ms`` for more to join, up to ``max_batch`` frames), runs the detector once in a
    thread, and answers each request with its own slice. A request is never split across runs: its
    frames come back in one answer, in order."""

    def __init__(self, card: ModelCard | Path, settings: DetectorActorSettings, *, name: str = "", node_id: str = "",
                 detector: Detector | None = None) -> None:
        self.name, self.node_id, self.settings = name, node_id, settings
        # One run at a time uses the accelerator fully; its host thread only feeds it.
        self.detector = detector or Detector(card, providers=settings.providers, max_batch=settings.max_batch)
        self._queue: list[_Request] = []
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._totals = _Totals()

    def use_card(self, card: ModelCard | Path) -> None:
        """Load ``card`` (blocking: call it in a thread) and run the next batches with it; a run under way keeps
        the detector it started with."""
        self.detector = Detector(card, providers=self.settings.providers, max_batch=self.settings.max_batch)

    async def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        if not images:
            return []
        if self._wake is None:  # made on the actor's own event loop, at its first call
            self._wake = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run())
        request = _Request(images, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._totals.requests += 1
        self._wake.set()
        return await request.answer

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if self.settings.window_ms > 0 and self._queued() < self.settings.max_batch:
                await asyncio.sleep(self.settings.window_ms / 1000)
            batch: list[_Request] = []
            frames = 0
            while self._queue and (not batch or frames + len(self._queue[0].images) <= self.settings.max_batch):
                request = self._queue.pop(0)
                batch.append(request)
                frames += len(request.images)
            if not self._queue:
                self._wake.clear()
            await self._answer(batch, frames)

    async def _answer(self, batch: list[_Request], frames: int) -> None:
        images = [image for request in batch for image in request.images]
        began = time.monotonic()
        try:
            results = await asyncio.to_thread(self.detector.detect, images)
        except Exception as exc:  # a failed run fails its requests; the workers detect those looks themselves
            log.warning("detector actor %s: a run of %d frames failed: %s", self.name, frames, exc)
            for request in batch:
                if not request.answer.done():
                    request.answer.set_exception(exc)
            return
        totals = self._totals
        totals.busy_seconds += time.monotonic() - began
        totals.runs += 1
        totals.frames += frames
        totals.max_batch_seen = max(totals.max_batch_seen, frames)
        at = 0
        for request in batch:
            if not request.answer.done():  # its caller may have given up (timeout): nothing to answer
                request.answer.set_result(results[at:at + len(request.images)])
            at += len(request.images)

    def _queued(self) -> int:
        return sum(len(r.images) for r in self._queue)

    def stats(self) -> DetectorActorStats:
        t = self._totals
        return DetectorActorStats(name=self.name, node_id=self.node_id, providers=list(self.detector.providers),
                                  requests=t.requests, frames=t.frames, runs=t.runs, max_batch_seen=t.max_batch_seen,
                                  queued_frames=self._queued(), busy_seconds=round(t.busy_seconds, 3),
                                  model=str(self.detector.card.card_path or ""))
