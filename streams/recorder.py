"""Recorder: a camera's own packets into segment files (``streams.segments``), by stream copy, on its own thread.

It is a packet consumer like the ring, the live remux and the renditions, attached to the camera's session for
as long as the camera records. The camera's thread only decides whether a packet is wanted (mode, schedule, an
event's window) and queues it; the recorder's thread does the disk writes, because a slow disk or a lost network
mount must never hold back the camera (its ring, live viewers and analytics). When the queue overflows the
recorder drops packets, closes the segment at that point, and starts again at the next keyframe: the index then
shows the hole, which is the truth.

A write that fails (a full disk, a read-only or vanished mount) ends the segment, sets the recorder's health to
``failing`` with the reason (``disk_full`` or ``write_failed``) and retries ``RETRY_SECONDS`` later; nothing of
it reaches the camera thread. Segments close at the first keyframe after ``segment_seconds``, on a reconnect (a
new connection may have new stream parameters), when the mode stops wanting packets, and on stop; each closed
segment is handed to ``on_segment`` (the runtime passes it on to the index).

Events mode: ``trigger(until)`` arms the recorder up to a wall-clock time; the first packet after that takes the
last ``pre_seconds`` from the camera's ring (from the keyframe before) so the recording starts before the event.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av.error

from streams.packet_worker import PacketWorker, WorkerCounters
from streams.recording_config import RecordingPlan
from streams.ring import ClipUnavailable, PacketRing
from streams.segments import SegmentInfo, SegmentWriter, recover
from streams.source import Epoch, TimedPacket

log = logging.getLogger(__name__)

QUEUE_PACKETS = 1500  # ~60 s at 25 fps: a disk that stalls for a minute loses nothing
RETRY_SECONDS = 5.0
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# what a disk or a muxer can raise while writing (PyAV's errno errors are OSErrors too)
WRITE_ERRORS = (OSError, av.error.FFmpegError)


@dataclass(frozen=True)
class _Close:
    """Queue marker: end the open segment (``reason`` goes to the index)."""

    reason: str


@dataclass(frozen=True)
class RecorderHealth:
    """The recorder at one moment, for the camera's status and ``/metrics``."""

    mode: str
    state: str  # idle (nothing wanted now) | recording | failing
    last_error: str | None
    last_error_kind: str | None  # disk_full | write_failed
    last_error_at: float | None
    segments: int
    bytes_written: int
    dropped: int
    write_seconds: float  # the recorder thread's CPU time


