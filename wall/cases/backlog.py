"""Event changes that reach the desk while the database is unavailable: kept in order and committed once it is back.

The analytics tell each event change once (and again when its clip is written); the desk commits it before
anyone is told. If PostgreSQL is restarting at that moment the commit fails, and without this the change — maybe
the case itself — would be gone with the exception the runtime logs. So the desk's entry point for the runtime
is ``EventBacklog.offer``: a change the database could not take waits here, later ones queue behind it (a case's
update must not overtake its raise), and a thread retries the oldest every second until the database answers.
Retrying is safe: the desk finds a case by its ``event_id`` and evidence rows are unique, so a commit that
succeeded but whose answer was lost does not raise the case twice. Other errors are the desk's own and are
raised as before.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from vision.events import EventChange
from wall.cases.desk import CaseDesk
from wall.store.db import unavailable

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
LIMIT = 2000  # changes kept while the database is away (each holds its snapshot bytes)


class EventBacklog:
    def __init__(self, desk: CaseDesk, *, retry_seconds: float = RETRY_SECONDS, limit: int = LIMIT) -> None:
        self.desk = desk
        self.retry_seconds = retry_seconds
        self.limit = limit
        self.dropped = 0  # changes lost because the backlog was full (the database away for very long)
        self._queue: deque[EventChange] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="case-backlog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def offer(self, change: EventChange) -> None:
        """Commit ``change`` now, or keep it for later when the database is unavailable (or others wait)."""
        with self._lock:
            if self._queue:
                self._keep(change)
                return
        try:
            self.desk.on_event(change)
        except Exception as exc:
            if not unavailable(exc):
                raise
            with self._lock:
                first = not self._queue
                self._keep(change)
            if first:
                log.warning("database unavailable: event changes wait to become cases (%s)", type(exc).__name__)
            self._wake.set()

    def _keep(self, change: EventChange) -> None:
        if len(self._queue) >= self.limit:
            self.dropped += 1
            log.error("case backlog full (%d): event change %s %s dropped", self.limit, change.kind, change.event_id)
            return
        self._queue.append(change)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_seconds)
            self._wake.clear()
            self.drain()

    def drain(self) -> int:
        """Commit the waiting changes oldest first until the database refuses one; returns how many went in."""
        done = 0
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    break
                change = self._queue[0]
            try:
                self.desk.on_event(change)
            except Exception as exc:
                if unavailable(exc):
                    break
                log.exception("event change %s could not become a case; dropped", change.event_id)
            with self._lock:
                self._queue.popleft()
                done += 1
        if done:
            log.info("database back: %d waiting event changes committed, %d still waiting", done, self.waiting)
        return done
