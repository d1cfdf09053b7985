"""The statistics' daily rollup: long ranges read pre-added days instead of every case (issue 13: a year of a
million cases took 7–11 s straight from ``cases``; the page must answer within a second).

What is kept (``wall.store.stats``): per hall-clock day, one row per camera, and one per event code, street,
community and source over every camera, plus one for the whole day. A row holds the counts (they add up across days;
its reject reasons in ``stats_rollup_reasons``) and, packed, the values that do not add up: the raise → decision and
dispatch → cleared durations, and the deadlines of cases not yet done. The database sums the counts and concatenates
the packed values per period and key (a year per camera is some 70,000 rows, too many to walk in Python); that gives
exactly the figures the straight statements give — the same medians and the same overdue count at the query's
``now`` — not histogram estimates. A user limited to some cameras reads the per-camera rows; grouped by anything
else than camera, that user is answered straight from the cases (their own cameras' cases: a smaller range to read).

When it is built (``wall.stats.days``): lazily, by the query that needs a day, one day per transaction, only for
days that ended at least ``SETTLE`` before the query's ``now`` (the days still changing by the minute are read from
the cases, as are the partial days at either end of the range), and in the background by ``wall.stats.keeper``.
Why not kept in the desk's own transaction: the medians need every value, which a trigger could only keep by
rewriting a day's packed values on every case change.

Months: a report per month reads, for every whole month of its range whose days are all built, one month row
per key instead of 28–31 day rows (``stats_rollup_days`` rows whose ``day`` is YYYY-MM, the same tables; built
from the day rows, the counts summed and the packed values joined, so the medians stay exact). A year per camera
is then some 14,000 rows (the bench's: 10 whole months and the 60 days of the two ragged ones per camera), not
73,000: its processor time on SQLite went from 0.8–1.0 s to 0.45–0.6 s (docs/performance.md). The trigger marks
a month stale with its day (the month's span holds the day's); a month older than one of its days is rebuilt.

When it goes stale: a trigger on ``cases`` (migration 0014; insert, delete, and an update of any column a figure
reads) marks the day of the case's ``raised_at`` (before and after) stale, whichever code writes the row — the
desk, the platform API, the video checks, an import. Correctness against a case written while a day is built:
the builder takes the writers' lock first (SQLite: its first statement is a write; PostgreSQL: ``LOCK TABLE
stats_rollup_days IN SHARE ROW EXCLUSIVE MODE``, which waits for every transaction whose trigger ran and holds
back the next), so a change is either in what it reads or marks the day stale after it. ``VERSION`` changes when
what a row means changes: older days are rebuilt.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.orm import Session

from wall.stats import raw
from wall.stats.days import (
    EVERY_CAMERA,
    VERSION,
    Values,
    as_utc,
    ensure,
    ensure_months,
    micros,
    value_columns,
)
from wall.stats.models import GroupBy, Period, StatsQuery, StatsReport
from wall.stats.sql import (
    MAX_ROWS,
    SUMMED,
    Dialect,
    Key,
    Tally,
    assemble,
    group_columns,
    period_keys,
    query_dialect,
    range_filters,
    rounded,
    settled_overdue,
    too_many,
)
from wall.store.cases import Case
from wall.store.stats import RollupDay, RollupReason, RollupRow

__all__ = ["VERSION", "ensure", "report"]


@dataclass(slots=True)
class Part:
    """A key's figures while they are added up: the counts (``overdue`` only the settled ones) and the packed
    values of its medians and open deadlines."""

    tally: Tally = field(default_factory=Tally)
    decision: list[bytes] = field(default_factory=list)  # float64 seconds
    clear: list[bytes] = field(default_factory=list)
    deadlines: list[bytes] = field(default_factory=list)  # int64 µs

    def add(self, other: Part) -> None:
        self.tally.add(other.tally)
        self.decision += other.decision
        self.clear += other.clear
        self.deadlines += other.deadlines

    def finish(self, now_us: int) -> Tally:
        """The key's figures at ``now``: open deadlines that have passed are overdue too."""
        sums = list(self.tally.sums)
        deadlines = b"".join(self.deadlines)
        if deadlines:
            sums[-1] += int(np.count_nonzero(np.frombuffer(deadlines, "<i8") < now_us))
        return Tally(sums, self.tally.reasons, self.tally.label, (_median(self.decision), _median(self.clear)))


