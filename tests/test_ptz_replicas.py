"""The return of a PTZ camera to its analysis preset across two control-plane replicas (issue 12): two real app
instances on real sockets and one PostgreSQL, one ONVIF test device (tests/peers/onvif_ptz.py). An operator
steers the camera through one replica and then the other; it goes back once, ``return_after`` after the last
command wherever it came from — not after the first replica's own last command, as the per-process timers did —
and both replicas then show it at its preset. Steered through one replica only, the camera goes back on time
also when that replica's return checks are stopped (as when it stops): the other claims the due return.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.peers.onvif_ptz import OnvifPtzDevice, Position
from tests.pg import database_url
from tests.test_access import audit_rows
from tests.test_ptz import PASSWORD_ENV, Mono, grant_ptz

RETURN_AFTER = 2  # minutes (the test's clock jumps)


@pytest.fixture
def device() -> Iterator[OnvifPtzDevice]:
    with OnvifPtzDevice(presets={"1": ("路口", Position(0.2, -0.1, 0.0))}) as d:
        yield d


def gotos(device: OnvifPtzDevice) -> int:
    return device.operations().count("GotoPreset")


def stop_returns(site: LiveServer) -> None:
    """Stop this replica's return checks, as its process ending would (its rows stay in the database)."""
    ptz = site.app.state.services.ptz
    assert ptz._ticker is not None
    ptz._ticker.get_loop().call_soon_threadsafe(ptz._ticker.cancel)
    assert wait_until(lambda: ptz._ticker is not None and ptz._ticker.done(), 5, 0.05)


@pytest.mark.slow
def test_the_camera_goes_back_once_after_the_last_command_on_any_replica(
        postgres_server: int, serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, device.password)
    cameras = f"""
cameras:
  - id: gate
    name: 东门路口
    url: 'rtsp://127.0.0.1:9/closed'
    ptz:
      address: {device.address}
      user: {device.user}
      password: "${{{PASSWORD_ENV}}}"
      analysis_preset: "1"
      return_after: {RETURN_AFTER}
      settle_seconds: 2
      lease_seconds: 600
"""
    server = f"""
server:
  data_dir: {tmp_path / 'data'}
  database_url: "{database_url(postgres_server)}"
"""
    a = serve_site(cameras, server)
    a.add_user("alice", "operator", grants=("gate",))
    grant_ptz(a, "alice", "gate")
    b = serve_site(cameras, server, admin=False)  # the same database: alice and her grants exist there too
    mono = Mono()
    for site in (a, b):
        site.app.state.services.ptz.clock = site.app.state.services.ptz.wall = mono
    on_a, on_b = a.client("alice", headers={"Origin": a.origin}), b.client("alice", headers={"Origin": b.origin})

    # Steered on A, then (a minute later) stopped on B: B shows it away, going back two minutes from B's command.
    assert on_a.post("/api/ptz/gate/move", json={"pan": -1}).json()["away"]
    assert on_a.post("/api/ptz/gate/stop").status_code == 200
    mono.now += 60
    stopped = on_b.post("/api/ptz/gate/stop")
    assert stopped.status_code == 200, stopped.text
    state = on_b.get("/api/ptz/gate").json()
    assert state["away"] and 110 < state["returns_in"] <= RETURN_AFTER * 60

    mono.now += 61  # two minutes after A's last command: A's own timer would have sent it back now
    assert not wait_until(lambda: gotos(device) > 0, 2.5), "sent back under the operator's hands"
    mono.now += 60  # two minutes after B's command
    assert wait_until(lambda: gotos(device) > 0, 15)
    assert not wait_until(lambda: gotos(device) > 1, 2.5), "sent back twice"
    assert device.calls[-1].args["PresetToken"] == "1"
    returned = [r for r in audit_rows(a, action="ptz.return") if r["success"]]
    assert len(returned) == 1 and returned[0]["user"] is None
    mono.now += 2  # settle_seconds: both replicas show it back at its preset, the idle lease gone with it
    for client in (on_a, on_b):
        assert wait_until(lambda c=client: not c.get("/api/ptz/gate").json()["away"], 10), client.base_url
    assert on_b.get("/api/ptz/gate").json()["holder"] is None

    # Steered on A only, and A's return checks stop: B, which never steered it, sends it back on time.
    assert on_a.post("/api/ptz/gate/move", json={"pan": 1}).json()["away"]
    assert on_a.post("/api/ptz/gate/stop").status_code == 200
    stop_returns(a)
    mono.now += RETURN_AFTER * 60 + 1
    assert wait_until(lambda: gotos(device) == 2, 15), gotos(device)
    assert len([r for r in audit_rows(b, action="ptz.return") if r["success"]]) == 2
    mono.now += 2
    assert wait_until(lambda: not on_b.get("/api/ptz/gate").json()["away"], 10)
