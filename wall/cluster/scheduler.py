"""Which worker runs which camera: one owner per enabled camera, balanced by cost, fenced by an epoch.

The scheduler is the control plane's single source of truth for ownership. Every (re)assignment of a camera
gets a new **epoch**, larger than any before it (the counter starts from the clock, so a restarted control
plane never reissues an old one). A worker tags what it reports with the epoch it holds the camera under; the
control plane accepts a camera's events only under the current epoch, so a worker that was presumed dead and
comes back cannot raise a case for a camera it no longer owns.

Placement is greedy by cost (largest first onto the least loaded worker), and *sticky*: a camera stays where it
runs while its worker lives — moving one cuts its video. Cameras move when their worker is gone, and when a
worker joins (``rebalance``): then from the most to the least loaded worker, as long as a move narrows the gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from streams.config import CameraConfig
from vision.rules_config import CameraRules
from wall.runtime.models import Health

# A camera whose stream was never seen is costed as a typical sub stream; an analysed one costs more (decode at
# every look, detector, rules). Relative weights only: they balance workers against each other.
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS = 1280, 720, 25.0
ANALYSED_FACTOR = 3.0


def camera_cost(camera: CameraConfig, rules: CameraRules, seen: Health | None = None) -> float:
    """width × height × fps (in megapixels per second) × the analysed factor; what the stream reported when it
    was seen, the defaults before."""
    width = (seen.width if seen else None) or DEFAULT_WIDTH
    height = (seen.height if seen else None) or DEFAULT_HEIGHT
    fps = (seen.fps if seen else None) or DEFAULT_FPS
    return width * height * fps / 1e6 * (ANALYSED_FACTOR if rules.zones else 1.0)


class Assignment(BaseModel, frozen=True):
    camera_id: str
    worker: str
    epoch: int


class Scheduler:
    """The assignment table, safe to read from any thread (the event ingress checks epochs on its own)."""

    def __init__(self, epoch_base: int | None = None) -> None:
        self._next_epoch = epoch_base if epoch_base is not None else time.time_ns() // 1_000_000
        self._owners: dict[str, Assignment] = {}
        self._costs: dict[str, float] = {}
        self._lock = threading.Lock()

    def owner(self, camera_id: str) -> Assignment | None:
        return self._owners.get(camera_id)

    def epoch(self, camera_id: str) -> int | None:
        owner = self._owners.get(camera_id)
        return owner.epoch if owner is not None else None

    def assignments(self) -> list[Assignment]:
        return list(self._owners.values())

    def loads(self, workers: Iterable[str]) -> dict[str, float]:
        """Each worker's summed camera cost (0 for one without cameras)."""
        loads = dict.fromkeys(workers, 0.0)
        for a in self._owners.values():
            if a.worker in loads:
                loads[a.worker] += self._costs.get(a.camera_id, 0.0)
        return loads

    def adopt(self, held: Iterable[Assignment]) -> list[Assignment]:
        """Take over what running workers hold (a control plane re-attaching after its restart): each camera
        keeps its worker and epoch; of two claims to one camera the higher epoch wins. Epochs issued from now on
        are larger than every adopted one. Returns the claims refused (their workers are told to release them)."""
        refused: list[Assignment] = []
        with self._lock:
            owners = dict(self._owners)
            for claim in sorted(held, key=lambda a: -a.epoch):
                if claim.camera_id in owners:
                    refused.append(claim)
                    continue
                owners[claim.camera_id] = claim
                self._next_epoch = max(self._next_epoch, claim.epoch)
            self._owners = owners
        return refused

    def mirror(self, held: Iterable[Assignment]) -> None:
        """A follower's table (``wall.cluster.leader``): exactly what the workers report they hold (of two claims
        to one camera the higher epoch), so its live views find each camera's owner. It issues no epoch."""
        owners: dict[str, Assignment] = {}
        for claim in sorted(held, key=lambda a: -a.epoch):
            owners.setdefault(claim.camera_id, claim)
        with self._lock:
            self._owners = owners

    def plan(self, costs: Mapping[str, float], workers: Iterable[str], *, rebalance: bool = False) -> list[Assignment]:
        """Bring the table in line with the cameras that must run (``costs``: camera id → cost, in the order to
        prefer on ties) and the workers able to take them. Cameras no longer wanted, or whose worker is gone,
        lose their owner; each camera without one is placed (a new epoch); with ``rebalance`` (a worker joined)
        running cameras move too. Returns the new assignments."""
        alive = sorted(set(workers))
        with self._lock:
            self._costs = dict(costs)
            owners = {cam: a for cam, a in self._owners.items() if cam in costs and a.worker in alive}
            placed: list[Assignment] = []
            if alive:
                loads = dict.fromkeys(alive, 0.0)
                for a in owners.values():
                    loads[a.worker] += costs[a.camera_id]
                waiting = sorted((cam for cam in costs if cam not in owners), key=lambda cam: -costs[cam])
                for cam in waiting:
                    worker = min(alive, key=lambda w: (loads[w], w))
                    loads[worker] += costs[cam]
                    self._next_epoch += 1
                    owners[cam] = Assignment(camera_id=cam, worker=worker, epoch=self._next_epoch)
                    placed.append(owners[cam])
                if rebalance:
                    placed += self._rebalance(owners, loads, costs)
            self._owners = owners  # replaced, never changed in place: readers see the old table or the new one
        return placed

    def _rebalance(self, owners: dict[str, Assignment], loads: dict[str, float],
                   costs: Mapping[str, float]) -> list[Assignment]:
        """Move cameras from the most to the least loaded worker while that narrows the gap between them: each
        time the largest camera smaller than the gap (so the busiest worker ends less busy than it was)."""
        moved: list[Assignment] = []
        while True:
            busiest = max(loads, key=lambda w: (loads[w], w))
            idlest = min(loads, key=lambda w: (loads[w], w))
            gap = loads[busiest] - loads[idlest]
            movable = [cam for cam, a in owners.items() if a.worker == busiest and 0 < costs[cam] < gap]
            if not movable:
                return moved
            cam = max(movable, key=lambda c: (costs[c], c))
            loads[busiest] -= costs[cam]
            loads[idlest] += costs[cam]
            self._next_epoch += 1
            owners[cam] = Assignment(camera_id=cam, worker=idlest, epoch=self._next_epoch)
            moved.append(owners[cam])
