"""Access control against the real app over real sockets, with a real SQLite file per test.

Who sees which camera (a permission matrix over every camera endpoint and the live WebSocket), grants taking
effect at once (an open live view closed with 4403), login throttling and lockout, session timeouts and
logout, Origin checks, the password policy and history, the audit log (complete, append-only, exported), the
schema (migration = models) and a database from a newer citywall. Nothing is mocked.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.conftest import ADMIN, TEST_PASSWORD, Clock, LiveServer, SiteStarter, start_site, wait_until
from wall.auth.sessions import COOKIE

pytestmark = pytest.mark.slow

CAMERAS = ("car", "person", "bottle", "hd")
GHOST = "ghost"  # a camera id that exists nowhere
EXPECTED = {ADMIN: set(CAMERAS), "op": {"car", "person"}, "vw": {"bottle"}}
HTTP_TIMEOUT = 20.0
LIVE_TIMEOUT = 45.0


def cameras_yaml(rtsp: RtspDevServer) -> str:
    groups = {"car": "north", "person": "north", "bottle": "south", "hd": None}
    lines = ["cameras:"]
    for cam in CAMERAS:
        lines += [f"  - id: {cam}", f"    name: 测试 {cam}", f'    url: "{rtsp.url(cam)}"']
        if groups[cam]:
            lines.append(f"    group: {groups[cam]}")
    return "\n".join(lines) + "\n"


def offline_cameras(*ids: str) -> str:
    """Cameras that never connect (a closed port): enough for tests of accounts that need no video."""
    port = free_port()
    return "cameras:\n" + "".join(f'  - {{id: {c}, name: {c}, url: "rtsp://127.0.0.1:{port}/{c}"}}\n' for c in ids)


@pytest.fixture
def matrix(serve_site: SiteStarter, rtsp: RtspDevServer) -> LiveServer:
    """Four live cameras; admin sees all, operator 'op' the group 'north' (car, person), viewer 'vw' bottle."""
    site = serve_site(cameras_yaml(rtsp))
    site.add_user("op", "operator", grants=("group:north",))
    site.add_user("vw", "viewer", grants=("bottle",))
    return site


def open_live(site: LiveServer, cam_id: str, cookie: str | None, **kwargs: object) -> ClientConnection:
    headers = {"Cookie": cookie} if cookie else {}
    return connect(f"ws://127.0.0.1:{site.port}/ws/live/{cam_id}", open_timeout=HTTP_TIMEOUT, close_timeout=10,
                   max_size=None, max_queue=None, additional_headers=headers, **kwargs)


def close_of(ws: ClientConnection, timeout: float = HTTP_TIMEOUT) -> tuple[int, str]:
    """Read until the server closes; its (code, reason)."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    assert closed.value.rcvd is not None, closed.value
    return closed.value.rcvd.code, closed.value.rcvd.reason


def audit_rows(site: LiveServer, **filters: str) -> list[dict]:
    res = site.client().get("/api/audit", params={"limit": 1000, **filters})
    assert res.status_code == 200, res.text
    return res.json()["items"]


def raw_db(site: LiveServer) -> sqlite3.Connection:
    path = site.app.state.services.site.data_dir / "citywall.sqlite3"
    assert path.is_file()
    return sqlite3.connect(path)


# -- who sees what ---------------------------------------------------------------------------------------------


