"""Playback benchmark: how long the page's player takes from a seek to the picture at that time, in Debian
chromium, over a real recording.

Why: the target is at most 1 s from a seek to the first picture (issue 14), so that an operator scrubbing an
inquiry's timeline is not kept waiting. ``bench.recording`` times the server's half (finding the keyframe and
remuxing, decoded by PyAV); this one times what the operator waits for: the real ``wall-playback.js`` in the
real page, the chunk over HTTP, MediaSource, chromium's decoder.

The real app records a camera served by the real GStreamer RTSP server (a generated 25 fps H.264 clip, GOP 2 s,
continuous recording into segments of ``--segment`` s) for ``--record-seconds``; then chromium opens the wall,
the tile's playback panel, and times three kinds of seek, ``--seeks`` of each, at times half a second past a
keyframe (the player must decode from the keyframe before):

- **buffered**: the play head moved inside the chunk the player holds (what a frame step or a drag within the
  last 30 s does): no request, chromium decodes from the keyframe. The baseline.
- **same segment**: a time typed into the time field in the segment file on screen: a new chunk from the
  server (the player always asks for one at a typed time), a new MediaSource.
- **other segment**: a time typed in another segment file: the same plus opening that file.

Each is timed in the page from the action (the play head set, or Enter in the time field) to the video element
holding the picture at the new time (``seeked``, ``readyState >= HAVE_CURRENT_DATA``), and each typed seek is
then checked to show the typed time. Absolute figures are of this machine (labelled); the ratios to the
buffered seek, measured in the same run, travel between machines.
Run from the repository root:  ``python -m bench.playback [--record-seconds 40] [--segment 10] [--seeks 10]
[--width 1920 --height 1080] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from bench.machine import describe, format_load, load_average, machine_label
from bench.wall import CHROMIUM, Site
from streams.devserver.clips import looped_copy, synthetic_clip
from streams.devserver.rtsp import RtspDevServer

FPS, GOP_S = 25, 2
KINDS = ("buffered", "same segment", "other segment")
TIMEOUT_MS = 20000
TYPED_SEEK_JS = """async ({text, timeout}) => {
  const panel = document.querySelector('[data-testid="playback"]');
  const v = panel.querySelector("video");
  const input = panel.querySelector('[data-testid="pb-time"]');
  const before = v.src;
  input.value = text;
  const t0 = performance.now();
  input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  while (!(v.src !== before && v.currentTime > 0 && !v.seeking && v.readyState >= 2)) {
    if (performance.now() - t0 > timeout) return null;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return performance.now() - t0;
}"""
BUFFERED_SEEK_JS = """async ({by, timeout}) => {
  const v = document.querySelector('[data-testid="playback"] video');
  const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
  const to = v.currentTime + by <= end - 0.5 ? v.currentTime + by : Math.max(0.52, v.currentTime - by);
  const t0 = performance.now();
  v.currentTime = to;
  while (v.seeking || v.readyState < 2) {
    if (performance.now() - t0 > timeout) return null;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return performance.now() - t0;
}"""
SHOWN_WALL_JS = "() => Number(document.querySelector('[data-testid=\"pb-clock\"]').dataset.wall)"


@dataclass
class Report:
    machine: dict[str, object]
    load_before: list[float]
    load_after: list[float] = field(default_factory=list)
    source: str = ""
    record_seconds: float = 0.0
    segment_seconds: float = 0.0
    segments: int = 0
    seek_ms: dict[str, list[float]] = field(default_factory=dict)
    misses: int = 0  # typed seeks that did not end on the typed time, or timed out


def record(work: Path, width: int, height: int, seconds: float, segment: float) -> tuple[Site, RtspDevServer]:
    """The real app recording one RTSP camera continuously; returns once ``seconds`` are recorded and indexed."""
    short = synthetic_clip(work / "cam-short.mp4", width=width, height=height, fps=FPS, gop=FPS * GOP_S,
                           seconds=10, codec="libx264")
    rtsp = RtspDevServer({"cam": looped_copy(short, work / "cam.mp4", seconds + 120)}).start()
    site = Site(work, {"cam": rtsp.url("cam")}, f"recording:\n  segment_seconds: {segment}\n"
                f"  retention_interval_seconds: 86400\n  default: {{mode: continuous}}\n")
    site.wait_live()
    time.sleep(seconds)
    return site, rtsp


def segment_spans(site: Site) -> list[tuple[float, float]]:
    recordings = site.app.state.services.recordings
    recordings.index.flush()
    found = recordings.index.segments("cam", 0, time.time() + 60)
    return [(s.start, s.end) for s in found if s.end - s.start >= 2 * GOP_S]


def targets(spans: list[tuple[float, float]], rng: random.Random) -> tuple[float, float, int]:
    """Two times half a second past a keyframe in one random segment (not the newest: it may still grow)."""
    n = rng.randrange(len(spans))
    start, end = spans[n]
    keyframes = max(1, int((end - start - 1) // GOP_S))
    picks = rng.sample(range(keyframes), 2) if keyframes >= 2 else [0, 0]
    return start + picks[0] * GOP_S + 0.52, start + picks[1] * GOP_S + 0.52 + 0.4, n


def typed(text_of: float) -> str:
    return datetime.fromtimestamp(text_of).strftime("%H:%M:%S.%f")[:-3]


def browse(site: Site, spans: list[tuple[float, float]], seeks: int, report: Report) -> None:
    from playwright.sync_api import sync_playwright

    from wall.auth.sessions import COOKIE

    rng = random.Random(14)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        context.add_cookies([{"name": COOKIE, "value": site.token, "url": site.url}])
        page = context.new_page()
        page.goto(site.url + "/")
        tile = page.locator('#wall [data-testid="tile"][data-camera="cam"]').first
        tile.wait_for(state="visible", timeout=TIMEOUT_MS)
        tile.hover()
        tile.get_by_test_id("tile-playback").click()
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"playback\"] .pb-range').length",
                               timeout=TIMEOUT_MS)
        last_segment = -1
        warm = targets(spans, rng)[0]
        page.evaluate(TYPED_SEEK_JS, {"text": typed(warm), "timeout": TIMEOUT_MS})  # modules and decoder warm
        for _ in range(4 * seeks):  # rounds; a seek that missed is not counted (report.misses)
            if min(len(times["same segment"]), len(times["other segment"])) >= seeks:
                break
            first, second, n = targets(spans, rng)
            for at, kind in ((first, "other segment" if n != last_segment else "same segment"),
                             (second, "same segment")):
                ms = page.evaluate(TYPED_SEEK_JS, {"text": typed(at), "timeout": TIMEOUT_MS})
                time.sleep(0.35)  # the panel's clock (a 250 ms tick) catches up: check what it shows
                if ms is None or abs(page.evaluate(SHOWN_WALL_JS) - round(at, 3)) > 0.005:
                    report.misses += 1
                    continue
                if len(times[kind]) < seeks:
                    times[kind].append(round(ms, 1))
            last_segment = n
            if len(times["buffered"]) < seeks:
                ms = page.evaluate(BUFFERED_SEEK_JS, {"by": 2 * GOP_S + 1.3, "timeout": TIMEOUT_MS})
                if ms is not None:
                    times["buffered"].append(round(ms, 1))
        browser.close()
    report.seek_ms = times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.playback", description=__doc__.splitlines()[0])
    parser.add_argument("--record-seconds", type=float, default=40.0, help="how long the camera is recorded first")
    parser.add_argument("--segment", type=float, default=10.0, help="segment length (the default site's is 60 s)")
    parser.add_argument("--seeks", type=int, default=10, help="seeks of each kind")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.record_seconds < 2 * args.segment:
        parser.error("--record-seconds must cover at least two segments (2 × --segment)")

    report = Report(machine=machine_label(), load_before=load_average(), record_seconds=args.record_seconds,
                    segment_seconds=args.segment,
                    source=f"{args.width}x{args.height} {FPS} fps H.264 (testsrc2, GOP {GOP_S} s) over RTSP")
    with tempfile.TemporaryDirectory(prefix="citywall-bench-playback-") as tmp:
        site, rtsp = record(Path(tmp), args.width, args.height, args.record_seconds, args.segment)
        try:
            spans = segment_spans(site)
            report.segments = len(spans)
            if len(spans) < 2:
                print(f"only {len(spans)} segment(s) recorded: nothing to compare", file=sys.stderr)
                return 1
            browse(site, spans[:-1] if len(spans) > 2 else spans, args.seeks, report)
        finally:
            site.close()
            rtsp.stop()
    report.load_after = load_average()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 0


def print_report(r: Report) -> None:
    print(f"{describe(r.machine)}; load before {format_load(r.load_before)}, after {format_load(r.load_after)}")
    print(f"camera: {r.source}; {r.segments} segments of {r.segment_seconds:.0f} s recorded by the app; "
          f"Debian chromium (headless, software decode)")
    base = statistics.median(r.seek_ms["buffered"]) if r.seek_ms.get("buffered") else None
    print("| seek to the picture | seeks | median | p90 | max | median ÷ buffered |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        values = sorted(r.seek_ms.get(kind, []))
        if not values:
            continue
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
        ratio = f"{median / base:.1f}×" if base else "—"
        print(f"| {kind} | {len(values)} | {median:.0f} ms | {p90:.0f} ms | {values[-1]:.0f} ms | {ratio} |")
    same, other = (statistics.median(r.seek_ms[k]) if r.seek_ms.get(k) else None for k in KINDS[1:])
    if same and other:
        print(f"other segment ÷ same segment: {other / same:.2f}× (opening another segment file)")
    if r.misses:
        print(f"{r.misses} typed seek(s) did not show the typed time (or timed out) and are not counted")


if __name__ == "__main__":
    sys.exit(main())
