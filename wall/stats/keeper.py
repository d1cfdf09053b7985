"""RollupKeeper: builds the statistics' daily rollup (``wall.stats.rollup``) in the background, from the start of
the service, so that no statistics request pays for it.

Why: the rollup is built lazily by the query that needs a day, and a site's first long report after a history
arrived (an import, a new VERSION, a service that was down) built every past day inside that request: a year
took about a minute on SQLite (docs/performance.md), far past the page's second. The keeper builds those days
when the service starts, newest first (the page's default, the last 30 days, is ready first), a week at a time
so that it stops within seconds when the service does, and again every ``interval`` for the days that settled or
that a case change marked stale since. A request arriving before it is done still builds what it needs, as
before: the figures never depend on the keeper, only the time to the first answer does.

Which clocks: with ``hall.time_zone`` set, a day is a day of that zone, and the keeper builds those only (every
request reads them: the page's own offset is not used then). Without it a day is a hall-clock day at a UTC offset
(the page sends its browser's): the keeper builds every offset the rollup has days of (what the halls' browsers
asked for) and the server's own local offset, so a fresh site in the hall's time zone needs no request first.
After the days, each pass builds the months whose days are all built (``wall.stats.days.ensure_months``: from
the day rows, a fraction of a second a month), so a year's first month report reads months too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from wall.stats import days
from wall.stats.clock import HallClock
from wall.stats.models import Period, StatsQuery
from wall.store.cases import Case
from wall.store.db import Database
from wall.store.stats import RollupDay

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 600.0
STEP = timedelta(days=7)  # the days built between two looks at the stop flag (about 1–2 s on either database)
STOP_WAIT_SECONDS = 10.0


def local_offset() -> int:
    """This machine's UTC offset in minutes east (the hall's, when the server stands in the hall's time zone)."""
    return time.localtime().tm_gmtoff // 60


class RollupKeeper:
    def __init__(self, db: Database, clock: Callable[[], datetime], *, interval: float = INTERVAL_SECONDS,
                 own_offset: Callable[[], int] = local_offset, time_zone: str | None = None) -> None:
        """``clock``: the service clock (a request's ``now`` is read from it too: tests move it);
        ``own_offset``: the offset built besides those the rollup already has days of; ``time_zone``: the hall's
        (``hall.time_zone``), which replaces the offsets."""
        self.db = db
        self.time_zone = time_zone
        self.clock = clock
        self.interval = interval
        self.own_offset = own_offset
        self.passes = 0  # completed passes (a test waits for the first)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="stats-rollup", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.build_pass()
            except Exception:  # a database away: the next pass tries again, and requests still build lazily
                log.exception("statistics rollup pass failed")
            self._stop.wait(self.interval)

    def clocks(self) -> list[HallClock]:
        """The hall clocks whose days requests read."""
        if self.time_zone:
            return [HallClock(zone=self.time_zone)]
        return [HallClock(offset) for offset in self.offsets()]

    def offsets(self) -> list[int]:
        with self.db.session() as s:
            known = set(s.scalars(select(RollupDay.utc_offset).distinct()))
        return sorted(known | {self.own_offset()})

    def build_pass(self) -> int:
        """Every whole past day of the cases at every offset built and current; the days ready (0 when stopped
        part way)."""
        started = time.monotonic()
        with self.db.session() as s:
            first = s.scalar(select(func.min(Case.raised_at)))
        if first is None:
            self.passes += 1
            return 0
        first = first.replace(tzinfo=UTC) if first.tzinfo is None else first
        ready = 0
        for clock in self.clocks():
            built = self._build_clock(clock, first)
            if built is None:
                return 0
            ready += built
        # the first pass is the one that may take minutes (a year of history): worth a line in the log
        log.log(logging.INFO if not self.passes else logging.DEBUG, "statistics rollup: %d days ready in %.1f s",
                ready, time.monotonic() - started)
        self.passes += 1
        return ready

    def _build_clock(self, clock: HallClock, first: datetime) -> int | None:
        """Back from now in steps of whole days of ``clock`` (a day must lie wholly inside a step to be built), down
        to the first case; the days ready, None when told to stop."""
        now = self.clock()
        midnight = clock.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
        until, since = now, clock.utc(midnight - STEP)
        ready = 0
        while until > first - timedelta(days=1):
            if self._stop.is_set():
                return None
            with self.db.session() as s:
                query = StatsQuery(Period.DAY, since, until, utc_offset=clock.utc_offset, time_zone=clock.zone)
                ready += len(days.ensure(s, query, now))
            until, since = since, clock.utc(clock.local(since) - STEP)
        with self.db.session() as s:  # the months of the days now built (a lookup, and a month a second or less)
            query = StatsQuery(Period.MONTH, first - timedelta(days=1), now, utc_offset=clock.utc_offset,
                               time_zone=clock.zone)
            days.ensure_months(s, query, days.ensure(s, query, now))
        return ready
