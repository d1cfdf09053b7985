"""Statistics (issue 13 item 6) over the real app: a seeded history of cases with known outcomes, raised and decided
through the real desk (its clock moved, so every duration is known), gives the hand-computed figures on SQLite
and PostgreSQL; a user sees only the cameras granted to them; the CSV says what the JSON says; bad parameters
are 4xx.

The history (UTC times; the hall's clock is +08:00, so case 5 falls on 3 March there and on 2 March in UTC).
Every dispatch is 100 s after the decision, and the site's time limit for 0501 is 600 s (the default 3600 s
is not used), so a case is overdue when it was cleared more than 600 s after its dispatch (cases 3 and 6) or
is still open 600 s after it (case 8, dispatched at 05:02:25 and never cleared: overdue from 05:12:25):

====  ======  ===============  =================================================  ==========  ==============
case  camera  raised (UTC)     outcome                                            decided in  dispatch→clear
====  ======  ===============  =================================================  ==========  ==============
1     cam-a   03-02 01:00      confirmed, dispatched, cleared on video            60 s        300 s
2     cam-a   03-02 02:00      rejected (vendor_walking)                          120 s
3     cam-b   03-02 03:00      confirmed, dispatched, cleared on video            300 s       900 s
4     cam-b   03-02 04:00      pending
5     cam-a   03-02 17:00      rejected (other)                                   30 s
6     cam-c   03-03 02:00      confirmed, dispatched, still present, then cleared 90 s        1200 s
7     cam-a   03-03 03:00      merged into case 1
8     cam-b   03-03 05:00      filed by an operator (source patrol), confirmed,   45 s        (open)
                               dispatched, never cleared
9     cam-a   03-20 01:00      outside the range asked for
====  ======  ===============  =================================================  ==========  ==============
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.case_helpers import event_change
from tests.conftest import LiveServer, SiteStarter
from wall.stats.models import Period, StatsQuery
from wall.stats.queries import AI_SOURCE, report
from wall.store.cases import Case

pytestmark = pytest.mark.slow

CAMERAS = """
cameras:
  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a", street: 解放路街道, community: 人民社区}
  - {id: cam-b, name: 人民路, url: "rtsp://127.0.0.1:9/b", street: 解放路街道, community: 和平社区}
  - {id: cam-c, name: 长江路, url: "rtsp://127.0.0.1:9/c"}
"""
RANGE = {"since": "2026-03-02T00:00:00+08:00", "until": "2026-03-04T00:00:00+08:00", "utc_offset": 480}


class DeskClock:
    """The desk's clock (``wall.cases.desk.now``), set by the test before each step of the history."""

    def __init__(self) -> None:
        self.t = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def at(self, text: str, plus: float = 0) -> None:
        self.t = datetime.fromisoformat(text).replace(tzinfo=UTC) + timedelta(seconds=plus)


@dataclass
class Seeded:
    site: LiveServer
    ids: dict[int, int]  # case number of the table → case id


