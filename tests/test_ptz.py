"""PTZ (遥控): the ONVIF driver, the rights, the one-operator lease, the audit and the return to the analysis preset,
through the real app over real sockets.

No ONVIF camera can be had on this machine, so ``tests/peers/onvif_ptz.py`` stands in for one: a small real
SOAP-over-HTTP server that keeps a pan/tilt/zoom state and presets, checks the WS-Security digest of every
request, and implements only the calls citywall makes. citywall reaches it with the library it uses for real
cameras (onvif-zeep-async and its bundled WSDLs).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from websockets.sync.client import connect

from streams.config import CameraConfig
from streams.devserver.rtsp import free_port
from streams.ptz_config import PtzConfig
from tests.conftest import ADMIN, LiveServer, SiteStarter, run_async, wait_until
from tests.peers.onvif_ptz import PROFILE, OnvifPtzDevice, Position
from tests.test_access import audit_rows
from wall.demo import MEDIA
from wall.errors import Conflict, Forbidden
from wall.ptz.driver import Preset, PtzDeviceError, Velocity
from wall.ptz.leases import LeaseBook
from wall.ptz.onvif import OnvifDriver
from wall.store.db import open_database

PASSWORD_ENV = "CITYWALL_CAM_PTZ_PASSWORD"
ANALYSIS_PRESET = Position(0.2, -0.1, 0.0)


class Mono:
    """The PTZ service's clock, moved by the test (leases and returns are minutes long)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def device() -> Iterator[OnvifPtzDevice]:
    with OnvifPtzDevice(presets={"1": ("路口", ANALYSIS_PRESET), "2": ("停车场", Position(-0.6, 0.0, 0.3))}) as d:
        yield d


def ptz_cameras(device: OnvifPtzDevice, *, return_after: float = 5.0, settle: float = 2.0, lease: float = 60.0) -> str:
    return f"""
cameras:
  - id: gate
    name: 东门路口
    url: "file:{MEDIA / 'car-detection.mp4'}"
    ptz:
      address: {device.address}
      user: {device.user}
      password: "${{{PASSWORD_ENV}}}"
      analysis_preset: "1"
      return_after: {return_after}
      settle_seconds: {settle}
      lease_seconds: {lease}
  - id: plain
    name: 西门
    url: "file:{MEDIA / 'bottle-detection.mp4'}"
"""


def grant_ptz(site: LiveServer, user: str, camera: str) -> None:
    from wall.auth import grants
    from wall.auth.principal import GrantRight

    configured = [c.id for c in site.app.state.services.site.cameras]
    with site.db.session() as s:
        grants.add_grant(s, grants.Subject.parse(user), grants.Target.parse(camera), configured, by="test",
                         right=GrantRight.PTZ)


def ptz_site(serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             analytics: str = "", **options: float) -> tuple[LiveServer, Mono]:
    """The app with camera ``gate`` on the test device; alice and bob operators who may steer it, carol an operator
    who may only watch it, dan a viewer holding the ptz grant (a viewer's role may not steer)."""
    monkeypatch.setenv(PASSWORD_ENV, device.password)
    site = serve_site(ptz_cameras(device, **options), f"server:\n  data_dir: {tmp_path / 'data'}\n", analytics)
    for name, role in (("alice", "operator"), ("bob", "operator"), ("carol", "operator"), ("dan", "viewer")):
        site.add_user(name, role, grants=("gate",))
    for name in ("alice", "bob", "dan"):
        grant_ptz(site, name, "gate")
    mono = Mono()
    site.app.state.services.ptz.clock = site.app.state.services.ptz.wall = mono
    return site, mono


# -- the driver and the device --------------------------------------------------------------------------------------


