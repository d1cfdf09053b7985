"""Real parts for case tests: a database file, event changes with real evidence files, a webhook receiver."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streams.config import CameraConfig
from vision.events import Box, EventChange
from vision.replay import store_evidence

CAMERAS = [
    CameraConfig(id="cam-a", name="解放路口", url="rtsp://10.0.0.1/a", grid_code="34010200100101",
                 street="解放路街道", community="人民社区", address="解放路 18 号", lon=117.28, lat=31.86),
    CameraConfig(id="cam-b", name="人民路", url="rtsp://10.0.0.2/b"),
]


def event_change(evidence_dir: Path, *, kind: str = "opened", camera: str = "cam-a", place: str = "3-4",
                 event_id: str | None = None, t: float = 1_800_000_000.0, jpeg: bytes | None = None) -> EventChange:
    change = EventChange(
        kind=kind, event_id=event_id or uuid.uuid4().hex, camera_id=camera, zone_id="pavement",
        family="street_stall", code="0501", code_name="无照经营游商", catalogue_version="test-1", place=place,
        place_box=(100.0, 120.0, 180.0, 220.0), frame_size=(640, 360), first_seen=t - 200, t=t, t_stream=0.0,
        dwell=200.0, boxes=[Box("umbrella", 0.8, (100.0, 120.0, 180.0, 220.0), 7)],
    )
    data = jpeg or (b"\xff\xd8" + uuid.uuid4().bytes * 64 + b"\xff\xd9")
    key = "after_snapshot" if kind == "cleared" else "snapshot"
    change.evidence[key] = str(store_evidence(evidence_dir, data, ".jpg"))
    return change


class Receiver:
    """The city's case platform, as far as citywall can tell: an HTTP endpoint on loopback that records posts."""

    def __init__(self, *, fail_first: int = 0, status: int = 200, reply: dict[str, Any] | None = None,
                 delay: float = 0.0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_first, self.status, self.reply = fail_first, status, reply or {"ok": True}
        self.delay = delay  # seconds before each answer: a platform slow enough for senders to overlap
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender was killed mid-request: a platform would see no (valid) delivery
                outer.posts.append(({k: v for k, v in self.headers.items()}, body))
                time.sleep(outer.delay)
                code = 503 if len(outer.posts) <= outer.fail_first else outer.status
                payload = json.dumps(outer.reply if code == 200 else {"error": "busy"}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cases"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def keys(self) -> list[str]:
        return [h.get("Idempotency-Key", "") for h, _ in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sha_name(path: str) -> str:
    data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()