SMALL = 64  # values sorted in Python below this many (numpy's call overhead is more than the sort)


def _median(chunks: list[bytes]) -> float | None:
    """The median of the packed float64 values, as ``sql.middle`` takes it: the middle value, or the mean of the
    middle two."""
    joined = b"".join(chunks)
    count = len(joined) // 8
    if not count:
        return None
    values: Any = (sorted(memoryview(joined).cast("d")) if count < SMALL and sys.byteorder == "little"
                   else np.sort(np.frombuffer(joined, "<f8")))
    half = count // 2
    return rounded(float(values[half]) if count % 2 else (float(values[half - 1]) + float(values[half])) / 2)


# -- answering from it ----------------------------------------------------------------------------------------


def _plan(query: StatsQuery) -> tuple[str, bool] | None:
    """Which rows answer ``query``: the dimension, and whether the key is kept (False: summed per period)."""
    if query.by is GroupBy.CAMERA:
        return "camera", True
    if query.cameras is not None:  # only the per-camera rows can be limited to a user's cameras
        return ("camera", False) if query.by is None else None
    return (query.by.value, True) if query.by is not None else ("none", False)


def _day_period(dialect: Dialect, day: Any, period: Period) -> Any:
    """The period a rollup day (YYYY-MM-DD) or month (YYYY-MM, read by month reports only) falls in, as
    ``Dialect.period`` cuts a case's time."""
    if period is Period.DAY:
        return day
    if period is Period.MONTH:
        return func.substr(day, 1, 7).concat("-01")
    if dialect.name == "sqlite":
        return func.date(day, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc(period.value, cast(day, Date)), "YYYY-MM-DD")


class _Finest(dict[Key, Part]):
    def part(self, key: Key) -> Part:
        found = self.get(key)
        if found is None:
            if len(self) == MAX_ROWS:
                raise too_many()
            found = self[key] = Part()
        return found


def _read_rows(s: Session, query: StatsQuery, dialect: Dialect, dim: str, keyed: bool, ids: list[int],
               out: _Finest) -> None:
    """The rollup's rows of ``ids`` per period (and key): the counts, labels and reasons summed by the database,
    the packed values collected here."""
    period: Any = _day_period(dialect, RollupDay.day, query.period)

    def rows_of(table: type[RollupRow] | type[RollupReason], *columns: Any) -> Any:
        cameras = (table.camera_id.in_(sorted(query.cameras)) if query.cameras is not None
                   else table.camera_id != EVERY_CAMERA if dim == "camera" else table.camera_id == EVERY_CAMERA)
        key = table.key if keyed else literal_column("NULL")
        return (select(period.label("p"), key.label("k"), *columns)
                .select_from(table).join(RollupDay, RollupDay.id == table.day_id)
                .where(table.day_id.in_(ids), table.dim == dim, cameras))

    conn = s.connection()
    group = ("p", "k") if keyed else ("p",)
    packed = [_concat(dialect, c) for c in (RollupRow.decision, RollupRow.clear, RollupRow.deadlines)]
    sums = rows_of(RollupRow, func.max(RollupRow.label), *(func.sum(getattr(RollupRow, n)) for n in SUMMED), *packed)
    n = len(SUMMED)
    for p, k, label, *rest in conn.execute(sums.group_by(*group)):
        part = out.part((p, k) if keyed else (p,))
        part.tally.add(Tally([int(c) for c in rest[:n]], {}, label))
        part.decision.append(_unpacked(rest[n]))
        part.clear.append(_unpacked(rest[n + 1]))
        part.deadlines.append(_unpacked(rest[n + 2]))
    reasons = rows_of(RollupReason, RollupReason.reason, func.sum(RollupReason.cases))
    for p, k, reason, cases in conn.execute(reasons.group_by(*group, RollupReason.reason)):
        found = out.part((p, k) if keyed else (p,)).tally.reasons
        found[reason] = found.get(reason, 0) + int(cases)


