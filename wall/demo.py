"""``citywall demo``: what the first run needs around ``serve`` — accounts, the start banner, a clean stop.

The demo must show a newcomer everything in one go, so at start it prints where each part of the product is
(the seat's own wall, the hall's display, the review desk, the admin console) and, on the first run only, the
accounts it made. There is no fixed demo password anywhere: the first run generates one per account, prints it
once and stores only its argon2 hash, like any other account. A later run on the same data directory says
where to reset them instead.

Ctrl-C (SIGINT) and SIGTERM must stop everything cleanly with exit code 0 — also the RTSP server child of
``--rtsp`` — whenever they come: before the web server listens (uvicorn's own handlers are not installed yet,
and a process started in the background by a shell inherits an *ignored* SIGINT), while it serves (uvicorn
shuts down gracefully and then re-raises the signal), or while it shuts down. :func:`stop_on_signals` turns
both into :class:`wall.shutdown.Stopped` (wall/shutdown.py), which unwinds through every ``finally`` (the RTSP
server's included) to ``main``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from settings.packaged import packaged
from wall.shutdown import Stopped, stop_on_signals  # noqa: F401  (the demo's names for them)

if TYPE_CHECKING:
    from wall.config import SiteConfig
    from wall.store.db import Database

# The demo site (cameras.yaml, server.yaml, analytics.yaml) and its clips, shipped inside the package so that an
# installed citywall has them. The clips (media/ATTRIBUTION.md) are also what the test suite and the benchmarks
# play: one copy for all three.
SITE = packaged("wall", "demo_site")
MEDIA = SITE / "media"

ACCOUNTS = (("admin", "admin"), ("operator", "operator"))
DEMO_GROUP = "demo"
# The pages a newcomer should open, in the order the banner lists them (path, what it is).
PAGES = (
    ("/", "seat: your own wall (layouts, camera picker, tours)"),
    ("/wall/hall?kiosk=1", "hall display: the shared 2x2 wall with its tour and alarm pop-up"),
    ("/desk", "review desk: confirm or reject the cases the analytics raise"),
    ("/admin", "admin console: users, grants, camera health, audit"),
)
SIM_ACCOUNT = "platform-sim"  # the simulator's service account in the demo's database
# The simulated platform's pace: a newcomer who confirms a case sees it dispatched, handled and closed on the desk
# within a minute or two (the video check's own times are platform.verification in demo_site/server.yaml). The
# report (反馈) comes soon after the dispatch, so that it, and the check it starts, usually come before the
# automatic watch or the case's own event has seen the table empty.
SIM_PACE = {"dispatch_after": 5.0, "handled_after": 5.0, "close_after": 3.0}


def use_data_dir(path: Path) -> Path:
    """Point the demo (and the account commands it suggests) at ``path``: CITYWALL_DATA_DIR is what the site
    config reads before ``server.data_dir``, so one setting serves ``serve`` and ``user passwd`` alike."""
    path = path.expanduser().resolve()
    os.environ["CITYWALL_DATA_DIR"] = str(path)
    return path


def default_data_dir() -> Path | None:
    """Where the demo keeps its data when no ``--data-dir`` or CITYWALL_DATA_DIR says: in a checkout, the site's
    own ``data/demo`` (None: server.yaml's setting holds); installed from a wheel, ``data/demo`` under the
    current directory, since a site inside site-packages is no place for a database."""
    installed = any(part in ("site-packages", "dist-packages") for part in SITE.parts)
    return Path.cwd() / "data" / "demo" if installed else None


def new_password(length: int = 16) -> str:
    """A random password that passes any sane policy: every character class, ``length`` characters."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_.!")
    alphabet = "".join(classes)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(ch in cls for ch in password) for cls in classes):
            return password


