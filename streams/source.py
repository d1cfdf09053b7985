"""Opening a camera and reading its packets the same way everywhere (hub, probe, benchmarks).

Why a class of its own: RTSP needs the timeouts from design.md or a frozen server hangs the reader forever;
packets from RTSP can lack timestamps (the first keyframe often has none); a ``file:`` demo camera must loop with
timestamps that keep increasing and must be paced at real time. Everything downstream (ring, remux, sampler)
then sees one clean, monotonic packet stream per connection.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from settings.secrets import redact


class SourceError(Exception):
    """A camera could not be opened or read. ``kind`` is one of :data:`ERROR_KINDS`; the message is redacted."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(redact(message))
        self.kind = kind


ERROR_KINDS = ("refused", "timeout", "not_found", "unauthorized", "not_a_video", "invalid_data", "io")


def classify(exc: BaseException) -> SourceError:
    """Map PyAV/OS errors to the reasons an operator can act on (wrong address, wrong password, dead camera…)."""
    if isinstance(exc, SourceError):
        return exc
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return SourceError("unauthorized", f"camera refused the credentials: {text}")
    if isinstance(exc, av.error.HTTPNotFoundError | FileNotFoundError):
        return SourceError("not_found", f"no such stream: {text}")
    if isinstance(exc, ConnectionRefusedError):
        return SourceError("refused", f"connection refused: {text}")
    if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) in (errno.ETIMEDOUT, errno.EAGAIN):
        return SourceError("timeout", f"no answer in time: {text}")
    if isinstance(exc, av.error.ExitError):
        # PyAV's ``timeout`` interrupt surfaces as "Immediate exit requested".
        return SourceError("timeout", f"no answer in time: {text}")
    if isinstance(exc, av.error.InvalidDataError | av.error.PatchWelcomeError | av.error.DecoderNotFoundError):
        return SourceError("invalid_data", f"not a video stream citywall can read: {text}")
    return SourceError("io", f"{exc.__class__.__name__}: {text}")


@dataclass(frozen=True)
class StreamInfo:
    """What one connection carries. ``epoch`` changes on every (re)connect so consumers know to restart."""

    codec: str
    profile: str | None
    width: int
    height: int
    fps: float | None
    time_base: Fraction
    epoch: int


def is_file_url(url: str) -> bool:
    return url.lower().startswith("file:")


def file_path(url: str) -> Path:
    """``file:relative/x.mp4`` or ``file:///abs/x.mp4`` → a path (relative ones are resolved by the config loader)."""
    rest = url[len("file:") :]
    if rest.startswith("//"):
        rest = rest[2:]
    return Path(rest)


