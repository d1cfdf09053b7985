"""The statistics computed in SQL over ``cases`` and their history (``case_events``), on SQLite and PostgreSQL.

Every figure is a GROUP BY in the database, never a walk over case rows in Python, so the page stays quick on a
site with a million cases: the counts are conditional sums, the medians a window (each case's rank within its
group, ``row_number() … count() over``, and the middle one or two averaged), which both databases run
without a percentile function. What differs between them is only how a time is cut into a local day/week/month
and how two times are subtracted (``_Dialect``). Three levels are asked for, each its own small set of
statements: per period and group, per group over the whole range, and the grand total (a median cannot be
summed from the finer levels). The answer is bounded: at most ``MAX_PERIODS`` periods and ``MAX_ROWS`` rows per
level, else :class:`~wall.errors.Unprocessable` asks for a narrower filter.

The grant filter is the case list's (``CaseDesk.list``): ``camera_id IN`` the principal's cameras, nothing for a
principal who sees every camera.

Deadlines: cases carry none yet (issue 13 item 5). When they do, ``overdue`` becomes one more conditional sum in
``_counts`` (deadline passed before the case was cleared or closed); until then it is answered as None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from wall.errors import Unprocessable
from wall.stats.models import Figures, GroupBy, GroupFigures, Period, PeriodFigures, StatsQuery, StatsReport
from wall.store.cases import Case, CaseEvent

MAX_PERIODS = 400
MAX_ROWS = 20_000
# The AI's cases are those raised with the column's default source ("ai", 视频智能发现); cases filed by operators
# ("patrol", 视频巡查) set their own.
AI_SOURCE: str = Case.__table__.c.source.default.arg
Key = tuple[str | None, ...]


# -- periods ------------------------------------------------------------------------------------------------


def _period_start(t: datetime, period: Period) -> datetime:
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day


def _next(t: datetime, period: Period) -> datetime:
    if period is Period.MONTH:
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    return t + timedelta(days=7 if period is Period.WEEK else 1)


def period_keys(query: StatsQuery) -> list[str]:
    """Every period of ``[since, until)`` in the hall's clock, as its first day; more than MAX_PERIODS is refused."""
    shift = timedelta(minutes=query.utc_offset)
    keys: list[str] = []
    try:
        start = _period_start(query.since.astimezone(UTC).replace(tzinfo=None) + shift, query.period)
        end = query.until.astimezone(UTC).replace(tzinfo=None) + shift
        while start < end:
            if len(keys) == MAX_PERIODS:
                raise Unprocessable(f"more than {MAX_PERIODS} {query.period.value}s: narrow since/until or use a "
                                    "longer period")
            keys.append(start.strftime("%Y-%m-%d"))
            start = _next(start, query.period)
    except (OverflowError, ValueError):  # the hall's clock before year 1 or after 9999
        raise Unprocessable("time out of range") from None
    return keys


# -- the database's own words for local periods and durations ----------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    name: str
    utc_offset: int

    def period(self, t: Any, period: Period) -> ColumnElement[Any]:
        if self.name == "sqlite":
            shift = f"{self.utc_offset:+d} minutes"
            if period is Period.WEEK:  # to the next Sunday (or this one), then back to its Monday
                return func.date(t, shift, "weekday 0", "-6 days")
            return func.strftime("%Y-%m-01" if period is Period.MONTH else "%Y-%m-%d", t, shift)
        local = func.timezone("UTC", t) + literal_column(f"interval '{int(self.utc_offset)} minutes'")
        return func.to_char(func.date_trunc(period.value, local), "YYYY-MM-DD")

    def seconds(self, start: Any, end: Any) -> ColumnElement[Any]:
        if self.name == "sqlite":
            return (func.julianday(end) - func.julianday(start)) * 86400.0
        return func.extract("epoch", end - start)


def _dialect(s: Session, query: StatsQuery) -> _Dialect:
    name = s.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise Unprocessable(f"statistics need SQLite or PostgreSQL, not {name}")
    return _Dialect(name, query.utc_offset)


# -- the statements -------------------------------------------------------------------------------------------


def _group(by: GroupBy) -> tuple[Any, ColumnElement[Any]]:
    """The group's key column and what to show for it."""
    if by is GroupBy.CAMERA:
        return Case.camera_id, func.max(Case.camera_name)
    if by is GroupBy.CODE:
        return Case.code, func.max(Case.code_name)
    column: Any = {GroupBy.STREET: Case.street, GroupBy.COMMUNITY: Case.community,
                                  GroupBy.SOURCE: Case.source}[by]
    return column, func.max(column)


@dataclass(frozen=True)
class _Level:
    dims: tuple[ColumnElement[Any], ...]  # period and/or group key expressions
    label: ColumnElement[Any] | None


def _filters(query: StatsQuery) -> list[ColumnElement[bool]]:
    where = [Case.raised_at >= query.since, Case.raised_at < query.until]
    if query.cameras is not None:
        where.append(Case.camera_id.in_(sorted(query.cameras)))
    return where


def _cleared() -> Any:
    """Each case's first "cleared on video" in its history (a case may be seen still there first)."""
    return (select(CaseEvent.case_id.label("case_id"), func.min(CaseEvent.at).label("at"))
            .where(CaseEvent.action == "cleared_on_video").group_by(CaseEvent.case_id).subquery("cleared"))


