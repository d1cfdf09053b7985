"""The statistics computed in SQL over ``cases``, on SQLite and PostgreSQL.

Every figure is a GROUP BY in the database, never a walk over case rows in Python, so the page stays quick on a
site with a million cases. What it takes there (bench/cases.py, docs/performance.md), as four statements:

- the counts are conditional sums in **one** pass at the finest level (period × group, and reject reason); they
  add up, so the per-group figures and the grand total are summed here from those rows, not counted again;
- a median does not add up, so each level has one pass for both of its medians, an aggregate: PostgreSQL's
  ``percentile_cont(0.5)``, on SQLite a registered ``citywall_median`` (SQLite has none). Ranking in SQL
  (``row_number() … count() over``) gave the same figures on both but cost a second per level at 82k cases;
- dispatch → cleared-on-video reads ``cases.cleared_at``, the first "cleared on video" of the case's history,
  which the database keeps as the history is written (migration 0007) — not a regrouping of ``case_events``
  per statement;
- the range (and a user's cameras) is read from ``ix_cases_raised_camera`` (raised_at, camera_id).

What differs between the databases is only how a time is cut into a local day/week/month, how two times are
subtracted and the median (``_Dialect``). The answer is bounded: at most ``MAX_PERIODS`` periods and
``MAX_ROWS`` keys per level, else :class:`~wall.errors.Unprocessable` asks for a narrower filter.

The grant filter is the case list's (``CaseDesk.list``): ``camera_id IN`` the principal's cameras, nothing for a
principal who sees every camera.

Overdue (处置时限, issue 13 item 5) is one more conditional sum in ``_counts``: the case has a deadline (set at
dispatch) and was first cleared on video — or, never cleared, closed — after it, or is neither and the deadline
has passed by the query's ``now`` (``wall.cases.listing.overdue_ever``: the desk's definition, in SQL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from wall.cases.listing import overdue_ever
from wall.errors import Unprocessable
from wall.stats.models import Figures, GroupBy, GroupFigures, Period, PeriodFigures, StatsQuery, StatsReport
from wall.store.cases import Case

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

    def median(self, seconds: ColumnElement[Any]) -> ColumnElement[Any]:
        """The exact median of a group's non-null ``seconds``: the middle value, or the mean of the middle two.
        PostgreSQL's ``percentile_cont(0.5)`` is exactly that; SQLite has no such aggregate, so ``_SqliteMedian``
        is registered on the connection under this name."""
        if self.name == "sqlite":
            return getattr(func, _SQLITE_MEDIAN)(seconds)
        return func.percentile_cont(0.5).within_group(cast(seconds, Float))


_SQLITE_MEDIAN = "citywall_median"


class _SqliteMedian(list[float | None]):
    """SQLite's ``citywall_median`` aggregate. ``step`` is ``list.append`` itself, so a row costs SQLite one C
    call and no Python frame; the sort is paid once per group, at ``finalize``. Measured on 82k cases, this is
    4× quicker than ranking in SQL (``row_number() … count() over``, which SQLite materialises and sorts per
    window)."""

    step = list.append

    def finalize(self) -> float | None:
        values = sorted(v for v in self if v is not None)
        if not values:
            return None
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _dialect(s: Session, query: StatsQuery) -> _Dialect:
    name = s.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise Unprocessable(f"statistics need SQLite or PostgreSQL, not {name}")
    if name == "sqlite":  # per connection, and cheap to repeat: the pool may hand out a fresh one
        driver = s.connection().connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        aggregate: Any = _SqliteMedian  # typeshed's aggregate protocol wants int in and out, not seconds
        driver.create_aggregate(_SQLITE_MEDIAN, 1, aggregate)
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


def _filters(query: StatsQuery) -> list[ColumnElement[bool]]:
    where = [Case.raised_at >= query.since, Case.raised_at < query.until]
    if query.cameras is not None:
        where.append(Case.camera_id.in_(sorted(query.cameras)))
    return where


def _one(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _too_many() -> Unprocessable:
    return Unprocessable(f"more than {MAX_ROWS} rows: narrow since/until or group less finely")


def _bounded(s: Session, statement: Select[Any]) -> Sequence[Any]:
    rows = s.execute(statement.limit(MAX_ROWS + 1)).all()
    if len(rows) > MAX_ROWS:
        raise _too_many()
    return rows


# -- counts: one statement at the finest level, summed up in Python --------------------------------------------


_SUMMED = ("raised", "confirmed", "rejected", "merged", "pending", "ai_decided", "ai_confirmed", "dispatched",
           "cleared_on_video", "overdue")


@dataclass(slots=True)
class _Tally:
    """One key's figures while they are added up: plain ints (a pydantic model's checked setattr cost more than
    the SQL at 6,000 keys), turned into ``Figures`` once at the end."""

    sums: list[int] = field(default_factory=lambda: [0] * len(_SUMMED))  # in _SUMMED's order
    reasons: dict[str, int] = field(default_factory=dict)
    label: str | None = None  # max() of the group's label column, compared as the database does (binary)
    medians: tuple[float | None, float | None] = (None, None)  # decision, clear

    def add(self, part: _Tally) -> None:
        self.sums = [a + b for a, b in zip(self.sums, part.sums, strict=True)]
        for reason, count in part.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count
        if part.label is not None and (self.label is None or part.label > self.label):
            self.label = part.label

    def figures(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(zip(_SUMMED, self.sums, strict=True))
        decided, confirmed = values["ai_decided"], values["ai_confirmed"]
        values.update(rejected_by_reason=self.reasons, ai_precision=confirmed / decided if decided else None,
                      median_decision_seconds=self.medians[0], median_clear_seconds=self.medians[1])
        return values


def _counts(s: Session, query: StatsQuery, dims: Sequence[ColumnElement[Any]],
            label: ColumnElement[Any] | None) -> dict[Key, _Tally]:
    """The conditional sums per key of ``dims`` and reject reason, in one pass over the range; a key's rows
    (one per reason, one for cases not rejected) are added up here. Counts add, so the coarser levels are sums
    of these keys (``_roll_up``) instead of passes of their own. Refused past MAX_ROWS keys, read as they come."""
    decided = Case.decided_at.is_not(None)
    confirmed = and_(decided, Case.reject_reason.is_(None), Case.merged_into.is_(None))
    ai = Case.source == AI_SOURCE
    dispatched = Case.dispatched_at.is_not(None)
    columns: list[Any] = [
        *dims, Case.reject_reason, func.count(), _one(confirmed), _one(Case.merged_into.is_not(None)),
        _one(Case.status == "pending_review"), _one(and_(ai, decided, Case.merged_into.is_(None))),
        _one(and_(ai, confirmed)), _one(dispatched), _one(and_(dispatched, Case.cleared_at.is_not(None))),
        _one(overdue_ever(query.now or datetime.now(UTC))), label if label is not None else literal_column("NULL"),
    ]
    statement = select(*columns).where(*_filters(query)).group_by(*dims, Case.reject_reason)
    out: dict[Key, _Tally] = {}
    n = len(dims)
    for row in s.execute(statement):
        key = tuple(row[:n])
        reason, raised = row[n], int(row[n + 1])
        confirmed_, merged, pending, ai_decided, ai_confirmed, dispatched_, cleared, overdue = (
            int(v) for v in row[n + 2:n + 10])
        part = _Tally([raised, confirmed_, raised if reason is not None else 0, merged, pending, ai_decided,
                       ai_confirmed, dispatched_, cleared, overdue],
                      {str(reason): raised} if reason is not None else {}, row[n + 10])
        if key in out:
            out[key].add(part)
        elif len(out) == MAX_ROWS:
            raise _too_many()
        else:
            out[key] = part
    return out


def _roll_up(rows: dict[Key, _Tally], keep: slice) -> dict[Key, _Tally]:
    """The same counts per the ``keep`` parts of each key: per group (the key without its period) from per
    period and group, the total (no part) from either."""
    out: dict[Key, _Tally] = {}
    for key, row in rows.items():
        out.setdefault(key[keep], _Tally()).add(row)
    return out


# -- medians: one statement per level (a median does not add up) ------------------------------------------------


def _medians(s: Session, query: StatsQuery, dims: Sequence[ColumnElement[Any]],
             dialect: _Dialect) -> dict[Key, tuple[float | None, float | None]]:
    """Per key, the median raise → decision and dispatch → first cleared-on-video seconds, in one pass over the
    decided cases of the range (a dispatched case is a decided one)."""
    decision = dialect.seconds(Case.raised_at, Case.decided_at)
    clear = case((Case.dispatched_at.is_not(None), dialect.seconds(Case.dispatched_at, Case.cleared_at)))
    statement = (select(*dims, dialect.median(decision), dialect.median(clear))
                 .where(*_filters(query), Case.decided_at.is_not(None)).group_by(*dims))
    n = len(dims)
    return {tuple(row[:n]): (_rounded(row[n]), _rounded(row[n + 1])) for row in _bounded(s, statement)}


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _level(s: Session, query: StatsQuery, rows: dict[Key, _Tally], dims: Sequence[ColumnElement[Any]],
           dialect: _Dialect) -> dict[Key, _Tally]:
    for key, medians in _medians(s, query, dims, dialect).items():
        if key in rows:
            rows[key].medians = medians
    return rows


def report(s: Session, query: StatsQuery) -> StatsReport:
    """The figures of ``query``: the grand total, per group, and per period and group. The counts are one pass
    at the finest level, added up for the coarser two; each level's medians one more pass."""
    periods = period_keys(query)
    dialect = _dialect(s, query)
    period = dialect.period(Case.raised_at, query.period)
    groups: list[GroupFigures] = []
    rows: list[PeriodFigures] = []
    if query.by is None:
        finest = _level(s, query, _counts(s, query, (period,), None), (period,), dialect)
        rows = [PeriodFigures(period=str(p), key=None, label="", **row.figures()) for (p,), row in finest.items()]
    else:
        key, label = _group(query.by)
        finest = _level(s, query, _counts(s, query, (period, key), label), (period, key), dialect)
        rows = [PeriodFigures(period=str(p), key=k, label=row.label or (k or ""), **row.figures())
                for (p, k), row in finest.items()]
        groups = [GroupFigures(key=k, label=row.label or (k or ""), **row.figures())
                  for (k,), row in _level(s, query, _roll_up(finest, slice(1, None)), (key,), dialect).items()]
    whole = _level(s, query, _roll_up(finest, slice(0)), (), dialect).get(())
    total = Figures(**whole.figures()) if whole is not None else Figures()
    groups.sort(key=lambda g: (-g.raised, g.key or ""))
    rows.sort(key=lambda r: (r.period, -r.raised, r.key or ""))
    return StatsReport(period=query.period, by=query.by, since=query.since, until=query.until,
                       utc_offset=query.utc_offset, periods=periods, total=total, groups=groups, rows=rows)
