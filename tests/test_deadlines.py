"""Time limits (处置时限, issue 13 item 5) on real parts: the desk on a real SQLite file with its clock set, the
outbox posting to a real HTTP receiver, the migration up and down on SQLite and a real PostgreSQL, and the platform
API over the real app on a real socket with the service clock moved past a deadline.

What is checked: a dispatch gives the case its deadline — the platform's (from its call or its reply to the
webhook; a +08:00 time stored as the same instant in UTC) or else the event code's limit from the dispatch (a
code of its own, the default, or none); "overdue" is past that deadline by the service clock and still with the
department, not once cleared on video; the queue's overdue filter; the case_confirmed message carries the
limit that applies and, sent after the dispatch, the deadline.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.case_helpers import CAMERAS, Receiver, event_change
from tests.conftest import Clock, SiteStarter, wait_until
from tests.migration_helpers import table_diff
from vision.catalogue import load_catalogue
from wall.cases.desk import CaseDesk
from wall.cases.outbox import Outbox
from wall.config import PlatformSettings
from wall.hall_settings import DEFAULT_REJECT_REASONS
from wall.store.db import Database, open_database
from wall.time_limits import TimeLimits

SECRET = "deadline-webhook-secret"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LIMITS = TimeLimits(default=3600, codes={"0501": 600, "0102": None})


class DeskClock:
    """``wall.cases.desk.now``, moved by the test (dispatch times, and overdue, are then exact)."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t

    def at(self, seconds: float) -> None:
        self.t = T0 + timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> DeskClock:
    clock = DeskClock()
    monkeypatch.setattr("wall.cases.desk.now", clock)
    return clock


@pytest.fixture
def desk(tmp_path: Path, clock: DeskClock) -> CaseDesk:
    db = open_database(tmp_path / "data")
    return CaseDesk(db, CAMERAS, load_catalogue(), tmp_path / "evidence", reject_reasons=list(DEFAULT_REJECT_REASONS),
                    time_limits=LIMITS)


def raised(desk: CaseDesk, place: str) -> tuple[int, str]:
    change = event_change(desk.evidence_dir, place=place)
    case_id = desk.on_event(change)
    assert case_id is not None
    return case_id, change.event_id


