"""Fault campaign: the system clock stepped an hour forward and back (issue 16).

Durations must be measured on the monotonic clock: a session's idle timeout, a wall's tour steps and alarm
timeouts, the evidence clip's post-roll. The wall clock is stepped through the seams the service has: the
service clock (``Clock.step`` moves the UTC clock alone, ``Clock.advance`` moves time itself) for sessions, and
``time.time`` itself, patched before citywall is imported in a process of its own, for the walls, whose default
clock must not follow it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, Clock, SiteStarter
from tests.test_access import audit_rows, offline_cameras

HOUR = 3600.0


def test_a_clock_step_neither_ends_sessions_early_nor_keeps_idle_ones(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("car"), "security:\n  session_idle_seconds: 60\n")
    clock = Clock().install(site)
    site.add_user("op", "operator", grants=("car",))
    site.add_user("other", "operator")
    op = site.login("op")
    assert op.get("/api/me").status_code == 200

    clock.step(HOUR)  # an hour forward: nobody was idle for an hour
    assert op.get("/api/me").status_code == 200, "a forward step ended an active session"
    site.login("other")  # a login prunes old sessions: not the ones the step made look old
    assert op.get("/api/me").status_code == 200, "the login's housekeeping deleted a session in use"
    for _ in range(12):  # two minutes in use after the step: refreshed all along
        clock.advance(10)
        assert op.get("/api/me").status_code == 200

    clock.step(-2 * HOUR)  # an hour back from where it started
    for _ in range(12):  # still in use: refreshed although its last use now lies "in the future"
        clock.advance(10)
        assert op.get("/api/me").status_code == 200, "a backward step stopped refreshing an active session"
    clock.advance(61)  # then left alone: it idles out after the timeout, not an hour later
    assert op.get("/api/me").status_code == 401, "a backward step kept an idle session open"
    site.tokens.clear()
    assert audit_rows(site, user="op", action="session.expire")[0]["detail"]["reason"] == "idle"


WALL_SCRIPT = """
import json, sys, time
real = time.time
offset = [0.0]
time.time = lambda: real() + offset[0]  # the system clock, steppable: patched before citywall is imported
from wall.auth.principal import Principal
from wall.hall_settings import WallSpec, layout_table
from wall.store.db import open_database
from wall.walls.service import WallService

operator = Principal("duty", "operator", cameras=frozenset({"c0", "c1", "c2"}))
svc = WallService(open_database(__import__("pathlib").Path(sys.argv[1])), layout_table([]), ["c0", "c1", "c2"],
                  [WallSpec(name="hall", layout="1", controllers=["role:operator"])])  # its default clock
svc.start()
svc.stop()  # ticked by hand below
svc.start_tour("hall", operator, cameras=["c0", "c1", "c2"], group=None, interval=5, order="sequential")
shown = lambda: svc.view("hall", operator).tiles[0].camera
seen = [shown()]
offset[0] = 3600.0  # an hour forward
svc.tick()
seen.append(shown())
time.sleep(5.2)
svc.tick()
svc.tick()
seen.append(shown())
offset[0] = -3600.0  # an hour back
time.sleep(5.2)
svc.tick()
seen.append(shown())
print(json.dumps(seen))
"""


def test_wall_tours_ignore_a_stepped_system_clock(tmp_path: Path) -> None:
    """In a process of its own whose ``time.time`` the test steps (the wall clock as NTP or an admin would set
    it): the tour must neither step early after an hour forward nor freeze after an hour back."""
    done = subprocess.run([sys.executable, "-c", WALL_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen[1] == "c0", f"an hour forward fired the next step early: {seen}"
    assert seen[2] == "c1", f"one step after the interval, and only one: {seen}"
    assert seen[3] == "c2", f"an hour back froze the tour: {seen}"
