"""Cluster mode when processes die (issue 12's failure semantics), on a real Ray cluster on loopback with the real
GStreamer RTSP server, the real model and a real PostgreSQL: a worker's process killed → restarted in place by
Ray with its cameras back within 15 s; the control plane restarted → the workers keep running and it re-attaches;
the worker that is raising killed 20 times → every raise the control plane took is in the history once, and
each place stays one case."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from streams.devserver.rtsp import RtspDevServer
from tests.cluster_helpers import (
    ANALYTICS,
    camera_states,
    cluster_server_yaml,
    metric_samples,
    named,
    plays_again,
    ray_cluster,
    ray_module_cluster,
    sample,
    three_cameras,
)
from tests.conftest import SiteStarter, wait_until
from wall.cluster.messages import WorkerEvent

__all__ = ["ray_cluster", "ray_module_cluster"]  # the module's fixtures, from the shared helpers


@pytest.mark.slow
def test_workers_outlive_their_process_and_the_control_plane(
        ray_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path) -> None:
    """Failure semantics (issue 12): a worker's process killed with SIGKILL → Ray restarts the actor on its node
    (``max_restarts``), the control plane tells it its cameras again under the same epochs and they are back
    within 15 s without moving; the control plane restarted → the workers keep running (detached named actors),
    the new control plane re-attaches and no camera reconnects."""
    cameras = three_cameras(rtsp)
    server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-failures")
    site = serve_site(cameras, server, ANALYTICS)
    runtime = site.app.state.services.runtime
    client: httpx.Client = site.client(timeout=20)

    assert wait_until(lambda: set(camera_states(client).values()) == {"live"}, 60, 0.5), camera_states(client)
    held = sorted(runtime.scheduler.assignments(), key=lambda a: a.camera_id)
    victim = max(runtime.pool.slots(), key=lambda s: len(s.report.owned))
    pid, cams, incarnation = victim.report.pid, sorted(victim.report.owned), victim.incarnation

    def restarted() -> bool:
        slot = runtime.pool.slot(victim.key)
        return (slot is not None and slot.report is not None and slot.report.pid != pid
                and sorted(slot.report.owned) == cams
                and all(camera_states(client)[cam] == "live" for cam in cams))

    frames = sample(metric_samples(site), "citywall_analysis_frames_submitted_total") or 0
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    assert wait_until(restarted, 15, 0.2), (camera_states(client), runtime.pool.slot(victim.key))
    back = time.monotonic() - killed
    # Restarted in place: the same worker, nothing moved, the same epochs; its live views play again.
    assert sorted(runtime.scheduler.assignments(), key=lambda a: a.camera_id) == held
    assert runtime.pool.slot(victim.key).restarts == 1
    # /metrics: one restart, the new process' incarnation; the cluster's totals kept the dead process' counts.
    scraped = metric_samples(site)
    labels = {"worker": victim.key, "node": victim.node_id[:8]}
    assert sample(scraped, "citywall_worker_restarts_total", **labels) == 1
    report = runtime.pool.slot(victim.key).report
    assert [lab["incarnation"] for lab in named(scraped, "citywall_worker_info") if lab["worker"] == victim.key] == [
        report.incarnation] != [incarnation]
    assert (sample(scraped, "citywall_analysis_frames_submitted_total") or 0) >= frames
    plays_again(site, cams[0])

    # The control plane restarts: the workers keep their cameras (no session restarts), the new control plane
    # re-attaches to them under the same epochs.
    def counted() -> dict[str, tuple[int, int]]:  # a session's packet counter only grows; reconnects stay put
        return {s.id: (s.health.packets, s.health.reconnects) for s in runtime.camera_statuses_now()}

    assert wait_until(lambda: min(p for p, _ in counted().values()) > 100, 30, 0.5), counted()
    packets = counted()
    site.__exit__(None, None, None)
    site = serve_site(cameras, server, ANALYTICS, admin=False)
    runtime, client = site.app.state.services.runtime, site.client(timeout=20)
    assert sorted(runtime.scheduler.assignments(), key=lambda a: a.camera_id) == held
    now = counted()
    assert now.keys() == packets.keys(), (packets, now)
    assert all(now[cam][0] >= packets[cam][0] and now[cam][1] == packets[cam][1] for cam in now), (packets, now)
    assert set(camera_states(client).values()) == {"live"}
    plays_again(site, "lot")
    print(f"failure test: a killed worker process was back in {back:.1f} s", file=sys.stderr)



KILL_ROUNDS = 20
KILL_CAMERAS = ("lobby", "hall")  # the same visitor on two cameras, each on a worker node of its own
KILL_ANALYTICS = "cameras:\n" + "".join(f"""  {cam}:
    zones:
      - id: table
        family: street_stall
        code: "0501"
        require_object: false
        polygon: [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]]
        dwell_seconds: 1
        grace_seconds: 4
        clear_after_seconds: 6
        alarm_interval_seconds: 5
        confirm: {{hits: 1, looks: 1}}
