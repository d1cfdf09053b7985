"""The hall's time zone (``hall.time_zone``, wall/stats/clock.py): the statistics cut their days in the hall's zone
whatever offset the browser sends, over the real app; the page's dates (``since_date``/``until_date``, and
``/api/stats/clock``'s today) are the hall's; without the setting the browser's offset still decides (the
default, as before); a zone with summer time cuts its days at its own midnight on both sides of the change, on
the straight statements and the rollup alike; a zone that does not exist is refused at load.

The history: a case at 23:30 Shanghai time on 2 March (15:30 UTC) and one at 00:30 on 3 March (16:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from tests.conftest import SiteStarter
from tests.test_stats_rollup import insert_cases
from wall.hall_settings import HallSettings
from wall.stats.clock import HallClock
from wall.stats.keeper import RollupKeeper
from wall.stats.models import GroupBy, Period, StatsQuery
from wall.stats.queries import raw_report, report
from wall.store.db import open_database
from wall.store.stats import RollupDay
from wall.time_limits import TimeLimits

CAMERAS = """
cameras:
  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a", street: 解放路街道}
"""
LATE = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 on 2 March in Shanghai; still 2 March in UTC
EARLY = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March in Shanghai


def case(raised: datetime) -> dict[str, Any]:
    return {"camera_id": "cam-a", "camera_name": "解放路口", "code": "0501", "code_name": "无照经营游商",
            "street": "解放路街道", "community": None, "source": "ai", "raised_at": raised,
            "status": "pending_review", "decided_at": None, "reject_reason": None, "merged": False,
            "dispatched_at": None, "cleared_at": None, "closed_at": None, "deadline_at": None}


def per_day(answer: Any) -> list[tuple[str, int]]:
    assert answer.status_code == 200, answer.text
    return [(r["period"], r["raised"]) for r in answer.json()["rows"]]


def test_a_case_at_2330_shanghai_time_lands_on_that_local_day(serve_site: SiteStarter, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\nhall:\n  time_zone: Asia/Shanghai\n")
    insert_cases(site.db, [case(LATE), case(EARLY)])
    admin = site.client("admin")
    utc = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-05T00:00:00Z"}
    for offset in (0, -300, 480):  # whatever the browser's offset, the hall's days
        answer = admin.get("/api/stats", params={**utc, "utc_offset": offset})
        assert per_day(answer) == [("2026-03-02", 1), ("2026-03-03", 1)], offset
        assert answer.json()["time_zone"] == "Asia/Shanghai" and answer.json()["utc_offset"] == 480
    # the page's dates are the hall's: 3 March is 2 March 16:00 UTC to 3 March 16:00 UTC
    only_third = admin.get("/api/stats", params={"since_date": "2026-03-03", "until_date": "2026-03-03"})
    assert per_day(only_third) == [("2026-03-03", 1)]
    assert only_third.json()["since"].startswith("2026-03-02T16:00:00")
    assert only_third.json()["until"].startswith("2026-03-03T16:00:00")
    both = admin.get("/api/stats", params={"since_date": "2026-03-02", "until_date": "2026-03-03", "period": "week"})
    assert per_day(both) == [("2026-03-02", 2)]
    clock = admin.get("/api/stats/clock").json()
    now = site.app.state.services.clock()
    assert clock == {"time_zone": "Asia/Shanghai", "utc_offset": 480,
                     "today": (now + timedelta(hours=8)).date().isoformat()}
    assert admin.get("/api/stats", params={"since_date": "2026-03-03", "since": "2026-03-01T00:00:00Z"}
                     ).status_code == 422
    assert admin.get("/api/stats", params={"since_date": "3 March"}).status_code == 422
    for edge in ({"since": "0001-01-01T00:00:00Z", "until": "0001-01-20T00:00:00Z"},
                 {"since_date": "0001-01-01", "until_date": "0001-01-05"},
                 {"since_date": "9999-12-25", "until_date": "9999-12-31"}):  # the calendar's ends: no 5xx
        assert admin.get("/api/stats", params=edge).status_code in (200, 422), edge
    assert site.client(None).get("/api/stats/clock").status_code == 401


def test_the_page_shows_the_halls_days_in_a_browser_far_away(serve_site: SiteStarter, tmp_path: Path,
                                                             browser: Any, page_errors: list[str]) -> None:
    """Real Chromium in New York (UTC-5) on a Shanghai hall: the page's dates are the hall's — 2 and 3 March each
    hold one case, the zone is shown, and the CSV link carries the hall's dates."""
    from tests.browser_helpers import STATE_TIMEOUT_MS, sign_in

    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\nhall:\n  time_zone: Asia/Shanghai\n")
    insert_cases(site.db, [case(LATE), case(EARLY)])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                  timezone_id="America/New_York")
    try:
        page = context.new_page()
        page.set_default_timeout(STATE_TIMEOUT_MS)
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        sign_in(page, site, "admin")
        page.goto(site.url + "/stats?period=day&since=2026-03-02&until=2026-03-03")
        rows = page.locator("[data-testid=stats-rows] tbody tr")
        rows.nth(1).wait_for()
        assert [rows.nth(i).locator("td").first.inner_text() for i in range(2)] == ["2026-03-02", "2026-03-03"]
        assert page.locator("#t-raised").inner_text() == "2"
        assert page.locator("[data-testid=stats-zone]").get_attribute("data-zone") == "Asia/Shanghai"
        href = page.locator("[data-testid=stats-csv]").get_attribute("href") or ""
        assert "since_date=2026-03-02" in href and "until_date=2026-03-03" in href, href
        assert page_errors == []
    finally:
        context.close()