def create_accounts(app: Any, site: Any) -> list[tuple[str, str, str]]:
    """On a site without any user: an admin and an operator (granted the demo's cameras) with generated
    passwords. Returns (name, role, password) of those made — the only time the passwords exist in clear."""
    from wall.auth import grants, users
    from wall.services import Services

    services = Services.of(app)
    made: list[tuple[str, str, str]] = []
    with services.db.session() as s:
        if users.count(s) > 0:
            return made
        length = max(16, services.security.password_min_length)
        for name, role in ACCOUNTS:
            password = new_password(length)
            users.create_user(s, name, role, password, services.security)
            made.append((name, role, password))
        configured = [c.id for c in site.cameras]
        grants.add_grant(s, grants.Subject.parse("operator"), grants.Target.parse(f"group:{DEMO_GROUP}"), configured,
                         by="citywall demo")
    return made


def shown_host(host: str) -> str:
    """The address a browser on this machine opens for ``host`` (a wildcard bind is not an address to open)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def banner(host: str, port: int, cameras: int, made: list[tuple[str, str, str]], reset_hint: str,
           source: str) -> str:
    """What the demo prints once it is ready to serve: the pages, then the new accounts or where to reset them."""
    base = f"http://{shown_host(host)}:{port}"
    lines = [f"citywall demo: {cameras} cameras ({source}); open in a browser:"]
    lines += [f"  {base + path:<44} {what}" for path, what in PAGES]
    if made:
        lines.append("Accounts made for this demo; their passwords are shown only now and stored only as hashes:")
        lines += [f"  {role:<9} user {name:<9} password {password}" for name, role, password in made]
        lines.append("Change them with:")
    else:
        lines.append("Accounts exist from an earlier run (their passwords were printed then); set a new one with:")
    lines.append(f"  {reset_hint}")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


def simulator_token(db: Database) -> str:
    """The simulator's service token: the account made on the first run, its token rotated on every later one
    (only the hash is stored, so the last run's token is known to nobody). Audited like the token commands."""
    from sqlalchemy import select

    from wall.auth import audit
    from wall.platform import accounts
    from wall.platform.models import Scope
    from wall.store.platform import ServiceAccount

    with db.session() as s:
        exists = s.scalar(select(ServiceAccount.id).where(ServiceAccount.name == SIM_ACCOUNT)) is not None
        token = accounts.rotate(s, SIM_ACCOUNT) if exists else accounts.create(s, SIM_ACCOUNT, list(Scope))
        audit.record(s, user="citywall demo", action=f"platform.token.{'rotate' if exists else 'create'}",
                     target=f"service:{SIM_ACCOUNT}", success=True, address="local", detail=None)
    return token


@contextlib.contextmanager
def platform_simulator(site: SiteConfig, host: str, port: int, *, enabled: bool = True,
                       say: Callable[[str], object] = print) -> Iterator[SiteConfig]:
    """Run the platform simulator for the demo while the block runs; yields ``site`` pointed at it (its webhook
    URL, this run's secret, evidence links to the demo's address). Disabled, or with a database that cannot be
    opened (``serve`` reports that next), ``site`` as it is."""
    from pydantic import SecretStr

    from wall.platform.simulator import SimulatorSettings
    from wall.platform.simulator_server import SimulatorServer
    from wall.store.db import DatabaseError, open_database

    if not enabled:
        yield site
        return
    try:
        db = open_database(site.data_dir, site.server_file.server.database_url)
    except DatabaseError:
        yield site
        return
    try:
        token = simulator_token(db)
    finally:
        db.dispose()
    citywall, secret = f"http://{shown_host(host)}:{port}", secrets.token_urlsafe(32)
    settings = SimulatorSettings(citywall_url=citywall, token=SecretStr(token), secret=SecretStr(secret), **SIM_PACE)
    with SimulatorServer(settings) as sim:
        platform = site.server_file.platform
        platform = platform.model_copy(update={"webhook_url": sim.webhook_url, "secret": secret,
                                               "public_base_url": platform.public_base_url or citywall})
        say(f"citywall demo: the city's case platform is simulated at {sim.url} (its record: {sim.url}/record; "
            f"--no-platform-sim runs without): a case you confirm on the desk is dispatched after "
            f"{SIM_PACE['dispatch_after']:.0f} s, reported handled {SIM_PACE['handled_after']:.0f} s later, checked "
            "on video and closed when the place is clear")
        yield dataclasses.replace(site, server_file=site.server_file.model_copy(update={"platform": platform}))
