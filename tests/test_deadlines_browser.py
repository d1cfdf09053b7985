"""Overdue cases (超期, issue 13 item 5) in a real browser: Debian chromium through Playwright against the real app
on a real socket with its own SQLite database. Cases are raised, confirmed and dispatched through the real desk
(one with a platform deadline already past, one with the code's time limit from now); the service clock is then
moved past the second deadline, as a test moves it for the video checks.

The desk: the 超期 filter lists exactly the overdue cases, each row and the detail carry the badge and the
deadline, in Chinese and English. The wall (an operator's view of a shared wall, and the hall's kiosk display):
the overdue count, and a badge on the tile of each camera with an overdue case only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streams.devserver.rtsp import free_port
from tests.browser_helpers import STATE_TIMEOUT_MS, open_page, screenshot, sign_in
from tests.case_helpers import event_change
from wall.store.accounts import utcnow

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.conftest import LiveServer, SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS = '[data-testid="case-row"]'


def site_files(tmp_path: Path) -> tuple[str, str]:
    closed = f"rtsp://127.0.0.1:{free_port()}"  # nothing listens: the tiles show offline, the cases are real
    names = {"cam-a": "解放路口", "cam-b": "人民路", "cam-c": "长江路"}
    cameras = "cameras:\n" + "".join(f'  - {{id: {cam}, name: {name}, url: "{closed}/{cam}"}}\n'
                                      for cam, name in names.items())
    server = (f"server:\n  data_dir: {tmp_path / 'data'}\nplatform:\n  time_limits:\n    default: 600\n"
              "walls:\n  - {name: hall, title: 指挥大厅, layout: 2x2, alarm_tile: 3, cameras: [cam-a, cam-b, cam-c]}\n")
    return cameras, server  # the pending case's alarm pops up on the free tile 3, leaving cam-a's tile as it is


def dispatched_case(site: LiveServer, camera: str, place: str, *, late: bool) -> int:
    desk = site.app.state.services.cases.desk
    case_id = desk.on_event(event_change(desk.evidence_dir, camera=camera, place=place))
    assert case_id is not None
    desk.confirm(case_id, "op", webhook=False)
    deadline = utcnow() - timedelta(minutes=5) if late else None  # the platform's, past; or 600 s from now
    desk.dispatched(case_id, "platform", department="城管执法一中队", ref=None, deadline=deadline)
    return case_id


def shown_rows(page: Page) -> list[int]:
    rows = page.locator(ROWS)
    return [int(rows.nth(i).get_attribute("data-case") or 0) for i in range(rows.count())]


def wait_rows(page: Page, expected: list[int]) -> None:
    page.locator(f'{ROWS}[data-case="{expected[-1]}"]').wait_for()
    page.locator(f"{ROWS}:nth-child({len(expected)})").wait_for()
    page.locator(f"{ROWS}:nth-child({len(expected) + 1})").wait_for(state="detached")
    assert shown_rows(page) == expected


def pick_overdue(page: Page) -> None:
    """The 超期 filter (again: a change of the select re-reads the queue)."""
    status = page.get_by_test_id("filter-status")
    status.select_option("")
    status.select_option("overdue")


def tile_badges(page: Page) -> dict[str, str]:
    """camera → its tile's overdue badge text, for the tiles that have one."""
    badges = page.locator('#wall [data-testid="tile"] [data-testid="tile-overdue"]')
    out = {}
    for i in range(badges.count()):
        badge = badges.nth(i)
        camera = badge.locator("xpath=..").get_attribute("data-camera") or ""
        out[camera] = badge.inner_text()
    return out


def test_the_desk_and_the_wall_show_overdue_cases(serve_site: SiteStarter, tmp_path: Path, browser: Browser,
                                                  page: Page, page_errors: list[str]) -> None:
    site = serve_site(*site_files(tmp_path))
    site.add_user("op", "operator", grants=("cam-a", "cam-b", "cam-c"))
    site.add_user("screen", "viewer", grants=("cam-a", "cam-b", "cam-c"))
    late = dispatched_case(site, "cam-a", "1-1", late=True)
    running = dispatched_case(site, "cam-b", "2-2", late=False)
    desk = site.app.state.services.cases.desk
    pending = desk.on_event(event_change(desk.evidence_dir, camera="cam-c", place="3-3"))

    open_page(page, site, "/desk", "op")
    page.locator(f'{ROWS}[data-case="{pending}"]').wait_for()  # the default filter: pending review
    assert page.locator('[data-testid="row-overdue"]').count() == 0
    pick_overdue(page)
    wait_rows(page, [late])
    row = page.locator(f'{ROWS}[data-case="{late}"]')
    assert row.get_by_test_id("row-overdue").inner_text() == "超期"
    page.locator('[data-testid="case-title"]', has_text=f"#{late} ").wait_for()
    badge = page.get_by_test_id("case-overdue")
    assert badge.is_visible() and badge.inner_text() == "超期"
    assert "处置时限" in page.get_by_test_id("case-facts").inner_text()

    page.get_by_test_id("filter-status").select_option("dispatched")  # both, only one of them overdue
    page.locator(f'{ROWS}[data-case="{running}"]').wait_for()
    assert page.locator(f'{ROWS}[data-case="{running}"] [data-testid="row-overdue"]').count() == 0
    assert page.locator(f'{ROWS}[data-case="{late}"] [data-testid="row-overdue"]').count() == 1

    open_page(page, site, "/wall/hall", "op")
    count = page.get_by_test_id("wall-overdue")
    page.locator('[data-testid="wall-overdue"][data-count="1"]').wait_for()
    assert count.inner_text() == "超期 1" and page.locator("header [data-testid=wall-overdue]").count() == 1
    assert tile_badges(page) == {"cam-a": "超期"}

    services = site.app.state.services
    services.clock = lambda: utcnow() + timedelta(seconds=700)  # past the running case's 600 s
    context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
    try:
        kiosk = context.new_page()
        kiosk.set_default_timeout(STATE_TIMEOUT_MS)
        kiosk.on("pageerror", lambda exc: page_errors.append(str(exc)))
        sign_in(kiosk, site, "screen")
        kiosk.goto(site.url + "/wall/hall?kiosk=1")
        kiosk.locator('[data-testid="wall-overdue"][data-count="2"]').wait_for()
        assert kiosk.locator("body > [data-testid=wall-overdue].floating").count() == 1  # no header in kiosk
        assert tile_badges(kiosk) == {"cam-a": "超期", "cam-b": "超期"}
        screenshot(kiosk, "wall-overdue.png")
    finally:
        context.close()

    open_page(page, site, "/desk", "op")
    page.locator(f'{ROWS}[data-case="{pending}"]').wait_for()
    pick_overdue(page)
    wait_rows(page, [running, late])  # newest first
    page.get_by_test_id("lang-switch").click()
    page.locator('[data-testid="row-overdue"]', has_text="overdue").first.wait_for()
    assert page.get_by_test_id("case-overdue").inner_text() == "overdue"
    assert "Deadline" in page.get_by_test_id("case-facts").inner_text()
    screenshot(page, "desk-overdue.png")
    assert page_errors == []