def seed(site: LiveServer, clock: DeskClock) -> Seeded:
    desk = site.app.state.services.cases.desk
    ids: dict[int, int] = {}
    events: dict[int, tuple[str, str]] = {}

    def raise_(n: int, camera: str, at: str) -> None:
        clock.at(at)
        change = event_change(desk.evidence_dir, camera=camera, place=f"{n}-1")
        events[n] = (camera, change.event_id)
        case_id = desk.on_event(change)
        assert case_id is not None
        ids[n] = case_id

    def dispatch_and_verify(n: int, at: str, decided: float, *verdicts: tuple[str, float]) -> None:
        clock.at(at, decided + 100)
        desk.dispatched(ids[n], "platform", department="城管执法一中队", ref=f"HF-{n}")
        for kind, after in verdicts:  # seconds after the dispatch
            clock.at(at, decided + 100 + after)
            camera, event_id = events[n]
            desk.on_event(event_change(desk.evidence_dir, kind=kind, camera=camera, event_id=event_id))

    raise_(1, "cam-a", "2026-03-02T01:00")
    raise_(2, "cam-a", "2026-03-02T02:00")
    raise_(3, "cam-b", "2026-03-02T03:00")
    raise_(4, "cam-b", "2026-03-02T04:00")
    raise_(5, "cam-a", "2026-03-02T17:00")
    raise_(6, "cam-c", "2026-03-03T02:00")
    raise_(7, "cam-a", "2026-03-03T03:00")
    raise_(8, "cam-b", "2026-03-03T05:00")
    raise_(9, "cam-a", "2026-03-20T01:00")
    clock.at("2026-03-02T01:00", 60)
    desk.confirm(ids[1], "op", webhook=False)
    dispatch_and_verify(1, "2026-03-02T01:00", 60, ("cleared", 300))
    clock.at("2026-03-02T02:00", 120)
    desk.reject(ids[2], "op", reason="vendor_walking")
    clock.at("2026-03-02T03:00", 300)
    desk.confirm(ids[3], "op", webhook=False)
    dispatch_and_verify(3, "2026-03-02T03:00", 300, ("cleared", 900))
    clock.at("2026-03-02T17:00", 30)
    desk.reject(ids[5], "op", reason="other")
    clock.at("2026-03-03T02:00", 90)
    desk.confirm(ids[6], "op", webhook=False)
    dispatch_and_verify(6, "2026-03-03T02:00", 90, ("still_present", 200), ("cleared", 1200))
    clock.at("2026-03-03T03:00", 10)
    desk.merge(ids[7], ids[1], "op")
    clock.at("2026-03-03T05:00", 45)
    desk.confirm(ids[8], "op", webhook=False)
    with site.db.session() as s:  # as an operator's filing leaves it (wall.cases.desk.file): source patrol
        s.execute(update(Case).where(Case.id == ids[8]).values(source="patrol"))
    clock.at("2026-03-03T05:00", 45 + 100)
    desk.dispatched(ids[8], "platform", department="城管执法一中队", ref="HF-8")  # and never cleared
    return Seeded(site, ids)


def _site(serve_site: SiteStarter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None) -> Seeded:
    clock = DeskClock()
    monkeypatch.setattr("wall.cases.desk.now", clock)
    server = f"server:\n  data_dir: {tmp_path / 'data'}\n" + (f"  database_url: '{url}'\n" if url else "")
    server += "platform:\n  time_limits: {default: 3600, codes: {'0501': 600}}\n"
    site = serve_site(CAMERAS, server)
    site.add_user("op", "operator", grants=("cam-b",))
    site.add_user("viewer", "viewer", grants=("cam-a", "cam-b", "cam-c"))
    return seed(site, clock)