def test_onvif_driver_steers_the_test_device(device: OnvifPtzDevice) -> None:
    config = PtzConfig(address=device.address, user=device.user, password=device.password)

    async def steer() -> tuple[list[Preset], Position, Preset]:
        driver = OnvifDriver("gate", config)
        try:
            presets = await driver.presets()
            await driver.move(Velocity(pan=1.0, zoom=0.5), timeout_seconds=5)
            await asyncio.sleep(0.5)
            moving = await driver.position()
            assert moving is not None and moving.moving and moving.pan > 0.1 and moving.zoom > 0.05
            await driver.stop()
            stopped = await driver.position()
            assert stopped is not None and not stopped.moving
            saved = await driver.set_preset("新位置")
            await driver.home()
            home = await driver.position()
            assert home is not None and (home.pan, home.tilt, home.zoom) == (0, 0, 0)
            await driver.goto_preset(saved.token)
            back = await driver.position()
            assert back is not None and abs(back.pan - stopped.pan) < 1e-3
            return presets, Position(stopped.pan, stopped.tilt, stopped.zoom), saved
        finally:
            await driver.close()

    presets, stopped, saved = run_async(steer())
    assert presets == [Preset(token="1", name="路口"), Preset(token="2", name="停车场")]
    assert device.presets[saved.token].name == "新位置"
    assert abs(device.presets[saved.token].position.pan - stopped.pan) < 1e-3
    # every request was signed by the configured user, and the profile steered is the one with PTZ
    assert {c.user for c in device.calls} == {device.user}
    assert {c.args["ProfileToken"] for c in device.calls if "ProfileToken" in c.args} == {PROFILE}
    assert device.operations()[:3] == ["GetServices", "GetProfiles", "GetPresets"]


def test_onvif_driver_reports_a_refusal_and_silence_without_secrets(device: OnvifPtzDevice) -> None:
    wrong = PtzConfig(address=device.address, user=device.user, password="not-the-password")
    with pytest.raises(PtzDeviceError, match="refused") as refused:
        run_async(_one_call(OnvifDriver("gate", wrong)))
    assert "not-the-password" not in refused.value.message and device.address not in refused.value.message
    closed = PtzConfig(address=f"http://127.0.0.1:{free_port()}", user=device.user, password=device.password)
    with pytest.raises(PtzDeviceError, match="cannot be reached") as unreachable:
        run_async(_one_call(OnvifDriver("gate", closed)))
    assert "127.0.0.1" not in unreachable.value.message  # the operator is not told the camera's address
    device.delay = 1.5
    slow = PtzConfig(address=device.address, user=device.user, password=device.password, timeout=0.5)
    with pytest.raises(PtzDeviceError, match="did not answer"):
        run_async(_one_call(OnvifDriver("gate", slow)))


async def _one_call(driver: OnvifDriver) -> None:
    try:
        await driver.presets()
    finally:
        await driver.close()


def test_the_ptz_block_is_checked_and_keeps_its_password_to_itself() -> None:
    camera = CameraConfig.model_validate({"id": "gate", "name": "东门", "url": "rtsp://cam/1", "ptz": {
        "address": "http://192.0.2.10:8080", "user": "admin", "password": "s3cret-Pass"}})
    assert camera.ptz is not None and camera.ptz.password is not None
    assert camera.ptz.password.get_secret_value() == "s3cret-Pass"
    assert "s3cret-Pass" not in repr(camera) and "s3cret-Pass" not in camera.model_dump_json()
    for address, why in (("http://admin:pw@192.0.2.10", "credentials"), ("rtsp://192.0.2.10", "http"),
                         ("http://192.0.2.10/onvif/device_service", "only"), ("http://:80", "no host")):
        with pytest.raises(ValidationError, match=why):
            PtzConfig(address=address)


