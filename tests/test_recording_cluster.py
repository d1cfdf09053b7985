"""Cluster mode records (issue 14 item 2): a camera run by a camera worker on a Ray node is recorded by that
worker into the site's storage (the one the control plane marked with ``.citywall-storage``), the index lands in
PostgreSQL from the worker's reports, and playback and export through the control plane (which runs no camera)
read those files: the picture at a time is the source's picture of that time. When the camera moves (its worker's
node leaves the cluster), the other worker records on and the older segments still play.

Real parts: a Ray cluster on 127.0.0.1 (a head without CPUs and two worker nodes: tests/cluster_helpers.py),
the real PostgreSQL, the real GStreamer RTSP server playing a clip whose every frame can be told apart, the app
on a loopback port; PyAV decodes what the routes answer. All nodes see one disk here, which is what a shared
mount gives a real cluster.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from streams.devserver.rtsp import RtspDevServer
from tests.cluster_helpers import cluster_server_yaml, ray_cluster, ray_module_cluster
from tests.conftest import SiteStarter, wait_until
from tests.recording_helpers import FPS, GOP_FRAMES, LOOP_SECONDS, counted_camera, decoded, frame_index, picture_key
from wall.runtime.recording_storage import MARKER
from wall.store.recordings import RecordingSegment

pytestmark = [pytest.mark.slow]
__all__ = ["ray_cluster", "ray_module_cluster"]  # fixtures, used by name

RECORDING = """
recording:
  segment_seconds: 2
  retention_interval_seconds: 86400
  default: {mode: continuous}
"""


def ranges(client: httpx.Client, began: float) -> list[dict[str, Any]]:
    res = client.get("/api/playback/lobby/timeline", params={"start": began, "end": time.time() + 60})
    assert res.status_code == 200, res.text
    return res.json()["ranges"]


def test_a_worker_records_into_the_shared_storage_and_the_control_plane_plays_it_back(
        ray_cluster: Any, serve_site: SiteStarter, postgres_server: int, tmp_path: Path) -> None:
    short, looped = counted_camera(tmp_path, seconds=300)
    rtsp = RtspDevServer({"cam": looped}).start()
    try:
        server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-recording")
        site = serve_site(f"cameras:\n  - {{id: lobby, name: 大厅, url: \"{rtsp.url('cam')}\"}}\n",
                          server + RECORDING)
        services = site.app.state.services
        assert services.db.engine.dialect.name == "postgresql"
        root = services.recordings.root
        assert (root / MARKER).is_file(), "the control plane marks the storage it serves playback from"
        client = site.client(timeout=20)
        began = time.time()
        assert wait_until(lambda: [c["state"] for c in client.get("/api/cameras").json()] == ["live"], 150, 0.5)
        camera = client.get("/api/cameras").json()[0]
        assert camera["worker"], "the camera runs on a camera worker, not in the control plane"
        assert wait_until(lambda: sum(r["segments"] for r in ranges(client, began)) >= 3, 90, 0.5)
        assert client.get("/api/cameras").json()[0]["recording"] == "recording"

        # the index is PostgreSQL's rows, written from the worker's reports; its files are in the shared storage
        with services.db.session() as s:
            rows = s.scalars(select(RecordingSegment).where(RecordingSegment.camera_id == "lobby")
                             .order_by(RecordingSegment.start_at)).all()
            assert s.scalar(select(func.count()).select_from(RecordingSegment)) == len(rows) >= 3
            paths = [root / r.path for r in rows]
            assert all(r.codec == "h264" and r.frames > 0 for r in rows)
        assert all(p.is_file() and p.stat().st_size > 0 for p in paths), paths

        # playback through the control plane: the picture at a time is the source's picture of that time
        numbers = frame_index(short)
        span = ranges(client, began)[-1]
        middle = span["start"] + 2.3
        res = client.get("/api/playback/lobby/video", params={"start": middle, "seconds": 3})
        assert res.status_code == 200 and res.headers["content-type"] == "video/mp4", res.text
        first_wall = float(res.headers["x-start"])
        assert middle - GOP_FRAMES / FPS <= first_wall <= middle
        frames = decoded(res.content, tmp_path)
        assert len(frames) >= 2 * FPS
        assert all(picture_key(img) in numbers for _, img in frames), "stream copy: the camera's own pictures"
        seen = [numbers[picture_key(img)] for _, img in frames]
        assert all((b - a) % (FPS * LOOP_SECONDS) == 1 for a, b in itertools.pairwise(seen)), "no frame lost"

        # export through the control plane: one MP4 whose duration matches the range within one GOP
        start, end = span["start"] + 1.3, span["start"] + 4.7
        res = client.get("/api/playback/lobby/export.mp4", params={"start": start, "end": end})
        assert res.status_code == 200 and "attachment" in res.headers["content-disposition"], res.text
        exported = decoded(res.content, tmp_path, "export.mp4")
        assert abs(exported[-1][0] + 1 / FPS - (end - start)) <= GOP_FRAMES / FPS
        assert all(picture_key(img) in numbers for _, img in exported)

        # the camera moves: its worker's node leaves the cluster, the other worker takes the camera and records
        # on; the older segments, written by a worker on a node that is gone, still play from the shared storage
        runtime = services.runtime
        before = runtime.scheduler.owner("lobby")
        node = next(n for n in ray_cluster.worker_nodes if n.node_id == runtime.pool.slot(before.worker).node_id)
        ray_cluster.remove_node(node)
        moved = time.time()
        assert wait_until(lambda: (runtime.scheduler.owner("lobby") or before).worker != before.worker, 60, 0.2)
        assert wait_until(lambda: any(r["start"] > moved for r in ranges(client, began))
                          and ranges(client, began)[-1]["segments"] >= 2, 90, 0.5), ranges(client, began)
        old, new = span, ranges(client, began)[-1]
        for at, name in ((old["start"] + 1.1, "old.mp4"), (new["start"] + 1.1, "new.mp4")):
            res = client.get("/api/playback/lobby/video", params={"start": at, "seconds": 2})
            assert res.status_code == 200, (name, res.text)
            pictures = decoded(res.content, tmp_path, name)
            assert len(pictures) >= FPS and all(picture_key(img) in numbers for _, img in pictures), name
    finally:
        rtsp.stop()
