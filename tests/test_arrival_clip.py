"""The arrival clip (issue 15): a 3-minute dwell raise on a real clip carries a clip that starts before the object
arrived, although the camera's ring (60 s, as live) holds only the last minute when the case is raised.

The object is a dark "bag" drawn on the floor of the real indoor clip from 30 s on (no detector class covers
it: the static-change detector finds it, as it would litter); the clip is the sample looped to 4 minutes. The
replay runs the live sampler, detector, analyzer and evidence code, at decoding speed, with the clock of the
clip (its frames' times), so the test needs no real three minutes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.detector import Detector
from vision.replay import Replay
from vision.rules_config import CameraRules
from wall.demo import MEDIA

pytestmark = pytest.mark.slow
PERSON = MEDIA / "one-by-one-person-detection.mp4"
ARRIVES, BAG = 30.0, (70, 360, 90, 50)  # seconds; x, y, w, h in the clip's 768×432 pixels
START = 1_800_000_000.0


@pytest.fixture(scope="module")
def bag_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arrival") / "bag.mp4"
    x, y, w, h = BAG
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "1", "-i", str(PERSON), "-t", "240",
         "-vf", f"drawbox=x={x}:y={y}:w={w}:h={h}:color=0x2a2a30@1:t=fill:enable='gte(t,{ARRIVES:g})'",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-an", str(out)],
        check=True, timeout=240,
    )
    return out


def bag_darkness(frame: av.VideoFrame) -> float:
    """How much darker the bag's spot is than the floor around it (0 when the bag is not there)."""
    image = frame.to_ndarray(format="gray").astype(float)
    sx, sy = frame.width / 768, frame.height / 432
    x, y, w, h = BAG
    spot = image[int(y * sy) + 5:int((y + h) * sy) - 5, int(x * sx) + 5:int((x + w) * sx) - 5]
    around = image[int((y - 30) * sy):int((y - 5) * sy), int(x * sx):int((x + w) * sx)]
    return float(around.mean() - spot.mean())


def frames(path: str) -> list[av.VideoFrame]:
    with av.open(path) as container:
        return list(container.decode(video=0))


def test_a_three_minute_dwell_raise_carries_the_arrival(bag_clip: Path, tmp_path: Path) -> None:
    rules = CameraRules.model_validate({"zones": [{
        "id": "floor", "family": "garbage", "polygon": [[0, 0.7], [0.35, 0.7], [0.35, 1], [0, 1]],
        "dwell_seconds": 180, "grace_seconds": 10, "clear_after_seconds": 12, "alarm_interval_seconds": 3600}]})
    detector = Detector(DEFAULT_CARD)
    run = Replay(bag_clip, rules, detector, detector.card.families, load_catalogue(), interval=2.0,
                 out_dir=tmp_path, start_wall=START, ring_seconds=60.0)  # the live default ring
    opened = [c for c in run.run() if c.kind == "opened"]
    assert len(opened) == 1, [c.as_dict() for c in opened]
    event = opened[0]
    assert ARRIVES <= event.first_seen - START <= ARRIVES + 4  # the first look that saw the bag
    assert event.t - event.first_seen >= 180
    assert {"snapshot", "frame", "clip", "arrival_clip"} <= set(event.evidence)

    arrival = frames(event.evidence["arrival_clip"])
    assert arrival[0].key_frame
    assert bag_darkness(arrival[0]) < 5, "the arrival clip must start before the bag is there"
    assert bag_darkness(arrival[-1]) > 25, "and show it there after its arrival"
    assert 9.0 <= len(arrival) / 10 <= 12.0  # 5 s before the first sighting to 5 s after, at 10 fps

    raised = frames(event.evidence["clip"])  # the raise, from what a 60 s ring still has
    assert raised[0].key_frame and bag_darkness(raised[0]) > 25  # it cannot show the arrival: hence the above
    assert len(raised) / 10 <= 66
