"""Statistics (综合评价 / 考核): ``GET /api/stats`` and its CSV, for the roles with ``read_statistics``.

The figures come from ``wall.stats`` (SQL over the cases and their history); a user sees only the cases of the
cameras granted to them, with the case list's own rule (``visible_cameras``). The CSV export is audited like the
audit log's, because it carries a site's figures out of the building.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from wall.access import audit_action, require
from wall.api.cases import as_utc, visible_cameras
from wall.api.common import UNAUTHENTICATED, error
from wall.api.deps import services
from wall.auth.principal import Permission, Principal
from wall.errors import Unprocessable
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


def stats_filter(
    period: Period = Period.DAY,
    since: Annotated[datetime | None, Query(description="cases raised from this time (ISO 8601; without offset: "
                                                        "UTC); default: 30 days / 12 weeks / 12 months before until")]
    = None,
    until: Annotated[datetime | None, Query(description="… and before this time; default: now")] = None,
    by: Annotated[GroupBy | None, Query(description="a group per street, community, camera, event code or source")]
    = None,
    utc_offset: Annotated[int, Query(ge=-720, le=840, description="minutes east of UTC where a day begins "
                                                                  "(the page sends the browser's; China +480)")] = 0,
) -> _Filter:
    end = as_utc(until) or datetime.now(UTC)
    try:
        start = as_utc(since) or end - DEFAULT_SPAN[period]
    except OverflowError:  # until in year 1, no default since before it
        raise Unprocessable("time out of range") from None
    if start >= end:
        raise Unprocessable("since must be before until")
    return _Filter(period, start, end, by, utc_offset)


Filter = Annotated[_Filter, Depends(stats_filter)]


def _report(request: Request, reader: Principal, where: _Filter) -> StatsReport:
    cameras = visible_cameras(reader)
    query = StatsQuery(period=where.period, since=where.since, until=where.until, by=where.by,
                       cameras=None if cameras is None else frozenset(cameras), utc_offset=where.utc_offset,
                       now=services(request).clock())
    with services(request).db.session() as s:
        return report(s, query)


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
