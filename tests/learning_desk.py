"""The operators of the learning loop test (tests/test_learning_loop.py): they work the real desk over HTTP.

While the cameras run, :class:`Operators` does what people at the desk do, through the API a browser uses: it
opens each case the live analytics raised, looks at its clean frame and confirms it — choosing the class 垃圾堆
and correcting the detector's box to the goods it sees in the zone, drawing any other goods in the picture — or
rejects it (a false detection when the picture shows no goods at all); and it watches the cameras' filing stills
(视频立案) for goods outside the zone, which the analytics cannot raise, and files them with the box drawn. Its
eyes are :func:`tests.learning_scenes.goods_seen`.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from typing import Any

import cv2
import httpx
import numpy as np

from tests.learning_scenes import Box, goods_seen, normalised, overlap

GARBAGE_CODE = "0102"  # 暴露垃圾: the catalogue's garbage family


def _distance(a: Box, b: tuple[float, ...]) -> float:
    return abs((a[0] + a[2]) - (b[0] + b[2])) + abs((a[1] + a[3]) - (b[1] + b[3]))


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """A citywall command line, as an administrator runs it beside the service."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "wall.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a picture"
    return image


@dataclasses.dataclass
class Operators:
    client: httpx.Client  # an operator's session, with the Origin header a browser sends
    places: dict[str, list[Box]]  # camera → every place its goods stand at (where to look)
    outside: dict[str, list[Box]]  # camera → the places above its zone
    decisions: dict[int, str] = dataclasses.field(default_factory=dict)  # case id → confirmed / rejected
    corrected: dict[int, Box] = dataclasses.field(default_factory=dict)  # confirmed case → the box chosen
    drawn: int = 0  # extra boxes drawn on confirmations
    filed: dict[int, tuple[str, Box]] = dataclasses.field(default_factory=dict)  # filed case → camera, box
    elsewhere: set[int] = dataclasses.field(default_factory=set)  # rejected: the goods were outside the zone
    _last_filed: dict[str, set[Box]] = dataclasses.field(default_factory=dict)

    def review(self) -> int:
        """Decide every case waiting for review; how many were decided."""
        pending = self.client.get("/api/cases", params={"status": "pending_review", "limit": 200}).json()["items"]
        for case in pending:
            self._decide(case)
        return len(pending)

    def _decide(self, case: dict[str, Any]) -> None:
        """Goods in the zone: confirm, the box corrected to the goods nearest the raised place, the others drawn.
        Goods only above the zone: the zone raised on something else — reject as 'other' (the goods are filed on
        their own), which says nothing a detector could learn. Nothing: reject as a false detection."""
        detail = self.client.get(f"/api/cases/{case['id']}").json()
        links = {e["kind"]: e["url"] for e in detail["evidence"]}
        assert "frame" in links, (case["id"], detail["evidence"], detail["missing_evidence"])
        frame = decode(self.client.get(links["frame"]).content)
        seen = goods_seen(frame, self.places[case["camera"]])
        inside = [b for b in seen if b not in self.outside[case["camera"]]]
        scale = 640 / frame.shape[1]
        place = tuple(v * scale for v in case["place_box"])
        if inside:
            main = min(inside, key=lambda b: (-overlap(b, place), _distance(b, place)))
            body = {"object_class": "garbage", "box": normalised(main),
                    "extra_boxes": [{"object_class": "garbage", "box": normalised(b)} for b in seen if b != main]}
            res = self.client.post(f"/api/cases/{case['id']}/confirm", json=body)
            self.decisions[case["id"]], self.corrected[case["id"]] = "confirmed", main
            self.drawn += len(seen) - 1
        elif seen:
            res = self.client.post(f"/api/cases/{case['id']}/reject",
                                   json={"reason": "other", "text": "区域内无垃圾，物品在区域外（另行立案）"})
            self.decisions[case["id"]] = "rejected"
            self.elsewhere.add(case["id"])
        else:
            res = self.client.post(f"/api/cases/{case['id']}/reject", json={"reason": "false_detection"})
            self.decisions[case["id"]] = "rejected"
        assert res.status_code == 200, res.text

    def patrol(self, cameras: list[str]) -> None:
        """Look at each camera's filing still and file (视频立案) goods above the zone not filed yet — when no
        goods stand in the zone: those are the analytics' to raise (and the filing's one box would miss them)."""
        for camera in cameras:
            res = self.client.get(f"/api/filing/{camera}/still.jpg")
            if res.status_code == 409:  # no picture yet
                continue
            assert res.status_code == 200, res.text
            seen = set(goods_seen(decode(res.content), self.places[camera]))
            above = {b for b in seen if b in self.outside[camera]}
            if seen - above:
                continue
            for box in above - self._last_filed.get(camera, set()):
                filed = self.client.post("/api/cases", json={"camera": camera, "code": GARBAGE_CODE,
                                                              "box": normalised(box),
                                                              "description": "人行道上方堆放杂物（视频巡查）"})
                assert filed.status_code == 201, filed.text
                self.filed[filed.json()["id"]] = (camera, box)
            self._last_filed[camera] = above

    def work(self, cameras: list[str], seconds: float) -> None:
        """Review and patrol for ``seconds``, then decide what is still waiting."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.review()
            self.patrol(cameras)
            time.sleep(0.3)
        while self.review():
            pass
