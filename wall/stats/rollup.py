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

When it is built: lazily, by the query that needs a day, one day per transaction, only for days that ended at
least ``SETTLE`` before the query's ``now`` (the days still changing by the minute are read from the cases, as
are the partial days at either end of the range). Why not kept in the desk's own transaction: the medians need
every value, which a trigger could only keep by rewriting a day's packed values on every case change.

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
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Date, Engine, and_, case, cast, delete, func, insert, literal_column, select, text, update
from sqlalchemy.orm import Session

from wall.stats import raw
from wall.stats.models import GroupBy, Period, StatsQuery, StatsReport
from wall.stats.sql import (
    MAX_ROWS,
    SUMMED,
    Dialect,
    Key,
    Tally,
    assemble,
    dialect_of,
    group_columns,
    open_deadline,
    period_keys,
    range_filters,
    rounded,
    settled_overdue,
    too_many,
)
from wall.store.cases import Case
from wall.store.stats import RollupDay, RollupReason, RollupRow

VERSION = 1
SETTLE = timedelta(days=1)
EVERY_CAMERA = ""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PLAIN = {"synchronize_session": False}  # plain SQL: the builder's session holds no objects to keep in step
# the day's rows over every camera: the dimension's name, its key column and its label column
SITE_DIMS: list[tuple[str, Any, Any]] = [("none", None, None)] + [
    (by.value, *group_columns(by)) for by in (GroupBy.CODE, GroupBy.STREET, GroupBy.COMMUNITY, GroupBy.SOURCE)]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _micros(t: datetime) -> int:
    return (_utc(t) - EPOCH) // timedelta(microseconds=1)


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


@dataclass(slots=True)
class _Values:
    decision: list[float] = field(default_factory=list)
    clear: list[float] = field(default_factory=list)
    deadlines: list[int] = field(default_factory=list)

    def take(self, decision: Any, clear: Any, deadline: datetime | None) -> None:
        if decision is not None:
            self.decision.append(float(decision))
        if clear is not None:
            self.clear.append(float(clear))
        if deadline is not None:
            self.deadlines.append(_micros(deadline))

    def packed(self) -> tuple[bytes, bytes, bytes]:
        return (np.asarray(self.decision, "<f8").tobytes(), np.asarray(self.clear, "<f8").tobytes(),
                np.asarray(self.deadlines, "<i8").tobytes())


def _value_columns(dialect: Dialect) -> list[Any]:
    """Per case: raise → decision seconds (decided cases), dispatch → cleared seconds (decided and dispatched:
    None until cleared) and the deadline while it is open — the values ``raw.medians`` and ``overdue_ever``
    read."""
    decided = Case.decided_at.is_not(None)
    dispatched = and_(decided, Case.dispatched_at.is_not(None))
    return [case((decided, dialect.seconds(Case.raised_at, Case.decided_at))),
            case((dispatched, dialect.seconds(Case.dispatched_at, Case.cleared_at))),
            case((open_deadline(), 1), else_=0), Case.deadline_at]


# -- building a day -------------------------------------------------------------------------------------------


