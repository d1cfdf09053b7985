"""Recording benchmark: what recording a camera costs (stream copy to segment files), and how long a seek takes.

Why: the target is at most 1 % of a core per recorded 1080p camera, so that a box that ingests and analyses a
hundred cameras can also record them; and at most 1 s from a seek to the first picture, so an operator scrubbing
a timeline is not kept waiting.

A real GStreamer RTSP server serves a generated 1920×1080 25 fps H.264 clip (GOP 2 s, 2 Mbit/s); this process
ingests it (CameraSession) and measures this process's CPU (all threads) over a window without a recorder and over one
with a continuous recorder (``streams.recorder``, segments of ``--segment`` s on a temporary directory), plus
the recorder thread's own CPU time and the bytes its segments take on disk. Then, from what was recorded, it
times ``--seeks`` seeks at random times: from asking (``streams.playback.Playback``: find the keyframe before,
remux) to the first picture decoded by PyAV from the fragmented MP4 bytes — what the page's player waits for,
less the network and the browser's decoder.
Run from the repository root:  ``python -m bench.recording [--seconds 20] [--seeks 20] [--json PATH]``
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from bench.camera import served_camera
from bench.machine import describe, load_average, machine_label, process_cpu_window
from streams.playback import Playback, SegmentSource
from streams.recorder import Recorder
from streams.recording_config import RecordingPlan
from streams.segments import SegmentInfo


@dataclass
class Report:
    machine: dict[str, object]
    load_before: list[float]
    source: str
    seconds: float
    bitrate_kbps: float | None = None
    ingest_cpu_pct: float = 0.0  # this process without a recorder; 100 = one core
    recording_cpu_pct: float = 0.0  # the same with the recorder
    recorder_thread_cpu_pct: float = 0.0
    disk_bytes_per_s: float = 0.0
    segments: int = 0
    dropped: int = 0
    seek_ms: list[float] = field(default_factory=list)


def time_seek(sources: list[SegmentSource], at: float) -> float:
    """Milliseconds from asking for playback at ``at`` to the first decoded picture."""
    started = time.perf_counter()
    chunk = Playback(sources, at, seconds=10)
    buffer = io.BytesIO()
    for data in chunk:
        buffer.write(data)
        if buffer.tell() > 4096 and _first_picture(buffer.getvalue()):
            break
    return 1000 * (time.perf_counter() - started)


def _first_picture(data: bytes) -> bool:
    try:
        with av.open(io.BytesIO(data), mode="r") as c:
            return next(iter(c.decode(video=0)), None) is not None
    except (av.error.FFmpegError, StopIteration):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recording", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured window")
    parser.add_argument("--segment", type=float, default=10.0, help="segment length (the default site's is 60 s)")
    parser.add_argument("--seeks", type=int, default=20, help="seeks to time in the recorded video")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)

    report = Report(machine=machine_label(), load_before=load_average(),
                    source="1920x1080 25 fps H.264 (testsrc2, libx264 ultrafast, GOP 2 s, 2 Mbit/s) over RTSP",
                    seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="citywall-bench-recording-") as tmp:
        segments: list[SegmentInfo] = []
        root = Path(tmp) / "recordings"
        with served_camera(Path(tmp), "hd", width=1920, height=1080, codec="libx264",
                           seconds=3 * args.seconds + 60) as session:
            if session.health.state != "live":
                print(f"the camera did not come up: {session.health.snapshot()}", file=sys.stderr)
                return 1
            report.ingest_cpu_pct = round(process_cpu_window(args.seconds)[0], 2)
            recorder = Recorder("hd", root, RecordingPlan(mode="continuous", segment_seconds=args.segment),
                                session.ring, segments.append)
            recorder.start()
            session.attach(recorder)
            time.sleep(2.0)
            thread0, bytes0, wall0 = recorder.cpu_seconds, _disk_bytes(root), time.monotonic()
            report.recording_cpu_pct = round(process_cpu_window(args.seconds)[0], 2)
            span = time.monotonic() - wall0
            report.recorder_thread_cpu_pct = round(100 * (recorder.cpu_seconds - thread0) / span, 2)
            report.disk_bytes_per_s = round((_disk_bytes(root) - bytes0) / span)
            report.bitrate_kbps = session.health.snapshot()["bitrate_kbps"]
            session.detach(recorder)
            recorder.stop()
            report.segments, report.dropped = len(segments), recorder.dropped
        sources = [SegmentSource(root / s.relative, s.start) for s in segments]
        if sources:
            rng = random.Random(7)
            first, last = segments[0].start, segments[-1].end - 1
            report.seek_ms = [round(time_seek(sources, rng.uniform(first, last)), 1) for _ in range(args.seeks)]
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 0


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def print_report(r: Report) -> None:
    m = r.machine
    print(f"{describe(m)}; PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}); load before {r.load_before}")
    print(f"camera: {r.source}, {r.bitrate_kbps or 0:.0f} kbit/s; windows of {r.seconds:.0f} s; 100 % = one core")
    print("| | process CPU | recorder thread | disk write | segments | dropped |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| ingest only | {r.ingest_cpu_pct:.2f} % | — | — | — | — |")
    print(f"| ingest + recording | {r.recording_cpu_pct:.2f} % | {r.recorder_thread_cpu_pct:.2f} % | "
          f"{r.disk_bytes_per_s / 1000:.0f} kB/s | {r.segments} | {r.dropped} |")
    print(f"recording over ingest: {r.recording_cpu_pct - r.ingest_cpu_pct:.2f} % of a core per camera")
    if r.seek_ms:
        print(f"seek to first picture ({len(r.seek_ms)} seeks): median {statistics.median(r.seek_ms):.0f} ms, "
              f"max {max(r.seek_ms):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