def test_the_time_limit_settings_resolve_per_code() -> None:
    assert (LIMITS.seconds("0501"), LIMITS.seconds("0102"), LIMITS.seconds("0503")) == (600, None, 3600)
    assert TimeLimits().seconds("0501") == 86400  # one day unless the site says otherwise
    assert TimeLimits(default=None).deadline("0503", T0, None) is None
    for bad in ({"default": 0}, {"codes": {"501": 60}}, {"codes": {"0501": -1}}, {"cods": {}}):
        with pytest.raises(ValueError):
            TimeLimits.model_validate(bad)
    guide = (Path(__file__).resolve().parents[1] / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    shown = [b for b in re.findall(r"```yaml\n(.*?)```", guide, re.S) if "time_limits:" in b]
    assert len(shown) == 1, "the admin guide's time_limits example"
    example = PlatformSettings.model_validate(yaml.safe_load(shown[0])["platform"]).time_limits
    assert (example.seconds("0501"), example.seconds("0103"), example.seconds("0507")) == (3600, None, 86400)


def test_a_dispatch_sets_the_deadline_and_overdue_follows_the_clock(desk: CaseDesk, clock: DeskClock) -> None:
    stall, stall_event = raised(desk, "1-1")  # 0501: 600 s
    platform, _ = raised(desk, "2-2")
    garbage, _ = raised(desk, "3-3")
    other, _ = raised(desk, "4-4")
    for case_id, code in ((stall, None), (platform, None), (garbage, "0102"), (other, "0503")):
        desk.confirm(case_id, "op", code=code, webhook=False)
    assert desk.get(stall).deadline_at is None  # confirmed, not dispatched: no clock runs yet
    desk.dispatched(stall, "platform", department="一中队", ref=None)
    desk.dispatched(platform, "platform", department="二中队", ref=None,
                    deadline=datetime.fromisoformat("2026-03-02T12:00:00+08:00"))  # 04:00 UTC
    desk.dispatched(garbage, "platform", department="三中队", ref=None)  # 0102: no limit
    clock.at(100)
    desk.dispatched(other, "platform", department="四中队", ref=None)  # the default, from its own dispatch

    assert desk.get(stall).deadline_at == T0 + timedelta(seconds=600)
    assert desk.get(platform).deadline_at == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # the same instant, in UTC
    assert desk.get(garbage).deadline_at is None
    assert desk.get(other).deadline_at == T0 + timedelta(seconds=3700)
    entry = desk.get(stall).events[-1]
    assert (entry.action, entry.detail["deadline_at"]) == ("dispatch", (T0 + timedelta(seconds=600)).isoformat())

    clock.at(599)
    assert not desk.get(stall).overdue and desk.list(None, overdue=True)[0] == 0
    clock.at(601)
    assert desk.get(stall).overdue and not desk.get(platform).overdue and not desk.get(garbage).overdue
    total, rows = desk.list(None, overdue=True)
    assert (total, [r.id for r in rows]) == (1, [stall])
    assert stall not in {r.id for r in desk.list(None, overdue=False)[1]}
    assert desk.list({"cam-b"}, overdue=True)[0] == 0  # the grant filter still applies

    clock.at(4 * 3600)  # 05:00: the platform's 04:00 and the default's 02:01:40 have passed too
    assert {r.id for r in desk.list(None, overdue=True)[1]} == {stall, platform, other}
    desk.on_event(event_change(desk.evidence_dir, kind="still_present", event_id=stall_event))
    assert desk.get(stall).status == "still_present" and desk.get(stall).overdue  # still with the department
    desk.on_event(event_change(desk.evidence_dir, kind="cleared", event_id=stall_event))
    assert desk.get(stall).status == "cleared_on_video" and not desk.get(stall).overdue  # handled, if late
    desk.close(platform, "op")
    assert {r.id for r in desk.list(None, overdue=True)[1]} == {other}


def documents(receiver: Receiver) -> dict[str, dict[str, Any]]:
    return {h["Idempotency-Key"]: json.loads(body) for h, body in receiver.posts}


def test_the_outbox_carries_the_limit_and_the_platforms_reply_may_set_the_deadline(
        desk: CaseDesk, clock: DeskClock, tmp_path: Path) -> None:
    receiver = Receiver(reply={"department": "城管执法一中队", "deadline": "2026-03-02T18:00:00+08:00"})
    outbox = Outbox(desk.db, desk, url=receiver.url, secret=SECRET, evidence_dir=tmp_path / "evidence",
                    backoff_initial=0.05, backoff_max=0.2)
    try:
        replied, _ = raised(desk, "1-1")
        early, _ = raised(desk, "2-2")
        desk.confirm(replied, "op")
        desk.confirm(early, "op")
        desk.dispatched(early, "platform", department="二中队", ref=None)  # before its message went (a lost answer)
        assert outbox.deliver_due() == 2
        receiver.reply = {"department": "三中队", "deadline": "next Tuesday"}  # not a time: the code's limit
        clock.at(60)
        garbled, _ = raised(desk, "3-3")
        desk.confirm(garbled, "op", code="0503")
        assert outbox.deliver_due() == 1
    finally:
        outbox.stop()
        receiver.close()
    sent = documents(receiver)
    first = sent[f"citywall-case-{replied}"]
    assert (first["message"], first["time_limit_s"], first["deadline_at"]) == ("case_confirmed", 600.0, None)
    assert sent[f"citywall-case-{early}"]["deadline_at"] == (T0 + timedelta(seconds=600)).isoformat()
    assert sent[f"citywall-case-{garbled}"]["time_limit_s"] == 3600.0
    assert desk.get(replied).deadline_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the reply's, in UTC
    assert desk.get(replied).department == "城管执法一中队"
    assert desk.get(early).department == "二中队"  # the reply could not dispatch it twice
    assert desk.get(garbled).deadline_at == T0 + timedelta(seconds=60 + 3600)


def check_migration(url: str) -> None:
    """0009 adds cases.deadline_at to a database of 0008 (its cases get none), drops it again, adds it again, and
    leaves ``cases`` exactly as the model has it."""
    from alembic import command
    from sqlalchemy import inspect, text

    db = Database(url)
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0008_platform")
            conn.execute(text(
                "INSERT INTO cases (event_id, status, source, camera_id, camera_name, zone_id, family, place, "
                "place_box, code, code_name, catalogue_version, description, boxes, first_seen, last_seen, raised_at,"
                " updated_at, dispatched_at) VALUES ('e1', 'dispatched', 'ai', 'car', 'car', 'z', 'street_stall', "
                "'1-1', '[]', '0501', 'x', 'v', '', '[]', '2026-01-01', '2026-01-01', '2026-01-01', '2026-01-01', "
                "'2026-01-01')"))
            command.upgrade(config, "head")
            assert conn.execute(text("SELECT deadline_at FROM cases")).scalar_one() is None  # none invented
            command.downgrade(config, "0008_platform")
            assert "deadline_at" not in {c["name"] for c in inspect(conn).get_columns("cases")}
            assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 1
            command.upgrade(config, "head")
        assert table_diff(db, "cases") == []
    finally:
        db.dispose()


def test_migration_0009_on_sqlite(tmp_path: Path) -> None:
    from wall.store.db import database_url

    check_migration(database_url(tmp_path))


@pytest.mark.slow
def test_migration_0009_on_postgresql(postgres_server: int) -> None:
    from tests.pg import database_url

    check_migration(database_url(postgres_server))


@pytest.mark.slow
def test_platform_dispatch_with_and_without_a_deadline_over_the_api(serve_site: SiteStarter, tmp_path: Path) -> None:
    """The platform's ``dispatched`` call with a deadline keeps it; without one the code's limit runs from the
    dispatch; the case turns overdue when the service clock passes it — in its record, the queue's filter and
    the statistics — and the confirmation the platform received named the limit."""
    from wall.platform import accounts
    from wall.platform.models import Scope
    from wall.store.accounts import utcnow

    receiver = Receiver()
    cameras = 'cameras:\n  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a"}\n'
    server = (f"server:\n  data_dir: {tmp_path / 'data'}\n"
              f"platform:\n  webhook_url: {receiver.url}\n  secret: {SECRET}\n  backoff_initial: 0.05\n"
              "  backoff_max: 0.2\n  time_limits:\n    default: 7200\n    codes: {'0501': 600}\n")
    try:
        site = serve_site(cameras, server)
        site.add_user("op", "operator", grants=("cam-a",))
        with site.db.session() as s:
            token = accounts.create(s, "city", [Scope.CASES])
        desk = site.app.state.services.cases.desk
        ids = []
        for place in ("1-1", "2-2"):
            case_id = desk.on_event(event_change(desk.evidence_dir, place=place))
            res = site.client("op").post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": site.origin})
            assert res.status_code == 200, res.text
            ids.append(case_id)
        limited, given = ids
        assert wait_until(lambda: len(receiver.posts) == 2, 20), "the confirmations never reached the platform"
        assert [(d["time_limit_s"], d["deadline_at"]) for d in documents(receiver).values()] == [(600.0, None)] * 2

        platform = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
        before = utcnow()
        res = platform.post(f"/api/platform/cases/citywall-{limited}/dispatched",
                            json={"request_id": "d-1", "department": "一中队"})
        assert res.status_code == 200, res.text
        after = utcnow()
        res = platform.post(f"/api/platform/cases/citywall-{given}/dispatched",
                            json={"request_id": "d-2", "department": "二中队", "deadline": "2030-01-01T08:00:00+08:00"})
        assert res.status_code == 200, res.text
        platform.close()

        op = site.client("op")
        record = op.get(f"/api/cases/{limited}").json()
        deadline = datetime.fromisoformat(record["deadline_at"])
        assert before + timedelta(seconds=600) <= deadline <= after + timedelta(seconds=600)
        assert record["overdue"] is False
        assert op.get(f"/api/cases/{given}").json()["deadline_at"] == "2030-01-01T00:00:00+00:00"
        assert op.get("/api/cases", params={"overdue": "true"}).json()["total"] == 0

        clock = Clock().install(site)  # the service clock, moved past the 600 s
        clock.step(601 + (utcnow() - before).total_seconds())
        assert op.get(f"/api/cases/{limited}").json()["overdue"] is True
        assert op.get(f"/api/cases/{given}").json()["overdue"] is False
        page = op.get("/api/cases", params={"overdue": "true"}).json()
        assert (page["total"], [c["id"] for c in page["items"]], page["items"][0]["overdue"]) == (1, [limited], True)
        others = op.get("/api/cases", params={"overdue": "false", "status": "dispatched"}).json()
        assert [c["id"] for c in others["items"]] == [given]
        assert op.get("/api/cases", params={"overdue": "maybe"}).status_code == 422
        stats = site.client().get("/api/stats").json()
        assert (stats["total"]["dispatched"], stats["total"]["overdue"]) == (2, 1)
    finally:
        receiver.close()
