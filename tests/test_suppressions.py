"""False-alarm memory (误报抑制, issue 15 item 6) over the real app on a real socket with a real database: the
desk's reject with ``remember`` makes a suppression; later candidates at that place are counted on it instead of
raising; admins list, lift and expire (operators get 403 there); every change is audited; the metric counts.

The candidates are the desk's own input (``EventChange`` with real evidence files) rather than video: the live
test (tests/test_suppressions_live.py) shows the same with the real camera and model on the lobby clip.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.case_helpers import event_change
from tests.conftest import LiveServer, SiteStarter
from tests.migration_helpers import table_diff
from tests.test_metrics import scrape, value
from wall.cases.desk import CaseDesk
from wall.cases.suppressions import same_place
from wall.store.accounts import AuditEntry
from wall.store.db import Database

CAMERAS = 'cameras:\n  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a"}\n'
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def candidate(desk: CaseDesk, place: str, box: tuple[float, float, float, float] = (100.0, 120.0, 180.0, 220.0),
              camera: str = "cam-a") -> int | None:
    change = event_change(desk.evidence_dir, place=place, camera=camera)
    change.place_box = box
    return desk.on_event(change)


def audit_rows(db: Database, prefix: str) -> list[tuple[str, str | None, bool, dict[str, Any] | None]]:
    with db.session() as s:
        return [(a.action, a.target, a.success, json.loads(a.detail) if a.detail else None) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id))]


def test_the_place_keeps_or_not_by_cell_and_box() -> None:
    box = (100.0, 120.0, 180.0, 220.0)
    assert same_place("3-4", box, "3-4", box)
    assert same_place("4-5", (0, 0, 1, 1), "3-4", box), "a neighbouring cell is the tracker's same place"
    assert not same_place("5-4", (300, 300, 340, 340), "3-4", box)
    assert same_place("9-9", (105.0, 125.0, 185.0, 225.0), "3-4", box), "the same object, keyed one cell further"


@pytest.fixture
def site(serve_site: SiteStarter, tmp_path: Path) -> LiveServer:
    live = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\nreview:\n  suppression_days: 30\n")
    live.add_user("op", "operator", grants=("cam-a",))
    return live


def test_reject_with_remember_suppresses_the_place_and_admins_lift_and_expire(site: LiveServer) -> None:
    desk: CaseDesk = site.app.state.services.cases.desk
    clock = [T0]
    desk.clock = lambda: clock[0]  # the service clock of expiry, moved here without touching the sessions'
    op, admin = site.client("op"), site.client()
    origin = {"Origin": site.origin}

    options = op.get("/api/suppressions/options").json()
    assert "licensed_stall" in options["reasons"] and "duplicate" not in options["reasons"]
    assert options["days"] == 30

    first = candidate(desk, "3-4")
    assert first is not None
    # a reason that says nothing about the place cannot remember it: refused whole (the case stays pending)
    res = op.post(f"/api/cases/{first}/reject", json={"reason": "duplicate", "remember": True}, headers=origin)
    assert res.status_code == 422, res.text
    assert op.get(f"/api/cases/{first}").json()["status"] == "pending_review"
    res = op.post(f"/api/cases/{first}/reject", json={"reason": "licensed_stall", "text": "早餐车 持证",
                                                      "remember": True}, headers=origin)
    assert res.status_code == 200, res.text
    detail = op.get(f"/api/cases/{first}").json()
    [made] = detail["suppressions"]
    assert (made["case_id"], made["camera"], made["zone"], made["place"], made["reason"], made["state"]) == \
        (first, "cam-a", "pavement", "3-4", "licensed_stall", "active")
    assert datetime.fromisoformat(made["expires_at"]) == T0 + timedelta(days=30)
    assert any(e["action"] == "suppressed_place" and e["detail"] == {"suppression": made["id"]}
               for e in detail["events"])
    sid = made["id"]

    # the same place (same cell, a neighbouring cell) raises nothing and is counted; another place raises
    assert candidate(desk, "3-4") is None
    assert candidate(desk, "4-5", (130.0, 150.0, 200.0, 250.0)) is None
    repeated = event_change(desk.evidence_dir, place="4-5")  # one event's opened, sent again when its clip is cut,
    assert desk.on_event(repeated) is None and desk.on_event(repeated) is None  # counts once
    other = candidate(desk, "9-1", (500.0, 40.0, 560.0, 100.0))
    assert other is not None
    assert op.get(f"/api/cases/{other}").json()["suppressions"] == []
    assert candidate(desk, "3-4", camera="cam-b") is not None, "another camera is another place"

    # operators may not list or change them; admins see the hits
    assert op.get("/api/suppressions").status_code == 403
    assert op.post(f"/api/suppressions/{sid}/lift", headers=origin).status_code == 403
    assert op.put(f"/api/suppressions/{sid}/expiry", json={"expires_at": None}, headers=origin).status_code == 403
    [row] = admin.get("/api/suppressions").json()
    assert (row["id"], row["hits"], row["state"]) == (sid, 3, "active")
    assert "citywall_candidates_suppressed_total" in scrape(site)
    assert value(scrape(site), "citywall_candidates_suppressed_total", camera="cam-a", code="0501") == 3.0

    # an admin ends it now: the place raises again; kept until lifted, it matches again (the new case is open
    # there now, so the next candidate is that case seen again, not a new one)
    res = admin.put(f"/api/suppressions/{sid}/expiry", json={"expires_at": (T0 - timedelta(minutes=1)).isoformat()},
                    headers=origin)
    assert res.status_code == 200 and res.json()["state"] == "expired", res.text
    assert admin.get("/api/suppressions").json() == []
    assert [r["id"] for r in admin.get("/api/suppressions", params={"state": "expired"}).json()] == [sid]
    again = candidate(desk, "3-4")
    assert again is not None and again != first
    res = admin.put(f"/api/suppressions/{sid}/expiry", json={"expires_at": None}, headers=origin)
    assert res.json()["state"] == "active" and res.json()["expires_at"] is None
    assert [s["id"] for s in op.get(f"/api/cases/{again}").json()["suppressions"]] == [sid], \
        "the desk shows the suppression covering the place of a case"
    res = op.post(f"/api/cases/{again}/reject", json={"reason": "licensed_stall"}, headers=origin)
    assert res.status_code == 200
    assert candidate(desk, "3-4") is None
    # the default lifetime runs out by the service clock
    clock[0] = T0 + timedelta(days=31)
    res = admin.put(f"/api/suppressions/{sid}/expiry", json={"expires_at": (T0 + timedelta(days=30)).isoformat()},
                    headers=origin)
    assert res.json()["state"] == "expired"
    assert candidate(desk, "3-4") is not None
    clock[0] = T0

    res = admin.post(f"/api/suppressions/{sid}/lift", headers=origin)
    assert res.status_code == 200 and res.json()["state"] == "lifted" and res.json()["lifted_by"] == "admin"
    assert admin.post(f"/api/suppressions/{sid}/lift", headers=origin).status_code == 409
    assert admin.post("/api/suppressions/999/lift", headers=origin).status_code == 404
    assert [r["hits"] for r in admin.get("/api/suppressions", params={"state": "lifted"}).json()] == [4]

    rows = audit_rows(site.db, "suppression.")
    assert [(a, t, ok) for a, t, ok, _ in rows] == [
        ("suppression.create", f"suppression:{sid}", True), ("suppression.expiry", f"suppression:{sid}", True),
        ("suppression.expiry", f"suppression:{sid}", True), ("suppression.expiry", f"suppression:{sid}", True),
        ("suppression.lift", f"suppression:{sid}", True)]
    assert rows[0][3] is not None and rows[0][3]["case"] == first and rows[0][3]["reason"] == "licensed_stall"
    assert rows[-1][3] is not None and rows[-1][3]["hits"] == 4
    assert [a for a, *_ in audit_rows(site.db, "case_reject")] == ["case_reject"] * 3


def check_migration(url: str) -> None:
    """0010 creates ``suppressions`` on a database of 0009, drops it, creates it again: exactly the model."""
    from alembic import command
    from sqlalchemy import inspect

    db = Database(url)
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0009_case_deadlines")
            command.upgrade(config, "head")
            assert "suppressions" in inspect(conn).get_table_names()
            command.downgrade(config, "0009_case_deadlines")
            assert "suppressions" not in inspect(conn).get_table_names()
            command.upgrade(config, "head")
        assert table_diff(db, "suppressions") == []
    finally:
        db.dispose()


def test_migration_0010_on_sqlite(tmp_path: Path) -> None:
    from wall.store.db import database_url

    check_migration(database_url(tmp_path))


@pytest.mark.slow
def test_migration_0010_on_postgresql(postgres_server: int) -> None:
    from tests.pg import database_url

    check_migration(database_url(postgres_server))