def test_without_a_hall_time_zone_the_browsers_offset_decides(serve_site: SiteStarter, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\n")
    insert_cases(site.db, [case(LATE), case(EARLY)])
    admin = site.client("admin")
    utc = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-05T00:00:00Z"}
    assert per_day(admin.get("/api/stats", params={**utc, "utc_offset": 0})) == [("2026-03-02", 2)]
    assert per_day(admin.get("/api/stats", params={**utc, "utc_offset": 480})) == [("2026-03-02", 1),
                                                                                  ("2026-03-03", 1)]
    # hall dates in the browser's offset: 3 March at +08:00
    third = admin.get("/api/stats", params={"since_date": "2026-03-03", "until_date": "2026-03-03",
                                            "utc_offset": 480})
    assert per_day(third) == [("2026-03-03", 1)] and third.json()["time_zone"] is None
    assert admin.get("/api/stats/clock").json() == {"time_zone": None, "today": None, "utc_offset": None}


def test_summer_time_days_start_at_the_halls_midnight_straight_and_from_the_rollup(tmp_path: Path) -> None:
    """New York moves from -05:00 to -04:00 at 07:00 UTC on 8 March 2026: a case at 00:30 local on 9 March
    (04:30 UTC) is on the 9th in the zone, on the 8th at the fixed -05:00; the 8th is a 23-hour day."""
    db = open_database(tmp_path)
    try:
        raised = [datetime(2026, 3, 9, 4, 30, tzinfo=UTC), datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
                  datetime(2026, 3, 8, 5, 30, tzinfo=UTC), datetime(2026, 3, 20, 12, tzinfo=UTC)]
        insert_cases(db, [case(t) for t in raised])
        since, until, now = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 25, tzinfo=UTC), \
            datetime(2026, 4, 1, tzinfo=UTC)
        zone = StatsQuery(Period.DAY, since, until, now=now, time_zone="America/New_York")
        fixed = StatsQuery(Period.DAY, since, until, now=now, utc_offset=-300)
        with db.session() as s:
            straight = raw_report(s, zone)
        assert [(r.period, r.raised) for r in straight.rows] == [
            ("2026-03-07", 1), ("2026-03-08", 1), ("2026-03-09", 1), ("2026-03-20", 1)]
        with db.session() as s:
            assert [(r.period, r.raised) for r in raw_report(s, fixed).rows] == [
                ("2026-03-07", 1), ("2026-03-08", 2), ("2026-03-20", 1)]
        for query in (zone, fixed, zone):  # the zone's days, then the fixed offset's rebuilt, then the zone's again
            with db.session() as s:
                expected = raw_report(s, query).model_dump()
            with db.session() as s:
                assert report(s, query).model_dump() == expected
        clock = HallClock(zone="America/New_York")
        assert clock.utc(datetime(2026, 3, 9)) - clock.utc(datetime(2026, 3, 8)) == timedelta(hours=23)
        assert clock.local(datetime(2026, 3, 9, 4, 30, tzinfo=UTC)).date() == date(2026, 3, 9)
    finally:
        db.dispose()


