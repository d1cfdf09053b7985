"""Audit of *looking*: who opened a case, an evidence file or a camera's snapshot — once per while.

Opening evidence and case details is what an inquiry asks about ("who saw the pictures of this stall?"), so it
goes to the audit log like every change does. But the wall's tile fallback fetches ``snapshot.jpg`` once a
second for as long as a tile shows a camera whose codec the browser cannot play, and the desk re-reads a case
it shows: one row per request would be 86,400 rows per tile and day, burying the rows that matter and
growing the append-only table without bound. So one row per user, action and thing per ``interval`` seconds
(default 5 minutes): the log still says who looked at what and when they started, to the nearest interval,
and a user who keeps looking leaves a row every interval.

The memory is per process and bounded (``max_keys``; the oldest entries go first): after a restart, or on
another replica, the first look is audited again — more rows, never fewer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_INTERVAL_S = 300.0


class ViewAudit:
    def __init__(self, interval: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._last: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, user: str, action: str, target: str) -> bool:
        """Whether this look is to be audited now (and, if so, it counts as audited from now on)."""
        key = (user, action, target)
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self.max_keys:
                self._last.popitem(last=False)
            return True
