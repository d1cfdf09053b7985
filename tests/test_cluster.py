"""Cluster mode (wall/cluster): the cameras on a real Ray cluster on loopback, the service on PostgreSQL.

The scheduler and the event fencing are checked on their own first (fast). The slow test runs a head without
CPUs and two worker nodes of one CPU each (``ray.cluster_utils.Cluster``), the real GStreamer RTSP server and a
real PostgreSQL, and goes through the first slice of issue 12 end to end: every camera runs on exactly one
worker; a live view through the control plane plays, on a socket and on a tile of the wall page in Chromium; a
real case is raised by the analysed camera's worker; the node owning a watched camera is removed → the camera
runs on the surviving worker, the live view ends with 1012 and plays again once reconnected, and the page's tile
reconnects by itself and plays again; the case is still there; an event under the old epoch is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from settings.errors import ConfigError
from streams.config import CameraConfig
from streams.devserver.rtsp import RtspDevServer
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, open_page
from tests.case_helpers import event_change
from tests.cluster_helpers import (
    ANALYTICS,
    SMALL_NODE,
    camera_states,
    cluster_server_yaml,
    ends_with_restart,
    metric_samples,
    named,
    open_live,
    plays,
    plays_again,
    ray_cluster,
    ray_module_cluster,
    sample,
    three_cameras,
)
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.pg import database_url
from vision.rules_config import CameraRules
from wall.cluster.ingress import EventIngress
from wall.cluster.leader import LeaderLock, lock_key
from wall.cluster.ledger import CounterLedger
from wall.cluster.messages import EvidenceFile, WorkerEvent
from wall.cluster.scheduler import Assignment, Scheduler, camera_cost
from wall.config import load_config
from wall.runtime.models import AnalyticsCounters, DetectorCounters, PipelineCounters

__all__ = ["ray_cluster", "ray_module_cluster"]  # the module's fixtures, from the shared helpers

T = TypeVar("T")



# -- the parts on their own ------------------------------------------------------------------------------------


def test_cluster_mode_refuses_sqlite(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text("cameras:\n  - {id: a, name: A, url: 'rtsp://10.0.0.1/x'}\n")
    (tmp_path / "server.yaml").write_text("cluster: {address: '10.0.0.5:6379'}\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.problems == [f"{tmp_path / 'server.yaml'}: server.database_url: cluster mode needs PostgreSQL "
                                  "(postgresql+psycopg://…), not SQLite in data_dir"]
    (tmp_path / "server.yaml").write_text("cluster: {address: '10.0.0.5:6379'}\n"
                                          "server: {database_url: 'postgresql+psycopg://u:p@db/citywall'}\n")
    cluster = load_config(tmp_path).server_file.cluster
    assert cluster is not None and (cluster.address, cluster.namespace) == ("10.0.0.5:6379", "citywall")


def test_serve_cluster_flag_refuses_sqlite_and_one_box_never_imports_ray(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text("cameras:\n  - {id: a, name: A, url: 'rtsp://10.0.0.1/x'}\n")
    (tmp_path / "server.yaml").write_text(f"server: {{data_dir: '{tmp_path / 'data'}'}}\n")
    # One interpreter: `serve --cluster` on SQLite stops before anything starts; then the single-box app is
    # built (cameras created, not started) without Ray ever being imported.
    script = f"""
import contextlib, io, sys
from wall.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["serve", "--config", {str(tmp_path)!r}, "--cluster", "10.0.0.5:6379"])
print(code, err.getvalue().splitlines()[1].strip())
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["cluster", "status", "--config", {str(tmp_path)!r}])
print(code, err.getvalue().strip())
from wall.app import create_app
from wall.config import load_config
create_app(load_config({str(tmp_path)!r}))
print("ray" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"2 {tmp_path / 'server.yaml'}: server.database_url: cluster mode needs PostgreSQL "
        "(postgresql+psycopg://…), not SQLite in data_dir",
        "2 citywall: not a cluster site: no cluster: in server.yaml (or --cluster ADDRESS)", "False"]