class Recorder(WorkerCounters):
    def __init__(self, camera_id: str, root: Path, plan: RecordingPlan, ring: PacketRing,
                 on_segment: Callable[[SegmentInfo], object], *, queue_packets: int = QUEUE_PACKETS) -> None:
        self.camera_id = camera_id
        self.root = root
        self.plan = plan
        self.ring = ring
        self.on_segment = on_segment
        # the segment ends where packets were lost (an overrun); the next starts at the keyframe that follows
        self._worker: PacketWorker[Epoch | _Close] = PacketWorker(
            f"recorder-{camera_id}", queue_packets, self._handle, failed=self._thread_failed,
            finish=self._finish, drain_on_stop=True, resume_marker=_Close("overrun"))
        # the camera thread's state
        self._taking = False  # packets are being queued (the mode wants them)
        self._armed_until: float | None = None
        self._schedule_cache: tuple[int, bool] = (-1, False)
        self._last_taken = float("-inf")  # wall time of the newest packet queued
        # the recorder thread's state
        self._writer: SegmentWriter | None = None
        self._retry_at = 0.0
        self.state = "idle"
        self.last_error: str | None = None
        self.last_error_kind: str | None = None
        self.last_error_at: float | None = None
        self.segments = 0
        self.bytes_written = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Finish what a crash left (before anything new is written beside it), then start the thread."""
        if not self._worker.started:
            try:
                for segment in recover(self.root, self.camera_id):
                    self._publish(segment)
            except WRITE_ERRORS as exc:
                self._failed(exc)
            self._worker.start()

    def stop(self, wait: float = 5.0) -> None:
        """Write what is queued, close the open segment (it is indexed) and end the thread."""
        self._worker.stop(wait)

    def trigger(self, until: float) -> None:
        """Events mode: record (with the pre-roll) up to ``until`` (wall clock); a later trigger extends it."""
        if self._armed_until is None or until > self._armed_until:
            self._armed_until = until

    def health(self) -> RecorderHealth:
        return RecorderHealth(mode=self.plan.mode, state=self.state, last_error=self.last_error,
                              last_error_kind=self.last_error_kind, last_error_at=self.last_error_at,
                              segments=self.segments, bytes_written=self.bytes_written, dropped=self.dropped,
                              write_seconds=self.cpu_seconds)

    # -- packet consumer (the camera's thread: decide and queue, never write) -------------------------------------
    def on_epoch(self, epoch: Epoch) -> None:
        self._worker.reset_skip()
        self._worker.put_control(epoch)

    def on_drop(self) -> None:
        self._worker.put_control(_Close("dropped"))

    def on_packet(self, item: TimedPacket) -> None:
        if not self._wanted(item.wall):
            if self._taking:
                self._taking = False
                self._worker.put_control(_Close("mode"))
            return
        if not self._taking:
            self._taking = True
            if self.plan.mode == "events" and self.plan.pre_seconds > 0:
                for old in self._preroll(item):
                    self._offer(old)
        self._offer(item)

    def _wanted(self, wall: float) -> bool:
        if self.plan.mode != "schedule":
            return self.plan.wants(wall, self._armed_until)
        second = int(wall)  # a schedule is in minutes: ask it once a second, not once a packet
        if self._schedule_cache[0] != second:
            self._schedule_cache = (second, self.plan.wants(wall, None))
        return self._schedule_cache[1]

    def _preroll(self, item: TimedPacket) -> list[TimedPacket]:
        """The ring's packets of this connection from the keyframe ``pre_seconds`` back up to ``item``."""
        try:
            packets = self.ring.select(item.wall - self.plan.pre_seconds, item.wall)
        except ClipUnavailable:
            return []
        after = self._last_taken  # never again what an earlier event's segment holds already
        return [p for p in packets if p.epoch is item.epoch and p is not item and after < p.wall <= item.wall]

    def _offer(self, item: TimedPacket) -> None:
        self._last_taken = item.wall
        self._worker.offer(item)

    # -- the recorder's thread (streams.packet_worker runs the loop; what is queued at the stop is still written) -
    def _thread_failed(self) -> None:
        """A bug here must not take the camera down; the health says recording stopped."""
        log.exception("recorder of camera %s failed", self.camera_id)
        self.state, self.last_error, self.last_error_kind = "failing", "the recorder stopped", "write_failed"
        self.last_error_at = time.time()

    def _finish(self) -> None:
        self._close("stopped")

    def _handle(self, item: TimedPacket | Epoch | _Close) -> None:
        if isinstance(item, _Close):
            self._close(item.reason)
        elif isinstance(item, Epoch):
            self._close("reconnect")
        else:
            self._write(item)

    def _write(self, item: TimedPacket) -> None:
        writer = self._writer
        if writer is not None and (item.epoch is not writer.epoch or (
                item.keyframe and writer.seconds >= self.plan.segment_seconds)):
            self._close("rotate" if item.epoch is writer.epoch else "reconnect")
            writer = None
        if writer is None:
            if not item.keyframe or time.monotonic() < self._retry_at:
                return  # a segment starts at a keyframe; after a failure, not before the retry time
            try:
                writer = self._writer = SegmentWriter(self.root, self.camera_id, item)
            except WRITE_ERRORS as exc:
                self._failed(exc)
                return
        try:
            writer.write(item)
        except WRITE_ERRORS as exc:
            self._failed(exc)
            return
        if self.state != "recording":
            self.state = "recording"

    def _close(self, reason: str) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            if self.state == "recording":
                self.state = "idle"
            return
        try:
            segment = writer.close(reason)
        except WRITE_ERRORS as exc:
            writer.abandon()
            self._failed(exc)
            return
        if self.state == "recording":
            self.state = "idle"
        if segment is not None:
            self._publish(segment)

    def _publish(self, segment: SegmentInfo) -> None:
        self.segments += 1
        self.bytes_written += segment.size
        try:
            self.on_segment(segment)
        except Exception:
            log.exception("camera %s: the segment listener failed", self.camera_id)

    def _failed(self, exc: Exception) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abandon()  # its .part keeps what was written; recover() finishes it at the next start
        full = getattr(exc, "errno", None) in FULL_ERRNOS
        self.state = "failing"
        self.last_error_kind = "disk_full" if full else "write_failed"
        self.last_error = ("the recording disk is full" if full else "recording write failed") + \
            f": {getattr(exc, 'strerror', None) or exc.__class__.__name__}"
        self.last_error_at = time.time()
        self._retry_at = time.monotonic() + RETRY_SECONDS
        log.warning("camera %s: %s; retrying in %.0f s", self.camera_id, self.last_error, RETRY_SECONDS,
                    extra={"camera": self.camera_id})