""" for cam in KILL_CAMERAS)
# The cameras watch conftest's ``visit`` mount (one visitor looped at the table), so a restarted worker finds the
# visitor there at once. On the whole clip a round also waited out the gaps between visitors (up to 40 s a round,
# and 360 s were not enough for the 20 rounds under load); here a round is the restart and the raise (~11 s on the
# loaded 2-core machine, against 14–40 s).


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_worker_killed_during_a_raise_twenty_times_loses_no_case_and_makes_none_twice(
        ray_cluster: Any, rtsp: RtspDevServer, serve_site: SiteStarter, postgres_server: int,
        tmp_path: Path) -> None:
    """Issue 12: SIGKILL of the worker process that is raising, 20 times (10 on each of two workers, at once).
    Each kill lands while the control plane holds the worker's event (pulled, not yet acknowledged): half just
    before the commit, half just after it, so the worker never hears that its raise was taken. Ray restarts the
    process in place; the camera comes back, the visitor is still at the table and the worker raises again (a
    new event). Every raise the control plane took is in the case history exactly once, and each camera's place
    stays one case: none lost, none made twice."""
    from wall.store.cases import Case, CaseEvent

    cameras = "cameras:\n" + "".join(
        f'  - {{id: {cam}, name: {cam}, url: "{rtsp.url("visit")}", analysis_interval: 0.5}}\n'
        for cam in KILL_CAMERAS)
    server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-kills")
    site = serve_site(cameras, server, KILL_ANALYTICS)
    runtime = site.app.state.services.runtime
    taken: dict[str, list[str]] = {cam: [] for cam in KILL_CAMERAS}  # the raises committed with a kill
    # the raises committed without one: the visitor stays after the last kill, and its restarted worker raises again
    other: dict[str, list[str]] = {cam: [] for cam in KILL_CAMERAS}
    killed: set[int] = set()
    real_accept = runtime.ingress.accept
    rounds = KILL_ROUNDS // len(KILL_CAMERAS)
    intake = threading.Lock()  # held while the history is read: no raise is committed but not yet counted

    def accept_and_kill(event: WorkerEvent) -> bool:
        with intake:
            owner = runtime.scheduler.owner(event.camera_id)
            slot = runtime.pool.slot(owner.worker) if owner else None
            pid = slot.report.pid if slot is not None and slot.report is not None else None
            if (event.change.kind != "opened" or pid is None or pid in killed
                    or len(taken[event.camera_id]) >= rounds):
                ok = real_accept(event)
                if ok and event.change.kind == "opened":
                    other[event.camera_id].append(event.change.event_id)
                return ok
            before = len(killed) % 2 == 0
            if before:
                os.kill(pid, signal.SIGKILL)
            ok = real_accept(event)
            if not before:
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            if ok:
                taken[event.camera_id].append(event.change.event_id)
            return ok

    started = time.monotonic()
    assert wait_until(lambda: len({getattr(runtime.scheduler.owner(cam), "worker", None)
                                   for cam in KILL_CAMERAS} - {None}) == 2, 60, 0.2)
    runtime.ingress.accept = accept_and_kill  # the collector calls it for every event it pulled
    assert wait_until(lambda: len(killed) >= KILL_ROUNDS, 360, 0.5), (len(killed), taken)
    took = time.monotonic() - started
    client: httpx.Client = site.client(timeout=20)
    assert wait_until(lambda: {c["state"] for c in client.get("/api/cameras").json()} == {"live"}, 30, 0.5)

    # every raise had the camera's current epoch (the restarts kept it in place), and each is in the history once
    assert {cam: len(ids) for cam, ids in taken.items()} == {cam: rounds for cam in KILL_CAMERAS}
    with intake, site.app.state.services.db.session() as s:
        rows = list(s.scalars(select(Case)))
        cases = {c.id: c.camera_id for c in rows}
        history = list(s.scalars(select(CaseEvent).where(CaseEvent.action.in_(("raised", "seen_again")))))
        committed = {cam: taken[cam] + other[cam] for cam in KILL_CAMERAS}
    # one case per camera's place: a raise after a restart joins the case of its place. (A restart that takes
    # long under load may first see the visitor walking in, in another cell: another place, rightly its own case.)
    places = [(c.camera_id, c.zone_id, c.place) for c in rows]
    assert len(places) == len(set(places)) and set(cases.values()) == set(KILL_CAMERAS), places
    for cam in KILL_CAMERAS:
        seen = [e.detail["event_id"] for e in history if cases[e.case_id] == cam]
        assert sorted(seen) == sorted(committed[cam]) and len(set(seen)) == len(seen), (cam, seen, committed[cam])
        assert set(taken[cam]) <= set(seen) and len(set(taken[cam])) == rounds, (cam, seen, taken[cam])
    print(f"kill test: {KILL_ROUNDS} kills during a raise in {took:.0f} s", file=sys.stderr)
