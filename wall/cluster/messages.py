"""The values that travel between the control plane and the camera workers (pickled by Ray).

Besides the seam's own models (``wall.runtime.models``) the workers send three things the single-box runtime never
needed: an event change with the epoch of the assignment it was seen under (the control plane's fencing token)
and the bytes of its evidence (the control plane's disk is the one that counts), a periodic report of what the
worker runs, and a clip answer that says *why* there is no clip without relying on exceptions crossing Ray.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from streams.config import CameraConfig
from vision.events import EventChange
from vision.rules_config import CameraRules
from wall.runtime.models import AnalyticsCounters, CameraStatus, Clip, RecordedSegment


class EvidenceFile(BaseModel):
    """One evidence file of an event, named by the SHA-256 of ``data`` (``vision.replay.store_evidence``)."""

    kind: str = Field(description="snapshot, after_snapshot or clip: the key in EventChange.evidence.")
    name: str
    data: bytes = Field(repr=False)


class WorkerEvent(BaseModel):
    """An event change as a worker saw it, with the bytes of every evidence file it names."""

    seq: int = Field(description="The worker's own counter: the control plane acknowledges up to it.")
    camera_id: str
    epoch: int = Field(description="The assignment epoch the worker held the camera under when it saw this.")
    change: EventChange
    files: list[EvidenceFile] = []


class ProcessUsage(BaseModel):
    """What a worker's process costs its node, measured by the process itself at report time."""

    cpu_seconds: float = Field(description="User + system CPU time of the process, every thread.")
    rss_bytes: int = Field(description="Resident memory now.")


class DetectorUse(BaseModel):
    """A worker's side of its node's detector actor (wall/cluster/detector.py): looks it sent there, and looks
    it detected itself because the actor did not answer in time."""

    actor: str
    looks: int = 0
    frames: int = 0
    fallbacks: int = 0
    last_error: str = ""


class WorkerReport(BaseModel):
    """What a worker runs now, polled by the control plane every second. Everything ``/metrics`` shows of a
    worker comes from here: a scrape reads the last report and never waits for a worker."""

    worker: str
    node_id: str
    node_ip: str = Field("", description="The node's address as Ray knows it (empty when the worker was not told).")
    pid: int = Field(description="The worker's process on its node (for operators and the failure tests).")
    incarnation: str = Field(
        "", description="Changes when Ray restarts the actor in place: the new process runs nothing until told.")
    owned: dict[str, int] = Field(description="camera id → the assignment epoch the worker holds it under.")
    fingerprints: dict[str, str] = Field(
        default={}, description="camera id → fingerprint() of the config and rules it runs the camera with.")
    statuses: list[CameraStatus]
    counters: AnalyticsCounters | None
    batches: list[tuple[int, float]] = Field(
        default=[], description="Detector calls since the last report: (frames, seconds) each.")
    pending_events: int = 0
    detector_waiting: int = Field(0, description="Frames waiting for the worker's detector (one per camera at most).")
    usage: ProcessUsage | None = None
    detector_actor: DetectorUse | None = Field(None, description="The node's detector actor this worker detects "
                                               "with; None: it detects on its own CPU.")
    model: str = Field("", description="The card the worker's analytics detect with (its path on the nodes' "
                       "shared configuration directory); empty without analytics.")
    segments: list[RecordedSegment] = Field(
        default=[], description="Recording segments closed in the last SEGMENT_RESEND_SECONDS: every report "
        "carries them again (the index adds a path once), so a lost report or a follower's poll loses none.")


class EventBatch(BaseModel):
    """A pull's answer. ``seq`` counts within one incarnation of the worker: after Ray restarted it in place,
    the control plane's acknowledgement refers to the previous process and starts again from 0."""

    incarnation: str
    events: list[WorkerEvent]


class ClipAnswer(BaseModel):
    """A clip from a worker's ring, or the reason there is none (the seam raises ClipUnavailable/LookupError)."""

    clip: Clip | None = None
    unavailable: str | None = Field(None, description="ClipUnavailable's message: no video in memory.")
    missing: bool = Field(False, description="The worker has no session of the camera.")


def fingerprint(camera: CameraConfig, rules: CameraRules) -> str:
    """What a worker runs a camera with, in a few bytes: a control plane that re-attaches to a running worker
    compares it with its own configuration instead of restarting the camera to be sure."""
    return hashlib.sha256((camera.model_dump_json() + rules.model_dump_json()).encode()).hexdigest()[:16]