def test_calendar_day_limits_end_at_the_halls_midnight(serve_site: SiteStarter, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``platform.time_limits.days: calendar`` with a one-day limit (当日): a case dispatched at 23:30 Shanghai
    time is due at the hall's midnight half an hour later, one dispatched at 00:30 at the next midnight; a limit
    that is not whole days, and the default (elapsed), count seconds."""
    from tests.case_helpers import event_change

    at = {"now": LATE}
    monkeypatch.setattr("wall.cases.desk.now", lambda: at["now"])
    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\nhall:\n  time_zone: Asia/Shanghai\n"
                      "platform:\n  time_limits: {default: 86400, days: calendar, codes: {'0601': 5400}}\n")
    desk = site.app.state.services.cases.desk

    def deadline(dispatched: datetime, place: str) -> datetime | None:
        at["now"] = dispatched - timedelta(seconds=60)
        case_id = desk.on_event(event_change(desk.evidence_dir, camera="cam-a", place=place))
        assert case_id is not None
        desk.confirm(case_id, "op", webhook=False)
        at["now"] = dispatched
        desk.dispatched(case_id, "platform", department="城管执法一中队", ref=place)
        return desk.get(case_id).deadline_at

    assert deadline(LATE, "late") == datetime(2026, 3, 2, 16, tzinfo=UTC)  # midnight ending 2 March, Shanghai
    assert deadline(EARLY, "early") == datetime(2026, 3, 3, 16, tzinfo=UTC)  # midnight ending 3 March
    elapsed = TimeLimits(default=86400, codes={"0601": 5400})
    calendar = TimeLimits(default=2 * 86400, days="calendar", codes={"0601": 5400}).in_zone("Asia/Shanghai")
    assert elapsed.deadline("0501", LATE, None) == LATE + timedelta(days=1)
    assert calendar.deadline("0501", LATE, None) == datetime(2026, 3, 3, 16, tzinfo=UTC)  # 次日: the 2nd day
    assert calendar.deadline("0601", LATE, None) == LATE + timedelta(seconds=5400)  # not whole days: seconds
    assert TimeLimits(days="calendar").deadline("0501", LATE, None) == datetime(2026, 3, 3, tzinfo=UTC)  # UTC


def test_the_keeper_builds_the_halls_days_and_months(tmp_path: Path) -> None:
    """With ``hall.time_zone`` the keeper builds that zone's days (not the server's own offset) and the months
    whose days are all built; a month report then reads them and is the straight answer."""
    db = open_database(tmp_path)
    try:
        insert_cases(db, [case(datetime(2026, 1, 1, 3, tzinfo=UTC) + timedelta(hours=7 * n)) for n in range(300)])
        now = datetime(2026, 4, 2, tzinfo=UTC)
        keeper = RollupKeeper(db, lambda: now, own_offset=lambda: -300, time_zone="Asia/Shanghai")
        assert keeper.build_pass() >= 85
        with db.session() as s:
            kept = {(offset, len(day)) for offset, day in s.execute(select(RollupDay.utc_offset, RollupDay.day))}
            months = sorted(s.scalars(select(RollupDay.day).where(func.length(RollupDay.day) == 7)))
        assert kept == {(480, 10), (480, 7)}, "the zone's days and months only, not the server's offset's"
        assert months == ["2026-01", "2026-02"]  # March's last days are after the last case's (and not settled)
        query = StatsQuery(Period.MONTH, datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2026, 3, 31, 16, tzinfo=UTC),
                           GroupBy.CAMERA, now=now, time_zone="Asia/Shanghai")
        with db.session() as s:
            expected = raw_report(s, query).model_dump()
        with db.session() as s:
            assert report(s, query).model_dump() == expected
        assert [r["period"] for r in expected["rows"]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    finally:
        db.dispose()


def test_a_time_zone_that_does_not_exist_is_refused() -> None:
    assert HallSettings().time_zone is None  # the default: the browser's offset, as before the setting
    assert HallSettings(time_zone="Asia/Shanghai").time_zone == "Asia/Shanghai"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "+08:00"):
        with pytest.raises(ValidationError, match="IANA time zone"):
            HallSettings(time_zone=bad)
