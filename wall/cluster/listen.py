"""One PostgreSQL ``LISTEN`` connection on a thread of its own: how control-plane replicas hear each other.

Replicas of one hall share nothing but the database, so what one of them changes in memory (a wall, a camera's
configuration, a case notice for the browsers) is told to the others with ``NOTIFY`` on a channel, and each
replica's listener hands every payload to a handler. PostgreSQL delivers a notification when the transaction
that sent it commits, in commit order, and never one sent while the listening connection was down: so the
listener reconnects within ``RECONNECT_SECONDS`` and calls ``on_connected`` each time it listens again, for a
handler that must catch up on what it missed (the walls re-read their state). Nothing here imports Ray.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from wall.store.db import unavailable

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0
WAIT_SECONDS = 0.5  # how often the listener looks up from its connection (to stop)


def conninfo(url: str | URL) -> str:
    """psycopg's connection string for SQLAlchemy's ``postgresql+psycopg://`` URL (password kept: it connects)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def notify(session: Session, channel: str, payload: str) -> None:
    """``NOTIFY`` inside the session's transaction: the listeners hear it when (and only if) it commits."""
    session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


class PgListener:
    def __init__(self, conninfo: str, channel: str, handler: Callable[[str], None], *,
                 on_connected: Callable[[], None] | None = None) -> None:
        self.conninfo, self.channel, self.handler, self.on_connected = conninfo, channel, handler, on_connected
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"listen-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(WAIT_SECONDS + 5)

    def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is connected (for a replica that must not miss the first notifications)."""
        return self._listening.wait(timeout)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                     application_name=f"citywall-{self.channel}") as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self._listening.set()
                    if self.on_connected is not None:
                        self._guarded(self.on_connected)
                    while not self._stop.is_set():
                        for notification in conn.notifies(timeout=WAIT_SECONDS):
                            self._guarded(self.handler, notification.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("%s from other replicas: %s; listening again in %.0f s", self.channel,
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__, RECONNECT_SECONDS)
                self._stop.wait(RECONNECT_SECONDS)

    def _guarded(self, call: Callable[..., None], *args: str) -> None:
        """A handler that fails (the database away while it reads) loses that notification, not the listener."""
        try:
            call(*args)
        except Exception as exc:
            if not unavailable(exc):
                log.exception("%s: a notification was not handled", self.channel)
            else:  # one line: the database is away, the next notification or reconnect catches up
                log.warning("%s: a notification was not handled (%s)", self.channel, type(exc).__name__)
