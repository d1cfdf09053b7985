"""``CameraRuntime``: everything the service (API, desk, walls, editor, metrics, demo) may use of the cameras.

Today's implementation (``wall.runtime.local.LocalRuntime``) runs every camera in this process; a cluster
implementation runs them in workers on other machines. So the interface is written for the second one:

- every method that can block (a snapshot is a decode, a clip a remux, a rule change a restart) is ``async``,
  and live video is a feed read batch by batch;
- every value crossing it is a picklable model of ``wall.runtime.models`` or ``vision.events.EventChange`` (a
  dataclass of plain values), never a session or an analyzer;
- the cameras themselves — which exist, their names, URLs and rules — are the registry's
  (``wall.runtime.registry.CameraRegistry``); a runtime subscribes to it and keeps its sessions in line.

Listeners (event changes, detector batches) are called from the runtime's own threads; they must be quick and
must not raise (the runtime logs and drops what they raise).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from vision.events import EventChange
from vision.evidence import EvidenceHealth
from wall.runtime.models import (
    AnalyticsCounters,
    CameraStatus,
    Clip,
    ClusterView,
    LiveItem,
    Overlay,
    PlaceCheck,
    RecordedSegment,
)
from wall.runtime.registry import RegistryChange

EventListener = Callable[[EventChange], object]  # what a listener returns is ignored
BatchListener = Callable[[int, float], None]  # frames in one detector call, its seconds
SegmentListener = Callable[[RecordedSegment], object]  # a recorder closed a segment file


class LiveFeed(abc.ABC):
    """One viewer's live video of one camera: fMP4 init + fragments, and state changes."""

    @abc.abstractmethod
    async def next(self, timeout: float) -> list[LiveItem] | None:
        """What arrived since the last call, waiting up to ``timeout`` s for something (an empty list when
        nothing came); None once the camera's session has ended (replaced by a new URL, or stopped): the
        viewer should reconnect to its successor."""


class CameraRuntime(abc.ABC):
    """The running cameras: ingest, ring, live remux and analytics, wherever they run."""

    analytics_enabled: bool  # the site started with analytics.yaml (a detector runs)

    @abc.abstractmethod
    def start(self) -> None:
        """Connect every enabled camera and start the analytics."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the analytics and close every camera (each waits at most its read timeout)."""

    @abc.abstractmethod
    def apply(self, change: RegistryChange) -> None:
        """Bring the running cameras in line with a registry change (subscribed to the registry): start, restart
        or stop a session only when its stream changed; new rules from the camera's next look on."""

    @abc.abstractmethod
    async def statuses(self) -> list[CameraStatus]:
        """Every running camera's status, in the registry's order."""

    @abc.abstractmethod
    async def status(self, camera_id: str) -> CameraStatus | None:
        """One camera's status; None when it has no session (unknown or disabled)."""

    @abc.abstractmethod
    async def snapshot(self, camera_id: str, width: int | None = None) -> bytes | None:
        """The newest keyframe as JPEG, scaled to ``width``; None before the first picture."""

    @abc.abstractmethod
    def live(self, camera_id: str, *, main: bool, from_cache: bool, buffer_seconds: float,
             rendition_width: int | None = None) -> AbstractAsyncContextManager[LiveFeed | None]:
        """A live feed of the camera (``main``: its main stream when it has one, else its sub stream), None when
        the camera has no session. ``from_cache``: start from the cached GOP (a tile switch shows video at once)
        instead of waiting for the next keyframe. ``rendition_width``: the browser cannot decode the camera's
        codec unless it is H.264, so a camera in another codec is sent as the shared H.264 rendition about that
        wide (``streams.renditions``); past the box's cap the feed's first item is a ``LiveRefused``."""

    @abc.abstractmethod
    async def recent_clip(self, camera_id: str, seconds: float) -> Clip:
        """The camera's last ``seconds`` from its packet ring (newest connection only), by stream copy. Raises
        ``streams.ring.ClipUnavailable`` (no video in memory) or LookupError (no session)."""

    @abc.abstractmethod
    async def overlay(self, camera_id: str) -> Overlay:
        """The camera's zones and latest detections (empty when it is not analysed)."""

    @abc.abstractmethod
    def recent_events(self) -> list[EventChange]:
        """The latest event changes kept in memory, oldest first (the cases keep the rest)."""

    @abc.abstractmethod
    def evidence_owner(self, name: str) -> str | None:
        """The camera of a recent event that refers to evidence file ``name``, if any."""

    @abc.abstractmethod
    def subscribe_events(self, listener: EventListener) -> None:
        """Call ``listener`` with every event change (opened, updated, cleared, still present; again when an
        event's clip is written)."""

    @abc.abstractmethod
    def subscribe_batches(self, listener: BatchListener) -> None:
        """Call ``listener`` after every detector call (for the metrics' histograms)."""

    @abc.abstractmethod
    def subscribe_segments(self, listener: SegmentListener) -> None:
        """Call ``listener`` with every recording segment a camera's recorder closed (the recording service
        writes the index; the file is already on the storage root)."""

    @abc.abstractmethod
    def check_place(self, check: PlaceCheck) -> bool:
        """Start a video check of a place; False when the camera is not analysed. A command, not a wait: a
        remote runtime sends it and answers from what it knows of the camera."""

    @abc.abstractmethod
    def hold_rules(self, camera_id: str, held: bool) -> bool:
        """Pause (``held``) or resume a camera's rules: a PTZ command turned it off the preset its zones were
        drawn for (``wall.ptz``). A command, not a wait; False when the camera is not analysed."""

    @abc.abstractmethod
    def use_model(self, card: Path) -> bool:
        """Detect with the model card ``card`` from the next look on, without a restart (a promotion or a
        rollback in the admin console). A command: one box loads the card before it answers; a cluster tells
        its workers (and their nodes' detector actors), which switch within seconds and keep to the card after a
        restart. False when this runtime analyses nothing."""

    @abc.abstractmethod
    def model_in_service(self) -> Path | None:
        """The card the running analytics detect with; None without analytics, and in a cluster while its
        workers do not all report the same one yet."""

    @abc.abstractmethod
    def analytics_counters(self) -> AnalyticsCounters | None:
        """The detector pipeline's totals (None without analytics)."""

    def evidence_health(self) -> EvidenceHealth | None:
        """Whether the evidence directory takes files (None without analytics): a full or read-only disk shows
        here while cases are still raised without their files."""
        return None

    @abc.abstractmethod
    def camera_statuses_now(self) -> list[CameraStatus]:
        """``statuses`` for callers on a worker thread that cannot await (the Prometheus scrape); a remote
        runtime answers it from its last report."""

    def cluster_view(self) -> ClusterView | None:
        """The nodes and workers the cameras run on, for ``/metrics``; None when they run in this process (one
        box). Answered from what the runtime holds already: it must never wait for a worker."""
        return None
