"""TranscodeSlots: at most ``recording.max_transcodes`` playback chunks or exports re-encoded to H.264 at once on
the box that serves playback.

Why a cap: an H.265 recording played (``?codec=h264``, ``streams.playback_h264``) or exported as H.264 is a
decode and an encode per frame, as fast as the client reads, so a handful of seats scrubbing at 8× would take the
CPU the box needs for ingest, analytics and the live renditions. Past the cap the request is refused at once (503
with Retry-After: the box is busy, not the user's fault — 429 would say this client asked too often) and the
player says so and asks again; a slot is taken before the first frame is decoded and given back when the
response ends, the client goes away (an export's re-encode is stopped then, ``streams.export_h264``: an
abandoned hour of H.265 must not hold a slot for minutes), or the transcode fails. The counts are on /metrics
(``wall.recording.metrics.transcode_metrics``).

Why a setting of its own and not the live renditions' cap (``server.live.renditions``, ``streams.renditions``):
the two budgets sit on different boxes and have different shapes. Live renditions run where the camera sessions
are — on each cluster worker, within that worker's cap — while playback is served by the control plane from the
shared storage, which has no rendition registry of its own; one shared count would be right only on a single
box and wrong in every cluster. A rendition is shared by every viewer of a camera and lives as long as they
watch, a playback transcode belongs to one request and ends with it, so the registry's keys (camera session and
width) do not fit either. And the refusal differs: a live tile past its cap still shows stills, a playback
refused shows nothing, so an admin sizes the two apart (docs/admin-guide.md, recording).
"""

from __future__ import annotations

import threading

RETRY_AFTER_SECONDS = 5  # a playback chunk (at most 120 s of video) is re-encoded in seconds at 1280 wide


class TranscodesFull(Exception):
    """As many transcodes run as ``recording.max_transcodes`` allows; the message says so and names it."""


class TranscodeSlot:
    """One transcode's place under the cap; ``release`` gives it back (once, however often it is called)."""

    def __init__(self, slots: TranscodeSlots) -> None:
        self._slots: TranscodeSlots | None = slots

    def release(self, *, stopped: bool = False) -> None:
        """Give the slot back; ``stopped``: its transcode was stopped before its end (the client went away)."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._give_back(stopped)


class TranscodeSlots:
    """The box's count of running playback/export transcodes; its counters are on /metrics."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self.in_use = 0
        self.served = 0
        self.refused = 0
        self.stopped = 0  # exports stopped because their client went away

    def acquire(self) -> TranscodeSlot:
        """A slot, or TranscodesFull when ``cap`` of them are taken (0: never transcode)."""
        with self._lock:
            if self.in_use >= self.cap:
                self.refused += 1
                if not self.cap:
                    raise TranscodesFull("this server does not re-encode recordings to H.264 "
                                         "(recording.max_transcodes is 0)")
                raise TranscodesFull(
                    f"this server re-encodes at most {self.cap} recording(s) to H.264 at once "
                    f"(recording.max_transcodes); try again in {RETRY_AFTER_SECONDS} s")
            self.in_use += 1
            self.served += 1
        return TranscodeSlot(self)

    def _give_back(self, stopped: bool) -> None:
        with self._lock:
            self.in_use -= 1
            self.stopped += int(stopped)
