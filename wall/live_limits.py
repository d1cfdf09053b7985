"""How many live-video sockets may be open at once: per login session, per user, and for the whole server.

Why: every open ``/ws/live`` socket costs the event loop a wake-up and a send per frame, and a page (or a script
with a stolen cookie) that opens hundreds of them for one camera slowed every other answer of the API down to
seconds (issue 16, finding 4). A socket over a limit is refused at once (``wall.api.live`` closes it with
``LIVE_LIMITED`` and the reason from here), so a seat can never take more than its share.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from wall.security_settings import LiveLimits

LIVE_LIMITED = 4429  # WebSocket close code (application range): over a live-view limit; the tile retries later


class LiveLimiter:
    """Counts of open live sockets; ``hold`` takes one slot for the life of a socket."""

    def __init__(self, limits: LiveLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._sessions: Counter[int] = Counter()
        self._users: Counter[str] = Counter()
        self.total = 0
        self.refused = 0  # sockets refused since the start (for the admin's eyes: /metrics, logs)

    def _refusal(self, user: str, session_id: int | None) -> str | None:
        limits = self.limits
        if session_id is not None and self._sessions[session_id] >= limits.per_session:
            return f"too many live views in this session (at most {limits.per_session})"
        if self._users[user] >= limits.per_user:
            return f"too many live views of user {user[:32]} (at most {limits.per_user})"
        if self.total >= limits.total:
            return f"the server shows its most live views (at most {limits.total}): try again later"
        return None

    def acquire(self, user: str, session_id: int | None) -> str | None:
        """Take a slot; None when taken, else why not (a short sentence fit for a close reason)."""
        with self._lock:
            refusal = self._refusal(user, session_id)
            if refusal is not None:
                self.refused += 1
                return refusal
            if session_id is not None:
                self._sessions[session_id] += 1
            self._users[user] += 1
            self.total += 1
            return None

    def release(self, user: str, session_id: int | None) -> None:
        with self._lock:
            if session_id is not None:
                self._sessions[session_id] -= 1
                if self._sessions[session_id] <= 0:
                    del self._sessions[session_id]
            self._users[user] -= 1
            if self._users[user] <= 0:
                del self._users[user]
            self.total -= 1

    @contextmanager
    def hold(self, user: str, session_id: int | None) -> Iterator[str | None]:
        """``with limiter.hold(name, session) as refusal:`` — a slot for the block when ``refusal`` is None."""
        refusal = self.acquire(user, session_id)
        try:
            yield refusal
        finally:
            if refusal is None:
                self.release(user, session_id)

    def open_in_session(self, session_id: int) -> int:
        with self._lock:
            return self._sessions[session_id]
