"""PacketRing: the last N seconds of a camera's packets, for evidence clips written without re-encoding.

Memory is bounded twice: by seconds of video and by bytes, whichever is hit first. A clip always starts at a
keyframe (the last one at or before the requested start) so it plays from its first frame.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av

from streams.source import Epoch, TimedPacket


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    start_wall: float
    end_wall: float
    frames: int
    duration: float


class ClipUnavailable(Exception):
    """The ring holds no keyframe-started video for the requested time."""


class PacketRing:
    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._items: deque[TimedPacket] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def append(self, item: TimedPacket) -> None:
        with self._lock:
            self._items.append(item)
            self._bytes += item.packet.size
            newest = item.mono
            while self._items and (
                newest - self._items[0].mono > self.seconds or self._bytes > self.max_bytes
            ):
                self._bytes -= self._items.popleft().packet.size

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def span_seconds(self) -> float:
        with self._lock:
            return self._items[-1].mono - self._items[0].mono if len(self._items) > 1 else 0.0

    def latest_gop(self) -> list[TimedPacket]:
        """Packets from the newest keyframe on, all of the newest connection: what a new viewer starts from."""
        with self._lock:
            items = list(self._items)
        for i in range(len(items) - 1, -1, -1):
            if items[i].keyframe:
                epoch = items[i].epoch
                return [p for p in items[i:] if p.epoch is epoch]
        return []

    def latest_keyframe(self) -> TimedPacket | None:
        with self._lock:
            for item in reversed(self._items):
                if item.keyframe:
                    return item
        return None

    def select(self, start_wall: float, end_wall: float) -> list[TimedPacket]:
        """Packets covering [start_wall, end_wall], starting at a keyframe, from a single connection."""
        with self._lock:
            items = list(self._items)
        keys = [i for i, p in enumerate(items) if p.keyframe and p.wall <= end_wall]
        if not keys:
            raise ClipUnavailable("no keyframe in the ring for the requested time")
        before = [i for i in keys if items[i].wall <= start_wall]
        first = before[-1] if before else keys[0]
        epoch: Epoch = items[first].epoch
        chosen = [p for p in items[first:] if p.epoch is epoch and p.wall <= end_wall]
        return chosen

    def write_clip(self, path: Path, start_wall: float, end_wall: float) -> ClipInfo:
        """Stream-copy the selected packets into a regular (faststart) MP4 that any player opens."""
        packets = self.select(start_wall, end_wall)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = packets[0].packet.dts or 0
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream_from_template(packets[0].epoch.stream)
            for item in packets:
                packet = item.copy_packet(base)
                packet.stream = stream
                out.mux(packet)
        duration = packets[-1].pts_s - packets[0].pts_s + (1 / (packets[0].epoch.info.fps or 25))
        return ClipInfo(path, packets[0].wall, packets[-1].wall, len(packets), duration)

    def write_last(self, path: Path, seconds: float) -> ClipInfo:
        """The last ``seconds`` (or as much as the ring holds) as an MP4, from the newest connection only: a clip
        cannot span a reconnect (each connection has its own stream parameters)."""
        newest = self.latest_keyframe()
        if newest is None:
            raise ClipUnavailable("no video of this camera in memory yet")
        now = time.time()
        start = now - seconds
        for _ in range(32):  # select() follows the connection of the first keyframe: step past older ones
            packets = self.select(start, now)
            if packets[0].epoch is newest.epoch:
                break
            start = packets[-1].wall + 1e-3
        return self.write_clip(path, start, now)
