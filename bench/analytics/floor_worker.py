"""The floor of a camera thread, measured in the same run as citywall (issue 17): what receiving a camera and
looking at it once per interval costs with nothing else around it.

Per camera one thread (named ``camera-<id>``, so the CPU accounting files it with citywall's camera threads)
that does only what no camera thread can avoid: a bare PyAV ``demux()`` loop over RTSP/TCP with the options
CameraSession uses, one keyframe decode per look (a slice-threaded decoder, as the sampler's; drained at once,
as the sampler does for a keyframe-only GOP) and the scale to the analysis width in FFmpeg. No ring, no health,
no consumers, no timestamps kept, no reconnect. citywall's camera threads divided by this is the figure issue 17
bounds (≤ ×1.2): everything the service adds on top of receiving and looking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import av
from av.video.reformatter import VideoReformatter

from bench.analytics.result import INTERVAL_S, READY_TIMEOUT_S, SAMPLE_WIDTH, Camera, SideResult, diff_counts
from bench.analytics.window import Window
from streams.sampler import output_size

READ_TIMEOUT_S = 10.0  # CameraSession's default read timeout (StreamSettings)


class FloorCamera:
    """One camera at its floor: demux everything, decode and scale one keyframe per interval."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.received = 0
        self.decoded = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"camera-{camera.id}", daemon=True)

    def _run(self) -> None:
        try:
            container = av.open(self.camera.url, options={"rtsp_transport": "tcp",
                                                          "timeout": str(int(READ_TIMEOUT_S * 1_000_000))},
                                timeout=(READ_TIMEOUT_S, READ_TIMEOUT_S))
        except av.error.FFmpegError as exc:
            self.error = str(exc)
            return
        with container:
            stream = container.streams.video[0]
            decoder = stream.codec_context
            decoder.thread_type = "SLICE"
            scaler = VideoReformatter()
            time_base = float(stream.time_base or 0)
            next_due: float | None = None
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.size == 0:
                    continue
                self.received += 1
                if not packet.is_keyframe or packet.pts is None:
                    continue
                t = packet.pts * time_base
                if next_due is not None and t < next_due - 0.5 * INTERVAL_S:
                    continue
                next_due = t + INTERVAL_S if next_due is None else max(next_due + INTERVAL_S, t + INTERVAL_S)
                frames = list(decoder.decode(packet)) or list(decoder.decode(None))
                decoder.flush_buffers()
                for frame in frames:
                    size = output_size((frame.width, frame.height), SAMPLE_WIDTH, None)
                    scaler.reformat(frame, width=size[0], height=size[1], format="bgr24").to_ndarray()
                    self.decoded += 1

    def stop(self) -> None:
        self._stop.set()


def floor_worker(cameras: Sequence[Camera], seconds: float, warmup: float, server_pid: int | None) -> SideResult:
    """The floor on the same N cameras, over a window like the other sides'."""
    floors = [FloorCamera(c) for c in cameras]
    for f in floors:
        f.thread.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(f.decoded for f in floors):
        failed = [f"{f.camera.id}: {f.error}" for f in floors if f.error]
        if failed or time.monotonic() > deadline:
            raise RuntimeError("the floor's cameras did not all deliver: " + ", ".join(
                failed or [f.camera.id for f in floors if not f.decoded]))
        time.sleep(0.1)
    time.sleep(warmup)
    first_received = {f.camera.id: f.received for f in floors}
    first_decoded = {f.camera.id: f.decoded for f in floors}
    window = Window(server_pid)
    window.begin()
    time.sleep(seconds)
    measured = window.end()
    received = diff_counts({f.camera.id: f.received for f in floors}, first_received)
    decoded = diff_counts({f.camera.id: f.decoded for f in floors}, first_decoded)
    for f in floors:
        f.stop()
    problems = [f"{f.camera.id}: {f.error}" for f in floors if f.error]
    return SideResult(
        side="floor", variant="bare demux + one keyframe decode and scale per look", cameras=len(cameras),
        looks=decoded, detected={}, received=received, decoded=decoded, batch_sizes={}, frames_in=0,
        dropped=None, lag_p95_s=None, lag_max_s=None, stage_s={}, problems=problems, **measured,
    )
