"""``citywall probe``: open a stream exactly as the hub does and measure what it really sends.

A camera's advertised frame rate and GOP are often wrong; what matters for sampling cost and for the wall is
what arrives, so this reads packets for a few seconds (at least two keyframes when it can) and measures.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from settings.secrets import redact
from streams.source import PacketReader, SourceError, classify

EXIT_CODES = {
    "ok": 0, "refused": 2, "timeout": 3, "not_found": 4, "unauthorized": 5, "not_a_video": 6,
    "invalid_data": 6, "io": 7,
}


@dataclass
class ProbeResult:
    url: str
    ok: bool
    error_kind: str | None = None
    error: str | None = None
    codec: str | None = None
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    gop_seconds: float | None = None
    gop_frames: int | None = None
    bitrate_kbps: float | None = None
    seconds_read: float | None = None
    open_seconds: float | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES["ok"] if self.ok else EXIT_CODES.get(self.error_kind or "io", 7)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        if not self.ok:
            return f"{self.error_kind}: {self.error}"
        gop = f"GOP {self.gop_seconds:.2f}s ({self.gop_frames} frames)" if self.gop_seconds else "GOP unknown"
        fps = f"{self.fps:.2f} fps" if self.fps else "fps unknown"
        rate = f"{self.bitrate_kbps:.0f} kbit/s" if self.bitrate_kbps else "bitrate unknown"
        return f"{self.codec} {self.profile or ''} {self.width}x{self.height}, {fps}, {gop}, {rate}".replace("  ", " ")


def probe(url: str, *, seconds: float = 6.0, open_timeout: float = 10.0, read_timeout: float = 5.0) -> ProbeResult:
    shown = redact(url)
    reader = PacketReader(url, open_timeout=open_timeout, read_timeout=read_timeout, loop=False, realtime=False)
    t0 = time.monotonic()
    try:
        info = reader.open()
        opened = time.monotonic()
        keys: list[tuple[float, int]] = []  # (pts seconds, packet index)
        count, size, first_pts, last_pts = 0, 0, None, None
        for packet in reader.packets():
            assert packet.pts is not None  # packets() fills pts in
            pts_s = float(packet.pts * info.time_base)
            first_pts = pts_s if first_pts is None else first_pts
            last_pts = pts_s
            if packet.is_keyframe:
                keys.append((pts_s, count))
            count += 1
            size += packet.size
            elapsed = time.monotonic() - opened
            if elapsed >= seconds and (len(keys) >= 3 or elapsed >= 2 * seconds):
                break
            if reader.is_file and last_pts - first_pts >= max(seconds, 2 * (keys[-1][0] - keys[0][0] if keys else 0)) \
                    and len(keys) >= 3:
                break
        span = (last_pts - first_pts) if first_pts is not None and last_pts is not None else 0.0
        fps = (count - 1) / span if span > 0 and count > 1 else info.fps
        gop_s = gop_n = None
        if len(keys) >= 2:
            gop_s = (keys[-1][0] - keys[0][0]) / (len(keys) - 1)
            gop_n = round((keys[-1][1] - keys[0][1]) / (len(keys) - 1))
        return ProbeResult(
            url=shown, ok=True, codec=info.codec, profile=info.profile, width=info.width, height=info.height,
            fps=round(fps, 3) if fps else None, gop_seconds=round(gop_s, 3) if gop_s else None, gop_frames=gop_n,
            bitrate_kbps=round(size * 8 / span / 1000, 1) if span > 0 else None, seconds_read=round(span, 3),
            open_seconds=round(opened - t0, 3),
        )
    except (SourceError, Exception) as exc:
        err = classify(exc)
        return ProbeResult(url=shown, ok=False, error_kind=err.kind, error=str(err))
    finally:
        reader.close()
