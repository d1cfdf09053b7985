"""Training-grade evidence (issue 15 item 1): a clean frame beside the annotated snapshot, a Chinese caption in
a font found on this machine, and the arrival window held from a real camera ring past the ring's own memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from streams.ring import ClipUnavailable, PacketRing
from streams.sampler import SampledFrame
from streams.source import Epoch, PacketReader, TimedPacket
from vision import evidence
from vision.analyzer import CameraAnalyzer
from vision.catalogue import load_catalogue
from vision.evidence import ArrivalWindows, Candidate, Drawn, annotate, cjk_font, write_packets
from vision.rules_config import CameraRules
from wall.demo import MEDIA

PERSON = MEDIA / "one-by-one-person-detection.mp4"
START = 1_800_000_000.0


def frame_at(clip: Path, seconds: float, width: int = 640) -> np.ndarray:
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= seconds:
                height = round(frame.height * width / frame.width / 2) * 2
                image: np.ndarray = frame.reformat(width=width, height=height).to_ndarray(format="bgr24")
                return image
    raise AssertionError("clip too short")


def jpeg(data: bytes | None) -> np.ndarray:
    assert data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_an_opened_change_carries_the_clean_frame_beside_the_annotated_snapshot() -> None:
    image = frame_at(PERSON, 40.0)
    rules = CameraRules.model_validate({"zones": [{
        "id": "table", "family": "street_stall", "code": "0501", "require_object": False, "dwell_seconds": 0,
        "confirm": {"hits": 1, "looks": 1}, "polygon": [[0.4, 0.7], [0.8, 0.7], [0.8, 1.0], [0.4, 1.0]]}]},
    )
    analyzer = CameraAnalyzer("lobby", rules, {"person": ["person"]}, load_catalogue())
    detections = sv.Detections(xyxy=np.array([[330, 150, 420, 340]], np.float32), confidence=np.array([0.9]),
                               class_id=np.array([0]), data={"class_name": np.array(["person"], dtype=object)})
    frame = SampledFrame("lobby", image, 40.0, START, 40.0, (768, 432), True)
    [change] = analyzer.analyse(frame, detections)
    assert change.kind == "opened"
    clean, annotated = jpeg(change.frame_jpeg), jpeg(change.snapshot_jpeg)
    assert clean.shape == annotated.shape == image.shape  # the resolution the detector saw
    assert np.abs(clean.astype(int) - image.astype(int)).mean() < 2.0  # nothing drawn: JPEG noise only
    assert np.abs(annotated.astype(int) - image.astype(int)).mean() > 2.0
    # the boxes stay data beside the picture, in its pixels
    assert change.boxes[0].label == "person" and change.boxes[0].xyxy == (330.0, 150.0, 420.0, 340.0)
    assert change.frame_size == (640, 360)


def test_the_caption_is_drawn_in_a_chinese_font_from_this_machine() -> None:
    font = cjk_font()
    assert font is not None and font.is_file(), "scripts/test installs fonts-wqy-microhei"
    face = evidence._font(20)
    assert face is not None
    # distinct glyphs, not one "missing character" box for every Chinese character
    assert bytes(face.getmask("无")) != bytes(face.getmask("照"))
    image = np.full((360, 640, 3), 90, np.uint8)
    polygon = np.array([[10, 10], [200, 10], [200, 200]])
    boxes = [Drawn((50.0, 50.0, 120.0, 150.0), "person 0.90", (255, 160, 0))]
    one = jpeg(annotate(image, polygon, boxes, "0501 无照经营游商 发现 停留 180 秒", "0501 opened dwell 180s"))
    two = jpeg(annotate(image, polygon, boxes, "0501 占道经营 发现 停留 180 秒", "0501 opened dwell 180s"))
    band = (slice(0, 40), slice(0, 640))
    assert np.abs(one[band].astype(int) - two[band].astype(int)).sum() > 1000  # the words themselves differ
    assert np.abs(one[band].astype(int) - 90).max() > 100  # and something was written there at all


def test_the_font_is_found_without_fontconfig_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without fc-list (a slim image with fonts copied in): the font folders are searched by name."""
    def no_fontconfig(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("fc-list")

    monkeypatch.setattr(evidence.subprocess, "run", no_fontconfig)
    cjk_font.cache_clear()
    try:
        found = cjk_font()
        assert found is not None and found.name.lower().startswith("wqy")
    finally:
        cjk_font.cache_clear()


def test_without_a_cjk_font_the_caption_falls_back_to_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "_font", lambda size: None)
    image = np.full((360, 640, 3), 90, np.uint8)
    picture = jpeg(annotate(image, np.array([[10, 10], [200, 10], [200, 200]]),
                            [Drawn((50.0, 50.0, 120.0, 150.0), "人 0.90", (255, 160, 0))], "0501 无照经营游商",
                            "0501 opened dwell 180s"))
    assert np.abs(picture[0:30].astype(int) - 90).max() > 100  # the ASCII line is there


