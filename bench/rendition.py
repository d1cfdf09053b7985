"""Rendition benchmark: what an H.264 rendition of an H.265 camera costs, and what each viewer beyond the first adds.

Why: a browser without an HEVC decoder (most desktop Chrome/Edge without hardware decoding, every headless one)
gets an H.264 rendition made on the server (streams/rendition.py), one per camera and tile width shared by all its
viewers. The cap ``server.live.renditions`` should be sized from the first figure; the second should be about
zero, because extra viewers share the decode and the encode and only take the fragments from memory (what a
WebSocket send then costs is the same as for any camera: bench/wall.py).

A real GStreamer RTSP server serves a 1280×720 25 fps H.265 clip (libx265, GOP 2 s, 2 Mbit/s, made at run time);
this process ingests it (CameraSession) and the windows measure this process's CPU (all threads) and the
rendition thread's own CPU time: ingest alone, one rendition at tile width (640) with 1 viewer, the same with 10
viewers, and one at a maximised tile's width (1280).
Run from the repository root:  ``python -m bench.rendition [--seconds 15] [--viewers 10] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.camera import served_camera
from bench.machine import describe, load_average, machine_label, process_cpu_window
from streams import CameraSession
from streams.remux import LiveViewer
from streams.rendition import Rendition
from streams.renditions import RenditionRegistry


@dataclass
class Window:
    scenario: str
    viewers: int
    width: int | None
    process_cpu_pct: float  # this process, all threads; 100 = one core
    rendition_cpu_pct: float | None  # the rendition's own thread
    frames_per_s: float | None
    dropped: int | None
    bytes_per_s_per_viewer: float | None


@dataclass
class Report:
    machine: dict[str, object]
    load_before: list[float]
    source: str
    seconds: float
    windows: list[Window] = field(default_factory=list)


class _Drainer:
    """Viewers emptied by one thread every frame interval, as the live route's senders would."""

    def __init__(self, viewers: list[LiveViewer]) -> None:
        self.viewers = viewers
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.04):
            for viewer in self.viewers:
                self.bytes += sum(len(item.data) for item in viewer.drain())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _window(seconds: float, rendition: Rendition | None) -> tuple[float, float | None, float | None, int | None]:
    r_cpu0 = rendition.cpu_seconds if rendition else 0.0
    frames0 = rendition.frames_out if rendition else 0
    process, wall = process_cpu_window(seconds)
    if rendition is None:
        return process, None, None, None
    return (process, 100 * (rendition.cpu_seconds - r_cpu0) / wall, (rendition.frames_out - frames0) / wall,
            rendition.dropped)


def measure(session: CameraSession, scenario: str, width: int | None, viewers: int, seconds: float) -> Window:
    registry = RenditionRegistry(cap=4)
    if width is None:
        process, *_ = _window(seconds, None)
        return Window(scenario, 0, None, round(process, 1), None, None, None, None)
    rendition = registry.acquire(session, width)
    watching = [LiveViewer(max_seconds=30) for _ in range(viewers)]
    for viewer in watching:
        registry.acquire(session, width)
        rendition.add_viewer(viewer)
    drainer = _Drainer(watching)
    time.sleep(2.0)  # past the primed GOP's burst
    start_bytes = drainer.bytes
    started = time.monotonic()
    process, own, fps, dropped = _window(seconds, rendition)
    sent = (drainer.bytes - start_bytes) / (time.monotonic() - started) / max(1, viewers)
    drainer.stop()
    registry.stop()
    return Window(scenario, viewers, width, round(process, 1), round(own or 0, 1), round(fps or 0, 1), dropped,
                  round(sent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rendition", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured window")
    parser.add_argument("--viewers", type=int, default=10, help="viewers of the shared rendition (second window)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)

    report = Report(machine=machine_label(), load_before=load_average(),
                    source="1280x720 25 fps H.265 (libx265 ultrafast, GOP 2 s, 2 Mbit/s) over RTSP",
                    seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="citywall-bench-rendition-") as tmp, served_camera(
            Path(tmp), "hevc720", width=1280, height=720, codec="libx265", seconds=6 * args.seconds + 60) as session:
        if session.health.codec != "hevc":
            print(f"the camera did not come up as H.265: {session.health.snapshot()}", file=sys.stderr)
            return 1
        report.windows.append(measure(session, "ingest only (no rendition)", None, 0, args.seconds))
        report.windows.append(measure(session, "rendition at tile width, 1 viewer", 640, 1, args.seconds))
        report.windows.append(measure(session, f"rendition at tile width, {args.viewers} viewers", 640,
                                      args.viewers, args.seconds))
        report.windows.append(measure(session, "rendition at a maximised tile's width, 1 viewer", 1280, 1,
                                      args.seconds))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 0


def print_report(r: Report) -> None:
    m = r.machine
    print(f"{describe(m)}; PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}); load before {r.load_before}")
    print(f"camera: {r.source}; windows of {r.seconds:.0f} s; 100 % = one core")
    print("| scenario | process CPU | rendition thread | frames/s | dropped | sent per viewer |")
    print("|---|---:|---:|---:|---:|---:|")
    for w in r.windows:
        own = "—" if w.rendition_cpu_pct is None else f"{w.rendition_cpu_pct:.1f} %"
        fps = "—" if w.frames_per_s is None else f"{w.frames_per_s:.1f}"
        dropped = "—" if w.dropped is None else str(w.dropped)
        sent = "—" if w.bytes_per_s_per_viewer is None else f"{w.bytes_per_s_per_viewer / 1000:.0f} kB/s"
        print(f"| {w.scenario} | {w.process_cpu_pct:.1f} % | {own} | {fps} | {dropped} | {sent} |")
    base = r.windows[0].process_cpu_pct if r.windows else 0.0
    one = next((w for w in r.windows if w.viewers == 1 and w.width == 640), None)
    many = next((w for w in r.windows if w.viewers > 1), None)
    if one and many:
        print(f"rendition over ingest: {one.process_cpu_pct - base:.1f} % of a core; each viewer beyond the first: "
              f"{(many.process_cpu_pct - one.process_cpu_pct) / (many.viewers - 1):.2f} %")


if __name__ == "__main__":
    sys.exit(main())
