"""The admin console (/admin) in a real browser against the real app: Debian chromium through Playwright.

Every change is made by clicking the page and checked where it matters — through the API as the affected user
(their cameras, their login), not only on the page. The cameras of most tests sit on a closed port: accounts,
grants and the audit log need no video; the camera-health test uses the session's GStreamer RTSP server.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.browser_helpers import STATE_TIMEOUT_MS, open_page, screenshot
from tests.case_helpers import event_change
from tests.conftest import ADMIN, TEST_PASSWORD, LiveServer, SiteStarter, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]



def offline_cameras() -> str:
    """Three cameras that never connect; two of them in the cameras.yaml group 人民路."""
    port = free_port()
    return (
        "cameras:\n"
        f'  - {{id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:{port}/a"}}\n'
        f'  - {{id: cam-b, name: 人民路东, url: "rtsp://127.0.0.1:{port}/b", group: 人民路}}\n'
        f'  - {{id: cam-c, name: 人民路西, url: "rtsp://127.0.0.1:{port}/c", group: 人民路}}\n'
    )


def by_testid(page: Page, name: str, **data: str) -> Locator:
    selector = f'[data-testid="{name}"]' + "".join(f'[data-{k}="{v}"]' for k, v in data.items())
    return page.locator(selector)


def wait_state(page: Page, selector: str, attribute: str, value: str) -> None:
    """Wait until the element's data attribute reads ``value`` (polling the page, no fixed sleeps)."""
    page.wait_for_function(
        "([sel, attr, value]) => { const e = document.querySelector(sel); return e && e.dataset[attr] === value; }",
        arg=[selector, attribute, value], timeout=STATE_TIMEOUT_MS, polling=250)


def open_admin(page: Page, site: LiveServer, tab: str) -> None:
    open_page(page, site, f"/admin#{tab}")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=STATE_TIMEOUT_MS, polling=250)


def confirm_dialog(page: Page) -> None:
    dialog = by_testid(page, "admin-dialog")
    dialog.wait_for(state="visible")
    by_testid(page, "dialog-ok").click()
    dialog.wait_for(state="hidden")


def message(page: Page) -> str:
    bar = by_testid(page, "admin-message")
    bar.wait_for(state="visible")
    return bar.inner_text()


def cameras_of(site: LiveServer, user: str) -> list[str]:
    res = site.login(user).get("/api/cameras")
    assert res.status_code == 200, res.text
    return sorted(c["id"] for c in res.json())


def login_status(site: LiveServer, user: str, password: str = TEST_PASSWORD) -> int:
    with httpx.Client(base_url=site.url, timeout=20) as client:
        return client.post("/api/session", json={"username": user, "password": password}).status_code


# -- users -----------------------------------------------------------------------------------------------------


