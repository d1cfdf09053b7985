"""Just enough ISO-BMFF reading to split a fragmented MP4 byte stream and name its codec for MediaSource.

MSE needs ``video/mp4; codecs="avc1.PPCCLL"``: the RTSP extradata is Annex-B and carries no such string, but the
init segment the muxer writes has the ``avcC`` (or ``hvcC``) record it is defined from.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex", b"edts", b"dinf"}
VISUAL_SAMPLE_ENTRY_HEADER = 78  # bytes between a visual sample entry's header and its child boxes


def iter_boxes(data: bytes | bytearray | memoryview, start: int = 0,
               end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) for each complete box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def find_box(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Payload range of the first box at ``path`` (e.g. moov/trak/mdia/…), descending through containers."""
    for kind, payload, box_end in iter_boxes(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            return payload, box_end
        child_start = payload
        if kind == b"stsd":
            child_start += 8  # version/flags + entry count
        elif kind in (b"avc1", b"avc3", b"hvc1", b"hev1"):
            child_start += VISUAL_SAMPLE_ENTRY_HEADER
        found = find_box(data, path[1:], child_start, box_end)
        if found:
            return found
    return None


def codec_string(init_segment: bytes) -> str | None:
    """RFC 6381 codec string of the first video track, from its avcC/hvcC; None when unknown."""
    stsd = find_box(init_segment, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if not stsd:
        return None
    entries = list(iter_boxes(init_segment, stsd[0] + 8, stsd[1]))
    if not entries:
        return None
    kind, payload, box_end = entries[0]
    children = payload + VISUAL_SAMPLE_ENTRY_HEADER
    if kind in (b"avc1", b"avc3"):
        avcc = find_box(init_segment, [b"avcC"], children, box_end)
        if avcc and avcc[1] - avcc[0] >= 4:
            p, c, level = init_segment[avcc[0] + 1 : avcc[0] + 4]
            return f"{kind.decode()}.{p:02X}{c:02X}{level:02X}"
    if kind in (b"hvc1", b"hev1"):
        hvcc = find_box(init_segment, [b"hvcC"], children, box_end)
        if hvcc and hvcc[1] - hvcc[0] >= 13:
            return _hevc_string(kind.decode(), init_segment[hvcc[0] : hvcc[0] + 13])
    return None


def _hevc_string(tag: str, rec: bytes) -> str:
    space = "ABC"[((rec[1] >> 6) & 3) - 1] if rec[1] >> 6 else ""
    tier = "H" if rec[1] & 0x20 else "L"
    profile = rec[1] & 0x1F
    compat = int.from_bytes(rec[2:6], "big")
    compat_rev = int(f"{compat:032b}"[::-1], 2)
    constraints = rec[6:12].rstrip(b"\x00")
    parts = [tag, f"{space}{profile}", f"{compat_rev:X}", f"{tier}{rec[12]}"]
    parts += [f"{b:X}" for b in constraints]
    return ".".join(parts)


class BoxSplitter:
    """Feeds on muxer output and returns whole top-level boxes as they complete."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        out: list[tuple[bytes, bytes]] = []
        consumed = 0
        for kind, _payload, box_end in iter_boxes(self._buf):
            out.append((kind, bytes(self._buf[consumed:box_end])))
            consumed = box_end
        del self._buf[:consumed]
        return out
