"""Drive stream consumers straight from a file, as fast as it decodes (no real-time pacing, no threads).

Consumers (remux, sampler, ring) only see Epoch/TimedPacket objects, so feeding them from a PacketReader tests
exactly the code the live session runs, in seconds instead of minutes of video.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streams.source import Epoch, PacketReader, TimedPacket


def timed_packets(path: Path, wall0: float = 1_000_000.0, limit: int | None = None) -> Iterator[TimedPacket]:
    reader = PacketReader(f"file:{path}", loop=False, realtime=False)
    info = reader.open()
    assert reader.stream is not None
    epoch = Epoch(info, reader.stream, reader)
    for n, packet in enumerate(reader.packets()):
        if limit is not None and n >= limit:
            return
        pts_s = float(packet.pts * info.time_base)
        yield TimedPacket(epoch, packet, wall0 + pts_s, pts_s, pts_s, bool(packet.is_keyframe))


def feed(path: Path, *consumers: object, limit: int | None = None) -> list[TimedPacket]:
    """Feed every packet of ``path`` to the consumers (on_epoch, on_packet…, on_drop); returns the packets."""
    items: list[TimedPacket] = []
    for item in timed_packets(path, limit=limit):
        if not items:
            for c in consumers:
                c.on_epoch(item.epoch)  # type: ignore[attr-defined]
        items.append(item)
        for c in consumers:
            c.on_packet(item)  # type: ignore[attr-defined]
    for c in consumers:
        c.on_drop()  # type: ignore[attr-defined]
    return items