def test_admin_creates_a_user_in_the_page_who_then_logs_in(serve_site: SiteStarter, page: Page, browser: Browser,
                                                           page_errors: list[str]) -> None:
    site = serve_site(offline_cameras())
    open_admin(page, site, "users")
    by_testid(page, "user-row", user=ADMIN).wait_for()
    assert by_testid(page, "admin-tab-users").get_attribute("aria-selected") == "true"

    form = by_testid(page, "user-create-form")
    form.locator('[data-testid="user-create-name"]').fill("li.ming")
    form.locator('[data-testid="user-create-role"]').select_option("operator")
    form.locator('[data-testid="user-create-password"]').fill("short")
    form.locator('[data-testid="user-create-repeat"]').fill("short")
    by_testid(page, "user-create-submit").click()
    problems = by_testid(page, "user-create-error")
    page.wait_for_function("() => document.querySelector('[data-testid=user-create-error]').children.length > 1",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    text = problems.inner_text()
    assert "400" in text and "at least 10 characters" in text and "mix at least 3" in text, text
    assert by_testid(page, "user-row", user="li.ming").count() == 0
    assert login_status(site, "li.ming", "short") == 401

    form.locator('[data-testid="user-create-password"]').fill("Ming-passw0rd!")
    form.locator('[data-testid="user-create-repeat"]').fill("Ming-passw0rd?")
    by_testid(page, "user-create-submit").click()
    page.wait_for_function("() => document.querySelector('[data-testid=user-create-error]').innerText"
                           ".includes('不一致')", polling=250, timeout=STATE_TIMEOUT_MS)
    form.locator('[data-testid="user-create-repeat"]').fill("Ming-passw0rd!")
    by_testid(page, "user-create-submit").click()
    row = by_testid(page, "user-row", user="li.ming")
    row.wait_for()
    assert row.get_attribute("data-state") == "active"
    assert row.locator('[data-testid="user-role"]').input_value() == "operator"
    assert row.locator('[data-testid="user-last-login"]').inner_text() == "从未"
    assert "li.ming" in message(page)
    assert form.locator('[data-testid="user-create-password"]').input_value() == "", "the form forgets the password"

    # The new user logs in through the login page, in a browser of their own.
    context = browser.new_context(locale="zh-CN")
    try:
        other = context.new_page()
        other.goto(site.url + "/login")
        other.fill('[data-testid="login-username"]', "li.ming")
        other.fill('[data-testid="login-password"]', "Ming-passw0rd!")
        other.click('[data-testid="login-submit"]')
        other.wait_for_url(site.url + "/", timeout=STATE_TIMEOUT_MS)
        other.wait_for_function("() => document.querySelector('[data-testid=wall-user]')?.textContent === 'li.ming'",
                                polling=250, timeout=STATE_TIMEOUT_MS)
    finally:
        context.close()

    site.add_user("zhao.lei", "viewer")  # one more, locked by another admin meanwhile: the list shows it on reload
    assert site.client().patch("/api/users/zhao.lei", json={"locked": True}).status_code == 200
    page.reload()
    row.wait_for()
    assert by_testid(page, "user-row", user="zhao.lei").get_attribute("data-state") == "locked"
    assert row.locator('[data-testid="user-last-login"]').inner_text() != "从未"
    assert row.locator('[data-testid="user-sessions-toggle"]').inner_text() == "1"
    created = site.client().get("/api/audit", params={"action": "user.create"}).json()["items"]
    assert [(r["target"], r["success"]) for r in created] == [("user:li.ming", True), ("user:li.ming", False)]
    screenshot(page, "admin-users.png")
    assert page_errors == []


def test_lock_unlock_reset_password_end_sessions_and_disable(serve_site: SiteStarter, page: Page,
                                                             page_errors: list[str]) -> None:
    site = serve_site(offline_cameras())
    site.add_user("pat", "viewer")
    pat = site.login("pat")
    open_admin(page, site, "users")
    row = by_testid(page, "user-row", user="pat")
    row.wait_for()

    row.locator('[data-testid="user-lock"]').click()
    confirm_dialog(page)
    wait_state(page, '[data-testid="user-row"][data-user="pat"]', "state", "locked")
    assert pat.get("/api/me").status_code == 401, "locking ends the user's sessions"
    assert login_status(site, "pat") == 403
    row.locator('[data-testid="user-unlock"]').click()
    wait_state(page, '[data-testid="user-row"][data-user="pat"]', "state", "active")
    assert login_status(site, "pat") == 200

    # Reset the password: the policy's refusal stays in the dialog until a good one is given.
    row.locator('[data-testid="user-password"]').click()
    by_testid(page, "dialog-input").fill("abc")
    by_testid(page, "dialog-ok").click()
    page.wait_for_function("() => document.querySelector('[data-testid=dialog-error]').textContent.includes('400')",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    assert "at least 10 characters" in by_testid(page, "dialog-error").inner_text()
    by_testid(page, "dialog-input").fill("Other-passw0rd")
    by_testid(page, "dialog-ok").click()
    by_testid(page, "admin-dialog").wait_for(state="hidden")
    assert login_status(site, "pat") == 401 and login_status(site, "pat", "Other-passw0rd") == 200

    # End sessions: the user is logged in twice; both sessions end.
    one, two = site.login("pat", "Other-passw0rd"), site.login("pat", "Other-passw0rd")
    page.reload()
    toggle = row.locator('[data-testid="user-sessions-toggle"]')
    toggle.wait_for()
    assert int(toggle.inner_text()) >= 2
    toggle.click()
    detail = by_testid(page, "user-sessions", user="pat")
    detail.wait_for()
    assert detail.locator('[data-testid="session-row"]').count() == int(toggle.inner_text())
    row.locator('[data-testid="user-end-sessions"]').click()
    confirm_dialog(page)
    page.wait_for_function("() => document.querySelector('[data-user=pat] [data-testid=user-sessions-toggle]')"
                           "?.textContent === '0'", polling=250, timeout=STATE_TIMEOUT_MS)
    assert one.get("/api/me").status_code == 401 and two.get("/api/me").status_code == 401

    # The last admin cannot lock themself: the server's refusal is shown, the page stays as it was.
    by_testid(page, "user-row", user=ADMIN).locator('[data-testid="user-lock"]').click()
    confirm_dialog(page)
    page.wait_for_function("() => document.querySelector('[data-testid=admin-message]').dataset.kind === 'error'",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    assert "409" in message(page)
    assert by_testid(page, "user-row", user=ADMIN).get_attribute("data-state") == "active"

    row.locator('[data-testid="user-disable"]').click()
    confirm_dialog(page)
    wait_state(page, '[data-testid="user-row"][data-user="pat"]', "state", "disabled")
    assert login_status(site, "pat", "Other-passw0rd") == 403
    row.locator('[data-testid="user-enable"]').click()
    wait_state(page, '[data-testid="user-row"][data-user="pat"]', "state", "active")
    row.locator('[data-testid="user-role"]').select_option("operator")
    assert wait_until(lambda: site.client().get("/api/users/pat").json()["role"] == "operator", 30)
    actions = [r["action"] for r in site.client().get("/api/audit", params={"target": "user:pat"}).json()["items"]]
    assert {"user.lock", "user.unlock", "user.password", "session.end", "user.disable", "user.enable",
            "user.role"} <= set(actions)
    assert page_errors == []


# -- grants and the audit log ----------------------------------------------------------------------------------


def test_grant_matrix_grants_and_revokes_and_the_audit_tab_shows_it(serve_site: SiteStarter, page: Page,
                                                                    page_errors: list[str]) -> None:
    site = serve_site(offline_cameras())
    site.add_user("vw", "viewer")
    site.add_user("op", "operator")
    open_admin(page, site, "grants")
    cell_a = '[data-testid="grant-cell"][data-subject="vw"][data-camera="cam-a"]'
    page.locator(cell_a).wait_for()
    assert page.locator(f'[data-testid="grant-row"][data-subject="{ADMIN}"]').count() == 0, "admins see all anyway"
    assert cameras_of(site, "vw") == []

    page.locator(cell_a + " input").check()
    wait_state(page, cell_a, "state", "direct")
    assert cameras_of(site, "vw") == ["cam-a"], "exactly the granted camera"
    assert cameras_of(site, "op") == []

    # A group granted to the viewer role: vw inherits its cameras, shown apart from the direct grant.
    role_group = '[data-testid="grant-cell"][data-subject="role:viewer"][data-camera="group:人民路"]'
    page.locator(role_group + " input").check()
    wait_state(page, role_group, "state", "direct")
    cell_b = '[data-testid="grant-cell"][data-subject="vw"][data-camera="cam-b"]'
    wait_state(page, cell_b, "state", "inherited")
    assert page.locator(cell_b).get_attribute("data-via") == "role:viewer → group:人民路"
    assert not page.locator(cell_b + " input").is_checked()
    assert page.locator('[data-testid="grant-cell"][data-subject="vw"][data-camera="group:人民路"]') \
        .get_attribute("data-state") == "inherited"
    assert page.locator('[data-testid="grant-cell"][data-subject="op"][data-camera="cam-b"]') \
        .get_attribute("data-state") == "none"
    assert cameras_of(site, "vw") == ["cam-a", "cam-b", "cam-c"]
    assert page.locator('[data-testid="grant-row"][data-subject="vw"] [data-testid="grant-effective"]') \
        .inner_text().startswith("3")
    screenshot(page, "admin-grants.png")
    page.locator(role_group + " input").uncheck()
    wait_state(page, cell_b, "state", "none")
    assert cameras_of(site, "vw") == ["cam-a"]

    # Somebody else grants behind the page's back: the page shows the server's refusal and then the truth.
    cell_c = '[data-testid="grant-cell"][data-subject="op"][data-camera="cam-c"]'
    site.grant("op", "cam-c")
    page.locator(cell_c + " input").check()
    page.wait_for_function("() => document.querySelector('[data-testid=admin-message]').dataset.kind === 'error'",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    assert "409" in message(page) and "already granted" in message(page)
    wait_state(page, cell_c, "state", "direct")

    page.locator(cell_a + " input").uncheck()
    wait_state(page, cell_a, "state", "none")
    assert cameras_of(site, "vw") == []

    # The audit tab lists those changes; the CSV carries the same filter.
    by_testid(page, "admin-tab-audit").click()
    by_testid(page, "audit-row").first.wait_for()
    by_testid(page, "audit-action").fill("grant.")
    by_testid(page, "audit-search").click()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=audit-row]')]"
                           ".every((r) => r.dataset.action.startsWith('grant.'))", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    rows = page.evaluate("() => [...document.querySelectorAll('[data-testid=audit-row]')]"
                         ".map((r) => [r.dataset.action, r.dataset.target, r.dataset.success, r.dataset.user])")
    assert rows == [["grant.delete", "cam-a", "true", ADMIN], ["grant.create", "cam-c → op", "false", ADMIN],
                    ["grant.delete", "group:人民路", "true", ADMIN], ["grant.create", "group:人民路", "true", ADMIN],
                    ["grant.create", "cam-a", "true", ADMIN]]
    assert "共 5 条" in by_testid(page, "audit-total").inner_text()
    by_testid(page, "audit-success").select_option("false")
    by_testid(page, "audit-search").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 1", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    by_testid(page, "audit-success").select_option("")
    by_testid(page, "audit-search").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 5", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    screenshot(page, "admin-audit.png")
    with page.expect_download() as download_info:
        by_testid(page, "audit-csv").click()
    download = download_info.value
    assert download.suggested_filename.startswith("citywall-audit-") and download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [(r["action"], r["target"]) for r in exported] == [
        ("grant.create", "cam-a"), ("grant.create", "group:人民路"), ("grant.delete", "group:人民路"),
        ("grant.create", "cam-c → op"), ("grant.delete", "cam-a")]
    assert site.client().get("/api/audit", params={"action": "audit.export"}).json()["total"] == 1

    # The matrix shows one right at a time: playback ticked for vw leaves vw's live view as it was.
    by_testid(page, "admin-tab-grants").click()
    wait_state(page, cell_c, "state", "direct")
    by_testid(page, "grant-right").select_option("playback")
    wait_state(page, cell_c, "state", "none")
    page.locator(cell_a + " input").check()
    wait_state(page, cell_a, "state", "direct")
    me = site.login("vw").get("/api/me").json()
    assert (me["cameras"], me["playback"]) == ([], ["cam-a"])
    by_testid(page, "grant-right").select_option("view")
    wait_state(page, cell_a, "state", "none")
    wait_state(page, cell_c, "state", "direct")
    assert page_errors == []


def test_audit_tab_pages_and_filters_by_time(serve_site: SiteStarter, page: Page, page_errors: list[str]) -> None:
    from wall.auth import audit

    site = serve_site(offline_cameras())
    with site.db.session() as s:
        for i in range(57):
            audit.record(s, user="robot", action="test.bulk", target=f"item:{i}", success=i % 2 == 0, address=None)
    open_admin(page, site, "audit")
    by_testid(page, "audit-user").fill("robot")
    by_testid(page, "audit-search").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 50", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    assert by_testid(page, "audit-row").first.get_attribute("data-target") == "item:56", "newest first"
    assert by_testid(page, "audit-prev").is_disabled()
    by_testid(page, "audit-next").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 7", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    assert by_testid(page, "audit-row").last.get_attribute("data-target") == "item:0"
    assert "第 51–57 条，共 57 条" in by_testid(page, "audit-total").inner_text()
    assert by_testid(page, "audit-next").is_disabled()
    href = by_testid(page, "audit-csv").get_attribute("href")
    assert href == "/api/audit.csv?user=robot"
    by_testid(page, "audit-since").fill("2099-01-01T00:00:00")
    by_testid(page, "audit-search").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 0", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    assert "since=2099-01-01" in (by_testid(page, "audit-csv").get_attribute("href") or "") or \
        "since=2098-12-31" in (by_testid(page, "audit-csv").get_attribute("href") or "")  # the browser's time zone
    by_testid(page, "audit-reset").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-row]').length === 50", polling=250,
                           timeout=STATE_TIMEOUT_MS)
    assert page_errors == []


# -- groups ----------------------------------------------------------------------------------------------------


def test_groups_create_edit_rename_delete_and_english(serve_site: SiteStarter, page: Page,
                                                      page_errors: list[str]) -> None:
    site = serve_site(offline_cameras())
    site.add_user("vw", "viewer")
    open_admin(page, site, "groups")
    config_row = by_testid(page, "group-row", group="人民路")
    config_row.wait_for()
    assert config_row.get_attribute("data-source") == "config"
    assert config_row.locator('[data-testid="group-edit"]').count() == 0, "cameras.yaml owns this group"

    by_testid(page, "group-name").fill("重点路段")
    page.locator('[data-testid="group-camera"][data-camera="cam-a"]').check()
    by_testid(page, "group-save").click()
    row = by_testid(page, "group-row", group="重点路段")
    row.wait_for()
    groups = {g["name"]: g for g in site.client().get("/api/groups").json()}
    assert groups["重点路段"] == {"name": "重点路段", "cameras": ["cam-a"], "source": "admin"}
    site.grant("vw", "group:重点路段")
    assert cameras_of(site, "vw") == ["cam-a"]

    # A name that exists is refused by the server and said so.
    by_testid(page, "group-name").fill("人民路")
    by_testid(page, "group-save").click()
    page.wait_for_function("() => document.querySelector('[data-testid=admin-message]').dataset.kind === 'error'",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    assert "409" in message(page)

    row.locator('[data-testid="group-edit"]').click()
    assert by_testid(page, "group-name").input_value() == "重点路段"
    assert page.locator('[data-testid="group-camera"][data-camera="cam-a"]').is_checked()
    by_testid(page, "group-camera-filter").fill("人民路西")
    assert page.locator('label.pick[data-camera="cam-b"]').is_hidden()
    page.locator('[data-testid="group-camera"][data-camera="cam-c"]').check()
    by_testid(page, "group-name").fill("重点路段 A")
    by_testid(page, "group-save").click()
    renamed = by_testid(page, "group-row", group="重点路段 A")
    renamed.wait_for()
    assert by_testid(page, "group-row", group="重点路段").count() == 0
    assert cameras_of(site, "vw") == ["cam-a", "cam-c"], "the grant followed the rename and the new member"

    renamed.locator('[data-testid="group-delete"]').click()
    confirm_dialog(page)
    renamed.wait_for(state="detached")
    assert cameras_of(site, "vw") == []

    by_testid(page, "lang-switch").click()
    page.wait_for_function("() => document.querySelector('[data-testid=admin-tab-users]').textContent === 'Users'",
                           polling=250, timeout=STATE_TIMEOUT_MS)
    assert config_row.locator('[data-testid="group-members"]').inner_text().startswith("2")
    assert "follows cameras.yaml" in config_row.inner_text()
    assert page.title() == "citywall Administration"
    screenshot(page, "admin-groups-en.png")
    assert page_errors == []


# -- cameras ---------------------------------------------------------------------------------------------------


def test_camera_health_refreshes_and_never_shows_urls(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                                      page_errors: list[str]) -> None:
    closed = free_port()
    site = serve_site(
        "cameras:\n"
        f'  - {{id: car, name: 停车场, url: "{rtsp.url("car")}"}}\n'
        f'  - {{id: dead, name: 断线路口, url: "rtsp://viewer:s3cret@127.0.0.1:{closed}/x"}}\n')
    open_admin(page, site, "cameras")
    car = '[data-testid="camera-row"][data-camera="car"]'
    wait_state(page, car, "state", "live")
    page.wait_for_function(
        "(sel) => parseFloat(document.querySelector(sel + ' [data-testid=camera-fps]').textContent) > 0",
        arg=car, polling=250, timeout=STATE_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('[data-camera=dead] [data-testid=camera-error]').textContent.length > 2",
        polling=250, timeout=STATE_TIMEOUT_MS)
    dead = by_testid(page, "camera-row", camera="dead")
    assert dead.get_attribute("data-state") in ("offline", "connecting")
    before = by_testid(page, "camera-refreshed").inner_text()
    page.wait_for_function("(before) => document.querySelector('[data-testid=camera-refreshed]').textContent "
                           "!== before", arg=before, polling=250, timeout=STATE_TIMEOUT_MS)
    html = page.content()
    assert "s3cret" not in html and f":{closed}" not in html and "rtsp://" not in html
    # One box: no camera has a worker or node, and the console shows no node column (cluster mode has one).
    assert {(c["worker"], c["node"], c["node_ip"]) for c in site.client().get("/api/cameras").json()} == {
        (None, None, None)}
    assert by_testid(page, "camera-node-head").count() == 1 and not by_testid(page, "camera-node-head").is_visible()
    screenshot(page, "admin-cameras.png")
    assert page_errors == []


# -- outbox ----------------------------------------------------------------------------------------------------


class Platform:
    """The city's case platform coming up late on a port that was closed: records posts, answers 200."""

    def __init__(self, port: int) -> None:
        self.posts: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.posts.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_dead_letter_shows_its_error_and_retry_delivers(serve_site: SiteStarter, page: Page, tmp_path: Path,
                                                        page_errors: list[str]) -> None:
    port = free_port()
    site = serve_site(offline_cameras(), f"server:\n  data_dir: {tmp_path / 'data'}\nplatform:\n"
                      f"  webhook_url: http://127.0.0.1:{port}/cases\n  secret: webhook-secret\n  max_attempts: 1\n")
    site.add_user("op", "operator", grants=("cam-a",))
    desk = site.app.state.services.cases.desk
    case_id = desk.on_event(event_change(desk.evidence_dir, camera="cam-a"))
    confirmed = site.login("op").post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": site.origin})
    assert confirmed.status_code == 200, confirmed.text

    open_admin(page, site, "outbox")
    row = f'[data-testid="outbox-row"][data-case="{case_id}"]'
    wait_state(page, row, "status", "dead")
    error = page.locator(row + ' [data-testid="outbox-error"]').inner_text()
    assert "ConnectError" in error, error
    by_testid(page, "outbox-status").select_option("sent")
    page.locator(row).wait_for(state="detached")
    by_testid(page, "outbox-status").select_option("dead")
    page.locator(row).wait_for()
    screenshot(page, "admin-outbox.png")

    platform = Platform(port)
    try:
        page.locator(row + ' [data-testid="outbox-retry"]').click()
        assert "#" in message(page)
        by_testid(page, "outbox-status").select_option("")
        wait_state(page, row, "status", "sent")
        assert len(platform.posts) == 1
        assert json.loads(platform.posts[0])["idempotency_key"] == f"citywall-case-{case_id}"
        assert page.locator(row + ' [data-testid="outbox-retry"]').count() == 0
        assert page.locator(row + ' [data-testid="outbox-case"]').inner_text() == f"#{case_id} 确认立案"
    finally:
        platform.close()
    # A check the platform asked of a camera (no case of citywall's) is listed as such, not as "#null".
    from wall.store.accounts import utcnow
    from wall.store.cases import OutboxMessage

    with site.app.state.services.db.session() as s:
        s.add(OutboxMessage(case_id=None, kind="video_check", idempotency_key="citywall-check-7", payload={},
                            status="sent", attempts=1, next_attempt_at=utcnow(), created_at=utcnow(),
                            sent_at=utcnow()))
    camera_row = '[data-testid="outbox-row"][data-kind="video_check"][data-case=""]'
    page.locator(camera_row).wait_for(timeout=15_000)  # the page refreshes every few seconds
    assert page.locator(camera_row + ' [data-testid="outbox-case"]').inner_text() == "点位核查 视频核查"
    retries = site.client().get("/api/audit", params={"action": "outbox_retry"}).json()["items"]
    assert [(r["user"], r["success"]) for r in retries] == [(ADMIN, True)]
    assert page_errors == []


def test_outbox_without_a_platform_says_so(serve_site: SiteStarter, page: Page, page_errors: list[str]) -> None:
    site = serve_site(offline_cameras())
    open_admin(page, site, "outbox")
    by_testid(page, "outbox-none").wait_for(state="visible")
    assert by_testid(page, "admin-message").is_hidden()
    assert page_errors == []


# -- who may use it --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_a_non_admin_sees_no_access_and_no_data(serve_site: SiteStarter, page: Page, page_errors: list[str],
                                                role: str) -> None:
    site = serve_site(offline_cameras())
    site.add_user("someone", role, grants=("cam-a",))
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url.removeprefix(site.url)))
    open_page(page, site, "/admin#users", user="someone")
    by_testid(page, "admin-no-access").wait_for(state="visible")
    assert "无权限" in by_testid(page, "admin-no-access").inner_text()
    assert by_testid(page, "admin").is_hidden()
    assert by_testid(page, "user-row").count() == 0 and by_testid(page, "grant-cell").count() == 0
    assert by_testid(page, "nav-admin").count() == 0
    api_calls = [u for u in asked if u.startswith("/api/")]
    assert api_calls == ["/api/me"], api_calls
    assert page_errors == []
