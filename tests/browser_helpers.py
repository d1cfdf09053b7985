"""Shared pieces of the browser tests: Debian chromium through Playwright (never ``playwright install``).

The fixtures ``browser`` (one chromium per test session), ``page`` and ``page_errors`` live in conftest.py; these
are the helpers a test calls. Waits poll the page's own state (no fixed sleeps), with timeouts sized for a loaded
two-core machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import ADMIN, ARTIFACTS, LiveServer
from wall.auth.sessions import COOKIE

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
PLAY_TIMEOUT_MS = 60_000  # four tiles usually play within ~5 s; a busy 2-core CI machine needs room
STATE_TIMEOUT_MS = 45_000


def cameras_yaml(*cameras: tuple[str, str, str]) -> str:
    lines = ["cameras:"]
    for cam_id, name, url in cameras:
        lines += [f"  - id: {cam_id}", f"    name: {name}", f'    url: "{url}"']
    return "\n".join(lines) + "\n"


def sign_in(page: Page, site: LiveServer, user: str = ADMIN) -> None:
    """Give the browser ``user``'s session cookie, as a login would leave it."""
    page.context.add_cookies([{"name": COOKIE, "value": site.token(user), "url": site.url, "httpOnly": True,
                               "sameSite": "Strict"}])


def open_page(page: Page, site: LiveServer, path: str = "/", user: str = ADMIN) -> None:
    sign_in(page, site, user)
    page.goto(site.url + path)


def open_wall(page: Page, site: LiveServer, user: str = ADMIN) -> None:
    open_page(page, site, "/", user)


DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def keep_for_docs(shot: Path, name: str) -> None:
    """Copy a screenshot over docs/img/NAME when CITYWALL_DOCS_IMG=1 (refreshing the docs' pictures): a plain
    test run leaves the checkout as it found it."""
    if os.environ.get("CITYWALL_DOCS_IMG") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / name)


def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot as a test artifact (artifacts/…); docs/ copies the ones worth showing."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path
