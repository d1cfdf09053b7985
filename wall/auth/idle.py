"""How long a session has been idle, measured on the monotonic clock wherever this process can.

A session's ``last_seen_at`` is a wall-clock time in the database (it must survive restarts and be shared by
replicas). But the wall clock can be stepped — an NTP correction after a long drift, an admin setting the time,
a VM resumed — and an hour forward would end every session at once, an hour back would keep a forgotten one open
for an hour more and stop refreshing the active ones (their ``last_seen_at`` lies in the "future"). So the first
time this process sees a session's ``last_seen_at`` it anchors it on ``time.monotonic`` (by the wall-clock idle
time it reads then, never negative), and from then on measures idleness on the monotonic clock, until the row
shows a ``last_seen_at`` this process did not anchor (another replica refreshed it): then it anchors again. Only a
session this process has never seen (just after a restart) is judged by the wall clock alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

MAX_MARKS = 100_000  # sessions remembered; the oldest are forgotten first (they fall back to the wall clock)


class IdleClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._marks: dict[int, tuple[datetime, float]] = {}  # session id → (last_seen_at, its monotonic time)
        self._lock = threading.Lock()

    def idle_for(self, session_id: int, last_seen_at: datetime, now: datetime) -> timedelta:
        """How long the session has not been used: monotonic since the last refresh this process anchored."""
        mono = self.monotonic()
        with self._lock:
            mark = self._marks.get(session_id)
            if mark is None or mark[0] != last_seen_at:
                wall_idle = max(0.0, (now - last_seen_at).total_seconds())
                mark = (last_seen_at, mono - wall_idle)
                self._remember(session_id, mark)
        return timedelta(seconds=max(0.0, mono - mark[1]))

    def touched(self, session_id: int, last_seen_at: datetime) -> None:
        """The session was refreshed now (``last_seen_at`` written)."""
        with self._lock:
            self._remember(session_id, (last_seen_at, self.monotonic()))

    def forget(self, session_id: int) -> None:
        with self._lock:
            self._marks.pop(session_id, None)

    def _remember(self, session_id: int, mark: tuple[datetime, float]) -> None:
        self._marks.pop(session_id, None)
        self._marks[session_id] = mark
        while len(self._marks) > MAX_MARKS:
            self._marks.pop(next(iter(self._marks)))
