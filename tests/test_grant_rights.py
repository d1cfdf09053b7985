"""Grant rights: the live view, playback (录像回放) and PTZ (遥控) are granted one by one, per user, role and camera
group, with the same resolution; what each user holds shows in ``/api/me``; the migration that added the right
keeps every existing grant as a view grant.

Real app on a real socket, real SQLite (and PostgreSQL for the migration); cameras on a closed port (rights need
no video).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.conftest import ADMIN, LiveServer, SiteStarter
from tests.migration_helpers import table_diff
from tests.test_admin_api import offline_cameras
from wall.store.db import Database

pytestmark = pytest.mark.slow


def rights_of(site: LiveServer, name: str) -> tuple[list[str], list[str], list[str]]:
    me = site.client(name).get("/api/me").json()
    return me["cameras"], me["playback"], me["ptz"]


def test_each_right_is_granted_and_revoked_on_its_own(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("a1", "a2", "b1", group={"a1": "north", "a2": "north"}))
    site.add_user("op", "operator")
    site.add_user("vw", "viewer")
    admin = site.client()

    def grant(subject: str, target: str, right: str | None = None) -> int:
        body = {"subject": subject, "target": target} | ({"right": right} if right else {})
        res = admin.post("/api/grants", json=body)
        assert res.status_code == 201, res.text
        assert res.json()["right"] == (right or "view")
        return int(res.json()["id"])

    grant("op", "a1")
    playback = grant("op", "group:north", "playback")
    assert rights_of(site, "op") == (["a1"], ["a1", "a2"], []), "playback of the group, live view of one camera"
    grant("op", "a2", "ptz")
    assert rights_of(site, "op")[2] == [], "steering needs the live view of that camera too"
    grant("op", "a2")
    assert rights_of(site, "op") == (["a1", "a2"], ["a1", "a2"], ["a2"])
    grant("role:operator", "b1", "playback")
    assert rights_of(site, "op")[1] == ["a1", "a2", "b1"], "a role's grant counts for its users"

    grant("vw", "b1")
    grant("vw", "b1", "ptz")
    assert rights_of(site, "vw") == (["b1"], [], []), "a viewer's role may not steer, whatever it is granted"
    assert rights_of(site, ADMIN) == (["a1", "a2", "b1"],) * 3, "admins hold every right"

    # The same grant twice is refused; the same target with another right is a grant of its own.
    again = admin.post("/api/grants", json={"subject": "op", "target": "group:north", "right": "playback"})
    assert again.status_code == 409 and "(playback)" in again.json()["detail"]
    bad = admin.post("/api/grants", json={"subject": "op", "target": "a1", "right": "everything"})
    assert bad.status_code == 422
    assert admin.get("/api/grants", params={"right": "nothing"}).status_code == 422
    listed = admin.get("/api/grants", params={"right": "playback"}).json()
    assert sorted((g["subject"], g["target"]) for g in listed) == [("op", "group:north"), ("role:operator", "b1")]

    # Revoking playback leaves the live view; the audit names the right.
    assert admin.delete(f"/api/grants/{playback}").status_code == 204
    assert rights_of(site, "op") == (["a1", "a2"], ["b1"], ["a2"])
    entries = admin.get("/api/audit", params={"action": "grant."}).json()["items"]
    assert entries[0]["action"] == "grant.delete" and entries[0]["detail"]["right"] == "playback"
    assert {e["detail"]["right"] for e in entries if e["success"]} == {"view", "playback", "ptz"}

    # Nobody but an admin grants anything.
    refused = site.client("op").post("/api/grants", json={"subject": "op", "target": "b1", "right": "ptz"},
                                     headers={"Origin": site.origin})
    assert refused.status_code == 403
    assert rights_of(site, "op")[2] == ["a2"]


def check_migration(url: str) -> None:
    """0011 adds ``grant_right`` to the grants of a database of 0010: every grant stays (same id) as a view
    grant; a playback grant of the same camera can then exist beside it; the downgrade keeps the view grants."""
    from alembic import command

    db = Database(url)
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0010_suppressions")
            conn.execute(text("INSERT INTO grants (id, subject_kind, subject, target_kind, target, created_at) "
                              "VALUES (7, 'user', 'op', 'camera', 'a1', '2026-12-01 08:00:00')"))
            command.upgrade(config, "0011_grant_rights")
            assert conn.execute(text("SELECT id, grant_right FROM grants")).all() == [(7, "view")]
            conn.execute(text("INSERT INTO grants (subject_kind, subject, target_kind, target, grant_right, "
                              "created_at) VALUES ('user', 'op', 'camera', 'a1', 'playback', "
                              "'2026-12-01 09:00:00')"))
            with pytest.raises(IntegrityError), conn.begin_nested():  # the same right twice
                conn.execute(text("INSERT INTO grants (subject_kind, subject, target_kind, target, grant_right, "
                                  "created_at) VALUES ('user', 'op', 'camera', 'a1', 'playback', "
                                  "'2026-12-01 10:00:00')"))
            with pytest.raises(IntegrityError), conn.begin_nested():  # no such right
                conn.execute(text("INSERT INTO grants (subject_kind, subject, target_kind, target, grant_right, "
                                  "created_at) VALUES ('user', 'op', 'camera', 'a2', 'all', "
                                  "'2026-12-01 10:00:00')"))
            command.downgrade(config, "0010_suppressions")
            assert conn.execute(text("SELECT id, target FROM grants")).all() == [(7, "a1")]
            command.upgrade(config, "head")
        assert table_diff(db, "grants") == []
    finally:
        db.dispose()


def test_migration_0011_on_sqlite(tmp_path: Path) -> None:
    from wall.store.db import database_url

    check_migration(database_url(tmp_path))


def test_migration_0011_on_postgresql(postgres_server: int) -> None:
    from tests.pg import database_url

    check_migration(database_url(postgres_server))
