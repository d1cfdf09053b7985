"""What the admin page needed from the admin API beyond the first cut: a user's last login, the audit log filtered
by success (list and CSV alike), and renaming a camera group without anyone gaining or losing a camera.

Real app on a real socket, real SQLite; cameras on a closed port (no video is needed to manage accounts).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import ADMIN, SiteStarter

pytestmark = pytest.mark.slow


def offline_cameras(*ids: str, group: dict[str, str] | None = None) -> str:
    port = free_port()
    lines = ["cameras:"]
    for cam in ids:
        extra = f", group: {group[cam]}" if group and cam in group else ""
        lines.append(f'  - {{id: {cam}, name: {cam}, url: "rtsp://127.0.0.1:{port}/{cam}"{extra}}}')
    return "\n".join(lines) + "\n"


def test_users_show_their_last_successful_login(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    site.add_user("pat", "viewer")
    admin = site.client()
    assert admin.get("/api/users/pat").json()["last_login_at"] is None
    site.login("pat")
    first = datetime.fromisoformat(admin.get("/api/users/pat").json()["last_login_at"])
    assert abs(datetime.now(first.tzinfo) - first) < timedelta(minutes=1)
    refused = site.client(None).post("/api/session", json={"username": "pat", "password": "Wrong-passw0rd"})
    assert refused.status_code == 401
    listed = {u["name"]: u for u in admin.get("/api/users").json()}
    assert datetime.fromisoformat(listed["pat"]["last_login_at"]) == first, "a failed login is not a login"
    site.login("pat")
    assert datetime.fromisoformat(admin.get("/api/users/pat").json()["last_login_at"]) > first


def test_audit_filters_by_success_in_the_list_and_the_csv(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"))
    admin = site.client()
    site.login(ADMIN)
    for _ in range(2):
        site.client(None).post("/api/session", json={"username": ADMIN, "password": "Wrong-passw0rd"})
    failed = admin.get("/api/audit", params={"action": "login", "success": "false"}).json()
    assert failed["total"] == 2 and not any(i["success"] for i in failed["items"])
    ok = admin.get("/api/audit", params={"action": "login", "success": "true"}).json()
    assert ok["total"] == 1 and ok["items"][0]["success"]
    assert admin.get("/api/audit", params={"action": "login"}).json()["total"] == 3
    assert admin.get("/api/audit", params={"success": "perhaps"}).status_code == 422
    text = admin.get("/api/audit.csv", params={"action": "login", "success": "false"}).content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 2 and {r["success"] for r in rows} == {"False"}
    export = admin.get("/api/audit", params={"action": "audit.export"}).json()["items"][0]
    assert export["detail"] == {"action": "login", "success": False}


def test_renaming_a_group_keeps_its_grants(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("a1", "a2", "b1", group={"a1": "north"}))
    site.add_user("op", "operator")
    admin, op = site.client(), site.client("op")
    assert admin.post("/api/groups", json={"name": "east", "cameras": ["a2"]}).status_code == 201
    assert admin.post("/api/groups", json={"name": "west", "cameras": []}).status_code == 201
    assert admin.post("/api/grants", json={"subject": "op", "target": "group:east"}).status_code == 201
    assert [c["id"] for c in op.get("/api/cameras").json()] == ["a2"]

    res = admin.patch("/api/groups/east", json={"name": "东区 / east"})
    assert res.status_code == 200 and res.json() == {"name": "东区 / east", "cameras": ["a2"], "source": "admin"}
    assert [c["id"] for c in op.get("/api/cameras").json()] == ["a2"], "the grant follows the new name"
    assert [g["target"] for g in admin.get("/api/grants", params={"subject": "op"}).json()] == ["group:东区 / east"]
    assert admin.get("/api/grants", params={"target": "group:east"}).json() == []
    assert admin.patch("/api/groups/east", json={"name": "x"}).status_code == 404

    both = admin.patch("/api/groups/东区 / east", json={"name": "东区", "cameras": ["a2", "b1"]})
    assert both.status_code == 200 and both.json()["cameras"] == ["a2", "b1"]
    assert [c["id"] for c in op.get("/api/cameras").json()] == ["a2", "b1"]

    assert admin.patch("/api/groups/东区", json={"name": "west"}).status_code == 409  # taken
    assert admin.patch("/api/groups/north", json={"name": "n2"}).status_code == 409  # follows cameras.yaml
    assert admin.patch("/api/groups/东区", json={"name": " padded"}).status_code == 400
    assert admin.patch("/api/groups/东区", json={"name": "x" * 65}).status_code == 422
    assert admin.patch("/api/groups/东区", json={"name": "y", "cameras": ["nope"]}).status_code == 400
    assert admin.patch("/api/groups/东区", json={"colour": "red"}).status_code == 422
    assert admin.get("/api/groups").json()[0]["name"] == "north"
    assert {g["name"] for g in admin.get("/api/groups").json()} == {"north", "west", "东区"}, "failures change nothing"
    assert [c["id"] for c in op.get("/api/cameras").json()] == ["a2", "b1"]

    renames = admin.get("/api/audit", params={"action": "group.rename"}).json()["items"]
    assert [(r["target"], r["success"]) for r in renames][-2:] == [("group:东区", True), ("group:东区 / east", True)]
    assert [r for r in renames if not r["success"]], "refused renames are audited too"
    site.add_user("vw")
    assert site.login("vw").patch("/api/groups/东区", json={"name": "z"},
                                  headers={"Origin": site.origin}).status_code == 403
