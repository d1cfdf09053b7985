"""The cases the case and platform benchmarks (bench/cases.py, bench/platform.py) put on a desk: one site of eight
cameras, each case raised by the analytics at a place of its own with its snapshot on disk, and the latency
figures both report.

Why one module: the two benchmarks measure two ends of one path (the desk committing cases, the platform
receiving and answering them) and their figures are compared; they must raise the same cases on the same
cameras and compute p50/p99 the same way, which two copies would not keep doing.
"""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path

from streams.config import CameraConfig
from vision.events import Box, EventChange
from vision.replay import store_evidence

CAMERA_IDS = [f"cam-{i}" for i in range(8)]
CAMERAS = [CameraConfig(id=camera_id, name=f"路口 {i}", url="rtsp://192.0.2.1/x", street="解放路街道",
                        community="人民社区", address=f"解放路 {i} 号") for i, camera_id in enumerate(CAMERA_IDS)]
SNAPSHOT_BYTES = 32_000  # a 640 px snapshot


def offline_cameras() -> dict[str, str]:
    """The site's cameras for a running app (``bench.wall.Site``): the same ids, at an address that refuses
    (nothing listens on port 9), so no video is needed and no camera holds a core."""
    return {camera_id: f"rtsp://127.0.0.1:9/{i}" for i, camera_id in enumerate(CAMERA_IDS)}


def jpeg(size: int) -> bytes:
    """``size`` bytes that start and end as a JPEG and differ every time (evidence is stored by content hash)."""
    return b"\xff\xd8" + uuid.uuid4().bytes * (size // 16) + b"\xff\xd9"


def raised_change(evidence_dir: Path, n: int) -> EventChange:
    """Case ``n`` as the analytics raise it (camera cam-{n % 8}, a place of its own, a 640 px snapshot on disk)."""
    t = 1_800_000_000.0 + n
    change = EventChange(
        kind="opened", event_id=uuid.uuid4().hex, camera_id=CAMERA_IDS[n % len(CAMERA_IDS)], zone_id="pavement",
        family="street_stall", code="0501", code_name="无照经营游商", catalogue_version="bench", place=f"{n}-0",
        place_box=(100.0, 120.0, 180.0, 220.0), frame_size=(640, 360), first_seen=t - 200, t=t, t_stream=0.0,
        dwell=200.0, boxes=[Box("umbrella", 0.8, (100.0, 120.0, 180.0, 220.0), 7)],
    )
    change.evidence["snapshot"] = str(store_evidence(evidence_dir, jpeg(SNAPSHOT_BYTES), ".jpg"))
    return change


def raised_changes(evidence_dir: Path, cases: int) -> list[EventChange]:
    """Cases 0 … ``cases`` − 1, their evidence written beforehand (the analytics write it, not the desk)."""
    return [raised_change(evidence_dir, n) for n in range(cases)]


def p50_p99_ms(latencies: list[float]) -> tuple[float, float]:
    """The median and the 99th percentile (the nearest rank below) of latencies in seconds, in milliseconds."""
    p = sorted(latencies)
    return statistics.median(p) * 1000, p[max(0, int(len(p) * 0.99) - 1)] * 1000
