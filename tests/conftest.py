"""Shared fixtures: real media, a real GStreamer RTSP server, and the real app on a real socket.

Every site started by ``serve_site`` has its own SQLite database under the test's tmp directory and one admin
(``admin``, password ``TEST_PASSWORD``) unless started with ``admin=False``. ``LiveServer`` makes more users
straight in that database (``add_user``), hands out sessions (``token``, ``cookie``, ``client``) and logs in
over HTTP (``login``) — so tests talk to the service with authentication on, as a browser would.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from streams.devserver.clips import looped_copy, synthetic_clip
from streams.devserver.rtsp import RtspDevServer, why_unavailable
from tests import scheduling
from vision.card import DEFAULT_CARD, MODEL_PATH_ENV, load_card
from wall.demo import MEDIA

if TYPE_CHECKING:
    from wall.store.db import Database

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
TEST_PASSWORD = "Test-passw0rd"  # meets the default policy (10 characters, 3+ classes)
ADMIN = "admin"
ARTIFACTS = Path(os.environ.get("CITYWALL_ARTIFACTS", REPO / "artifacts"))
# The AGPL Ultralytics exports (YOLOv8n, YOLO11n) are never part of the repository: the bundled cards name only
# the file, found through $CITYWALL_MODEL_PATH (vision/card.py). Here it defaults to ../shared/data/models beside
# the checkout, where CI keeps them; set before any test starts a service, so its children look there too.
os.environ.setdefault(MODEL_PATH_ENV, str(REPO.parent / "shared" / "data" / "models"))
# Every Ray process of the suite stays on 127.0.0.1 (tests/cluster_helpers.py). Ray reads this once, when it is
# first imported, and a unit test may import it (through wall.cluster) before any cluster fixture runs: so it is
# set here, before anything else, for every worker of the suite.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: a worker that has run a browser test holds Playwright's event loop
    in its main thread, where ``asyncio.run`` refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# -- how the files are spread over the workers (tests/scheduling.py) -----------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    scheduling.configure(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    scheduling.order_items(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return scheduling.DurationScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared Ray cluster (tests/cluster_helpers.py) lives while the next test's file uses it, no longer."""
    helpers = sys.modules.get("tests.cluster_helpers")  # imported only where a cluster test ran
    if helpers is not None:
        helpers.release_unless_needed(nextitem)