@pytest.fixture
def seeded(serve_site: SiteStarter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    return _site(serve_site, tmp_path, monkeypatch, None)


def figures(row: dict) -> dict:
    keys = ("raised", "confirmed", "rejected", "merged", "pending", "rejected_by_reason", "ai_decided",
            "ai_confirmed", "ai_precision", "median_decision_seconds", "dispatched", "cleared_on_video",
            "median_clear_seconds", "overdue")
    return {k: row[k] for k in keys}


def fig(raised: int, confirmed: int, rejected: int, merged: int, pending: int, reasons: dict[str, int],
        ai: tuple[int, int], decision: float | None, dispatched: int, clear: float | None, *,
        cleared: int | None = None, overdue: int = 0) -> dict:
    """The figures of a row; ``cleared`` defaults to ``dispatched`` (every dispatched case but 8 was cleared)."""
    return {"raised": raised, "confirmed": confirmed, "rejected": rejected, "merged": merged, "pending": pending,
            "rejected_by_reason": reasons, "ai_decided": ai[0], "ai_confirmed": ai[1],
            "ai_precision": ai[1] / ai[0] if ai[0] else None, "median_decision_seconds": decision,
            "dispatched": dispatched, "cleared_on_video": dispatched if cleared is None else cleared,
            "median_clear_seconds": clear, "overdue": overdue}


# (60+90)/2; 300, 900, 1200 (case 8 never cleared); overdue: 3 (cleared late), 6 (cleared late), 8 (open past it)
TOTAL = fig(8, 4, 2, 1, 1, {"vendor_walking": 1, "other": 1}, (5, 3), 75.0, 4, 900.0, cleared=3, overdue=3)
CAM_B = fig(3, 2, 0, 0, 1, {}, (1, 1), 172.5, 2, 900.0, cleared=1, overdue=2)  # case 8 is no AI decision


def check_figures(site: LiveServer) -> None:
    admin = site.client("admin")
    by_camera = admin.get("/api/stats", params={**RANGE, "by": "camera"})
    assert by_camera.status_code == 200, by_camera.text
    report = by_camera.json()
    assert report["periods"] == ["2026-03-02", "2026-03-03"]
    assert figures(report["total"]) == TOTAL
    groups = {g["key"]: (g["label"], figures(g)) for g in report["groups"]}
    assert groups == {
        "cam-a": ("解放路口", fig(4, 1, 2, 1, 0, {"vendor_walking": 1, "other": 1}, (3, 1), 60.0, 1, 300.0)),
        "cam-b": ("人民路", CAM_B),
        "cam-c": ("长江路", fig(1, 1, 0, 0, 0, {}, (1, 1), 90.0, 1, 1200.0, overdue=1)),
    }
    rows = {(r["period"], r["key"]): figures(r) for r in report["rows"]}
    assert rows[("2026-03-03", "cam-a")] == fig(2, 0, 1, 1, 0, {"other": 1}, (1, 0), 30.0, 0, None)
    assert len(rows) == 5  # a, b on the 2nd; a, b, c on the 3rd (hall time)

    days = admin.get("/api/stats", params=RANGE).json()
    assert days["groups"] == [] and days["by"] is None
    assert [(r["period"], figures(r)) for r in days["rows"]] == [
        ("2026-03-02", fig(4, 2, 1, 0, 1, {"vendor_walking": 1}, (3, 2), 120.0, 2, 600.0, overdue=1)),
        ("2026-03-03", fig(4, 2, 1, 1, 0, {"other": 1}, (2, 1), 45.0, 2, 1200.0, cleared=1, overdue=2)),
    ]
    utc_days = admin.get("/api/stats", params={**RANGE, "utc_offset": 0}).json()  # case 5 is 2 March in UTC
    assert [(r["period"], r["raised"]) for r in utc_days["rows"]] == [("2026-03-02", 5), ("2026-03-03", 3)]
    assert utc_days["periods"] == ["2026-03-01", "2026-03-02", "2026-03-03"]  # since is 1 March 16:00 UTC

    week = admin.get("/api/stats", params={**RANGE, "period": "week", "by": "source"}).json()
    assert week["periods"] == ["2026-03-02"]  # a Monday
    sources = {g["key"]: figures(g) for g in week["groups"]}
    assert sources["patrol"] == fig(1, 1, 0, 0, 0, {}, (0, 0), 45.0, 1, None, cleared=0, overdue=1)
    assert sources[AI_SOURCE]["raised"] == 7 and sources[AI_SOURCE]["ai_precision"] == 0.6
    month = admin.get("/api/stats", params={**RANGE, "period": "month", "by": "street"}).json()
    assert month["periods"] == ["2026-03-01"]
    assert {(g["key"], g["raised"]) for g in month["groups"]} == {("解放路街道", 7), (None, 1)}
    assert [(r["period"], r["key"], r["raised"]) for r in month["rows"]] == [
        ("2026-03-01", "解放路街道", 7), ("2026-03-01", None, 1)]
    community = admin.get("/api/stats", params={**RANGE, "by": "community"}).json()
    assert {g["key"]: g["raised"] for g in community["groups"]} == {"人民社区": 4, "和平社区": 3, None: 1}
    code = admin.get("/api/stats", params={**RANGE, "by": "code"}).json()
    assert [(g["key"], g["label"], g["raised"]) for g in code["groups"]] == [("0501", "无照经营游商", 8)]
    check_overdue_by_the_clock(site)


def check_overdue_by_the_clock(site: LiveServer) -> None:
    """Overdue is judged at the query's ``now`` (the page asks at the service clock): before case 8's deadline
    only the two cases cleared late count; from it on, case 8 too. The desk's deadlines are the hand-computed
    ones (dispatch + 600 s)."""
    desk = site.app.state.services.cases.desk
    eight = desk.list(None, text="", camera="cam-b", status="dispatched")[1]
    assert [c.deadline_at for c in eight] == [datetime(2026, 3, 3, 5, 12, 25, tzinfo=UTC)]
    since, until = datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 3, 16, tzinfo=UTC)
    for now, overdue in (("2026-03-03T05:12:24", 2), ("2026-03-03T05:12:26", 3)):
        query = StatsQuery(period=Period.DAY, since=since, until=until, utc_offset=480,
                           now=datetime.fromisoformat(now).replace(tzinfo=UTC))
        with site.db.session() as s:
            assert report(s, query).total.overdue == overdue, now


