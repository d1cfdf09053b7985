"""The idle timeout counts what the user does, not what the page does (issue 16, finding 7).

Before, a seat left open never idled out: the wall polls ``/api/cameras`` every 2 s, and every request counted as
use. Now the page marks its own requests (``X-Citywall-Background: 1``, or ``?background=1`` on stills) and they
do not keep a session alive, except for the display roles (``security.display_roles``, viewers by default: hall
kiosks nobody touches). Time is moved through the service's clock instead of waited for.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import Page

from tests.browser_helpers import open_wall
from tests.conftest import Clock, LiveServer, SiteStarter
from tests.test_access import audit_rows, offline_cameras

IDLE = "security:\n  session_idle_seconds: 60\n"
POLL = {"X-Citywall-Background": "1"}


def idle_site(serve_site: SiteStarter) -> tuple[LiveServer, Clock]:
    site = serve_site(offline_cameras("car"), IDLE)
    clock = Clock()
    clock.install(site)
    site.add_user("op", "operator", grants=("car",))
    site.add_user("kiosk", "viewer", grants=("car",))
    return site, clock


def every_ten_seconds(client: httpx.Client, clock: Clock, minutes: float, **kwargs: object) -> list[int]:
    statuses = []
    for _ in range(int(minutes * 6)):
        clock.advance(10)
        statuses.append(client.get("/api/cameras", **kwargs).status_code)  # type: ignore[arg-type]
    return statuses


def test_polls_do_not_keep_a_session_alive_but_the_users_requests_and_kiosks_do(serve_site: SiteStarter) -> None:
    site, clock = idle_site(serve_site)
    polled = site.login("op")
    statuses = every_ten_seconds(polled, clock, 1.5, headers=POLL)
    assert statuses[:5] == [200] * 5 and statuses[6:] == [401] * 3, statuses  # ended 60 s after the last use
    site.tokens.clear()  # the fixture's admin session idled out as well: a new one reads the audit log
    assert audit_rows(site, user="op", action="session.expire")[0]["detail"]["reason"] == "idle"

    used = site.login("op")
    assert every_ten_seconds(used, clock, 1.5) == [200] * 9, "what the user asks for is use"
    stills = every_ten_seconds(used, clock, 1.5, params={"background": "1"})
    assert stills[-1] == 401, stills

    kiosk = site.login("kiosk")
    assert every_ten_seconds(kiosk, clock, 1.5, headers=POLL) == [200] * 9, "a display's own traffic counts"


def test_the_wall_page_left_alone_goes_to_the_login_page(serve_site: SiteStarter, page: Page) -> None:
    """The real page in chromium: its polls are marked, so an operator's untouched seat idles out, and the
    next poll's 401 takes it to the login page."""
    site, clock = idle_site(serve_site)
    open_wall(page, site, "op")
    page.wait_for_selector('[data-testid="tile"]')
    with page.expect_response(lambda r: r.url.endswith("/api/cameras") and r.status == 200):
        pass  # the page polls, and is still logged in
    clock.advance(61)
    page.wait_for_url("**/login**", timeout=30_000)
    site.tokens.clear()
    assert audit_rows(site, user="op", action="session.expire")[0]["detail"]["reason"] == "idle"


def test_a_kiosk_wall_left_alone_stays(serve_site: SiteStarter, page: Page) -> None:
    site, clock = idle_site(serve_site)
    open_wall(page, site, "kiosk")
    page.wait_for_selector('[data-testid="tile"]')
    for _ in range(8):  # 80 s of the page's own polls, nobody touching it: a display's traffic keeps it open
        clock.advance(10)
        with page.expect_response(lambda r: r.url.endswith("/api/cameras")) as polled:
            pass
        assert polled.value.status == 200
    assert "/login" not in page.url
