"""Statistics (综合评价 / 考核): ``GET /api/stats`` and its CSV, for the roles with ``read_statistics``.

The figures come from ``wall.stats`` (SQL over the cases and their history); a user sees only the cases of the
cameras granted to them, with the case list's own rule (``visible_cameras``). The CSV export is audited like the
audit log's, because it carries a site's figures out of the building.

The hall's clock: with ``hall.time_zone`` set, periods are cut in that zone and ``utc_offset`` is ignored; the
page asks ``GET /api/stats/clock`` for the zone and today's date there, and sends its filter as hall dates
(``since_date``/``until_date``), which the server turns into instants in that clock — so the page's dates are
the hall's whatever the browser's zone. Without the setting, the browser's ``utc_offset`` decides, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from wall.access import audit_action, require
from wall.api.cases import as_utc, visible_cameras
from wall.api.common import UNAUTHENTICATED, error
from wall.api.deps import services
from wall.auth.principal import Permission, Principal
from wall.errors import Unprocessable
from wall.stats.clock import HallClock
from wall.stats.export import csv_text
from wall.stats.models import GroupBy, Period, StatsQuery, StatsReport
from wall.stats.queries import report

router = APIRouter(prefix="/api", tags=["statistics"], responses={
    **UNAUTHENTICATED, 403: error("the role may not read statistics"),
    # no one schema: FastAPI's own list of parameter errors, or one sentence (since after until, too many periods)
    422: {"description": "a bad parameter, or a range too large to answer"}})
Reader = Annotated[Principal, Depends(require(Permission.READ_STATISTICS))]
DEFAULT_SPAN = {Period.DAY: timedelta(days=30), Period.WEEK: timedelta(weeks=12), Period.MONTH: timedelta(days=365)}


@dataclass(frozen=True)
class _Filter:
    period: Period
    since: datetime
    until: datetime
    by: GroupBy | None
    utc_offset: int
    time_zone: str | None


def hall_zone(request: Request) -> str | None:
    return services(request).site.server_file.hall.time_zone


def _at_midnight(day: date | None, clock: HallClock) -> datetime | None:
    if day is None:
        return None
    try:
        return clock.utc(datetime(day.year, day.month, day.day))
    except OverflowError:
        raise Unprocessable("time out of range") from None


def stats_filter(
    request: Request,
    period: Period = Period.DAY,
    since: Annotated[datetime | None, Query(description="cases raised from this time (ISO 8601; without offset: "
                                                        "UTC); default: 30 days / 12 weeks / 12 months before until")]
    = None,
    until: Annotated[datetime | None, Query(description="… and before this time; default: now")] = None,
    by: Annotated[GroupBy | None, Query(description="a group per street, community, camera, event code or source")]
    = None,
    utc_offset: Annotated[int, Query(ge=-720, le=840, description="minutes east of UTC where a day begins "
                                                                  "(the page sends the browser's; China +480); "
                                                                  "ignored when the site sets hall.time_zone")] = 0,
    since_date: Annotated[date | None, Query(description="instead of since: from this day's midnight in the hall's "
                                                         "clock (hall.time_zone, else utc_offset)")] = None,
    until_date: Annotated[date | None, Query(description="instead of until: up to the end of this day (included) in "
                                                         "the hall's clock")] = None,
) -> _Filter:
    zone = hall_zone(request)
    clock = HallClock(utc_offset, zone)
    if (since_date and since) or (until_date and until):
        raise Unprocessable("give since or since_date, until or until_date, not both")
    if until_date is not None:
        if until_date >= date.max:
            raise Unprocessable("time out of range")
        until = _at_midnight(until_date + timedelta(days=1), clock)
    since = _at_midnight(since_date, clock) or since
    end = as_utc(until) or datetime.now(UTC)
    try:
        start = as_utc(since) or end - DEFAULT_SPAN[period]
    except OverflowError:  # until in year 1, no default since before it
        raise Unprocessable("time out of range") from None
    if start >= end:
        raise Unprocessable("since must be before until")
    return _Filter(period, start, end, by, utc_offset, zone)


Filter = Annotated[_Filter, Depends(stats_filter)]


def _report(request: Request, reader: Principal, where: _Filter) -> StatsReport:
    cameras = visible_cameras(reader)
    query = StatsQuery(period=where.period, since=where.since, until=where.until, by=where.by,
                       cameras=None if cameras is None else frozenset(cameras), utc_offset=where.utc_offset,
                       now=services(request).clock(), time_zone=where.time_zone)
    with services(request).db.session() as s:
        return report(s, query)


class HallClockOut(BaseModel):
    time_zone: str | None = Field(description="hall.time_zone; null: the page's own UTC offset cuts the days")
    today: date | None = Field(description="today's date in the hall's time zone; null without one")
    utc_offset: int | None = Field(description="the zone's offset now, minutes east of UTC; null without a zone")


@router.get("/stats/clock")
def get_stats_clock(reader: Reader, request: Request) -> HallClockOut:
    """The clock the statistics are cut in, so the page's dates are the hall's."""
    zone = hall_zone(request)
    if zone is None:
        return HallClockOut(time_zone=None, today=None, utc_offset=None)
    clock, now = HallClock(zone=zone), services(request).clock()
    return HallClockOut(time_zone=zone, today=clock.local(now).date(), utc_offset=clock.offset_minutes(now))


@router.get("/stats")
def get_stats(reader: Reader, request: Request, where: Filter) -> StatsReport:
    """Raised, confirmed, rejected (by reason), AI precision, median times, per period and group, over the cases
    of the cameras the user may see."""
    return _report(request, reader, where)


@router.get("/stats.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "UTF-8 CSV with BOM"}})
def export_stats(reader: Reader, request: Request, where: Filter) -> Response:
    """The same figures as ``GET /api/stats`` with the same filter, as CSV (wall/stats/export.py). Audited."""
    text = csv_text(_report(request, reader, where))
    audit_action(request, reader, "stats.export", "statistics", True, {
        "period": where.period.value, "by": where.by.value if where.by else None,
        "since": where.since.isoformat(), "until": where.until.isoformat()})
    name = f"citywall-stats-{where.period.value}-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
