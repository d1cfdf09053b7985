"""Epoch seconds that never jump: the wall clock read once at import, then advanced by the monotonic clock.

For deadlines that are kept as epoch seconds (a wall's next tour step and alarm timeout are stored with the wall
and sent to the pages) but must not move when the system clock is stepped: an hour forward would fire every due
step at once, an hour back would freeze the hall's tours for an hour. NTP's slow corrections reach the monotonic
clock too; only steps are left out. The value stays within the step of the real time, which is what a restart
(or a page's countdown) can live with.
"""

from __future__ import annotations

import time

_WALL0 = time.time()
_MONO0 = time.monotonic()


def steady_time() -> float:
    return _WALL0 + (time.monotonic() - _MONO0)