def feed(ring: PacketRing, windows: ArrivalWindows, candidates: list[Candidate], until: float,
         then: Callable[[], None]) -> None:
    """The lobby clip's packets (10 fps, a keyframe every second) into a real ring at their recorded pace (wall =
    START + pts); the windows follow the candidates once a second of video, as the live clip thread does.
    ``then`` runs before the file is closed: stream copy needs the connection's container open (as live)."""
    reader = PacketReader(f"file:{PERSON}", loop=False, realtime=False)
    info = reader.open()
    assert reader.stream is not None
    epoch = Epoch(info, reader.stream, reader)
    followed = -1.0
    try:
        for packet in reader.packets():
            assert packet.pts is not None
            pts = float(packet.pts * info.time_base)
            if pts > until:
                break
            ring.append(TimedPacket(epoch, packet, START + pts, pts, pts, bool(packet.is_keyframe)))
            if pts - followed >= 1.0:
                followed = pts
                windows.follow([c for c in candidates if c.first_seen <= START + pts], START + pts, ring)
        then()
    finally:
        reader.close()


def test_the_arrival_window_outlives_the_ring(tmp_path: Path) -> None:
    """Someone seen from 8 s; the ring keeps 11 s; at 29 s the ring has no video of the arrival, the held window
    has it: from the keyframe at 3 s (5 s before) to 13 s (5 s after)."""
    ring = PacketRing(seconds=11, max_bytes=64 << 20)
    windows = ArrivalWindows(5.0, 5.0)
    arrived = Candidate("lane", "3-4", START + 8.0, dwell=6.0)
    held: list[TimedPacket] = []
    clip = tmp_path / "arrival.mp4"

    def raised() -> None:  # at 29 s
        with pytest.raises(ClipUnavailable):
            ring.select(START + 3.0, START + 13.0)  # nothing of that time is left in the camera's memory
        # a candidate that raised without a held window: what the ring has left is no arrival clip
        assert windows.claim("lane", "5-5", START + 8.0, now=START + 29.0, ring=ring) == []
        held[:] = windows.claim("lane", "3-4", START + 8.0, now=START + 29.0, ring=ring) or []
        write_packets(clip, held)

    feed(ring, windows, [arrived], until=29.0, then=raised)
    assert held and held[0].keyframe
    assert held[0].wall <= START + 3.0 + 1e-6 and START + 12.8 <= held[-1].wall <= START + 13.0
    with av.open(str(clip)) as container:
        frames = list(container.decode(video=0))
    assert frames[0].key_frame and len(frames) >= 10 * 10 * 0.95  # ten seconds of the 10 fps clip


def test_arrival_windows_are_capped_and_follow_their_candidates() -> None:
    ring = PacketRing(seconds=30, max_bytes=64 << 20)
    windows = ArrivalWindows(5.0, 5.0, max_windows=2)
    three = [Candidate("lane", f"{i}-1", START + 6.0, dwell=4.0) for i in range(3)]
    walker = Candidate("lane", "7-7", START + 6.0, dwell=0.0)  # seen once, at one look: someone passing by
    feed(ring, windows, [*three, walker], until=12.0, then=lambda: None)
    assert windows.held() == 2 and windows.refused == 1
    # the refused one says so at its raise (the ring still has its arrival, but the caps are the caps)
    assert windows.claim("lane", "2-1", START + 6.0, now=START + 12.0, ring=ring) == []
    windows.follow(three[:1], START + 12.0, ring)  # two went away without raising: their video is dropped
    assert windows.held() == 1
    # a raise within the post-roll of its arrival: its own clip shows the arrival, no window is needed
    assert windows.claim("lane", "9-9", START + 10.0, now=START + 12.0, ring=ring) is None
    # a new candidate at a held place (its clock restarted there) replaces the old window, once it is due
    windows.follow([Candidate("lane", "0-1", START + 11.0, dwell=1.0)], START + 12.0, ring)
    assert windows.held() == 0
