"""What both analytics workers report, and the analysis settings both sides share (so they do the same job).

A worker runs in its own subprocess and prints one SideResult as a JSON line after RESULT_PREFIX; the harness
reads it back. The keep-up test lives here because a side's CPU figure counts only if it did the whole job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vision.card import DEFAULT_CARD

CARD = DEFAULT_CARD.with_name("yolo11n_coco_int8_320.yaml")  # a YOLO11 head: the one model both sides can run
INTERVAL_S = 2.0  # citywall's default analysis interval (CameraConfig.analysis_interval)
SAMPLE_WIDTH = 640  # wall/runtime/analytics.py SAMPLE_WIDTH
IMGSZ = 320  # the model's input size, given to ultralytics as imgsz
MAX_BATCH = 8  # AnalysisPipeline's default
READY_TIMEOUT_S = 40.0
KEEP_UP_FLOOR = 0.9  # a camera analysed at < 90 % of 1 look / interval is falling behind
DROP_CEILING = 0.05  # more than 5 % of sampled frames replaced before the detector got to them: saturated
RESULT_PREFIX = "RESULT "


@dataclass
class SideResult:
    """One worker's figures over its measured window. Per-camera counts are differences over that window."""

    side: str  # "citywall" or "ultralytics"
    variant: str  # what differs from that side's defaults ("" for none)
    cameras: int
    window_s: float
    cpu_s: float  # time.process_time() over the window: every thread of the worker process
    server_cpu_s: float  # the RTSP server process over the same window (not counted in cpu_s)
    rss_mb: float  # VmRSS at the end of the window
    rss_peak_mb: float  # VmHWM
    looks: dict[str, int]  # frames analysed (citywall) or results yielded (ultralytics), per camera
    detected: dict[str, int]  # looks the detector ran on, per camera (citywall: the rest reused detections)
    received: dict[str, int]  # packets received per camera (citywall only: LoadStreams does not count them)
    decoded: dict[str, int]  # frames that went through the H.264 decoder, per camera
    batch_sizes: dict[int, int]  # detector calls by number of frames
    frames_in: int  # frames offered to the detector stage
    dropped: int | None  # frames replaced by a newer one of the same camera before the detector took them (None:
    # not counted; LoadStreams silently keeps only the newest frame)
    lag_p95_s: float | None  # packet arrival → analysis finished (citywall only)
    lag_max_s: float | None
    thread_cpu_s: dict[str, float]  # CPU over the window by thread group
    stage_s: dict[str, float]  # time inside the detector's stages, from each side's own counters
    problems: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_s_per_camera_minute(self) -> float:
        return self.cpu_s / self.cameras / (self.window_s / 60)

    @property
    def cores_used(self) -> float:
        return self.cpu_s / self.window_s

    def per_camera_per_s(self, counts: dict[str, int]) -> float:
        return sum(counts.values()) / self.cameras / self.window_s if counts else float("nan")

    @property
    def worst_look_share(self) -> float:
        """The slowest camera's looks as a share of those due (1 every INTERVAL_S)."""
        due = self.window_s / INTERVAL_S
        return min(self.looks.values(), default=0) / due

    def keeps_up(self) -> tuple[bool, str]:
        """Whether every camera got (nearly) all its looks; the reason when not.

        Throughput, not latency: a pipeline that falls behind shows it as missing looks and dropped frames (its
        queues keep only the newest frame per camera). The lag is reported beside it; here every camera's
        keyframes arrive at the same moment (all mounts start together), the worst case for latency.
        """
        reasons = list(self.problems)
        if self.worst_look_share < KEEP_UP_FLOOR:
            reasons.append(f"slowest camera got {self.worst_look_share:.0%} of its looks")
        if self.dropped is not None and self.frames_in and self.dropped > DROP_CEILING * self.frames_in:
            reasons.append(f"{self.dropped} of {self.frames_in} sampled frames dropped")
        return not reasons, "; ".join(reasons) or "ok"


@dataclass(frozen=True)
class Camera:
    id: str
    url: str
    clip: str


def diff_counts(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Per-camera counters over the window: the end's minus the start's."""
    return {k: v - before.get(k, 0) for k, v in after.items()}