def test_the_lease_keeps_one_operator_until_it_lapses_or_an_admin_takes_over(tmp_path: Path) -> None:
    book = LeaseBook(open_database(tmp_path))
    lease, displaced = book.take("gate", "alice", 0.0, 30)
    assert (lease.holder, lease.until, displaced) == ("alice", 30.0, None)
    assert book.take("gate", "alice", 10.0, 30)[0].until == 40.0  # every command renews it
    with pytest.raises(Conflict, match="alice for 30 s more"):
        book.take("gate", "bob", 10.0, 30)
    with pytest.raises(Forbidden):
        book.take("gate", "bob", 10.0, 30, take_over=True)
    assert book.release("gate", "bob", 11.0) is None and book.current("gate", 11.0) is not None  # not bob's
    lease, displaced = book.take("gate", "admin", 12.0, 30, take_over=True, may_take_over=True)
    assert lease.holder == "admin" and displaced is not None and displaced.holder == "alice"
    assert book.current("gate", 41.9) is not None and book.current("gate", 42.0) is None  # lapsed
    assert book.take("gate", "bob", 42.0, 30)[1] is None  # free again: nobody displaced
    assert set(book.held(43.0)) == {"gate"} and book.held(72.0) == {}
    assert book.release("gate", "bob", 43.0) is not None and book.current("gate", 43.0) is None
    # The system clock stepped an hour back after a take: the lease keeps at most its length, not an hour more.
    book.take("gate", "alice", 5000.0, 30)
    stepped = book.current("gate", 5000.0 - 3600)
    assert stepped is not None and stepped.until == 5000.0 - 3600 + 30
    assert book.current("gate", 5000.0 - 3600 + 30) is None  # lapsed on time, counted on the stepped clock


