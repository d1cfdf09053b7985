"""Time limits (处置时限) per event code, and what "overdue" means, in one place for the desk, the outbox and the
statistics. Plain values only, on the ground floor beside the other settings (wall.config reads the model): the SQL
forms are in wall/cases/listing.py.

A city sets how long a department has to handle each kind of case (Shenzhen publishes per-type tables; each city
its own), so the limits are configuration (``platform.time_limits`` in server.yaml), never constants. A case gets
its deadline when it is dispatched: the platform's own ``deadline`` when its ``dispatched`` call (or its reply to
the webhook) carries one — the platform owns the case from then on — otherwise the code's limit counted from the
dispatch. The limit is wall-clock time, not working hours. Days: by default a limit of N × 86,400 s is that many
seconds (``days: elapsed``, as before); ``days: calendar`` counts them as the hall's calendar days instead
(当日 / 次日 limits): the deadline is the hall's midnight ending the Nth day, the dispatch's own day the first
— in the hall's time zone (``hall.time_zone``; without one, UTC).

Overdue: the deadline has passed and the case is still with the department (dispatched, or still present on
video). A case cleared on video or closed is no longer overdue on the desk — it is handled; the statistics count
it as overdue when it was cleared or closed after its deadline (``wall.cases.listing.overdue_ever``). A reopened
case (返工) keeps its deadline: the work was due then.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, field_validator

from settings.model import Strict

DAY = 86400.0
WITH_DEPARTMENT = ("dispatched", "still_present")  # not cleared, not closed: the time limit runs
MAX_SECONDS = 365 * DAY
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]


class TimeLimits(Strict):
    """Time limits (处置时限) from dispatch, in seconds: the default and per event code. A deadline the platform
    sends with its dispatch wins over these (docs/platform.md)."""

    default: float | None = Field(default=DAY, gt=0, le=MAX_SECONDS, description="Seconds a department has from "
                                  "dispatch; null: no limit for codes not in `codes`.")
    codes: dict[str, Seconds | None] = Field(default_factory=dict, max_length=1000,
                                             description="Event code (e.g. '0501') → its own limit in seconds; "
                                             "null: no limit for that code.")
    days: Literal["elapsed", "calendar"] = Field(
        default="elapsed", description="How a limit of whole days counts: elapsed (N × 86400 s from the dispatch) "
        "or calendar (to the hall's midnight ending the Nth day, the dispatch's day the first; hall.time_zone).")
    _zone: tzinfo = PrivateAttr(default=UTC)  # the hall's (``in_zone``): where a calendar day ends

    def in_zone(self, zone: str | None) -> TimeLimits:
        """These limits with calendar days ending at the hall's midnight (``hall.time_zone``; None: UTC)."""
        copy = self.model_copy()
        copy._zone = ZoneInfo(zone) if zone else UTC
        return copy

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        bad = [code for code in value if not re.fullmatch(r"\d{4}", code)]
        if bad:
            raise ValueError(f"event codes are four digits: {', '.join(bad[:5])}")
        return value

    def seconds(self, code: str | None) -> float | None:
        """The limit that applies to ``code`` (None: no limit)."""
        if code is not None and code in self.codes:
            return self.codes[code]
        return self.default

    def deadline(self, code: str, dispatched_at: datetime, platform_deadline: datetime | None) -> datetime | None:
        """A dispatched case's deadline: the platform's when it sent one, else the code's limit from dispatch."""
        if platform_deadline is not None:
            return as_utc(platform_deadline)
        limit = self.seconds(code)
        if limit is None:
            return None
        if self.days == "calendar" and limit % DAY == 0:
            local = as_utc(dispatched_at).astimezone(self._zone).replace(tzinfo=None)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=int(limit // DAY))
            return midnight.replace(tzinfo=self._zone).astimezone(UTC)
        return dispatched_at + timedelta(seconds=limit)


def as_utc(value: datetime) -> datetime:
    """A time in UTC: a naive one is UTC already (SQLite hands back what was stored as UTC without its zone), an
    aware one is converted — SQLite would store a +08:00 time's digits as they are and read them back as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_deadline(value: Any) -> datetime | None:
    """A deadline as the platform sends it (ISO 8601, with an offset or else UTC), or None when it sent none or
    one that is not a time (a reply is the platform's free-form JSON: a bad field must not undo the delivery)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def missed_deadline(deadline_at: datetime | None, done_at: datetime | None, now: datetime) -> bool:
    """The statistics' overdue (考核, ``wall.cases.listing.overdue_ever`` in SQL) for one case, as the platform's
    messages carry it: done (first cleared on video, or else closed) after the deadline, or not done and the
    deadline passed by ``now``. Unlike ``is_overdue`` it stays true once the case is handled late."""
    if deadline_at is None:
        return False
    return as_utc(done_at if done_at is not None else now) > as_utc(deadline_at)


def is_overdue(status: str, deadline_at: datetime | None, now: datetime) -> bool:
    """The desk's and the wall's flag: past the deadline and still with the department (in SQL:
    ``wall.cases.listing.overdue_now``)."""
    return deadline_at is not None and status in WITH_DEPARTMENT and as_utc(deadline_at) < now

