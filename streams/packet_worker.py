"""PacketWorker: the bounded queue and the thread of a packet consumer that does slow work (a recorder's disk
writes, a rendition's decode and encode) away from the camera's thread.

Why one piece: the camera's thread feeds the ring, the live viewers and the analytics, so a consumer must only
queue there and never wait. Both consumers need the same rules around that queue, and they must not drift apart:
a full queue drops packets up to the next keyframe (a decoder or a segment can start only there), control items
(a new epoch, a close) are never lost (room is made by dropping the oldest packets), the thread stops within a
quarter second of ``stop`` and keeps its own CPU time, and a bug in the work ends the thread, never the camera.

What differs stays with the owner, as callbacks: what an item does (``handle``), what a failure means
(``failed``, called inside the ``except``, so it may log the traceback), what ends the work (``finish``), and
whether what is queued at the stop is still done (``drain_on_stop``: a recorder writes it into the last segment;
a rendition, whose viewers have gone, drops it).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from streams.making_room import put_making_room
from streams.source import TimedPacket

C = TypeVar("C")  # the owner's control items (an Epoch, its own close markers)

POLL_SECONDS = 0.25  # how long the thread waits for an item before it looks at the stop flag again


class PacketWorker(Generic[C]):
    """A bounded queue of packets and control items ``C``, drained by one daemon thread into ``handle``."""

    def __init__(self, name: str, capacity: int, handle: Callable[[TimedPacket | C], object], *,
                 failed: Callable[[], object], finish: Callable[[], object], drain_on_stop: bool,
                 resume_marker: C | None = None) -> None:
        """``resume_marker``: a control item queued just before the keyframe that ends a run of dropped packets
        (a recorder closes its segment there, so the index shows the hole)."""
        self.name = name
        self._handle = handle
        self._failed = failed
        self._finish = finish
        self._drain_on_stop = drain_on_stop
        self._resume_marker = resume_marker
        self._queue: queue.Queue[TimedPacket | C] = queue.Queue(capacity)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._skip_to_key = False  # the queue overflowed: drop packets until the next keyframe
        self.dropped = 0  # packets dropped because the thread was behind (or to make room for a control item)
        self.cpu_seconds = 0.0  # the thread's CPU time

    # -- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, wait: float) -> None:
        """Ask the thread to end; join it up to ``wait`` seconds (0: do not wait)."""
        self._stopping.set()
        if self._thread is not None and wait > 0:
            self._thread.join(wait)

    # -- the camera's thread: queue only --------------------------------------------------------------------------
    def reset_skip(self) -> None:
        """A new connection: its first packet is a keyframe anyway, nothing of the old one is waited for."""
        self._skip_to_key = False

    def offer(self, item: TimedPacket) -> None:
        """Queue a packet without waiting; when the queue is full, drop it and the rest of its GOP."""
        if self._skip_to_key:
            if not item.keyframe:
                self.dropped += 1
                return
            self._skip_to_key = False
            if self._resume_marker is not None:
                self.put_control(self._resume_marker)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            self._skip_to_key = True

    def put_control(self, item: C) -> None:
        """Control items must not be lost: make room by dropping the oldest packets (they are stale anyway)."""
        self.dropped += put_making_room(self._queue, item)

    # -- the worker's thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        started = time.thread_time()
        try:
            while not self._stopping.is_set():
                try:
                    item = self._queue.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    continue
                self._handle(item)
                self.cpu_seconds = time.thread_time() - started
            while self._drain_on_stop:  # stopping: what is queued is still done
                try:
                    self._handle(self._queue.get_nowait())
                except queue.Empty:
                    break
        except Exception:  # a bug in the work must not take the camera (or the process) down
            self._failed()
        finally:
            self._finish()
            self.cpu_seconds = time.thread_time() - started


class WorkerCounters:
    """The counters a packet worker's owner shows (its health, ``/metrics``, the benchmarks) read off its
    ``_worker``."""

    _worker: PacketWorker[Any]

    @property
    def dropped(self) -> int:
        """Packets dropped because the worker was behind (or to make room for a control item)."""
        return self._worker.dropped

    @property
    def cpu_seconds(self) -> float:
        """The worker thread's CPU time."""
        return self._worker.cpu_seconds
