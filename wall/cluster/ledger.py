"""The cluster's analytics totals for ``/metrics``, kept monotone while workers come and go.

Each worker reports the counters of its own process (frames analysed, detector time, …) since that process
started. Summing only the workers alive now made the cluster's totals fall whenever a worker left (its node
lost, its actor killed) or Ray restarted its process in place (the new incarnation counts from 0), and a
Prometheus counter that falls reads as a reset: ``rate()`` then counts a whole history twice. So the ledger
keeps each worker's last report per incarnation and, when a worker or an incarnation is gone, adds its last
counters to a ``retired`` part that only grows; the total is retired + alive. What a worker counted after its
last report and before it died is lost (at most one report interval, a second). A restarted control plane starts
from the alive workers' counters again — a plain reset of its process, as Prometheus expects.

Pure: no Ray here, so it is tested on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from wall.runtime.models import AnalyticsCounters, DetectorCounters, PipelineCounters

_DETECTOR_SUMS = ("frames", "runs", "inference_seconds", "preprocess_seconds", "postprocess_seconds")


def summed(counters: list[AnalyticsCounters]) -> AnalyticsCounters:
    """Counters added up field by field (model and providers of the first)."""
    first = counters[0]
    pipeline = {k: sum(getattr(c.pipeline, k) for c in counters) for k in PipelineCounters.model_fields}
    detector = {k: sum(getattr(c.detector, k) for c in counters) for k in _DETECTOR_SUMS}
    return AnalyticsCounters(
        pipeline=PipelineCounters(**pipeline),
        detector=DetectorCounters(model=first.detector.model, providers=first.detector.providers,
                                  dynamic_batch=first.detector.dynamic_batch, **detector))


class CounterLedger:
    """Each worker's latest counters (per incarnation) plus what departed workers and processes had counted."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[str, AnalyticsCounters]] = {}  # worker → (incarnation, counters)
        self._retired: AnalyticsCounters | None = None
        self._lock = threading.Lock()  # reports arrive on the supervisor's thread, scrapes on the server's

    def observe(self, worker: str, incarnation: str, counters: AnalyticsCounters | None) -> None:
        """A report arrived: a new incarnation of a known worker retires the previous one's counters."""
        with self._lock:
            previous = self._latest.get(worker)
            if previous is not None and previous[0] != incarnation:
                self._retire(previous[1])
                del self._latest[worker]
            if counters is not None:
                self._latest[worker] = (incarnation, counters)

    def total(self, alive: Iterable[str]) -> AnalyticsCounters | None:
        """The cluster's totals: every worker not in ``alive`` is retired first. None before any counters."""
        keep = set(alive)
        with self._lock:
            for worker in [w for w in self._latest if w not in keep]:
                self._retire(self._latest.pop(worker)[1])
            parts = [counters for _, counters in self._latest.values()]
            if self._retired is not None:
                parts.append(self._retired)
        return summed(parts) if parts else None

    def _retire(self, counters: AnalyticsCounters) -> None:
        self._retired = counters if self._retired is None else summed([self._retired, counters])