def test_scheduler_balances_by_cost_and_moves_only_orphans() -> None:
    plain = CameraConfig(id="x", name="X", url="rtsp://10.0.0.1/x")
    analysed = CameraRules.model_validate({"zones": [{"id": "z", "family": "street_stall", "code": "0501",
                                                      "polygon": [[0, 0], [1, 0], [1, 1]]}]})
    assert camera_cost(plain, analysed) == 3 * camera_cost(plain, CameraRules())
    scheduler = Scheduler(epoch_base=100)
    costs = {"big": 3.0, "a": 1.0, "b": 1.0, "c": 1.0}
    placed = scheduler.plan(costs, ["w1", "w2"])
    assert sorted(a.camera_id for a in placed) == ["a", "b", "big", "c"]
    assert len({a.epoch for a in placed}) == 4 and min(a.epoch for a in placed) > 100
    assert scheduler.loads(["w1", "w2"]) == {"w1": 3.0, "w2": 3.0}
    owners = {a.camera_id: a for a in scheduler.assignments()}
    assert scheduler.plan(costs, ["w1", "w2", "w3"]) == []  # a new worker takes nothing from running cameras
    gone = owners["big"].worker
    moved = scheduler.plan(costs, [w for w in ("w1", "w2", "w3") if w != gone])
    assert {a.camera_id for a in moved} == {"big"} and moved[0].worker == "w3"  # onto the least loaded
    assert moved[0].epoch > max(a.epoch for a in owners.values())
    assert all(scheduler.owner(cam) == owners[cam] for cam in ("a", "b", "c") if owners[cam].worker != gone)
    assert scheduler.plan({"a": 1.0}, ["w3"]) and scheduler.owner("b") is None  # cameras no longer wanted


