"""The statistics' rollup is built by the service, not by the first request (wall/stats/keeper.py), and its models
are migration 0014's.

A history of cases is written into a site's database before the service starts; the started service builds
every whole past day of it, for the server's own UTC offset and for one a browser asked for before the restart,
while no one asks for statistics; the first report then builds nothing and gives the straight figures. The
keeper also rebuilds a day a case change marked stale, and stops when the service does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import SiteStarter, wait_until
from tests.migration_helpers import table_diff
from tests.test_stats_rollup import insert_cases
from wall.stats import days, rollup
from wall.stats.keeper import RollupKeeper, local_offset
from wall.stats.models import GroupBy, Period, StatsQuery
from wall.stats.queries import raw_report
from wall.store.cases import Case
from wall.store.db import Database, open_database
from wall.store.stats import RollupDay

CAMERAS = """
cameras:
  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a", street: 解放路街道}
  - {id: cam-b, name: 人民路, url: "rtsp://127.0.0.1:9/b"}
"""
DAYS = 10
BROWSER_OFFSET = 480 if local_offset() != 480 else -300  # an offset other than the server's


def history(now: datetime) -> list[dict[str, Any]]:
    """Three cases a day over the last ``DAYS`` days (decided, dispatched, left pending), up to now."""
    rows = []
    for n in range(DAYS * 3):
        raised = now - timedelta(hours=8 * n + 1)
        decided = raised + timedelta(seconds=60 + n)
        row: dict[str, Any] = {
            "camera_id": "cam-a" if n % 2 else "cam-b", "camera_name": "甲", "code": "0501",
            "code_name": "无照经营游商", "street": "解放路街道" if n % 2 else None, "community": None,
            "source": "ai", "raised_at": raised, "status": "pending_review", "decided_at": None,
            "reject_reason": None, "merged": False, "dispatched_at": None, "cleared_at": None, "closed_at": None,
            "deadline_at": None}
        if n % 3 == 1:
            row.update(status="rejected", decided_at=decided, reject_reason="shadow")
        elif n % 3 == 2:
            row.update(status="dispatched", decided_at=decided, dispatched_at=decided + timedelta(seconds=30),
                       deadline_at=decided + timedelta(hours=2))
        rows.append(row)
    return rows


def whole_days(db: Database, offset: int, now: datetime) -> int:
    """How many days the rollup serves at ``offset`` (what a request would build: its own statement)."""
    query = StatsQuery(Period.DAY, now - timedelta(days=DAYS + 2), now, utc_offset=offset)
    with db.session() as s:
        return len(days.whole_days(s, query, now))


def built(db: Database, offset: int) -> dict[str, datetime]:
    with db.session() as s:
        return {day: at for day, at in s.execute(select(RollupDay.day, RollupDay.built_at).where(
            RollupDay.utc_offset == offset, RollupDay.state == "built", RollupDay.version == rollup.VERSION,
            func.length(RollupDay.day) == len("YYYY-MM-DD")))}  # days, not the months built from them


def test_the_service_builds_the_rollup_without_a_statistics_request(serve_site: SiteStarter,
                                                                     tmp_path: Path) -> None:
    now = datetime.now(UTC)
    data = tmp_path / "data"
    db = open_database(data)  # the history is there before the service starts (an import, a restart)
    insert_cases(db, history(now))
    browser_query = StatsQuery(Period.DAY, now - timedelta(days=3), now, utc_offset=BROWSER_OFFSET)
    with db.session() as s:  # a browser at another offset asked before the restart: the rollup has that offset
        rollup.ensure(s, browser_query, now)
    assert len(built(db, BROWSER_OFFSET)) == 1 and built(db, local_offset()) == {}
    expected = {offset: whole_days(db, offset, now) for offset in (local_offset(), BROWSER_OFFSET)}
    assert all(n >= DAYS - 2 for n in expected.values()), expected
    db.dispose()

    site = serve_site(CAMERAS, f"server:\n  data_dir: {data}\n")
    keeper = site.app.state.services.stats_rollup
    assert wait_until(lambda: keeper.passes >= 1, 60), "the keeper's first pass did not end"
    ours = built(site.db, local_offset())
    assert len(ours) == expected[local_offset()]
    assert len(built(site.db, BROWSER_OFFSET)) == expected[BROWSER_OFFSET]

    # the first report builds nothing (every day's built_at stays) and is the straight answer
    since = now - timedelta(days=DAYS + 1)
    params = {"since": since.isoformat(), "until": now.isoformat(), "utc_offset": local_offset(), "by": "camera"}
    answer = site.client("admin").get("/api/stats", params=params)
    assert answer.status_code == 200, answer.text
    assert built(site.db, local_offset()) == ours
    with site.db.session() as s:
        straight = raw_report(s, StatsQuery(Period.DAY, since, now, by=GroupBy.CAMERA, utc_offset=local_offset(),
                                            now=now))
    got, want = answer.json(), straight.model_dump(mode="json")
    assert got["total"]["raised"] == want["total"]["raised"] == DAYS * 3 > 0
    assert [g["raised"] for g in got["groups"]] == [g["raised"] for g in want["groups"]]


def test_the_keeper_rebuilds_a_stale_day_and_stops(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    db = open_database(tmp_path)
    try:
        ids = insert_cases(db, history(now))
        keeper = RollupKeeper(db, lambda: now, interval=0.2, own_offset=lambda: 0)
        keeper.start()
        assert wait_until(lambda: keeper.passes >= 1, 30)
        assert len(built(db, 0)) == whole_days(db, 0, now)
        with db.session() as s:  # case 29 was raised about 9.7 days ago: a built day
            raised = s.scalar(select(Case.raised_at).where(Case.id == ids[-1]))
            s.execute(update(Case).where(Case.id == ids[-1]).values(street="新街道"))
            stale = s.scalar(select(func.count()).select_from(RollupDay).where(RollupDay.state == "stale"))
        assert stale == 1 and raised is not None
        assert wait_until(lambda: not any(state == "stale" for state in _states(db)), 10)
        keeper.stop()
        assert keeper._thread is not None and not keeper._thread.is_alive()
    finally:
        db.dispose()


def _states(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(RollupDay.state)))


@pytest.mark.parametrize("table", ["stats_rollup_days", "stats_rollup", "stats_rollup_reasons"])
def test_the_rollup_models_are_the_migrations(tmp_path: Path, table: str) -> None:
    """The models share their key columns (wall/store/stats.py); the schema stays migration 0014's."""
    db = open_database(tmp_path)
    try:
        assert table_diff(db, table) == []
    finally:
        db.dispose()
