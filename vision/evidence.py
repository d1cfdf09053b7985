"""Evidence files on disk, and whether the disk still takes them; the pictures and clips a candidate leaves.

Evidence is named by its content hash, so identical evidence is stored once and cannot be swapped. The disk it
lives on can fill up or be remounted read-only under a running service; a case must still be raised then (the
database is elsewhere and the operator still sees the camera), so a write that fails is *not* an exception for
the caller to die of: ``EvidenceStore.put`` records the failure and raises ``EvidenceUnavailable`` with a reason
a case can carry ("No space left on device"), and ``health()`` says the store is failing until a write (or a
``probe``) succeeds again. A half-written temporary file is removed, so a full disk does not stay full of them.

Evidence serves two readers. The operator decides on the *annotated* snapshot (``annotate``: zone, boxes, the
place, a Chinese caption in a CJK font found on the system). Training needs the opposite: the *clean* frame at
the resolution the detector saw (``clean_jpeg``), with the boxes kept as data beside it, never burnt in. And a
dwell of minutes outlasts the camera's packet ring, so the moment an object *arrived* would be gone by the time
its case is raised: ``ArrivalWindows`` takes each candidate's first-seen window out of the ring while it is still
there and holds it (bounded in count and bytes) until the candidate raises (the clip is written) or goes away
(it is dropped).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, Field

from streams.ring import PacketRing
from streams.source import TimedPacket

PROBE_EVERY_SECONDS = 5.0  # while failing, how often the store tries a tiny write to notice a recovered disk


def store_evidence(out_dir: Path, data: bytes, suffix: str) -> Path:
    """Write ``data`` as ``<sha256><suffix>`` in ``out_dir`` (fsynced, then its directory) unless it is there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # on disk before the case row that names it is committed
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(out_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def reason(exc: OSError) -> str:
    """What a case and the health page say about a failed write: the OS's words, never a path."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return type(exc).__name__


class EvidenceUnavailable(Exception):
    """The evidence could not be written; ``reason`` says why (e.g. "Read-only file system")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EvidenceHealth(BaseModel):
    """The evidence store as the health endpoint and the metrics show it."""

    state: Literal["ok", "failing"] = Field(description="failing from a failed write until one succeeds again")
    written: int = Field(description="Evidence files written since the start")
    failures: int = Field(description="Evidence writes that failed since the start")
    last_error: str | None = Field(None, description="Why the last write failed (the OS's reason, no path)")
    failing_since: float | None = Field(None, description="When the store started failing (Unix time)")
    last_written_at: float | None = Field(None, description="When the last file was written (Unix time)")


class EvidenceStore:
    """One evidence directory with the health of its writes (thread-safe: the analytics and clip threads both
    write)."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock  # for the probe's pacing only; the times shown are Unix times
        self._lock = threading.Lock()
        self._written = 0
        self._failures = 0
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self._last_written_at: float | None = None
        self._probed_at: float | None = None

    def put(self, data: bytes, suffix: str) -> Path:
        """Store ``data``; raises EvidenceUnavailable (recorded in ``health``) when the disk refuses it."""
        try:
            path = store_evidence(self.directory, data, suffix)
        except OSError as exc:
            self._failed(exc)
            raise EvidenceUnavailable(reason(exc)) from exc
        self._succeeded()
        return path

    def write_with(self, name: str, write: Callable[[Path], object]) -> Path:
        """Let ``write`` produce a temporary file in the directory (a clip cut by stream copy), then store its
        bytes under their hash; the temporary file never stays. Errors other than the disk's propagate."""
        tmp = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write(tmp)
            data = tmp.read_bytes()
        except OSError as exc:
            self._failed(exc)
            raise EvidenceUnavailable(reason(exc)) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return self.put(data, tmp.suffix)

    def probe(self) -> bool:
        """While failing, at most every few seconds, try a tiny write to see whether the disk is back; True when
        the store is healthy (now or already)."""
        with self._lock:
            if self._failing_since is None:
                return True
            now = self._clock()
            if self._probed_at is not None and now - self._probed_at < PROBE_EVERY_SECONDS:
                return False
            self._probed_at = now
        probe = self.directory / f".probe.{os.getpid()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"citywall evidence probe\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            self._failed(exc, counted=False)
            return False
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        with self._lock:
            self._failing_since, self._probed_at = None, None
        return True

    def health(self) -> EvidenceHealth:
        with self._lock:
            return EvidenceHealth(state="ok" if self._failing_since is None else "failing", written=self._written,
                                  failures=self._failures, last_error=self._last_error,
                                  failing_since=self._failing_since, last_written_at=self._last_written_at)

    def _failed(self, exc: OSError, counted: bool = True) -> None:
        with self._lock:
            if counted:
                self._failures += 1
            self._last_error = reason(exc)
            if self._failing_since is None:
                self._failing_since = time.time()
                self._probed_at = self._clock()

    def _succeeded(self) -> None:
        with self._lock:
            self._written += 1
            self._last_written_at = time.time()
            self._failing_since, self._probed_at = None, None


# -- pictures ------------------------------------------------------------------------------------------------------
CLEAN_QUALITY = 95  # training images: JPEG artefacts are noise a fine-tune would learn
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
# file names (lower case, without - and _) of CJK fonts, when fontconfig is not there to ask
FONT_NAMES = ("wqymicrohei", "wqyzenhei", "notosanscjk", "notoserifcjk", "sourcehansans", "droidsansfallback")
KIND_WORDS = {"opened": "发现", "updated": "持续", "cleared": "已消失", "still_present": "仍存在"}
BGR = tuple[int, int, int]


def clean_jpeg(image: np.ndarray, quality: int = CLEAN_QUALITY) -> bytes:
    """The frame as the detector saw it, nothing drawn: what a dataset export trains on."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


@functools.cache
def cjk_font() -> Path | None:
    """A font with Chinese glyphs installed on this machine (fontconfig's answer, else a known file name under
    the usual font folders), or None: the caption then falls back to ASCII. Never downloaded."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=5,
                                check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    found = sorted(Path(line.split(":", 1)[0].strip()) for line in listed.splitlines() if line.strip())
    found += sorted(p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.tt[cf]")
                    if any(n in p.name.lower().replace("-", "").replace("_", "") for n in FONT_NAMES))
    preferred = sorted((p for p in found if p.is_file()), key=lambda p: not p.name.lower().startswith("wqy"))
    return preferred[0] if preferred else None


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | None:
    path = cjk_font()
    if path is None:
        return None
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return None


@dataclass(frozen=True)
class Drawn:
    """One box on the annotated picture: where, what it says, its colour (BGR), line width."""

    xyxy: tuple[float, float, float, float]
    text: str
    colour: BGR
    width: int = 1


def annotate(image: np.ndarray, polygon: np.ndarray, boxes: Sequence[Drawn], caption: str, fallback: str,
             quality: int = 85) -> bytes:
    """The picture an operator decides on (display only): the zone outline, ``boxes``, and ``caption`` in a CJK
    font; ``fallback`` (ASCII) is written instead when the machine has no such font."""
    out = image.copy()
    cv2.polylines(out, [polygon.astype(np.int32)], True, (0, 215, 255), 2)
    for box in boxes:
        x1, y1, x2, y2 = (int(v) for v in box.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), box.colour, box.width)
    size = max(14, out.shape[0] // 24)
    font = _font(size)
    if font is None:
        for box in boxes:
            text, at = box.text.encode("ascii", "replace").decode(), (int(box.xyxy[0]), max(10, int(box.xyxy[1]) - 4))
            cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, box.colour, 1, cv2.LINE_AA)
        cv2.putText(out, fallback, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
    else:
        picture = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(picture)
        small = _font(max(11, size * 3 // 4)) or font
        for box in boxes:
            b, g, r = box.colour
            draw.text((box.xyxy[0], max(0.0, box.xyxy[1] - small.size - 2)), box.text, font=small, fill=(r, g, b))
        left, top, right, bottom = draw.textbbox((8, 6), caption, font=font)
        draw.rectangle((left - 4, top - 3, right + 4, bottom + 3), fill=(0, 0, 0))
        draw.text((8, 6), caption, font=font, fill=(255, 64, 64))
        out = cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


# -- the arrival clip ----------------------------------------------------------------------------------------------
ARRIVAL_WINDOWS = 8  # windows held per camera: candidates past this many get no arrival clip (and say so)
ARRIVAL_BYTES = 48 << 20  # and at most this much video held per camera
SAME_CANDIDATE_SECONDS = 1.0  # first-seen times this close are one candidate (live wall/monotonic jitter)


@dataclass(frozen=True)
class Candidate:
    """A place something is being seen at, raised or not yet: the analyzer's list after each look."""

    zone_id: str
    place: str
    first_seen: float  # wall clock
    dwell: float = 0.0  # seconds it has been seen there since (0: seen once, e.g. someone walking past)


@dataclass
class _Window:
    first_seen: float
    packets: list[TimedPacket]  # taken from the ring once the post-roll was in
    claimed: bool = False  # its candidate raised: kept out of the candidates' coming and going
    refused: bool = False  # the caps were reached when it came: it holds nothing and counts for nothing

    @property
    def nbytes(self) -> int:
        return sum(p.packet.size for p in self.packets)


class ArrivalWindows:
    """One camera's held first-seen windows. ``follow`` (after looks, from the clip thread) adds the new
    candidates, takes their window out of the ring once ``post`` seconds after the arrival are in, and drops the
    windows of candidates that went away; ``claim`` (at the raise) hands a window's packets over. Thread-safe."""

    def __init__(self, pre: float, post: float, *, max_windows: int = ARRIVAL_WINDOWS,
                 max_bytes: int = ARRIVAL_BYTES) -> None:
        self.pre, self.post = pre, post
        self.max_windows, self.max_bytes = max_windows, max_bytes
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()
        self.refused = 0  # candidates that got no window (the caps were reached)

    def held(self) -> int:
        """Windows holding (or waiting for) video now."""
        with self._lock:
            return sum(1 for w in self._windows.values() if not w.refused)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(w.nbytes for w in self._windows.values())

    def follow(self, candidates: Iterable[Candidate], now: float, ring: PacketRing) -> None:
        """A window is taken only for a candidate seen again at its place after its arrival's post-roll: someone
        walking past makes a new place at every look and would otherwise fill the windows with nothing."""
        with self._lock:
            seen = {(c.zone_id, c.place): c for c in candidates}
            for key, window in list(self._windows.items()):
                c = seen.get(key)
                if c is None or (abs(c.first_seen - window.first_seen) > SAME_CANDIDATE_SECONDS and not window.claimed):
                    del self._windows[key]  # gone without raising (or its clock restarted): not evidence of anything
            count = sum(1 for w in self._windows.values() if not w.refused)
            held = sum(w.nbytes for w in self._windows.values())
            for key, c in seen.items():
                if key in self._windows or c.dwell <= 0 or now < c.first_seen + self.post:
                    continue
                packets = [] if count >= self.max_windows else _select(ring, c.first_seen - self.pre,
                                                                       c.first_seen + self.post)
                size = sum(p.packet.size for p in packets)
                refused = count >= self.max_windows or held + size > self.max_bytes
                self.refused += refused
                self._windows[key] = _Window(c.first_seen, packets=[] if refused else packets, refused=refused)
                count, held = count + (not refused), held + (0 if refused else size)

    def claim(self, zone_id: str, place: str, first_seen: float, now: float,
              ring: PacketRing) -> list[TimedPacket] | None:
        """The arrival of the candidate that raises now: its held window's packets (or, when none was taken yet,
        the window from ``ring`` if it still holds the arrival); None when the raise came within ``post``
        seconds of the arrival (its own clip shows it); [] when the arrival is not held (the caps) nor in the
        ring any more."""
        if now < first_seen + self.post:
            return None
        with self._lock:
            window = self._windows.get((zone_id, place))
            if window is None or abs(window.first_seen - first_seen) > SAME_CANDIDATE_SECONDS:
                packets = _select(ring, first_seen - self.pre, first_seen + self.post)
                self._windows[(zone_id, place)] = _Window(first_seen, packets=[], claimed=True)
                return packets
            window.claimed = True
            packets, window.packets = window.packets, []
            return packets


def _select(ring: PacketRing, start: float, end: float) -> list[TimedPacket]:
    """The ring's packets for [start, end] if they reach back to the arrival itself (``start`` + the pre-roll
    is ``end`` − post; a ring that lost it gives only what came later, which is no arrival clip)."""
    try:
        packets = ring.select(start, end)
    except Exception:  # ClipUnavailable: nothing of that time in the ring (a reconnect, a young ring)
        return []
    middle = (start + end) / 2
    return packets if packets and packets[0].wall <= middle else []


def write_packets(path: Path, packets: list[TimedPacket]) -> None:
    """Stream-copy held packets into an MP4 the way the ring writes its clips."""
    ring = PacketRing(seconds=float("inf"), max_bytes=1 << 62)
    for item in packets:
        ring.append(item)
    ring.write_clip(path, packets[0].wall, packets[-1].wall)