def test_permission_matrix_over_every_camera_endpoint(matrix: LiveServer) -> None:
    admin = matrix.client()
    # every camera is live and has a picture, so that "allowed" answers are real pictures, not "none yet"
    for cam in CAMERAS:
        assert wait_until(lambda cam=cam: admin.get(f"/api/cameras/{cam}/snapshot.jpg").status_code == 200,
                          LIVE_TIMEOUT, 0.25), cam
    for user, allowed in EXPECTED.items():
        client = matrix.client(user)
        listed = client.get("/api/cameras")
        assert listed.status_code == 200
        assert {c["id"] for c in listed.json()} == allowed, user
        me = client.get("/api/me").json()
        assert (me["name"], me["cameras"]) == (user, sorted(allowed))
        ghost = {path: client.get(path.format(cam=GHOST)) for path in (
            "/api/cameras/{cam}", "/api/cameras/{cam}/snapshot.jpg", "/api/cameras/{cam}/snapshot.jpg?width=320",
            "/api/events?camera={cam}")}
        for cam in CAMERAS:
            for path, unknown in ghost.items():
                res = client.get(path.format(cam=cam))
                where = (user, cam, path)
                if cam in allowed:
                    assert res.status_code == 200, where
                    if "snapshot" in path:
                        assert res.headers["content-type"] == "image/jpeg", where
                    elif "events" not in path:
                        assert res.json()["id"] == cam, where
                else:  # forbidden is indistinguishable from nonexistent: status, body and content type
                    assert (res.status_code, res.content, res.headers["content-type"]) == (
                        unknown.status_code, unknown.content, unknown.headers["content-type"]), where
            if cam not in allowed:
                assert client.get(f"/api/cameras/{cam}").json() == {"detail": "camera not found"}
    # without a session every API answers 401 alike; health stays public
    anonymous = matrix.client(None)
    answers = [anonymous.get(p) for p in ("/api/cameras", "/api/cameras/car", "/api/cameras/car/snapshot.jpg",
                                          "/api/cameras/ghost", "/api/events?camera=car", "/api/me",
                                          "/api/evidence/" + "0" * 64 + ".jpg", "/api/users", "/api/audit")]
    assert {r.status_code for r in answers} == {401}
    assert {r.content for r in answers} == {b'{"detail":"not authenticated"}'}
    assert anonymous.get("/healthz").status_code == 200
    forged = httpx.get(matrix.url + "/api/cameras", cookies={COOKIE: "x" * 43})
    assert forged.status_code == 401


def test_permission_matrix_over_the_live_websocket(matrix: LiveServer) -> None:
    def outcome(user: str, cam: str) -> tuple[str, object]:
        with open_live(matrix, cam, matrix.cookie(user)) as ws:
            try:
                first = ws.recv(timeout=HTTP_TIMEOUT)
            except ConnectionClosed as exc:
                assert exc.rcvd is not None
                return "closed", (exc.rcvd.code, exc.rcvd.reason)
            return "served", json.loads(first)["type"]

    for user, allowed in EXPECTED.items():
        unknown = outcome(user, GHOST)
        assert unknown == ("closed", (4404, "camera not found"))
        for cam in CAMERAS:
            result = outcome(user, cam)
            if cam in allowed:
                assert result[0] == "served" and result[1] in ("state", "init"), (user, cam, result)
            else:
                assert result == unknown, (user, cam, result)
    # no session, or a session token that opens nothing: accepted and closed with 4401
    for cookie in (None, f"{COOKIE}=forged", f"{COOKIE}={'a' * 5000}"):
        with open_live(matrix, "car", cookie) as ws:
            assert close_of(ws) == (4401, "not authenticated"), cookie


def test_revoked_grant_closes_an_open_live_view(matrix: LiveServer) -> None:
    admin = matrix.client()
    grant = admin.get("/api/grants", params={"subject": "vw", "target": "bottle"}).json()
    assert len(grant) == 1
    with open_live(matrix, "bottle", matrix.cookie("vw")) as ws:
        while not isinstance(ws.recv(timeout=LIVE_TIMEOUT), bytes):  # video is flowing
            pass
        revoked = time.monotonic()
        assert admin.delete(f"/api/grants/{grant[0]['id']}").status_code == 204
        assert close_of(ws) == (4403, "forbidden")
        assert time.monotonic() - revoked < 5, "a revoke must reach an open live view within seconds"
    assert matrix.client("vw").get("/api/cameras/bottle").status_code == 404
    assert wait_until(lambda: audit_rows(matrix, user="vw", action="live.stop"), HTTP_TIMEOUT)
    stops = audit_rows(matrix, user="vw", action="live.stop")
    assert stops[0]["target"] == "camera:bottle" and stops[0]["detail"]["closed"] == 4403
    assert audit_rows(matrix, user="vw", action="live.start")[0]["target"] == "camera:bottle"

    # a grant to the viewer's role counts at once, for every viewer
    res = admin.post("/api/grants", json={"subject": "role:viewer", "target": "hd"})
    assert res.status_code == 201, res.text
    assert {c["id"] for c in matrix.client("vw").get("/api/cameras").json()} == {"hd"}
    # locking the account ends its sessions: the open live view closes with 4401
    with open_live(matrix, "hd", matrix.cookie("vw")) as ws:
        assert json.loads(ws.recv(timeout=HTTP_TIMEOUT))["type"] in ("state", "init")
        assert admin.patch("/api/users/vw", json={"locked": True}).status_code == 200
        assert close_of(ws) == (4401, "not authenticated")
    assert matrix.client("vw").get("/api/me").status_code == 401