def _concat(dialect: Dialect, column: Any) -> Any:
    """The packed values of a group's rows joined in the database (a year of days is some 70,000 rows per camera
    report: read one by one into Python they cost more than all the rest of the report)."""
    if dialect.name == "sqlite":  # group_concat is text: the bytes travel as hex
        return func.group_concat(func.hex(column), "")
    return func.string_agg(column, literal_column("''::bytea"))


def _unpacked(value: Any) -> bytes:
    return bytes.fromhex(value) if isinstance(value, str) else bytes(value or b"")


def _read_cases(s: Session, query: StatsQuery, dialect: Dialect, spans: list[tuple[datetime, datetime]],
                out: _Finest) -> None:
    """The cases of the ``spans`` the rollup does not cover, added up per key the same way: the counts by the
    straight statement (``raw.counts``), the values per case."""
    key, label = group_columns(query.by) if query.by is not None else (None, None)
    period = dialect.period(Case.raised_at, query.period)
    dims = (period, key) if key is not None else (period,)
    for since, until in spans:
        part = replace(query, since=since, until=until)
        for k, tally in raw.counts(s, part, dims, label, overdue=settled_overdue()).items():
            out.part(k).tally.add(tally)
        values: dict[Key, Values] = {}
        statement = select(*(d.label(f"d{i}") for i, d in enumerate(dims)), *value_columns(dialect))
        for row in s.connection().execute(statement.where(*range_filters(part))):
            *found, decision, clear, is_open, deadline = tuple(row)
            values.setdefault(tuple(found), Values()).take(decision, clear, deadline if is_open else None)
        for k, collected in values.items():
            decision, clear, deadlines = collected.packed()
            target = out.part(k)
            target.decision.append(decision)
            target.clear.append(clear)
            target.deadlines.append(deadlines)


def _uncovered(query: StatsQuery, built: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    spans, at = [], as_utc(query.since)
    for start, end in sorted(built):
        if start > at:
            spans.append((at, start))
        at = max(at, end)
    if at < as_utc(query.until):
        spans.append((at, as_utc(query.until)))
    return spans


def report(s: Session, query: StatsQuery) -> StatsReport | None:
    """The figures of ``query`` from the rollup and the cases of the days it does not cover; None where the
    rollup does not serve the query (no whole past day in the range, or a user's cameras grouped otherwise)."""
    plan = _plan(query)
    now = as_utc(query.now or datetime.now(UTC))
    if plan is None:
        return None
    built = ensure(s, query, now)
    if not built:
        return None
    periods = period_keys(query)
    dialect = query_dialect(s, query)
    finest = _Finest()
    dim, keyed = plan
    ids = {day: day_id for day, (day_id, _, _) in built.items()}
    if query.period is Period.MONTH:  # a whole month's days read as its one month row
        for month, (month_id, _) in ensure_months(s, query, built).items():
            ids = {day: day_id for day, day_id in ids.items() if not day.startswith(month)}
            ids[month] = month_id
    _read_rows(s, query, dialect, dim, keyed, list(ids.values()), finest)
    _read_cases(s, query, dialect, _uncovered(query, [(a, b) for _, a, b in built.values()]), finest)
    now_us = micros(now)
    groups: dict[Key, Part] | None = None
    total = Part()
    if query.by is not None:
        groups = {}
        for (_, k), part in finest.items():
            groups.setdefault((k,), Part()).add(part)
    for part in finest.values():
        total.add(part)
    return assemble(query, periods, {k: p.finish(now_us) for k, p in finest.items()},
                    None if groups is None else {k: p.finish(now_us) for k, p in groups.items()},
                    total.finish(now_us) if finest else None)
