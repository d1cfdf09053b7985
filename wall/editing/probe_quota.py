"""How often one admin may probe stream URLs: a bounded number per minute.

The probe opens whatever host and port an admin types and says how it went (refused, timeout, unauthorized,
not a video…). That is what makes it useful when a camera is set up, and also what makes it a port scanner
of the video network run from the server: each answer tells whether something listens there. The answers stay
as they are (the admin needs them), but each admin gets ``per_minute`` probes in any 60 seconds (saves that
probe a new URL count too), so a scan of even one host's ports takes hours and shows up in the audit log,
where every probe is recorded.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from wall.errors import TooMany

DEFAULT_PER_MINUTE = 10
WINDOW_S = 60.0


class ProbeQuota:
    def __init__(self, per_minute: int = DEFAULT_PER_MINUTE, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._taken: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, user: str) -> None:
        """Count one probe of ``user``; raises :class:`TooMany` (with when to try again) past the quota."""
        now = self.clock()
        with self._lock:
            taken = self._taken.setdefault(user, deque())
            while taken and now - taken[0] >= WINDOW_S:
                taken.popleft()
            if len(taken) >= self.per_minute:
                wait = max(1, math.ceil(WINDOW_S - (now - taken[0])))
                raise TooMany(f"at most {self.per_minute} stream probes a minute; try again in {wait} s", wait)
            taken.append(now)
