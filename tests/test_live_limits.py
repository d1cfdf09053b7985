"""Live-view limits (issue 16, finding 4): 200 sockets of one user once kept a core busy and pushed the API's
answers to seconds, and nothing bounded how many a session or a user could open. ``server.live`` now bounds them
per login session, per user and for the whole server; one over a limit is accepted and closed at once with 4429
and a reason naming the limit (the tile shows it and retries later), and a closed socket frees its slot.

Real app, real RTSP camera, real WebSockets; the limits are set small so that a handful of sockets reach them.
(What the fan-out costs with 200 viewers is measured in ``bench/wall.py``, not timed here.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.test_access import cameras_yaml, close_of, open_live

LIMITS = "server:\n  live: {per_session: 2, per_user: 3, total: 4}\n"


@pytest.fixture
def site(serve_site: SiteStarter, rtsp: RtspDevServer) -> Iterator[LiveServer]:
    live = serve_site(cameras_yaml(rtsp), LIMITS)
    live.add_user("op", "operator", grants=("car", "person"))
    live.add_user("vw", "viewer", grants=("car",))
    yield live


def is_open(ws: ClientConnection) -> bool:
    """The server keeps it: it sends the stream's first message and does not close."""
    try:
        ws.recv(timeout=20)
        return True
    except ConnectionClosed:
        return False


def second_session(site: LiveServer, user: str) -> str:
    """A second login session of ``user`` (another seat), as a Cookie header."""
    client = site.login(user)
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def test_over_a_limit_the_socket_closes_with_4429_and_why(site: LiveServer) -> None:
    seat = site.cookie("op")
    with ExitStack() as held:
        first = [held.enter_context(open_live(site, cam, seat)) for cam in ("car", "person")]
        assert all(is_open(ws) for ws in first)
        with open_live(site, "car", seat) as over:
            assert close_of(over) == (4429, "too many live views in this session (at most 2)")

        other_seat = second_session(site, "op")  # the user's second seat: its own session count, the user's total
        third = held.enter_context(open_live(site, "car", other_seat))
        assert is_open(third)
        with open_live(site, "person", other_seat) as over:
            assert close_of(over) == (4429, "too many live views of user op (at most 3)")

        kiosk = held.enter_context(open_live(site, "car", site.cookie("vw")))
        assert is_open(kiosk)
        with open_live(site, "car", site.cookie()) as over:  # the admin: its own counts are zero
            assert close_of(over) == (4429, "the server shows its most live views (at most 4): try again later")

        # a closed socket frees its slot, for the same session at once
        first[0].close()
        limiter = site.app.state.services.live_limits
        assert wait_until(lambda: limiter.total == 3, 10, 0.05), limiter.total
        with open_live(site, "car", seat) as again:
            assert is_open(again)
    assert wait_until(lambda: limiter.total == 0, 10, 0.05), limiter.total
    assert limiter.refused == 3


def test_refusals_cost_nothing_and_leave_the_api_answering(site: LiveServer) -> None:
    """Sockets refused in a burst each take no slot: afterwards the counts are zero and the API answers."""
    seat = site.cookie("op")
    with open_live(site, "car", seat) as kept, open_live(site, "person", seat) as kept2:
        assert is_open(kept) and is_open(kept2)
        started = time.monotonic()
        for _ in range(30):
            with open_live(site, "car", seat) as over:
                assert close_of(over)[0] == 4429
        limiter = site.app.state.services.live_limits
        assert limiter.total == 2 and limiter.refused == 30
        assert site.client("op").get("/api/cameras").status_code == 200
        assert time.monotonic() - started < 60