def _day_rows(b: Session, dialect: Dialect, day_id: int, start: datetime,
              end: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's rows (and their reject reasons): the counts in SQL per dimension, the values per case."""
    query = StatsQuery(Period.DAY, start, end, utc_offset=dialect.utc_offset)
    parts: dict[tuple[str, str, str | None], Tally] = {}
    for dim, key, label in [("camera", Case.camera_id, Case.camera_name), *SITE_DIMS]:
        dims = (key,) if key is not None else ()
        for found, tally in raw.counts(b, query, dims, label, overdue=settled_overdue()).items():
            camera = str(found[0]) if dim == "camera" else EVERY_CAMERA
            parts[(dim, camera, found[0] if found else None)] = tally
    values: dict[tuple[str, str, str | None], _Values] = {}
    keys = [Case.camera_id, Case.code, Case.street, Case.community, Case.source]
    statement = select(*keys, *_value_columns(dialect)).where(Case.raised_at >= start, Case.raised_at < end)
    for row in b.execute(statement):
        camera, code, street, community, source, decision, clear, is_open, deadline = tuple(row)
        for where in (("camera", camera, camera), ("none", EVERY_CAMERA, None), ("code", EVERY_CAMERA, code),
                      ("street", EVERY_CAMERA, street), ("community", EVERY_CAMERA, community),
                      ("source", EVERY_CAMERA, source)):
            values.setdefault(where, _Values()).take(decision, clear, deadline if is_open else None)
    rows, reasons = [], []
    for (dim, camera, k), tally in parts.items():
        decision, clear, deadlines = values.get((dim, camera, k), _Values()).packed()
        row_key: dict[str, Any] = {"day_id": day_id, "dim": dim, "camera_id": camera, "key": k}
        rows.append({**row_key, "label": tally.label, **dict(zip(SUMMED, tally.sums, strict=True)),
                     "decision": decision, "clear": clear, "deadlines": deadlines})
        reasons += [{**row_key, "reason": reason, "cases": n} for reason, n in tally.reasons.items()]
    return rows, reasons


def _build(engine: Engine, offset: int, day: str, start: datetime, end: datetime) -> int:
    """Build (or rebuild) one day in a transaction of its own; its id."""
    with Session(engine) as b, b.begin():
        dialect = Dialect(engine.dialect.name, offset)
        if dialect.name == "postgresql":
            b.execute(text("LOCK TABLE stats_rollup_days IN SHARE ROW EXCLUSIVE MODE"))
        where = (RollupDay.utc_offset == offset, RollupDay.day == day)
        # a write first: on SQLite the transaction then holds the writer's lock before it reads a case
        b.execute(update(RollupDay).where(*where).values(state="stale"), execution_options=PLAIN)
        day_id = b.scalar(select(RollupDay.id).where(*where))
        now = datetime.now(UTC)
        if day_id is None:
            day_id = b.execute(insert(RollupDay).values(
                utc_offset=offset, day=day, start_at=start, end_at=end, state="built", version=VERSION,
                built_at=now).returning(RollupDay.id)).scalar_one()
        else:
            b.execute(delete(RollupRow).where(RollupRow.day_id == day_id), execution_options=PLAIN)
            b.execute(delete(RollupReason).where(RollupReason.day_id == day_id), execution_options=PLAIN)
            b.execute(update(RollupDay).where(RollupDay.id == day_id).values(
                start_at=start, end_at=end, state="built", version=VERSION, built_at=now), execution_options=PLAIN)
        rows, reasons = _day_rows(b, dialect, day_id, start, end)
        if rows:
            b.execute(insert(RollupRow), rows)
        if reasons:
            b.execute(insert(RollupReason), reasons)
        return day_id


def _whole_days(s: Session, query: StatsQuery, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """The hall-clock days wholly inside the range, within the span of the cases raised, ended ``SETTLE``
    before ``now``: (day, start, end) in UTC."""
    # two statements: SQLite answers a lone min() or max() from the index, both at once by a scan of it
    first = s.scalar(select(func.min(Case.raised_at)))
    last = s.scalar(select(func.max(Case.raised_at)))
    if first is None or last is None:
        return []
    shift = timedelta(minutes=query.utc_offset)
    since = max(_utc(query.since), _utc(first) - timedelta(days=1))
    until = min(_utc(query.until), _utc(last) + timedelta(days=1), now - SETTLE)
    local = (since + shift).replace(hour=0, minute=0, second=0, microsecond=0)
    if local - shift < since:
        local += timedelta(days=1)
    out = []
    while local - shift + timedelta(days=1) <= until:
        out.append((local.strftime("%Y-%m-%d"), local - shift, local - shift + timedelta(days=1)))
        local += timedelta(days=1)
    return out


def ensure(s: Session, query: StatsQuery, now: datetime) -> dict[str, tuple[int, datetime, datetime]]:
    """The built days of the range (day → id, start, end), building those missing or stale."""
    days = _whole_days(s, query, now)
    if not days:
        return {}
    current = {day: day_id for day, day_id in s.execute(
        select(RollupDay.day, RollupDay.id).where(
            RollupDay.utc_offset == query.utc_offset, RollupDay.day >= days[0][0], RollupDay.day <= days[-1][0],
            RollupDay.state == "built", RollupDay.version == VERSION))}
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    out = {}
    for day, start, end in days:
        day_id = current.get(day)
        out[day] = (day_id if day_id is not None else _build(engine, query.utc_offset, day, start, end), start, end)
    return out


# -- answering from it ----------------------------------------------------------------------------------------


def _plan(query: StatsQuery) -> tuple[str, bool] | None:
    """Which rows answer ``query``: the dimension, and whether the key is kept (False: summed per period)."""
    if query.by is GroupBy.CAMERA:
        return "camera", True
    if query.cameras is not None:  # only the per-camera rows can be limited to a user's cameras
        return ("camera", False) if query.by is None else None
    return (query.by.value, True) if query.by is not None else ("none", False)


def _day_period(dialect: Dialect, day: Any, period: Period) -> Any:
    """The period a rollup day (YYYY-MM-DD) falls in, as ``Dialect.period`` cuts a case's time."""
    if period is Period.DAY:
        return day
    if dialect.name == "sqlite":
        return func.date(day, "weekday 0", "-6 days") if period is Period.WEEK else func.strftime("%Y-%m-01", day)
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
        values: dict[Key, _Values] = {}
        statement = select(*(d.label(f"d{i}") for i, d in enumerate(dims)), *_value_columns(dialect))
        for row in s.connection().execute(statement.where(*range_filters(part))):
            *found, decision, clear, is_open, deadline = tuple(row)
            values.setdefault(tuple(found), _Values()).take(decision, clear, deadline if is_open else None)
        for k, collected in values.items():
            decision, clear, deadlines = collected.packed()
            target = out.part(k)
            target.decision.append(decision)
            target.clear.append(clear)
            target.deadlines.append(deadlines)


def _uncovered(query: StatsQuery, built: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    spans, at = [], _utc(query.since)
    for start, end in sorted(built):
        if start > at:
            spans.append((at, start))
        at = max(at, end)
    if at < _utc(query.until):
        spans.append((at, _utc(query.until)))
    return spans


def report(s: Session, query: StatsQuery) -> StatsReport | None:
    """The figures of ``query`` from the rollup and the cases of the days it does not cover; None where the
    rollup does not serve the query (no whole past day in the range, or a user's cameras grouped otherwise)."""
    plan = _plan(query)
    now = _utc(query.now or datetime.now(UTC))
    if plan is None:
        return None
    built = ensure(s, query, now)
    if not built:
        return None
    periods = period_keys(query)
    dialect = dialect_of(s, query.utc_offset)
    finest = _Finest()
    dim, keyed = plan
    _read_rows(s, query, dialect, dim, keyed, [day_id for day_id, _, _ in built.values()], finest)
    _read_cases(s, query, dialect, _uncovered(query, [(a, b) for _, a, b in built.values()]), finest)
    now_us = _micros(now)
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