def test_groups_seeded_from_cameras_yaml_and_admin_groups(serve_site: SiteStarter) -> None:
    yaml = offline_cameras("a1", "a2", "b1", "c1").replace("name: a1,", "name: a1, group: 解放路,").replace(
        "name: a2,", "name: a2, group: 解放路,")
    site = serve_site(yaml)
    site.add_user("op", "operator")
    admin, op = site.client(), site.client("op")
    groups = {g["name"]: g for g in admin.get("/api/groups").json()}
    assert groups == {"解放路": {"name": "解放路", "cameras": ["a1", "a2"], "source": "config"}}
    assert admin.put("/api/groups/解放路", json={"cameras": ["c1"]}).status_code == 409
    assert admin.delete("/api/groups/解放路").status_code == 409

    assert admin.post("/api/grants", json={"subject": "op", "target": "group:解放路"}).status_code == 201
    assert {c["id"] for c in op.get("/api/cameras").json()} == {"a1", "a2"}
    res = admin.post("/api/groups", json={"name": "east / 东区", "cameras": ["b1"]})
    assert res.status_code == 201 and res.json()["source"] == "admin"
    assert admin.post("/api/groups", json={"name": "east / 东区", "cameras": []}).status_code == 409
    assert admin.post("/api/groups", json={"name": "x", "cameras": ["nope"]}).status_code == 400
    assert admin.post("/api/grants", json={"subject": "op", "target": "group:east / 东区"}).status_code == 201
    assert {c["id"] for c in op.get("/api/cameras").json()} == {"a1", "a2", "b1"}
    assert admin.put("/api/groups/east / 东区", json={"cameras": ["c1"]}).status_code == 200
    assert {c["id"] for c in op.get("/api/cameras").json()} == {"a1", "a2", "c1"}
    assert admin.delete("/api/groups/east / 东区").status_code == 204  # its grants go with it
    assert {c["id"] for c in op.get("/api/cameras").json()} == {"a1", "a2"}
    assert admin.get("/api/grants", params={"target": "group:east / 东区"}).json() == []
    assert admin.post("/api/grants", json={"subject": "op", "target": "a1"}).status_code == 201
    assert admin.post("/api/grants", json={"subject": "op", "target": "a1"}).status_code == 409
    assert admin.post("/api/grants", json={"subject": "nobody", "target": "a1"}).status_code == 404
    assert admin.post("/api/grants", json={"subject": "role:boss", "target": "a1"}).status_code == 400
    actions = {r["action"] for r in audit_rows(site, user=ADMIN)}
    assert {"group.create", "group.update", "group.delete", "grant.create"} <= actions
    assert op.get("/api/groups").status_code == 403 and op.get("/api/grants").status_code == 403


# -- login throttling --------------------------------------------------------------------------------------