def test_seeded_history_gives_the_hand_computed_figures_on_sqlite(seeded: Seeded) -> None:
    check_figures(seeded.site)


def test_seeded_history_gives_the_same_figures_on_postgresql(
        serve_site: SiteStarter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: int) -> None:
    from tests.pg import database_url

    check_figures(_site(serve_site, tmp_path, monkeypatch, database_url(postgres_server)).site)


def test_a_user_sees_only_the_cameras_granted_to_them(seeded: Seeded) -> None:
    op = seeded.site.client("op")  # cam-b only
    report = op.get("/api/stats", params={**RANGE, "by": "camera"}).json()
    assert [g["key"] for g in report["groups"]] == ["cam-b"]
    assert figures(report["total"]) == CAM_B
    assert {r["key"] for r in report["rows"]} == {"cam-b"}
    text = op.get("/api/stats.csv", params={**RANGE, "by": "camera"}).text
    assert "cam-a" not in text and "解放路口" not in text
    seeded.site.grant("op", "cam-c")  # a grant counts at once
    again = op.get("/api/stats", params={**RANGE, "by": "camera"}).json()
    assert [g["key"] for g in again["groups"]] == ["cam-b", "cam-c"] and again["total"]["raised"] == 4


def test_roles_without_read_statistics_are_refused(seeded: Seeded) -> None:
    assert seeded.site.client("viewer").get("/api/stats").status_code == 403
    assert seeded.site.client("viewer").get("/api/stats.csv").status_code == 403
    assert seeded.site.client(None).get("/api/stats").status_code == 401
    me = seeded.site.client("op").get("/api/me").json()
    assert "read_statistics" in me["permissions"]


def test_csv_says_what_the_json_says(seeded: Seeded) -> None:
    admin = seeded.site.client("admin")
    params = {**RANGE, "by": "camera"}
    report = admin.get("/api/stats", params=params).json()
    res = admin.get("/api/stats.csv", params=params)
    assert res.status_code == 200 and res.headers["content-type"] == "text/csv; charset=utf-8"
    assert res.content.startswith("\ufeff".encode()) and "attachment" in res.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(res.content.decode("utf-8-sig"))))
    expected = [(r["period"], r["key"] or "", r) for r in report["rows"]]
    expected += [("all", g["key"] or "", g) for g in report["groups"]] + [("all", "all", report["total"])]
    assert len(lines) == len(expected) == 5 + 3 + 1
    for line, (period, key, row) in zip(lines, expected, strict=True):
        assert (line["period"], line["group"]) == (period, key)
        for name in ("raised", "confirmed", "rejected", "merged", "pending", "ai_decided", "ai_confirmed",
                     "dispatched", "cleared_on_video", "overdue"):
            assert int(line[name]) == row[name], (name, line)
        for name in ("ai_precision", "median_decision_seconds", "median_clear_seconds"):
            assert (float(line[name]) if line[name] else None) == row[name], (name, line)
        assert line["rejected_by_reason"] == ";".join(f"{k}:{v}" for k, v in sorted(
            row["rejected_by_reason"].items()))
    assert lines[-1]["raised"] == "8" and lines[-1]["ai_precision"] == "0.6"
    audit = admin.get("/api/audit", params={"action": "stats.export"}).json()["items"]
    assert [a["user"] for a in audit] == ["admin"]


@pytest.fixture
def no_cases(serve_site: SiteStarter, tmp_path: Path) -> Iterator[LiveServer]:
    yield serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\n")