def test_scheduler_rebalances_onto_a_worker_that_joined() -> None:
    scheduler = Scheduler(epoch_base=0)
    costs = {"big": 3.0, "a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    scheduler.plan(costs, ["w1"])
    moved = scheduler.plan(costs, ["w1", "w2"], rebalance=True)
    # 7 on w1 and 0 on w2: the big camera moves (gap 7 → 1), then nothing narrows the gap further.
    assert [a.camera_id for a in moved] == ["big"] and scheduler.loads(["w1", "w2"]) == {"w1": 4.0, "w2": 3.0}
    assert scheduler.plan(costs, ["w1", "w2"], rebalance=True) == []  # balanced: nothing moves again
    moved = scheduler.plan(costs, ["w1", "w2", "w3"], rebalance=True)
    assert {a.worker for a in moved} == {"w3"} and max(scheduler.loads(["w1", "w2", "w3"]).values()) == 3.0


def test_scheduler_adopts_what_running_workers_hold() -> None:
    scheduler = Scheduler(epoch_base=0)
    claims = [Assignment(camera_id="a", worker="w1", epoch=50), Assignment(camera_id="a", worker="w2", epoch=40),
              Assignment(camera_id="b", worker="w2", epoch=41)]
    assert scheduler.adopt(claims) == [claims[1]]  # of two claims to one camera the newer epoch wins
    assert scheduler.owner("a") == claims[0] and scheduler.owner("b") == claims[2]
    assert scheduler.plan({"a": 1.0, "b": 1.0}, ["w1", "w2"]) == []  # adopted cameras stay where they run
    placed = scheduler.plan({"a": 1.0, "b": 1.0, "c": 1.0}, ["w1", "w2"])
    assert [a.epoch > 50 for a in placed] == [True]


def counters(frames: int) -> AnalyticsCounters:
    pipeline = PipelineCounters(frames_in=frames, frames_analysed=frames, frames_reused=0, frames_dropped=0,
                                events=frames // 10, analyse_seconds=frames / 100)
    detector = DetectorCounters(model="m", providers=["CPUExecutionProvider"], dynamic_batch=False, frames=frames,
                                runs=frames, inference_seconds=frames / 10, preprocess_seconds=0.0,
                                postprocess_seconds=0.0)
    return AnalyticsCounters(pipeline=pipeline, detector=detector)


def test_ledger_keeps_the_clusters_counters_from_falling() -> None:
    """Summing only the workers alive now made /metrics' totals fall when one left or restarted in place."""
    ledger = CounterLedger()
    assert ledger.total(["w1"]) is None
    ledger.observe("w1", "i1", counters(100))
    ledger.observe("w2", "j1", counters(40))
    first = ledger.total(["w1", "w2"])
    assert first is not None and (first.detector.frames, first.pipeline.events) == (140, 14)
    ledger.observe("w1", "i2", counters(5))  # Ray restarted w1's process: the new one counts from 0
    assert ledger.total(["w1", "w2"]).detector.frames == 145  # type: ignore[union-attr]
    ledger.observe("w1", "i2", counters(9))  # the same incarnation counting on replaces its last report
    assert ledger.total(["w1", "w2"]).detector.frames == 149  # type: ignore[union-attr]
    assert ledger.total(["w1"]).detector.frames == 149  # type: ignore[union-attr]  # w2 left: still counted
    ledger.observe("w3", "k1", counters(1))
    last = ledger.total(["w1", "w3"])
    assert last is not None and last.detector.frames == 150 and last.detector.inference_seconds == 15.0


def worker_event(evidence: Path, camera: str, epoch: int, seq: int = 1) -> WorkerEvent:
    change = event_change(evidence, camera=camera)
    files = [EvidenceFile(kind=kind, name=Path(path).name, data=Path(path).read_bytes())
             for kind, path in change.evidence.items()]
    return WorkerEvent(seq=seq, camera_id=camera, epoch=epoch, change=change, files=files)


def test_ingress_fences_stale_epochs_and_stores_evidence_before_telling(tmp_path: Path) -> None:
    scheduler = Scheduler(epoch_base=0)
    scheduler.plan({"cam": 1.0}, ["w1"])
    epoch = scheduler.epoch("cam")
    assert epoch is not None
    ingress = EventIngress(scheduler, tmp_path / "evidence")
    told: list[tuple[str, bool]] = []
    ingress.listeners.append(lambda c: told.append((c.event_id, Path(c.evidence["snapshot"]).is_file())))
    fresh = worker_event(tmp_path / "worker", "cam", epoch)
    assert ingress.accept(fresh) and told == [(fresh.change.event_id, True)]
    assert Path(fresh.change.evidence["snapshot"]).parent == tmp_path / "evidence"
    assert ingress.evidence_owner(Path(fresh.change.evidence["snapshot"]).name) == "cam"
    assert not ingress.accept(worker_event(tmp_path / "worker", "cam", epoch - 1, seq=2))  # a previous owner
    assert not ingress.accept(worker_event(tmp_path / "worker", "other", epoch, seq=3))  # never assigned
    forged = worker_event(tmp_path / "worker", "cam", epoch, seq=4)
    forged.files[0].data += b"x"
    assert not ingress.accept(forged)  # bytes that do not match their content-hash name
    assert len(told) == 1 and (ingress.accepted, ingress.stale) == (1, 2)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own in a fresh thread: the session's Playwright browser keeps an event
    loop running on the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_worker_queues_events_until_acknowledged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's event queue without Ray: tagged with the epoch, evidence bytes attached, batches of
    PULL_BATCH, forgotten once acknowledged, bounded in bytes."""
    from wall.cluster import worker as worker_module

    (tmp_path / "cameras.yaml").write_text("cameras:\n  - {id: a, name: A, url: 'rtsp://10.0.0.1/x'}\n")
    worker = worker_module.CameraWorker(load_config(tmp_path), "w", "node")
    try:
        worker.epochs["cam"] = 7
        worker._on_event(event_change(tmp_path / "ev", camera="other"))  # not held here: not queued
        changes = [event_change(tmp_path / "ev", camera="cam") for _ in range(worker_module.PULL_BATCH + 5)]
        for change in changes:
            worker._on_event(change)
        own = worker.incarnation
        first = run_async(worker.pull(0, 0.1, own)).events
        assert [e.seq for e in first] == list(range(1, worker_module.PULL_BATCH + 1))
        assert {e.epoch for e in first} == {7} and first[0].change.snapshot_jpeg is None
        assert first[0].files[0].data == Path(changes[0].evidence["snapshot"]).read_bytes()
        # An acknowledgement of a previous incarnation (Ray restarted the actor in place) acknowledges nothing.
        assert run_async(worker.pull(first[-1].seq, 0.1, "previous")).events == first
        rest = run_async(worker.pull(first[-1].seq, 0.1, own)).events
        assert [e.change.event_id for e in rest] == [c.event_id for c in changes[-5:]]
        assert run_async(worker.pull(rest[-1].seq, 0.1, own)).events == []
        monkeypatch.setattr(worker_module, "EVENT_QUEUE_BYTES", 1)  # a control plane that collects nothing
        worker._on_event(changes[0])
        worker._on_event(changes[1])
        assert worker._events == deque() and worker._queued_bytes == 0
    finally:
        run_async(worker.stop())


# -- a real cluster ----------------------------------------------------------------------------------------------


# The first tile's video on the wall page (Chromium): it has decoded frames and its clock passed `after` seconds;
# its clock; the stream it plays (each stream the tile starts is a MediaSource with a blob URL of its own).
TILE_VIDEO = '#wall [data-testid="tile"][data-index="0"] video'
TILE_PLAYS = f"""(after) => {{
  const v = document.querySelector('{TILE_VIDEO}');
  return !!v && v.currentTime > after && v.getVideoPlaybackQuality().totalVideoFrames > 0;
}}"""
TILE_TIME = f"""() => document.querySelector('{TILE_VIDEO}').currentTime"""
TILE_STREAM = f"""() => document.querySelector('{TILE_VIDEO}').src"""


@pytest.mark.slow
def test_cameras_on_a_ray_cluster_survive_the_loss_of_a_node(
        ray_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path, page: Any, page_errors: list[str]) -> None:
    import ray

    from wall.cluster.status import print_status

    started = time.monotonic()
    cameras = three_cameras(rtsp)
    server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-test")
    site = serve_site(cameras, server, ANALYTICS)
    runtime = site.app.state.services.runtime
    client: httpx.Client = site.client(timeout=20)
    # The recording storage carries the control plane's mark: a worker records only where it finds it.
    assert (tmp_path / "data" / "recordings" / ".citywall-storage").is_file()

    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 60, 0.5), camera_states(client)
    # Every camera runs on exactly one worker, and both workers run cameras (once each worker's report, which
    # follows its assignments by a report period, names them).
    assert wait_until(lambda: sorted(cam for s in runtime.pool.slots() if s.report for cam in s.report.owned)
                      == ["lobby", "lot", "shop"], 20, 0.2)
    reports = {slot.key: slot.report for slot in runtime.pool.slots()}
    assert len(reports) == 2
    owned = [cam for report in reports.values() for cam in report.owned]
    assert sorted(owned) == ["lobby", "lot", "shop"]
    owners = {a.camera_id: a for a in runtime.scheduler.assignments()}
    assert {cam: reports[a.worker].owned[cam] for cam, a in owners.items()} == {c: a.epoch for c, a in owners.items()}
    assert {a.worker for a in owners.values()} == set(reports)

    # Where each camera runs: /api/cameras names its worker and node; /metrics has a series per worker and per
    # node, from the workers' reports.
    nodes = {key: report.node_id[:8] for key, report in reports.items()}
    listed = {c["id"]: (c["worker"], c["node"], c["node_ip"]) for c in client.get("/api/cameras").json()}
    assert listed == {cam: (a.worker, nodes[a.worker], "127.0.0.1") for cam, a in owners.items()}
    assert client.get("/api/cameras/lot").json()["node"] == nodes[owners["lot"].worker]
    scraped = metric_samples(site)
    for key, report in reports.items():
        labels = {"worker": key, "node": nodes[key]}
        assert sample(scraped, "citywall_worker_cameras", **labels) == len(report.owned)
        assert (sample(scraped, "citywall_worker_cpu_seconds_total", **labels) or 0) > 0.5  # a detector loaded
        assert (sample(scraped, "citywall_worker_resident_memory_bytes", **labels) or 0) > 50e6
        assert sample(scraped, "citywall_worker_detector_waiting_frames", **labels) in (0.0, 1.0)
        assert sample(scraped, "citywall_worker_pending_events", **labels) is not None
        assert (sample(scraped, "citywall_worker_report_age_seconds", **labels) or 9) < 3
        assert sample(scraped, "citywall_worker_info", **labels, node_ip="127.0.0.1", pid=str(report.pid),
                      incarnation=report.incarnation, detector_actor="") == 1, "no GPU: detects on its own CPU"
        assert sample(scraped, "citywall_worker_detector_fallbacks_total", **labels) == 0
    assert sorted(lab["node"] for lab in named(scraped, "citywall_node_up")) == sorted(
        n["NodeID"][:8] for n in ray.nodes())
    assert sum(v for (n, _), v in scraped.items() if n == "citywall_node_cameras") == 3
    assert {lab["camera"]: lab["worker"] for lab in named(scraped, "citywall_camera_worker")} == {
        cam: a.worker for cam, a in owners.items()}
    # The admin console's camera health shows the node (its column exists only in cluster mode).
    open_page(page, site, "/admin#cameras")
    lot_node = '[data-testid="camera-row"][data-camera="lot"] [data-testid="camera-node"]'
    page.wait_for_function("([sel, node]) => (document.querySelector(sel)?.textContent || '').endsWith(node)",
                           arg=[lot_node, nodes[owners["lot"].worker]], polling=250, timeout=STATE_TIMEOUT_MS)
    assert page.locator(lot_node).inner_text() == f"127.0.0.1 · {nodes[owners['lot'].worker]}"
    assert page.locator(lot_node).get_attribute("data-worker") == owners["lot"].worker
    assert page.locator('[data-testid="camera-node-head"]').is_visible() and page_errors == []

    # `citywall cluster status` (its printing, on this driver's connection): every worker with its cameras.
    shown = io.StringIO()
    assert print_status(runtime.settings, shown) == 0
    lines = shown.getvalue().splitlines()
    assert sum(line.startswith("node ") for line in lines) == 3
    workers = [line for line in lines if line.startswith("worker ")]
    assert len(workers) == 2 and all("live (epoch " in line for line in workers), lines
    assert sorted(cam for line in workers for cam in ("lobby", "lot", "shop") if f" {cam} live" in line) == [
        "lobby", "lot", "shop"]

    # Grants hold for views served from workers: the control plane checks them as on one box.
    site.add_user("shop-viewer", grants=("shop",))
    with open_live(site, "lot", "shop-viewer") as ws:
        assert ends_with_restart(ws) == 4404
    with open_live(site, "shop", "shop-viewer") as ws:
        plays(ws)

    # The wall page in Chromium plays "lot" on a tile of the admin's seat, from the worker that owns it.
    seat = client.put("/api/walls/@me/tiles/0", json={"camera": "lot"}, headers={"Origin": site.origin})
    assert seat.status_code == 200, seat.text
    open_page(page, site, "/")
    page.wait_for_function(TILE_PLAYS, arg=1.0, timeout=PLAY_TIMEOUT_MS, polling=250)

    with open_live(site, "lot") as ws:
        plays(ws)
        # A real case, raised by the lobby's worker (a visitor at the table), committed on PostgreSQL.
        assert wait_until(lambda: client.get("/api/cases").json()["total"] > 0, 90, 1.0)
        case = client.get("/api/cases").json()["items"][0]
        assert case["camera"] == "lobby"
        detail = client.get(f"/api/cases/{case['id']}").json()
        assert detail["evidence"] and client.get(detail["evidence"][0]["url"]).status_code == 200

        # The node running the watched camera leaves the cluster: the view ends with 1012 (the page reconnects)
        # and the camera runs on the surviving worker under a new epoch.
        before = owners["lot"]
        node = next(n for n in ray_cluster.worker_nodes if n.node_id == runtime.pool.slot(before.worker).node_id)
        first_stream = page.evaluate(TILE_STREAM)
        lost = time.monotonic()
        ray_cluster.remove_node(node)
        assert ends_with_restart(ws) == 1012
    assert wait_until(lambda: (runtime.scheduler.owner("lot") or before).worker != before.worker, 30, 0.2)
    after = runtime.scheduler.owner("lot")
    assert after is not None and after.epoch > before.epoch and after.worker in reports
    plays_again(site, "lot")
    # The tile reconnected by itself: a new stream (a new MediaSource, from the new worker's init) whose clock
    # moves on by a second from where it stood once it was in.
    page.wait_for_function("([old, sel]) => { const v = document.querySelector(sel); return !!v && !!v.src "
                           "&& v.src !== old && v.getVideoPlaybackQuality().totalVideoFrames > 0; }",
                           arg=[first_stream, TILE_VIDEO], timeout=PLAY_TIMEOUT_MS, polling=250)
    standing = page.evaluate(TILE_TIME)
    page.wait_for_function(TILE_PLAYS, arg=standing + 1.0, timeout=PLAY_TIMEOUT_MS, polling=250)
    moved = time.monotonic() - lost
    assert moved < 30, moved
    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 30, 0.5), camera_states(client)
    scraped = metric_samples(site)
    assert sample(scraped, "citywall_node_up", node=node.node_id[:8], node_ip="127.0.0.1") == 0
    assert {lab["worker"] for lab in named(scraped, "citywall_worker_cameras")} == {after.worker}
    assert sample(scraped, "citywall_worker_cameras", worker=after.worker, node=nodes[after.worker]) == 3

    # The case raised before the loss is still there; an event under the old epoch (the lost worker's, had it
    # come back) is dropped and raises nothing.
    assert client.get(f"/api/cases/{case['id']}").json()["status"] == case["status"]
    total = client.get("/api/cases").json()["total"]
    stale = worker_event(tmp_path / "stale", "lot", before.epoch)
    assert not runtime.ingress.accept(stale)
    assert client.get("/api/cases").json()["total"] == total
    assert client.get("/api/cases", params={"camera": "lot"}).json()["total"] == 0

    # The surviving worker's process is killed: the API keeps answering (its cameras show as connecting), a
    # new worker starts on the same node and the cameras come back on it.
    survivor = runtime.pool.slot(after.worker)
    frames = sample(metric_samples(site), "citywall_analysis_frames_submitted_total") or 0
    assert frames > 0  # the lobby's looks, on the lost worker and the survivor
    ray.kill(survivor.actor)
    assert wait_until(lambda: runtime.pool.slot(after.worker) is None, 10, 0.1)
    asked = time.monotonic()
    assert set(camera_states(client)) == {"lobby", "lot", "shop"} and time.monotonic() - asked < 2
    # a new worker process: Ray starts it, it loads the detector and connects the cameras (38 s seen under load)
    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 75, 0.5), camera_states(client)
    assert {a.worker for a in runtime.scheduler.assignments()} == {s.key for s in runtime.pool.slots()} != {
        survivor.key}
    # The cluster's totals did not fall with the worker that went (the ledger keeps what it had counted).
    assert (sample(metric_samples(site), "citywall_analysis_frames_submitted_total") or 0) >= frames

    # A camera switched off in the editor stops on its worker; switched on again, it is placed and plays.
    registry = site.app.state.services.registry
    shop = registry.get("shop")
    registry.put_camera(shop.model_copy(update={"enabled": False}))
    assert "shop" not in camera_states(client) and runtime.scheduler.owner("shop") is None
    assert wait_until(lambda: all("shop" not in s.report.owned for s in runtime.pool.slots()), 10, 0.2)
    registry.put_camera(shop)
    assert runtime.scheduler.owner("shop") is not None
    plays_again(site, "shop")

    # A node joins: a worker starts there and takes cameras from the busy one, which play there.
    joined = ray_cluster.add_node(num_cpus=1, **SMALL_NODE)
    assert wait_until(lambda: len({a.worker for a in runtime.scheduler.assignments()}) == 2, 40, 0.2)
    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 30, 0.5), camera_states(client)
    newcomer = next(s.key for s in runtime.pool.slots() if s.node_id == joined.node_id)
    plays_again(site, next(a.camera_id for a in runtime.scheduler.assignments() if a.worker == newcomer))

    # A worker that hangs (SIGSTOP) is presumed dead after 5 s without a report: killed, its cameras move; the
    # API answers meanwhile from the last reports.
    hung = runtime.pool.slot(newcomer)
    os.kill(hung.report.pid, signal.SIGSTOP)
    try:
        asked = time.monotonic()
        assert set(camera_states(client)) == {"lobby", "lot", "shop"} and time.monotonic() - asked < 2
        # /metrics answers at once too, from the hung worker's last report, whose age grows.
        hung_labels = {"worker": newcomer, "node": hung.node_id[:8]}

        def ageing() -> bool:
            asked = time.monotonic()
            age = sample(metric_samples(site), "citywall_worker_report_age_seconds", **hung_labels)
            assert time.monotonic() - asked < 2
            return age is not None and age > 2

        assert wait_until(ageing, 4, 0.2)
        assert wait_until(lambda: newcomer not in {a.worker for a in runtime.scheduler.assignments()}, 20, 0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung.report.pid, signal.SIGCONT)
    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 30, 0.5), camera_states(client)

    print(f"cluster test: {time.monotonic() - started:.1f} s, camera moved and played again in {moved:.1f} s",
          file=sys.stderr)


# -- several control-plane replicas: one supervisor per namespace ------------------------------------------------


def advisory_holders(port: int) -> list[int]:
    """The server processes (sessions) holding an advisory lock now."""
    with psycopg.connect(database_url(port).replace("+psycopg", ""), autocommit=True) as conn:
        return [pid for (pid,) in conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")]


def terminate(port: int, pid: int) -> None:
    """End one server session, as a dropped connection would."""
    with psycopg.connect(database_url(port).replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_leader_lock_one_holder_and_a_follower_takes_over(postgres_server: int) -> None:
    """The lock without Ray, on a real PostgreSQL: one of two holders leads; its connection dropped → the
    other leads within a few seconds and the first follows; the leader stopped → the first leads again.
    Namespaces have their own locks."""
    from wall.cluster.status import control_planes

    conninfo = database_url(postgres_server).replace("+psycopg", "")
    first, second, other = (LeaderLock(conninfo, "ns-a", replica="cp-1"), LeaderLock(conninfo, "ns-a", replica="cp-2"),
                            LeaderLock(conninfo, "ns-b", replica="cp-3"))
    walls = LeaderLock(conninfo, "ns-a", purpose="walls", replica="cp-2")
    assert len({lock_key("ns-a"), lock_key("ns-b"), lock_key("ns-a", "walls")}) == 3
    try:
        first.start()
        assert first.wait_decided(10) and first.leading
        second.start()
        other.start()
        walls.start()
        assert second.wait_decided(10) and other.wait_decided(10) and walls.wait_decided(10)
        assert not second.leading and other.leading and walls.leading  # other namespace, other purpose: own locks
        assert len(advisory_holders(postgres_server)) == 3
        # `citywall cluster status` names the replicas and which one leads (no Ray: this part is PostgreSQL's).
        assert control_planes(database_url(postgres_server), "ns-a") == [
            "control plane cp-1 (127.0.0.1): supervising",
            "control plane cp-2 (127.0.0.1): following, stepping the walls' tours"]
        walls.stop()
        holder, = _lock_pids(postgres_server, "ns-a")
        dropped = time.monotonic()
        terminate(postgres_server, holder)
        assert wait_until(lambda: second.leading and not first.leading, 10, 0.05)
        took = time.monotonic() - dropped
        assert took < 4, took
        second.stop()  # gives the lock up: the first (reconnected, following) leads again
        assert wait_until(lambda: first.leading, 5, 0.05)
        assert (first.elections, second.elections, other.elections) == (2, 1, 1)
    finally:
        for lock in (first, second, other, walls):
            lock.stop()
    assert advisory_holders(postgres_server) == []


def _lock_pids(port: int, namespace: str) -> list[int]:
    """The session holding one namespace's lock (its key split as pg_locks shows it: classid, objid)."""
    key = lock_key(namespace) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(database_url(port).replace("+psycopg", ""), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s "
                            "AND objid = %s", (key >> 32, key & 0xFFFFFFFF)).fetchall()
    return [pid for (pid,) in rows]


@pytest.mark.slow
def test_one_supervisor_among_replicas_and_the_follower_takes_over(
        ray_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path) -> None:
    """Two control planes on one PostgreSQL and one namespace: only the lock holder spawns workers and places
    cameras; the follower answers the API, /metrics and live views from the workers' reports; the leader's
    database connection dropped → the follower supervises (the same workers, owners and epochs, no camera
    reconnects) and the old leader follows; the new leader stopped → the old one supervises again."""
    import ray

    from wall.cluster.worker_table import WORKER_PREFIX

    cameras = f"""
cameras:
  - {{id: lot, name: 停车场, url: "{rtsp.url('car')}"}}
  - {{id: shop, name: 商店, url: "{rtsp.url('bottle')}"}}
"""
    server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-replicas")
    a = serve_site(cameras, server)
    ra = a.app.state.services.runtime
    b = serve_site(cameras, server, admin=False)  # the same database: the admin exists already
    rb = b.app.state.services.runtime

    def states(site: LiveServer) -> dict[str, str]:
        return {c["id"]: c["state"] for c in site.client(timeout=20).get("/api/cameras").json()}

    def workers() -> list[str]:
        return sorted(e["name"] for e in ray.util.list_named_actors(all_namespaces=True)
                      if e["namespace"] == "citywall-replicas" and e["name"].startswith(WORKER_PREFIX))

    def table(runtime: Any) -> list[Assignment]:
        return sorted(runtime.scheduler.assignments(), key=lambda x: x.camera_id)

    assert ra.pool.leading and not rb.pool.leading
    assert wait_until(lambda: set(states(a).values()) == {"live"}, 60, 0.5), states(a)
    held, names = table(ra), workers()
    assert len(names) == 2 and len(held) == 2  # one worker per node: the follower spawned none
    # The follower mirrors the workers' reports: the same owners and epochs, every camera live with its node.
    assert wait_until(lambda: table(rb) == held and set(states(b).values()) == {"live"}, 20, 0.3), table(rb)
    listed = b.client().get("/api/cameras").json()
    assert {c["id"]: c["worker"] for c in listed} == {x.camera_id: x.worker for x in held}
    assert sample(metric_samples(a), "citywall_cluster_supervising") == 1
    follower_metrics = metric_samples(b)
    assert sample(follower_metrics, "citywall_cluster_supervising") == 0
    assert sum(v for (n, _), v in follower_metrics.items() if n == "citywall_worker_cameras") == 2
    with open_live(b, "lot") as ws:  # a live view through the follower, from the owner
        plays(ws)

    def counted(runtime: Any) -> dict[str, tuple[int, int]]:
        return {s.id: (s.health.packets, s.health.reconnects) for s in runtime.camera_statuses_now()}

    # The leader's database connection drops: its lock goes with it, the follower takes over.
    before = counted(ra)
    holders = _lock_pids(postgres_server, "citywall-replicas")  # (the walls' lock, wall.cluster.walls, stays)
    assert len(holders) == 1
    dropped = time.monotonic()
    terminate(postgres_server, holders[0])
    assert wait_until(lambda: rb.pool.leading and not ra.pool.leading, 15, 0.1)
    took = time.monotonic() - dropped
    assert table(rb) == held and workers() == names  # re-attached: nothing moved, nothing killed
    assert wait_until(lambda: rb.leader.leading and len(_lock_pids(postgres_server, "citywall-replicas")) == 1,
                      10, 0.2)
    now = counted(rb)
    assert all(now[cam][0] >= before[cam][0] and now[cam][1] == before[cam][1] for cam in now), (before, now)
    # The new leader places a camera switched off and on again (a new epoch); the old leader follows it.
    registry = b.app.state.services.registry
    shop = registry.get("shop")
    registry.put_camera(shop.model_copy(update={"enabled": False}))
    assert rb.scheduler.owner("shop") is None
    registry.put_camera(shop)
    placed = rb.scheduler.owner("shop")
    assert placed is not None and placed.epoch > max(x.epoch for x in held)
    assert wait_until(lambda: ra.scheduler.owner("shop") == placed, 15, 0.2), ra.scheduler.owner("shop")
    plays_again(a, "shop")

    # The new leader stops (its process gone, its lock released): the first replica supervises again.
    b.__exit__(None, None, None)
    stopped = time.monotonic()
    assert wait_until(lambda: ra.pool.leading, 10, 0.1)
    back = time.monotonic() - stopped
    assert table(ra) == table(rb) and workers() == names
    assert wait_until(lambda: set(states(a).values()) == {"live"}, 30, 0.5), states(a)
    print(f"replica test: the follower supervised {took:.1f} s after the leader's connection dropped, "
          f"{back:.1f} s after the leader stopped", file=sys.stderr)