def test_lockout_after_five_failures_even_for_the_right_password(serve_site: SiteStarter,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    site = serve_site(offline_cameras("car"))
    site.add_user("lee", "operator")
    anon = site.client(None)

    def login(name: str, password: str) -> httpx.Response:
        return anon.post("/api/session", json={"username": name, "password": password})

    # lee logged in from here before, so this is one of its usual addresses: five failures from it lock the
    # account (failures from other addresses only slow those down: tests/test_login_throttle.py)
    assert login("lee", TEST_PASSWORD).status_code == 200
    wrong = [login("lee", f"Wrong-passw0rd{i}") for i in range(5)]
    assert [r.status_code for r in wrong] == [401] * 5
    unknown = login("nobody-here", "Wrong-passw0rd")
    assert (unknown.status_code, unknown.content) == (wrong[0].status_code, wrong[0].content), \
        "an unknown name must answer like a wrong password"
    locked = login("lee", TEST_PASSWORD)
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 800  # 15 minutes
    for _ in range(4):
        login("nobody-here", "Wrong-passw0rd")
    assert login("nobody-here", "Wrong-passw0rd").content == locked.content, "unknown names lock alike"

    rows = audit_rows(site, user="lee")
    failures = [r for r in rows if r["action"] == "login" and not r["success"]]
    assert len(failures) == 6 and all(r["address"] == "127.0.0.1" for r in failures)
    assert [r["detail"]["reason"] for r in failures].count("account locked") == 1
    lockout = audit_rows(site, action="lockout", target="user:lee")
    assert len(lockout) == 1
    listed = {u["name"]: u for u in site.client().get("/api/users").json()}
    assert listed["lee"]["locked_out_until"] is not None

    # an admin lifts the lockout; the next login works and is audited
    assert site.client().patch("/api/users/lee", json={"locked": False}).status_code == 200
    ok = login("lee", TEST_PASSWORD)
    assert ok.status_code == 200 and ok.json()["name"] == "lee"
    assert audit_rows(site, user="lee", action="login")[0]["success"] is True
    token = ok.cookies[COOKIE]
    server_side = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "login lee from 127.0.0.1: ok" in server_side and "lockout of user:lee" in server_side
    for secret in (TEST_PASSWORD, token, "Wrong-passw0rd"):
        assert secret not in server_side, "the service logged a password or a session token"


def test_per_address_throttling(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"), "security:\n  address_failures: 3\n")
    anon = site.client(None)
    for name in ("alpha", "bravo", "charlie"):  # one failure each: no account reaches its own limit
        assert anon.post("/api/session", json={"username": name, "password": "Wrong-passw0rd"}).status_code == 401
    refused = anon.post("/api/session", json={"username": ADMIN, "password": TEST_PASSWORD})
    assert refused.status_code == 429, "the address is throttled, whatever account it tries"
    assert audit_rows(site, action="lockout", target="address:127.0.0.1")
    # sessions that exist keep working: throttling is about logging in
    assert site.client().get("/api/me").status_code == 200


# -- sessions ----------------------------------------------------------------------------------------------


def test_idle_timeout_and_absolute_lifetime(serve_site: SiteStarter) -> None:
    """On the service's clock, moved by the test: no real waiting."""
    site = serve_site(offline_cameras("car"),
                      "security:\n  session_idle_seconds: 60\n  session_absolute_seconds: 300\n")
    clock = Clock()
    clock.install(site)
    site.add_user("kim")
    client = site.login("kim")
    for _ in range(10):  # in use: stays open past the idle timeout
        clock.advance(10)
        assert client.get("/api/me").status_code == 200
    clock.advance(61)  # idle for longer than the timeout
    assert client.get("/api/me").status_code == 401
    site.tokens.clear()  # the fixture's admin session idled out too
    expired = audit_rows(site, user="kim", action="session.expire")
    assert expired[0]["detail"]["reason"] == "idle"

    client = site.login("kim")
    used = 0
    while client.get("/api/me").status_code == 200:  # kept busy, it still ends at its absolute lifetime
        clock.advance(10)
        used += 10
        assert used <= 400
    assert used == 300
    site.tokens.clear()
    assert audit_rows(site, user="kim", action="session.expire")[0]["detail"]["reason"] == "absolute"


def test_logout_revokes_the_cookie_and_only_that_session(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    site.add_user("kim")
    first, second = site.login("kim"), site.login("kim")
    token = first.cookies[COOKIE]
    res = first.delete("/api/session")
    assert res.status_code == 204
    assert "Max-Age=0" in res.headers["set-cookie"]
    assert httpx.get(site.url + "/api/me", cookies={COOKIE: token}).status_code == 401
    assert second.get("/api/me").status_code == 200
    assert site.client(None).delete("/api/session").status_code == 401
    sessions = site.client().get("/api/users/kim/sessions").json()
    assert len(sessions) == 1
    assert site.client().delete(f"/api/users/kim/sessions/{sessions[0]['id']}").status_code == 204
    assert second.get("/api/me").status_code == 401
    assert audit_rows(site, user="kim", action="logout")
    assert audit_rows(site, user=ADMIN, action="session.end")


def test_session_cookie_attributes(serve_site: SiteStarter, tmp_path: Path) -> None:
    site = serve_site(offline_cameras("car"))
    res = site.client(None).post("/api/session", json={"username": ADMIN, "password": TEST_PASSWORD})
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie, "plain http on loopback; Secure is set when the request is https"
    https = {"X-Forwarded-Proto": "https"}  # what a TLS proxy in front says
    spoofed = site.client(None).post("/api/session", json={"username": ADMIN, "password": TEST_PASSWORD},
                                     headers=https)
    assert "Secure" not in spoofed.headers["set-cookie"], "no proxy is trusted by default (server.trusted_proxies)"
    (tmp_path / "proxied").mkdir()
    proxied = start_site(tmp_path / "proxied", offline_cameras("car"), 'server:\n  trusted_proxies: ["127.0.0.1"]\n')
    try:
        behind = proxied.client(None).post("/api/session", json={"username": ADMIN, "password": TEST_PASSWORD},
                                           headers=https)
    finally:
        proxied.__exit__(None, None, None)
    assert "; Secure" in behind.headers["set-cookie"]
    value = res.cookies[COOKIE]
    assert len(value) >= 43  # 32 random bytes
    with raw_db(site) as db:
        stored = [row[0] for row in db.execute("SELECT token_hash FROM sessions")]
    assert value not in stored and all(len(h) == 64 for h in stored), "only the token's SHA-256 is stored"


# -- Origin --------------------------------------------------------------------------------------------------


def test_state_changes_and_websockets_check_origin(serve_site: SiteStarter, rtsp: RtspDevServer) -> None:
    site = serve_site(f'cameras:\n  - {{id: car, name: car, url: "{rtsp.url("car")}"}}\n',
                      "server:\n  allowed_origins: [\"https://wall.example.org\"]\n")
    anon, admin = site.client(None), site.client()
    body = {"username": ADMIN, "password": TEST_PASSWORD}
    for foreign in ("http://evil.example", "null", f"http://127.0.0.1:{site.port}.evil.example"):
        res = anon.post("/api/session", json=body, headers={"Origin": foreign})
        assert (res.status_code, res.json()) == (403, {"detail": "origin not allowed"}), foreign
        assert admin.delete("/api/session", headers={"Origin": foreign}).status_code == 403
        assert admin.post("/api/users", json={"name": "x", "role": "viewer", "password": TEST_PASSWORD},
                          headers={"Origin": foreign}).status_code == 403
    assert admin.post("/api/grants", json={"subject": "role:viewer", "target": "car"},
                      headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert admin.get("/api/me").status_code == 200, "the refused logout did not end the session"
    for own in (site.origin, "https://wall.example.org"):
        assert anon.post("/api/session", json=body, headers={"Origin": own}).status_code == 200, own
    assert admin.get("/api/cameras", headers={"Origin": "http://evil.example"}).status_code == 200, \
        "reads are not state changes (and the browser's same-origin policy keeps their answers)"

    for foreign in ("http://evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            open_live(site, "car", site.cookie(), origin=foreign)
        assert refused.value.response.status_code == 403
    with open_live(site, "car", site.cookie(), origin="https://wall.example.org") as ws:
        assert json.loads(ws.recv(timeout=HTTP_TIMEOUT))["type"] in ("state", "init")
    with open_live(site, "car", None, origin=site.origin) as ws:
        assert close_of(ws)[0] == 4401


# -- passwords ---------------------------------------------------------------------------------------------


def test_password_policy_history_and_change(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    admin = site.client()
    for weak, why in (("Short1!", "at least 10 characters"), ("alllowercase", "mix at least 3"),
                      ("Kimberly-2024", "must not contain the user name")):
        res = admin.post("/api/users", json={"name": "kimberly", "role": "viewer", "password": weak})
        assert res.status_code == 400 and why in res.json()["detail"], res.text
    assert audit_rows(site, action="user.create", target="user:kimberly")[0]["success"] is False
    first = "Spring-2024!x"
    assert admin.post("/api/users", json={"name": "kimberly", "role": "viewer", "password": first}).status_code == 201
    assert admin.post("/api/users", json={"name": "kimberly", "role": "viewer",
                                          "password": first}).status_code == 409
    with raw_db(site) as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE name = 'kimberly'").fetchone()
    assert stored.startswith("$argon2id$") and first not in stored

    me, other = site.login("kimberly", first), site.login("kimberly", first)

    def change(current: str, new: str) -> httpx.Response:
        return me.put("/api/me/password", json={"current_password": current, "new_password": new})

    assert change("Wrong-passw0rd", "Summer-2024!x").status_code == 403
    assert change(first, "short").status_code == 400
    reused = change(first, first)
    assert reused.status_code == 400 and "last 5 passwords" in reused.json()["detail"]
    old_cookie = me.cookies[COOKIE]
    changed = change(first, "Summer-2024!x")
    assert changed.status_code == 200, changed.text
    assert httpx.get(site.url + "/api/me", cookies={COOKIE: old_cookie}).status_code == 401
    assert other.get("/api/me").status_code == 401, "a password change ends every session of the user"
    assert me.get("/api/me").status_code == 200, "…and gives this browser a new one"
    assert change("Summer-2024!x", first).status_code == 400, "no reuse of the last 5"
    assert site.client(None).post("/api/session", json={"username": "kimberly", "password": first}).status_code == 401

    # an admin's reset ends the user's sessions too
    assert admin.patch("/api/users/kimberly", json={"password": "Autumn-2024!x"}).status_code == 200
    assert me.get("/api/me").status_code == 401
    outcomes = [(r["success"], (r["detail"] or {}).get("reason")) for r in
                audit_rows(site, action="user.password", target="user:kimberly")]
    assert (False, "wrong current password") in outcomes and outcomes.count((True, None)) == 2


def test_admin_user_management_and_last_admin(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    admin = site.client()
    assert admin.patch(f"/api/users/{ADMIN}", json={"role": "viewer"}).status_code == 409
    assert admin.patch(f"/api/users/{ADMIN}", json={"locked": True}).status_code == 409
    assert admin.delete(f"/api/users/{ADMIN}").status_code == 409
    assert admin.get("/api/users/nobody").status_code == 404
    site.add_user("pat", "viewer")
    pat = site.login("pat")
    assert pat.get("/api/users").status_code == 403
    assert pat.post("/api/users", json={"name": "x", "role": "admin", "password": TEST_PASSWORD}).status_code == 403
    res = admin.patch("/api/users/pat", json={"role": "operator"})
    assert res.status_code == 200 and res.json()["role"] == "operator"
    assert pat.get("/api/me").json()["role"] == "operator", "a role change counts at the next request"
    assert admin.delete("/api/users/pat").status_code == 204
    assert pat.get("/api/me").status_code == 401
    assert site.client(None).post("/api/session", json={"username": "pat", "password": TEST_PASSWORD}).status_code \
        == 403
    assert admin.get("/api/users/pat").json()["state"] == "disabled"
    assert {r["action"] for r in audit_rows(site, target="user:pat")} >= {"user.role", "user.disable"}


def test_no_default_account(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"), admin=False)
    with raw_db(site) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
    anon = site.client(None)
    for name, password in (("admin", "admin"), ("admin", "admin123"), ("root", "root"), ("citywall", "citywall"),
                           ("operator", "operator")):
        assert anon.post("/api/session", json={"username": name, "password": password}).status_code == 401
    assert anon.get("/api/cameras").status_code == 401


# -- audit -----------------------------------------------------------------------------------------------------


def test_audit_is_append_only_and_purged_only_past_retention(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    site.login(ADMIN)
    with raw_db(site) as db:
        before = db.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
        assert before
        for statement in ("UPDATE audit_log SET success = 0", "UPDATE audit_log SET username = 'x' WHERE id = 1",
                          "DELETE FROM audit_log", "DELETE FROM audit_log WHERE id = 1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
            db.rollback()
        assert db.execute("SELECT * FROM audit_log ORDER BY id").fetchall() == before
        now = datetime.now(UTC).replace(tzinfo=None)
        for days in (400, 181, 179):
            db.execute("INSERT INTO audit_log (at, username, action, target, success, address) "
                       "VALUES (?, 'old', 'login', NULL, 1, '10.0.0.1')",
                       ((now - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f"),))
        db.commit()

    from wall.auth import audit

    with site.db.session() as s:
        deleted = audit.purge(s, 30, user="test", address=None)  # asks for 30 days: gets the 180-day minimum
    assert deleted == 2
    with raw_db(site) as db:
        ages = [row[0] for row in db.execute("SELECT at FROM audit_log WHERE username = 'old'")]
        assert len(ages) == 1  # the 179-day-old row stays
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit_log")  # the trigger is back
    purge = audit_rows(site, action="audit.purge")[0]
    assert purge["detail"]["deleted"] == 2 and purge["detail"]["retention_days"] == 180


def test_audit_api_filters_pages_and_exports_csv(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    admin, anon = site.client(), site.client(None)
    anon.post("/api/session", json={"username": "=HYPERLINK(\"x\")", "password": "Wrong-passw0rd"})
    for _ in range(3):
        site.login(ADMIN)
    page = admin.get("/api/audit", params={"action": "login", "user": ADMIN, "limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert all(i["action"] == "login" and i["user"] == ADMIN and i["success"] for i in page["items"])
    rest = admin.get("/api/audit", params={"action": "login", "user": ADMIN, "limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] < page["items"][-1]["id"]
    assert admin.get("/api/audit", params={"action": "log*"}).json()["total"] == 4  # a prefix: login, logout…
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert admin.get("/api/audit", params={"since": future}).json()["total"] == 0
    assert admin.get("/api/audit", params={"until": "2000-01-01T00:00:00"}).json()["total"] == 0
    assert admin.get("/api/audit", params={"since": "not a time"}).status_code == 422

    export = admin.get("/api/audit.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert list(rows[0]) == ["id", "time", "user", "action", "target", "success", "address", "detail"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=int)
    assert any(r["user"] == "'=hyperlink(\"x\")" for r in rows), "a formula in a cell is defused"
    assert audit_rows(site, action="audit.export")
    assert site.client(None).get("/api/audit.csv").status_code == 401
    site.add_user("vw")
    assert site.client("vw").get("/api/audit").status_code == 403
    assert site.client("vw").get("/api/audit.csv").status_code == 403


# -- the database --------------------------------------------------------------------------------------------


def test_migration_creates_exactly_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from wall.store import accounts
    from wall.store.db import open_database
    from wall.store.models import Base

    db = open_database(tmp_path)
    ours = {t.name for t in Base.metadata.sorted_tables if t.name in {m.__tablename__ for m in (
        accounts.User, accounts.PasswordHistory, accounts.CameraGroup, accounts.CameraGroupMember, accounts.Grant,
        accounts.LoginSession, accounts.LoginFailure, accounts.Lockout, accounts.AuditEntry)}}
    assert len(ours) == 9
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        triggers = {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")}

    def table_of(change: Any) -> str:
        """Alembic's diff entries: (kind, Table), (kind, Index/Constraint), or (kind, schema, table, …)."""
        item = change[0] if isinstance(change, list) else change
        if item[0] in ("add_table", "remove_table"):
            return item[1].name
        if item[0].endswith(("_index", "_constraint", "_fk")):
            return item[1].table.name
        return item[2]

    assert [c for c in diff if table_of(c) in ours] == []
    assert {"audit_log_no_update", "audit_log_no_delete"} <= triggers
    db.dispose()


def test_database_from_a_newer_citywall_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wall.app import create_app
    from wall.cli import main
    from wall.config import load_config
    from wall.store.db import DatabaseError, open_database

    (tmp_path / "cameras.yaml").write_text(offline_cameras("car"), encoding="utf-8")
    open_database(tmp_path / "data").dispose()
    with sqlite3.connect(tmp_path / "data" / "citywall.sqlite3") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(DatabaseError, match=r"9999_from_the_future.*newer version"):
        create_app(load_config(tmp_path))
    assert main(["serve", "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the database cannot be used; nothing was started" in err and "9999_from_the_future" in err