BAD = [
    {"period": "year"}, {"by": "zone"}, {"utc_offset": 9999}, {"since": "yesterday"},
    {"since": "2026-03-04T00:00:00Z", "until": "2026-03-02T00:00:00Z"},
    {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "period": "day"},  # 731 days > 400
]


def test_bad_parameters_are_422(no_cases: LiveServer) -> None:
    admin = no_cases.client("admin")
    for params in BAD:
        for path in ("/api/stats", "/api/stats.csv"):
            res = admin.get(path, params=params)
            assert res.status_code == 422, (path, params, res.text)
    fine = admin.get("/api/stats", params={"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z",
                                           "period": "week"})
    assert fine.status_code == 200 and len(fine.json()["periods"]) == 105


def test_the_report_is_in_the_openapi_document(no_cases: LiveServer) -> None:
    schema = no_cases.client(None).get("/openapi.json").json()
    answer = schema["paths"]["/api/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/StatsReport"}
    assert "ai_precision" in schema["components"]["schemas"]["Figures"]["properties"]
    assert "text/csv" in schema["paths"]["/api/stats.csv"]["get"]["responses"]["200"]["content"]



def test_no_cases_gives_zeros_and_the_default_range(no_cases: LiveServer) -> None:
    report = no_cases.client("admin").get("/api/stats", params={"period": "week", "by": "camera"}).json()
    assert report["groups"] == [] and report["rows"] == [] and report["total"]["raised"] == 0
    assert report["total"]["ai_precision"] is None and report["total"]["median_decision_seconds"] is None
    assert 12 <= len(report["periods"]) <= 13  # the default: 12 weeks before now


def test_the_page_shows_tables_and_svg_charts_of_the_seeded_site(seeded: Seeded, browser: Any,
                                                                  page_errors: list[str]) -> None:
    """Real Chromium on the hall's clock (Asia/Shanghai): the nav links the page, the filter from the address
    gives RANGE, and the totals, the group table and both SVG charts show the hand-computed figures."""
    from tests.browser_helpers import STATE_TIMEOUT_MS, screenshot, sign_in

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        page.set_default_timeout(STATE_TIMEOUT_MS)
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        sign_in(page, seeded.site, "op")
        page.goto(seeded.site.url + "/desk")
        page.locator("[data-testid=nav-stats]").click()
        page.wait_for_url("**/stats")
        page.goto(seeded.site.url + "/stats?period=day&by=camera&since=2026-03-02&until=2026-03-03")
        groups = page.locator("[data-testid=stats-groups] tbody tr")
        groups.first.wait_for()
        assert groups.count() == 1 and "人民路 (cam-b)" in groups.first.inner_text()  # op: cam-b only
        sign_in(page, seeded.site, "admin")
        page.reload()
        groups.nth(2).wait_for()  # the page's CSP refuses wait_for_function's eval
        assert page.locator("#t-raised").inner_text() == "8"
        assert page.locator("[data-testid=total-precision]").inner_text() == "60.0%"
        first = page.locator("[data-testid=stats-groups] tbody tr").first.locator("td")
        assert [first.nth(i).inner_text() for i in range(4)] == ["解放路口 (cam-a)", "4", "1", "2"]
        assert page.locator("[data-testid=stats-rows] tbody tr").count() == 5
        bars = page.locator("[data-testid=chart-periods] rect")
        assert {bars.nth(i).get_attribute("data-period") for i in range(bars.count())} == {"2026-03-02",
                                                                                          "2026-03-03"}
        assert page.locator("[data-testid=chart-groups] rect").count() == 3
        href = page.locator("[data-testid=stats-csv]").get_attribute("href") or ""
        assert href.startswith("/api/stats.csv?") and "by=camera" in href and "utc_offset=480" in href
        csv_text = seeded.site.client("admin").get(href).content.decode("utf-8-sig")
        assert csv_text.splitlines()[-1].startswith("all,all,,8,4,2,1,1,5,3,0.6,75.0,")
        page.locator("[data-testid=lang-switch]").click()
        assert page.locator("h1").inner_text() == "Statistics"
        screenshot(page, "stats.png")
        assert page_errors == []
    finally:
        context.close()
