"""Who controls a wall, set in the admin console's Walls tab (wall/static/admin-walls.js) in a real browser, and
checked where it matters: through the API as the operator it is given to and taken from (issue 16, finding 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streams.devserver.rtsp import free_port
from tests.browser_helpers import STATE_TIMEOUT_MS, open_page
from tests.conftest import SiteStarter

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_gives_and_takes_a_wall_in_the_console(serve_site: SiteStarter, page: Page, page_errors: list[str],
                                                      tmp_path: Path) -> None:
    port = free_port()
    site = serve_site(f'cameras:\n  - {{id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:{port}/a", group: east}}\n',
                      f"server:\n  data_dir: {tmp_path / 'data'}\n"
                      "walls:\n  - {name: hall, cameras: [cam-a], controllers: ['group:east']}\n")
    site.add_user("op", "operator", grants=("cam-a",))
    op = site.client("op")
    assert op.put("/api/walls/hall/tiles/0", json={"camera": None}).status_code == 403

    open_page(page, site, "/admin#walls")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=STATE_TIMEOUT_MS, polling=250)
    hall = page.locator('[data-testid="wall-row"][data-wall="hall"]')
    from_file = hall.locator('[data-testid="wall-controller"][data-subject="group:east"]')
    from_file.wait_for()
    assert from_file.get_attribute("data-source") == "config"
    assert from_file.locator('[data-testid="wall-controller-remove"]').count() == 0, "the file's stay the file's"

    hall.get_by_test_id("wall-controller-input").fill("op")
    hall.get_by_test_id("wall-controller-add").click()
    hall.locator('[data-testid="wall-controller"][data-subject="op"]').wait_for()
    assert op.put("/api/walls/hall/tiles/0", json={"camera": None}).status_code == 200
    assert op.get("/api/walls/hall").json()["may_control"] is True

    hall.get_by_test_id("wall-controller-input").fill("role:viewer")
    hall.get_by_test_id("wall-controller-add").click()
    page.get_by_test_id("admin-message").wait_for(state="visible")
    assert "422" in page.get_by_test_id("admin-message").inner_text()

    hall.locator('[data-testid="wall-controller"][data-subject="op"] [data-testid="wall-controller-remove"]').click()
    hall.locator('[data-testid="wall-controller"][data-subject="op"]').wait_for(state="detached")
    assert op.put("/api/walls/hall/tiles/0", json={"camera": "cam-a"}).status_code == 403
    assert page_errors == []