class PacketReader:
    """One connection to one camera: open, then iterate clean packets until the stream ends or fails.

    After a drop the session does not close the container: packets already in the ring and the live remux
    still use its stream as the template for stream-copy muxing (a closed container's stream cannot serve as one).
    It is freed with the last packet that refers to it. :meth:`close` is for an orderly stop.
    """

    _epochs = 0

    def __init__(self, url: str, *, open_timeout: float = 10.0, read_timeout: float = 5.0, loop: bool = True,
                 realtime: bool | None = None) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.is_file = is_file_url(url)
        self.loop = loop and self.is_file
        self.realtime = self.is_file if realtime is None else realtime
        self.container: av.container.InputContainer | None = None
        self.stream: av.VideoStream | None = None
        self.info: StreamInfo | None = None

    def open(self) -> StreamInfo:
        started = time.monotonic()
        try:
            if self.is_file:
                path = file_path(self.url)
                if not path.is_file():
                    raise SourceError("not_found", f"no such file: {path}")
                container = av.open(str(path))
            else:
                container = av.open(
                    self.url,
                    options={"rtsp_transport": "tcp", "timeout": str(int(self.read_timeout * 1_000_000))},
                    timeout=(self.open_timeout, self.read_timeout),
                )
        except Exception as exc:  # PyAV raises many types; all become a classified SourceError
            error = classify(exc)
            waited = time.monotonic() - started
            if error.kind in ("invalid_data", "io") and waited >= 0.9 * min(self.open_timeout, self.read_timeout):
                # A server that accepts the connection and then says nothing makes FFmpeg give up with
                # "invalid data"; what the operator needs to hear is that the camera did not answer.
                error = SourceError("timeout", f"no answer within {waited:.1f}s: {error}")
            raise error from exc
        if not container.streams.video:
            container.close()
            raise SourceError("not_a_video", "the source has no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        PacketReader._epochs += 1
        self.container, self.stream = container, stream
        self.info = StreamInfo(
            codec=cc.name,
            profile=cc.profile,
            width=cc.width,
            height=cc.height,
            fps=float(rate) if rate else None,
            time_base=stream.time_base or Fraction(1, 90000),
            epoch=PacketReader._epochs,
        )
        return self.info

    def packets(self) -> Iterator[av.Packet]:
        """Yield packets with pts/dts filled in and strictly increasing dts, paced at real time for files."""
        assert self.container is not None and self.stream is not None and self.info is not None
        tb = self.info.time_base
        frame_ticks = max(1, round(1 / (self.info.fps or 25) / tb))
        offset = 0  # added to a looped file's timestamps so they keep increasing across passes
        first_raw: int | None = None
        last_dts: int | None = None
        start_wall = time.monotonic()
        while True:
            try:
                for packet in self.container.demux(self.stream):
                    if packet.size == 0:
                        continue  # demuxer flush packet
                    raw = packet.dts if packet.dts is not None else packet.pts
                    if raw is None:
                        dts = 0 if last_dts is None else last_dts + frame_ticks
                    else:
                        if first_raw is None:
                            first_raw = raw
                        dts = raw + offset
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                    shift = dts - raw if raw is not None else 0
                    pts = packet.pts + shift if packet.pts is not None else dts
                    packet.dts, packet.pts = dts, max(pts, dts)
                    if not packet.duration:
                        packet.duration = frame_ticks
                    last_dts = dts
                    if self.realtime:
                        delay = start_wall + float((dts - (first_raw or 0)) * tb) - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    yield packet
            except av.error.EOFError:
                pass
            except Exception as exc:
                raise classify(exc) from exc
            if not self.loop or last_dts is None or first_raw is None:
                return
            offset = last_dts + frame_ticks - first_raw
            self.container.seek(0)

    def close(self) -> None:
        if self.container is not None:
            with contextlib.suppress(Exception):  # closing a half-dead RTSP session can raise; nothing is lost
                self.container.close()


@dataclass(frozen=True, eq=False)
class Epoch:
    """One connection's stream: its info and the PyAV stream that serves as the template for stream copy.

    Holding the reader keeps the container (and so the stream's codec parameters) alive while anything that
    came from this connection is still in use.
    """

    info: StreamInfo
    stream: av.VideoStream
    reader: PacketReader

    def new_decoder(self) -> av.VideoCodecContext:
        """A fresh decoder for this connection's packets (its own state: samplers and stills never share one)."""
        cc = self.stream.codec_context
        decoder = av.CodecContext.create(cc.name, "r")
        assert isinstance(decoder, av.VideoCodecContext)  # the name is a video stream's codec
        if cc.extradata:
            decoder.extradata = cc.extradata
        return decoder


@dataclass(frozen=True, eq=False, slots=True)
class TimedPacket:
    """A packet as received: the compressed data untouched, plus when it arrived (wall and monotonic)."""

    epoch: Epoch
    packet: av.Packet
    wall: float
    mono: float
    pts_s: float
    keyframe: bool

    def copy_packet(self, dts_offset: int = 0) -> av.Packet:
        """A private copy for muxing: muxers rebase and take over the packet they are given."""
        src = self.packet
        copy = av.Packet(bytes(src))
        copy.pts = None if src.pts is None else src.pts - dts_offset
        copy.dts = None if src.dts is None else src.dts - dts_offset
        copy.duration = src.duration
        copy.time_base = src.time_base
        copy.is_keyframe = self.keyframe
        return copy