def test_two_replicas_share_one_lease_on_postgresql(postgres_server: int) -> None:
    """Two control-plane replicas (two lease books, two engines) on one PostgreSQL: the second replica's
    operator is refused while the first's holds the camera, sees it free once released, and of many first takes
    racing from both replicas' threads exactly one wins."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.pg import database_url
    from wall.store.db import Database

    url = database_url(postgres_server)
    one, two = Database(url), Database(url)
    one.migrate()
    a, b = LeaseBook(one), LeaseBook(two)
    a.take("gate", "alice", 100.0, 60)
    with pytest.raises(Conflict, match="alice"):
        b.take("gate", "bob", 101.0, 60)
    held = b.current("gate", 101.0)
    assert held is not None and held.holder == "alice"
    assert a.release("gate", "alice", 102.0) is not None
    assert b.take("gate", "bob", 102.0, 60)[0].holder == "bob"

    def first_take(n: int) -> str | None:
        book = (a, b)[n % 2]
        try:
            return book.take("dock", f"op{n}", 200.0, 60)[0].holder
        except Conflict:
            return None

    with ThreadPoolExecutor(8) as pool:
        winners = [w for w in pool.map(first_take, range(16)) if w is not None]
    assert len(winners) == 1, winners
    stored = a.current("dock", 201.0)
    assert stored is not None and stored.holder == winners[0]
    one.dispose()
    two.dispose()


# -- the API ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_without_the_ptz_right_a_camera_answers_like_one_that_does_not_exist(
        serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    site, _mono = ptz_site(serve_site, device, tmp_path, monkeypatch)
    routes = [("POST", "move", {"pan": 0.5}), ("POST", "stop", None), ("POST", "home", None),
              ("GET", "presets", None), ("POST", "presets/1/goto", None), ("POST", "lease", {}),
              ("DELETE", "lease", None), ("GET", "position", None), ("POST", "presets", {"name": "x"})]
    for user in ("carol", "dan"):  # carol: no ptz grant; dan: the grant, but a viewer's role
        with site.client(user) as client:
            for method, suffix, body in routes:
                for camera in ("gate", "plain", "nope"):  # steerable, without PTZ, unknown
                    res = client.request(method, f"/api/ptz/{camera}/{suffix}", json=body)
                    assert (res.status_code, res.json()) == (404, {"detail": "camera not found"}), (user, suffix)
            listed = client.get("/api/ptz").json()  # who steers it still shows on their tiles of it
            assert [(s["camera_id"], s["may_control"]) for s in listed] == [("gate", False)]
    assert device.operations() == []  # nothing reached the camera
    with site.client("alice") as client:
        assert client.post("/api/ptz/plain/move", json={"pan": 1}).status_code == 404  # no ptz: block
        assert client.post("/api/ptz/gate/move", json={"pan": 2}).status_code == 422  # speeds are −1 … 1
        assert client.post("/api/ptz/gate/move", json={"pan": 0.5, "speed": 1}).status_code == 422
        state = client.post("/api/ptz/gate/move", json={"pan": 0.5}).json()
        assert state["holder"] == "alice" and state["mine"] and state["away"]
        assert client.get("/api/ptz/gate/presets").json() == [{"token": "1", "name": "路口"},
                                                              {"token": "2", "name": "停车场"}]
        refused = client.post("/api/ptz/gate/presets", json={"name": "新"})
        assert refused.status_code == 403  # storing presets is an admin's
        everything = json.dumps([client.get(p).text for p in ("/api/ptz", "/api/ptz/gate", "/api/cameras/gate")])
    with site.client(ADMIN) as admin:
        everything += admin.get("/api/config/cameras").text
    assert device.password not in everything and device.password not in caplog.text


@pytest.mark.slow
def test_one_operator_at_a_time_an_admin_takes_over_every_command_audited(
        serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, mono = ptz_site(serve_site, device, tmp_path, monkeypatch, lease=30)
    alice, bob, admin = site.client("alice"), site.client("bob"), site.client(ADMIN)
    url = f"ws://127.0.0.1:{site.port}/ws/wall"
    with connect(url, additional_headers={"Cookie": site.cookie("carol")}, open_timeout=20) as carol_wall:
        assert json.loads(carol_wall.recv(timeout=10))["type"] == "hello"
        assert alice.post("/api/ptz/gate/move", json={"pan": 0.5, "tilt": 0.2}).status_code == 200
        # who controls the camera reaches everyone who may see it (carol may watch, not steer)
        assert _ptz_notice(carol_wall) == {"type": "ptz", "camera_id": "gate", "holder": "alice", "away": True}

        # bob is refused while alice holds it, and told who does
        held = bob.post("/api/ptz/gate/move", json={"pan": -0.5})
        assert held.status_code == 409 and "alice" in held.json()["detail"]
        assert bob.post("/api/ptz/gate/lease", json={"take_over": True}).status_code == 403  # not an admin
        assert bob.get("/api/ptz/gate").json()["holder"] == "alice"
        assert alice.post("/api/ptz/gate/stop").status_code == 200
        assert device.snapshot()[1] is False

        # an admin takes over; alice's next command is refused
        assert admin.post("/api/ptz/gate/home").status_code == 409
        taken = admin.post("/api/ptz/gate/lease", json={"take_over": True}).json()
        assert taken["holder"] == ADMIN and taken["mine"]
        assert _ptz_notice(carol_wall)["holder"] == ADMIN
        assert alice.post("/api/ptz/gate/move", json={"pan": 0.5}).status_code == 409
        saved = admin.post("/api/ptz/gate/presets", json={"name": "东北角"}).json()
        assert device.presets[saved["token"]].name == "东北角"
        assert admin.delete("/api/ptz/gate/lease").json()["holder"] is None
        assert _ptz_notice(carol_wall)["holder"] is None

        # a lease lapses after lease_seconds without a command
        assert bob.post("/api/ptz/gate/presets/2/goto").json()["holder"] == "bob"
        mono.now += 31
        assert alice.get("/api/ptz/gate").json()["holder"] is None
        assert alice.post("/api/ptz/gate/presets/2/goto").json()["holder"] == "alice"

    rows = [(r["user"], r["action"], r["success"]) for r in reversed(audit_rows(site, action="ptz."))]
    assert rows == [
        ("alice", "ptz.move", True), ("bob", "ptz.move", False), ("bob", "ptz.lease.take", False),
        ("alice", "ptz.stop", True), (ADMIN, "ptz.home", False), (ADMIN, "ptz.lease.takeover", True),
        ("alice", "ptz.move", False), (ADMIN, "ptz.preset.set", True),
        (ADMIN, "ptz.lease.release", True), ("bob", "ptz.preset.goto", True), ("alice", "ptz.preset.goto", True),
    ]
    refusal = next(r for r in audit_rows(site, action="ptz.move", user="bob"))
    assert refusal["target"] == "camera:gate" and "alice" in refusal["detail"]["reason"]
    assert refusal["detail"]["pan"] == -0.5


def _ptz_notice(ws: object) -> dict:
    """The next "ptz" push on a /ws/wall socket (other pushes are skipped)."""
    while True:
        message = json.loads(ws.recv(timeout=10))  # type: ignore[attr-defined]
        if message.get("type") == "ptz":
            return message


ANALYTICS = """
cameras:
  gate:
    zones:
      - {id: lane, family: road_occupation, code: "0507", polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}