def _one(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _bounded(s: Session, statement: Select[Any]) -> Sequence[Any]:
    rows = s.execute(statement.limit(MAX_ROWS + 1)).all()
    if len(rows) > MAX_ROWS:
        raise Unprocessable(f"more than {MAX_ROWS} rows: narrow since/until or group less finely")
    return rows


def _counts(s: Session, query: StatsQuery, level: _Level, cleared: Any) -> dict[Key, tuple[Figures, str]]:
    """The conditional sums per key, with the group's label ("" without a group)."""
    decided = Case.decided_at.is_not(None)
    confirmed = and_(decided, Case.reject_reason.is_(None), Case.merged_into.is_(None))
    ai = Case.source == AI_SOURCE
    columns: list[Any] = [
        *level.dims, func.count(),
        _one(confirmed), _one(Case.reject_reason.is_not(None)), _one(Case.merged_into.is_not(None)),
        _one(Case.status == "pending_review"), _one(and_(ai, decided, Case.merged_into.is_(None))),
        _one(and_(ai, confirmed)), _one(Case.dispatched_at.is_not(None)),
        _one(and_(Case.dispatched_at.is_not(None), cleared.c.at.is_not(None))),
    ]
    if level.label is not None:
        columns.append(level.label)
    statement = (select(*columns).select_from(Case).outerjoin(cleared, cleared.c.case_id == Case.id)
                 .where(*_filters(query)).group_by(*level.dims))
    out: dict[Key, tuple[Figures, str]] = {}
    n = len(level.dims)
    for row in _bounded(s, statement):
        figures = Figures()
        (figures.raised, figures.confirmed, figures.rejected, figures.merged, figures.pending, figures.ai_decided,
         figures.ai_confirmed, figures.dispatched, figures.cleared_on_video) = (int(v) for v in row[n:n + 9])
        figures.ai_precision = figures.ai_confirmed / figures.ai_decided if figures.ai_decided else None
        label = row[n + 9] if level.label is not None and row[n + 9] is not None else ""
        out[tuple(row[:n])] = (figures, str(label))
    return out


def _reasons(s: Session, query: StatsQuery, level: _Level) -> list[tuple[Key, str, int]]:
    statement = (select(*level.dims, Case.reject_reason, func.count()).where(
        *_filters(query), Case.reject_reason.is_not(None)).group_by(*level.dims, Case.reject_reason))
    n = len(level.dims)
    return [(tuple(row[:n]), str(row[n]), int(row[n + 1])) for row in _bounded(s, statement)]


def _medians(s: Session, query: StatsQuery, level: _Level, seconds: ColumnElement[Any],
             joins: Any = None, where: Sequence[ColumnElement[bool]] = ()) -> dict[Key, float]:
    """The median of ``seconds`` per key: rank each case in its group, keep the middle one (odd count) or two
    (even), average them. ``rn*2`` between ``n`` and ``n+2`` is exactly the middle without integer division."""
    dims = [d.label(f"d{i}") for i, d in enumerate(level.dims)]
    partition = list(level.dims) or None
    inner_from: Any = Case if joins is None else joins
    inner = (select(*dims, seconds.label("s"),
                    func.row_number().over(partition_by=partition, order_by=seconds).label("rn"),
                    func.count().over(partition_by=partition).label("n"))
             .select_from(inner_from).where(*_filters(query), *where).subquery("ranked"))
    keys: list[KeyedColumnElement[Any]] = [inner.c[f"d{i}"] for i in range(len(dims))]
    outer = (select(*keys, func.avg(inner.c.s)).where(inner.c.rn * 2 >= inner.c.n, inner.c.rn * 2 <= inner.c.n + 2)
             .group_by(*keys))
    n = len(keys)
    return {tuple(row[:n]): round(float(row[n]), 3) for row in _bounded(s, outer) if row[n] is not None}


def _level_figures(s: Session, query: StatsQuery, level: _Level,
                   dialect: _Dialect) -> dict[Key, tuple[Figures, str]]:
    cleared = _cleared()
    figures = _counts(s, query, level, cleared)
    for key, reason, count in _reasons(s, query, level):
        figures[key][0].rejected_by_reason[reason] = count
    decisions = _medians(s, query, level, dialect.seconds(Case.raised_at, Case.decided_at),
                         where=[Case.decided_at.is_not(None)])
    clears = _medians(s, query, level, dialect.seconds(Case.dispatched_at, cleared.c.at),
                      joins=Case.__table__.join(cleared, cleared.c.case_id == Case.id),
                      where=[Case.dispatched_at.is_not(None)])
    for key, (value, _) in figures.items():
        value.median_decision_seconds = decisions.get(key)
        value.median_clear_seconds = clears.get(key)
    return figures


def report(s: Session, query: StatsQuery) -> StatsReport:
    """The figures of ``query``: the grand total, per group, and per period and group."""
    periods = period_keys(query)
    dialect = _dialect(s, query)
    period = dialect.period(Case.raised_at, query.period)
    total, _ = _level_figures(s, query, _Level((), None), dialect).get((), (Figures(), ""))
    groups: list[GroupFigures] = []
    rows: list[PeriodFigures] = []
    if query.by is None:
        for (p,), (value, _) in _level_figures(s, query, _Level((period,), None), dialect).items():
            rows.append(PeriodFigures(period=str(p), key=None, label="", **dict(value)))
    else:
        key, label = _group(query.by)
        for (k,), (value, shown) in _level_figures(s, query, _Level((key,), label), dialect).items():
            groups.append(GroupFigures(key=k, label=shown or (k or ""), **dict(value)))
        for (p, k), (value, shown) in _level_figures(s, query, _Level((period, key), label), dialect).items():
            rows.append(PeriodFigures(period=str(p), key=k, label=shown or (k or ""), **dict(value)))
    groups.sort(key=lambda g: (-g.raised, g.key or ""))
    rows.sort(key=lambda r: (r.period, -r.raised, r.key or ""))
    return StatsReport(period=query.period, by=query.by, since=query.since, until=query.until,
                       utc_offset=query.utc_offset, periods=periods, total=total, groups=groups, rows=rows)