def agpl_card(name: str) -> Path:
    """The bundled card ``name`` (vision/models/) whose weights are an AGPL export kept outside the repository;
    skips the calling test, naming where it looked, when they are not there. Only tests that compare against those
    models call it: everything else runs on the bundled YOLOX-Nano."""
    card = DEFAULT_CARD.with_name(name)
    weights = load_card(card).model_path
    if not weights.is_file():
        pytest.skip(f"{weights.name} (AGPL-3.0, not in the repository) not found in ${MODEL_PATH_ENV}="
                    f"{os.environ.get(MODEL_PATH_ENV, '')!r} nor beside {card}")
    return card


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long looped copies of the demo's sample clips (wall/demo_site/media), and a generated 1080p H.264 clip
    (GOP 2 s)."""
    why = why_unavailable() or (None if shutil.which("ffmpeg") else "ffmpeg is missing (apt-get install ffmpeg)")
    if why:
        pytest.fail(f"test peers missing: {why}. Run .ci/run (or see README) to install them.")
    # On xdist the workers share one folder of this run (their base temp's parent), made by whichever comes first
    # while the others wait on its lock: the 1080p clip costs ~8 s of CPU to encode, once per run, not per worker.
    shared = os.environ.get("PYTEST_XDIST_WORKER") is not None
    d = tmp_path_factory.getbasetemp().parent / "media" if shared else tmp_path_factory.mktemp("media")
    d.mkdir(exist_ok=True)
    with (d / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        looped_copy(MEDIA / "car-detection.mp4", d / "car.mp4", 630)  # 30.2 s × 21
        looped_copy(MEDIA / "one-by-one-person-detection.mp4", d / "person.mp4", 690)  # 139.4 s × 5
        visit_clip(d)
        looped_copy(MEDIA / "bottle-detection.mp4", d / "bottle.mp4", 630)  # 39.9 s × 16, High profile
        short, part = d / "hd1080-short.mp4", d / "hd1080-short.part.mp4"
        if not short.is_file():  # encoded under another name: a worker killed meanwhile leaves no half clip
            part.unlink(missing_ok=True)
            synthetic_clip(part, width=1920, height=1080, fps=25, gop=50, seconds=30).rename(short)
        looped_copy(short, d / "hd1080.mp4", 330)
    return d


# One visit of the person clip, 95–117 s (tests/test_replay.py has the visits: 94–118 s): looped, a camera on it
# sees a visitor standing at the table whenever it (re)connects, where the whole clip has gaps of up to 13 s
# between visitors and a test waits out whichever it lands in.
VISIT_START, VISIT_SECONDS = 95, 22


def visit_clip(directory: Path) -> Path:
    """``visit.mp4`` in ``directory``: the visit, cut on a keyframe (one a second) and looped, stream copies."""
    visit, cut = directory / "visit.mp4", directory / "visit-cut.part.mp4"
    if not visit.is_file():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(VISIT_START), "-i",
                        str(MEDIA / "one-by-one-person-detection.mp4"), "-t", str(VISIT_SECONDS), "-c", "copy",
                        "-an", "-f", "mp4", str(cut)], check=True, timeout=60)
        looped_copy(cut, visit, 690)
    return visit


@pytest.fixture(scope="session")
def rtsp(media_dir: Path) -> Iterator[RtspDevServer]:
    """One real RTSP server for the session with five cameras (mounts are shared between clients)."""
    server = RtspDevServer({
        "car": media_dir / "car.mp4",
        "person": media_dir / "person.mp4",
        "visit": media_dir / "visit.mp4",
        "bottle": media_dir / "bottle.mp4",
        "hd": media_dir / "hd1080.mp4",
    })
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_rtsp(media_dir: Path) -> Iterator[Callable[..., RtspDevServer]]:
    """Start private servers a test may freeze, kill or restart without disturbing others."""
    started: list[RtspDevServer] = []

    def start(port: int = 0, **mounts: Path) -> RtspDevServer:
        server = RtspDevServer(mounts or {"cam": media_dir / "car.mp4"}, port=port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class LiveServer:
    """The real app under uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.origin = self.url
        self.tokens: dict[str, str] = {}
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws_max_size=1 << 20, proxy_headers=False,
                                                    ws_per_message_deflate=False))  # as `citywall serve` runs
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        if not wait_until(lambda: self.server.started, 20):
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    # -- accounts, straight in the site's database ------------------------------------------------------------

    @property
    def db(self) -> Database:
        return self.app.state.services.db

    def add_user(self, name: str, role: str = "viewer", password: str = TEST_PASSWORD,
                 grants: tuple[str, ...] = ()) -> str:
        """Create a user (and grants of cameras / ``group:NAME`` to them); returns the password."""
        from wall.auth import users

        with self.db.session() as s:
            users.create_user(s, name, role, password, self.app.state.services.security)
        for target in grants:
            self.grant(name, target)
        return password

    def grant(self, subject: str, target: str) -> int:
        from wall.auth import grants as grant_logic

        configured = [c.id for c in self.app.state.services.site.cameras]
        with self.db.session() as s:
            return grant_logic.add_grant(s, grant_logic.Subject.parse(subject), grant_logic.Target.parse(target),
                                         configured, by="test").id

    def token(self, name: str = ADMIN) -> str:
        """A session token of ``name`` (made once per user, in the database, as a login would)."""
        if name not in self.tokens:
            from sqlalchemy import select

            from wall.auth import sessions
            from wall.store.accounts import User

            with self.db.session() as s:
                user = s.scalar(select(User).where(User.name == name))
                assert user is not None, f"no user {name}"
                services = self.app.state.services  # its clock: a test may have moved it
                self.tokens[name], _ = sessions.start(s, user, services.security, "127.0.0.1", "tests",
                                                      services.clock())
        return self.tokens[name]

    def cookie(self, name: str = ADMIN) -> str:
        """The Cookie header value of ``name``'s session (for WebSockets)."""
        from wall.auth.sessions import COOKIE

        return f"{COOKIE}={self.token(name)}"

    def client(self, name: str | None = ADMIN, **kwargs: Any) -> httpx.Client:
        """An httpx client with ``name``'s session cookie (None: without any)."""
        from wall.auth.sessions import COOKIE

        cookies = {COOKIE: self.token(name)} if name else None
        return httpx.Client(base_url=self.url, cookies=cookies, timeout=kwargs.pop("timeout", 20.0), **kwargs)

    def login(self, name: str, password: str = TEST_PASSWORD) -> httpx.Client:
        """Log in over HTTP like the login page does; the client then holds the session cookie."""
        client = httpx.Client(base_url=self.url, timeout=20.0)
        res = client.post("/api/session", json={"username": name, "password": password})
        assert res.status_code == 200, res.text
        return client