"""


@pytest.mark.slow
def test_idle_camera_returns_to_its_analysis_preset_and_its_rules_resume(
        serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, mono = ptz_site(serve_site, device, tmp_path, monkeypatch, ANALYTICS, return_after=2, settle=3)
    runtime = site.app.state.services.runtime
    alice = site.client("alice")

    def status() -> dict:
        res = alice.get("/api/cameras/gate")
        assert res.status_code == 200
        return res.json()

    assert wait_until(lambda: status()["analysed"], 60)
    assert not status()["scene_moved"]
    assert alice.post("/api/ptz/gate/move", json={"pan": -1}).json()["away"]
    # the rules pause at the command, not two looks later
    assert status()["scene_moved"] and runtime.analytics.analyzers["gate"].held
    assert alice.post("/api/ptz/gate/stop").status_code == 200
    looks = runtime.analytics.analyzers["gate"].looks
    assert wait_until(lambda: runtime.analytics.analyzers["gate"].looks > looks, 30), "the camera is still looked at"
    state = alice.get("/api/ptz/gate").json()
    assert state["away"] and 110 < state["returns_in"] <= 120

    mono.now += 119  # not yet: two minutes from the last command
    assert not wait_until(lambda: "GotoPreset" in device.operations(), 1.5)
    mono.now += 2
    assert wait_until(lambda: "GotoPreset" in device.operations(), 10)
    position, moving = device.snapshot()
    assert (position.pan, position.tilt, position.zoom) == (0.2, -0.1, 0.0) and not moving
    assert device.calls[-1].args["PresetToken"] == "1"
    assert status()["scene_moved"], "the camera is given settle_seconds to arrive"
    assert alice.get("/api/ptz/gate").json()["holder"] is None  # the idle operator's control went with it
    mono.now += 3
    assert wait_until(lambda: not status()["scene_moved"], 10)
    assert not runtime.analytics.analyzers["gate"].held and not alice.get("/api/ptz/gate").json()["away"]
    returned = audit_rows(site, action="ptz.return")
    assert [(r["user"], r["success"], r["detail"]["preset"]) for r in returned] == [(None, True, "1")]

    # going to the analysis preset by hand resumes the rules the same way
    assert alice.post("/api/ptz/gate/presets/2/goto").json()["away"]
    assert status()["scene_moved"]
    assert alice.post("/api/ptz/gate/presets/1/goto").status_code == 200
    mono.now += 3
    assert wait_until(lambda: not status()["scene_moved"], 10)


def test_the_editor_never_shows_the_onvif_password_and_refuses_one_typed_in_clear(
        serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, _ = ptz_site(serve_site, device, tmp_path, monkeypatch)
    admin = site.client()
    listed = {c["id"]: c for c in admin.get("/api/config/cameras").json()}
    shown = listed["gate"]["ptz"]
    assert "password" not in shown and shown["password_set"] is True
    assert device.password not in admin.get("/api/config/cameras").text, "the resolved password never leaves"

    # Left out, the file's reference stays; typed in clear, the edit is refused and the file is unchanged.
    before = (site.app.state.services.site.directory / "cameras.yaml").read_text(encoding="utf-8")
    body = {k: v for k, v in shown.items() if v is not None}
    kept = admin.put("/api/config/cameras/gate", json={"ptz": {**body, "return_after": 9}})
    assert kept.status_code == 200, kept.text
    text = (site.app.state.services.site.directory / "cameras.yaml").read_text(encoding="utf-8")
    assert f"${{{PASSWORD_ENV}}}" in text and device.password not in text and "return_after: 9" in text
    refused = admin.put("/api/config/cameras/gate", json={"ptz": {**body, "password": "Hunter2-secret"}})
    assert refused.status_code == 422 and "ptz.password" in refused.text and "Hunter2" not in refused.text
    assert "Hunter2" not in (site.app.state.services.site.directory / "cameras.yaml").read_text(encoding="utf-8")
    assert before != text
