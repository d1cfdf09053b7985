"""The hall's clock the statistics cut days, weeks and months in: the hall's IANA time zone when the site sets
``hall.time_zone`` (e.g. Asia/Shanghai), else the fixed UTC offset the page sends (its browser's: the behaviour
before the setting existed, kept as the default).

Why a zone and not an offset: a hall's "day" is its own midnight to midnight, whatever browser the supervisor
opens the page in (a laptop on travel, a server-side export in UTC), and in a zone with summer time that
midnight's offset changes twice a year. The databases cut a case's time into a local day with an offset
(SQLite has no zones; PostgreSQL's tzdata may differ from Python's), so the zone is turned here into the few
piecewise-constant offsets of a range (``segments``) and the SQL reads ``CASE WHEN t < transition …`` — one
offset for China, which has had no summer time since 1991. The zones come from ``zoneinfo`` with the
``tzdata`` package (offline: no system tz database needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

STEP = timedelta(days=1)  # zones change their offset at most a few times a year, never twice within a day
EARLIEST = datetime.min.replace(tzinfo=UTC) + 2 * STEP
LATEST = datetime.max.replace(tzinfo=UTC) - 2 * STEP
Segment = tuple[datetime | None, int]  # (from this UTC instant on (None: since ever), offset in seconds east)


def as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class HallClock:
    """``zone`` (an IANA name) when set, else ``utc_offset`` minutes east of UTC."""

    utc_offset: int = 0
    zone: str | None = None

    @property
    def tz(self) -> tzinfo:
        return zone_info(self.zone) if self.zone else timezone(timedelta(minutes=self.utc_offset))

    def local(self, t: datetime) -> datetime:
        """``t`` on the hall's clock, naive (what ``period_start`` cuts)."""
        return as_utc(t).astimezone(self.tz).replace(tzinfo=None)

    def utc(self, local: datetime) -> datetime:
        """The UTC instant of a naive hall-clock time (a time skipped by a summer-time change: as before it)."""
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    def offset_seconds(self, t: datetime) -> int:
        if not self.zone:
            return self.utc_offset * 60
        found = min(max(as_utc(t), EARLIEST), LATEST).astimezone(self.tz).utcoffset()
        return int(found.total_seconds()) if found is not None else 0

    def offset_minutes(self, t: datetime) -> int:
        """The offset at ``t`` in whole minutes: the rollup's key for a day starting at ``t``."""
        return self.offset_seconds(t) // 60

    def segments(self, since: datetime, until: datetime) -> tuple[Segment, ...]:
        """The offsets in force over ``[since, until)`` (a day's margin either side), oldest first: one for a fixed
        offset, one more per summer-time change in the range."""
        if not self.zone:
            return ((None, self.utc_offset * 60),)
        # a day's margin, kept inside the years datetime can hold (a range from year 1 is refused later, not here)
        at = max(as_utc(since), EARLIEST) - STEP
        end = min(as_utc(until), LATEST) + STEP
        out: list[Segment] = [(None, self.offset_seconds(at))]
        while at < end:
            step = min(STEP, end - at)
            if self.offset_seconds(at + step) != out[-1][1]:
                low, high = at, at + step  # the offset changes in (low, high]: to the second
                while high - low > timedelta(seconds=1):
                    mid = low + (high - low) / 2
                    if self.offset_seconds(mid) == out[-1][1]:
                        low = mid
                    else:
                        high = mid
                # zones change on a whole second: the one whole second in (low, low + 1 s]
                change = low.replace(microsecond=0) + timedelta(seconds=1)
                out.append((change, self.offset_seconds(change)))
            at += step
        return tuple(out)