class SiteAuth(httpx.Auth):
    """Adds the session cookie of ``user`` on whichever site (by port) the request goes to: lets a test keep
    one plain client for the site it starts later."""

    def __init__(self, sites: list[LiveServer], user: str = ADMIN) -> None:
        self.sites = sites
        self.user = user

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for site in self.sites:
            if request.url.port == site.port and "cookie" not in request.headers:
                request.headers["Cookie"] = site.cookie(self.user)
        yield request


class Clock:
    """A clock a test moves (``clock.install(site)``): sessions, idle timeouts, lockouts and login delays read it,
    so a test steps over minutes instead of waiting for them. ``advance`` moves time itself (the UTC clock and the
    monotonic one the idle timeout measures with); ``step`` moves only the wall clock, as an admin or NTP setting
    the system time does."""

    def __init__(self) -> None:
        from wall.store.accounts import utcnow

        self.now = utcnow()
        self.mono = time.monotonic()

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def install(self, site: LiveServer) -> Clock:
        from wall.auth.idle import IdleClock

        services = site.app.state.services
        services.clock, services.idle_clock = self, IdleClock(self.monotonic)
        return self


class SiteStarter:
    """``serve_site(cameras_yaml, server_yaml="", analytics_yaml="", admin=True)`` → a started LiveServer."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[LiveServer] = []

    def __call__(self, cameras_yaml: str, server_yaml: str = "", analytics_yaml: str = "",
                 admin: bool = True) -> LiveServer:
        live = start_site(self.directory, cameras_yaml, server_yaml, analytics_yaml, admin)
        self.servers.append(live)
        return live

    def auth(self, user: str = ADMIN) -> SiteAuth:
        return SiteAuth(self.servers, user)


def start_site(directory: Path, cameras_yaml: str, server_yaml: str = "", analytics_yaml: str = "",
               admin: bool = True) -> LiveServer:
    """Write the config files, load them like ``citywall serve`` does and run the app on a real socket."""
    from streams.devserver.rtsp import free_port
    from wall.app import create_app
    from wall.config import load_config

    (directory / "cameras.yaml").write_text(cameras_yaml, encoding="utf-8")
    if server_yaml:
        (directory / "server.yaml").write_text(server_yaml, encoding="utf-8")
    if analytics_yaml:
        (directory / "analytics.yaml").write_text(analytics_yaml, encoding="utf-8")
    site = load_config(directory)
    live = LiveServer(create_app(site), free_port()).__enter__()
    if admin:
        live.add_user(ADMIN, "admin")
    return live


@pytest.fixture
def serve_site(tmp_path: Path) -> Iterator[SiteStarter]:
    """Start the real app for a config written under ``tmp_path`` (its database in ``tmp_path/data``)."""
    starter = SiteStarter(tmp_path)
    yield starter
    for live in starter.servers:
        live.__exit__(None, None, None)


@pytest.fixture
def postgres_server() -> Iterator[int]:
    """A throwaway PostgreSQL on a free loopback port (tests/pg.py: user and database ``citywall``)."""
    from tests.pg import running_postgres

    with running_postgres() as port:
        yield port


# -- the browser (Debian chromium through Playwright; never `playwright install`) --------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the whole test session (each test gets its own context)."""
    import shutil

    from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium (never 'playwright install')")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions of the page's scripts (a test asserts it stays empty)."""
    return []


@pytest.fixture
def page(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    """A fresh browser context (own cookies) and page, zh-CN like the hall's seats."""
    from tests.browser_helpers import STATE_TIMEOUT_MS

    context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(STATE_TIMEOUT_MS)
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    yield page
    context.close()
