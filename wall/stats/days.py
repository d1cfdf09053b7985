"""Building the statistics' daily rollup (``wall.stats.rollup`` says what it holds and why): which hall-clock days
a range covers, and one day's rows, built in a transaction of its own under the writers' lock.

A day is keyed by its date and the hall clock's UTC offset at its start (minutes east), and it remembers its UTC
span: with a hall time zone (``hall.time_zone``) a day with a summer-time change is 23 or 25 hours long, so a
day is current only when its span is the one asked for — a site that switches between the browser's fixed offset
and a zone rebuilds the days whose spans differ instead of reading another clock's figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, case, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from wall.stats import raw
from wall.stats.models import GroupBy, Period, StatsQuery
from wall.stats.sql import SUMMED, Dialect, Tally, group_columns, open_deadline, settled_overdue
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


def as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def micros(t: datetime) -> int:
    return (as_utc(t) - EPOCH) // timedelta(microseconds=1)


@dataclass(slots=True)
class Values:
    decision: list[float] = field(default_factory=list)
    clear: list[float] = field(default_factory=list)
    deadlines: list[int] = field(default_factory=list)

    def take(self, decision: Any, clear: Any, deadline: datetime | None) -> None:
        if decision is not None:
            self.decision.append(float(decision))
        if clear is not None:
            self.clear.append(float(clear))
        if deadline is not None:
            self.deadlines.append(micros(deadline))

    def packed(self) -> tuple[bytes, bytes, bytes]:
        return (np.asarray(self.decision, "<f8").tobytes(), np.asarray(self.clear, "<f8").tobytes(),
                np.asarray(self.deadlines, "<i8").tobytes())


def value_columns(dialect: Dialect) -> list[Any]:
    """Per case: raise → decision seconds (decided cases), dispatch → cleared seconds (decided and dispatched:
    None until cleared) and the deadline while it is open — the values ``raw.medians`` and ``overdue_ever``
    read."""
    decided = Case.decided_at.is_not(None)
    dispatched = and_(decided, Case.dispatched_at.is_not(None))
    return [case((decided, dialect.seconds(Case.raised_at, Case.decided_at))),
            case((dispatched, dialect.seconds(Case.dispatched_at, Case.cleared_at))),
            case((open_deadline(), 1), else_=0), Case.deadline_at]


# -- building a day -------------------------------------------------------------------------------------------


def _day_rows(b: Session, dialect: Dialect, day_id: int, start: datetime, end: datetime) -> Rows | None:
    """The day's rows (and their reject reasons): the counts in SQL per dimension, the values per case."""
    query = StatsQuery(Period.DAY, start, end, utc_offset=dialect.utc_offset)
    parts: dict[tuple[str, str, str | None], Tally] = {}
    for dim, key, label in [("camera", Case.camera_id, Case.camera_name), *SITE_DIMS]:
        dims = (key,) if key is not None else ()
        for found, tally in raw.counts(b, query, dims, label, overdue=settled_overdue()).items():
            camera = str(found[0]) if dim == "camera" else EVERY_CAMERA
            parts[(dim, camera, found[0] if found else None)] = tally
    values: dict[tuple[str, str, str | None], Values] = {}
    keys = [Case.camera_id, Case.code, Case.street, Case.community, Case.source]
    statement = select(*keys, *value_columns(dialect)).where(Case.raised_at >= start, Case.raised_at < end)
    for row in b.execute(statement):
        camera, code, street, community, source, decision, clear, is_open, deadline = tuple(row)
        for where in (("camera", camera, camera), ("none", EVERY_CAMERA, None), ("code", EVERY_CAMERA, code),
                      ("street", EVERY_CAMERA, street), ("community", EVERY_CAMERA, community),
                      ("source", EVERY_CAMERA, source)):
            values.setdefault(where, Values()).take(decision, clear, deadline if is_open else None)
    rows, reasons = [], []
    for (dim, camera, k), tally in parts.items():
        decision, clear, deadlines = values.get((dim, camera, k), Values()).packed()
        row_key: dict[str, Any] = {"day_id": day_id, "dim": dim, "camera_id": camera, "key": k}
        rows.append({**row_key, "label": tally.label, **dict(zip(SUMMED, tally.sums, strict=True)),
                     "decision": decision, "clear": clear, "deadlines": deadlines})
        reasons += [{**row_key, "reason": reason, "cases": n} for reason, n in tally.reasons.items()]
    return rows, reasons


Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]
Day = tuple[str, datetime, datetime, int]  # the date (YYYY-MM-DD, or YYYY-MM for a month), UTC span, offset key


def _build(engine: Engine, key: Day, fill: Callable[[Session, Dialect, int], Rows | None]) -> int | None:
    """Build (or rebuild) one day or month in a transaction of its own: its id, or None where ``fill`` found the
    rows it would read no longer current (a month whose day a case change marked stale meanwhile)."""
    day, start, end, offset = key
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
                utc_offset=offset, day=day, start_at=start, end_at=end, state="stale", version=VERSION,
                built_at=now).returning(RollupDay.id)).scalar_one()
        else:
            b.execute(delete(RollupRow).where(RollupRow.day_id == day_id), execution_options=PLAIN)
            b.execute(delete(RollupReason).where(RollupReason.day_id == day_id), execution_options=PLAIN)
        filled = fill(b, dialect, day_id)
        if filled is None:
            return None
        b.execute(update(RollupDay).where(RollupDay.id == day_id).values(
            start_at=start, end_at=end, state="built", version=VERSION, built_at=now), execution_options=PLAIN)
        rows, reasons = filled
        if rows:
            b.execute(insert(RollupRow), rows)
        if reasons:
            b.execute(insert(RollupReason), reasons)
        return day_id


def whole_days(s: Session, query: StatsQuery, now: datetime) -> list[Day]:
    """The hall-clock days wholly inside the range, within the span of the cases raised, ended ``SETTLE``
    before ``now``: (day, start, end in UTC, the offset at its start)."""
    # two statements: SQLite answers a lone min() or max() from the index, both at once by a scan of it
    first = s.scalar(select(func.min(Case.raised_at)))
    last = s.scalar(select(func.max(Case.raised_at)))
    if first is None or last is None:
        return []
    clock = query.clock
    since = max(as_utc(query.since), as_utc(first) - timedelta(days=1))
    until = min(as_utc(query.until), as_utc(last) + timedelta(days=1), now - SETTLE)
    local = clock.local(since).replace(hour=0, minute=0, second=0, microsecond=0)
    if clock.utc(local) < since:
        local += timedelta(days=1)
    out: list[Day] = []
    start = clock.utc(local)
    while (end := clock.utc(local + timedelta(days=1))) <= until:
        out.append((local.strftime("%Y-%m-%d"), start, end, clock.offset_minutes(start)))
        local, start = local + timedelta(days=1), end
    return out


def _current(s: Session, keys: list[Day]) -> dict[tuple[str, int], tuple[int, datetime, datetime, datetime]]:
    """The built, current rows of ``keys``' days (or months): (day, offset) → id, start, end, built_at."""
    if not keys:
        return {}
    days = sorted(key[0] for key in keys)
    return {(day, offset): (day_id, as_utc(start), as_utc(end), as_utc(at))
            for day, offset, day_id, start, end, at in s.execute(
                select(RollupDay.day, RollupDay.utc_offset, RollupDay.id, RollupDay.start_at, RollupDay.end_at,
                       RollupDay.built_at).where(
                    RollupDay.utc_offset.in_(sorted({key[3] for key in keys})), RollupDay.day >= days[0],
                    RollupDay.day <= days[-1], RollupDay.state == "built", RollupDay.version == VERSION))}


def _engine(s: Session) -> Engine:
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    return engine


def ensure(s: Session, query: StatsQuery, now: datetime) -> dict[str, tuple[int, datetime, datetime]]:
    """The built days of the range (day → id, start, end), building those missing, stale or of another span."""
    days = whole_days(s, query, now)
    current = _current(s, days)
    out = {}
    for key in days:
        day, start, end, offset = key
        found = current.get((day, offset))
        day_id = found[0] if found is not None and found[1:3] == (start, end) else None
        if day_id is None:
            day_id = _build(_engine(s), key, partial(_day_rows, start=start, end=end))
            assert day_id is not None  # a day reads the cases: always current
        out[day] = (day_id, start, end)
    return out


# -- months: a month's rows are its days' rows added up -----------------------------------------------------------


def whole_months(days: dict[str, tuple[int, datetime, datetime]], query: StatsQuery) -> list[tuple[Day, list[int]]]:
    """The months every day of which is among the built ``days``, each with its days' ids."""
    by_month: dict[str, list[str]] = {}
    for day in sorted(days):
        by_month.setdefault(day[:7], []).append(day)
    out = []
    for month, listed in by_month.items():
        first = datetime.strptime(month, "%Y-%m")
        length = ((first.replace(day=28) + timedelta(days=4)).replace(day=1) - first).days
        if len(listed) == length:
            start, end = days[listed[0]][1], days[listed[-1]][2]
            out.append(((month, start, end, query.clock.offset_minutes(start)), [days[d][0] for d in listed]))
    return out


def ensure_months(s: Session, query: StatsQuery,
                  days: dict[str, tuple[int, datetime, datetime]]) -> dict[str, tuple[int, list[int]]]:
    """The built months of the range (month → id, its days' ids), building those missing, stale, of another span
    or older than one of their days; a month whose day went stale while it was built is left to its days."""
    months = whole_months(days, query)
    if not months:
        return {}
    current = _current(s, [key for key, _ in months])
    built_at = {day_id: at for day_id, at in s.execute(select(RollupDay.id, RollupDay.built_at).where(
        RollupDay.id.in_([i for _, ids in months for i in ids])))}
    out = {}
    for key, ids in months:
        month, start, end, offset = key
        found = current.get((month, offset))
        month_id: int | None = None
        if found is not None and found[1:3] == (start, end) and all(as_utc(built_at[i]) <= found[3] for i in ids):
            month_id = found[0]
        else:
            month_id = _build(_engine(s), key, partial(_month_rows, day_ids=ids))
        if month_id is not None:
            out[month] = (month_id, ids)
    return out


def _month_rows(b: Session, dialect: Dialect, month_id: int, day_ids: list[int]) -> Rows | None:
    """The month's rows from its days' rows (counts summed, the largest label, the packed values joined); None
    when a day is no longer built (the trigger marked it stale after ``ensure``)."""
    if b.scalar(select(func.count()).select_from(RollupDay).where(
            RollupDay.id.in_(day_ids), RollupDay.state == "built", RollupDay.version == VERSION)) != len(day_ids):
        return None
    keys = (RollupRow.dim, RollupRow.camera_id, RollupRow.key)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in b.execute(select(*keys, RollupRow.label, *(getattr(RollupRow, n) for n in SUMMED), RollupRow.decision,
                                RollupRow.clear, RollupRow.deadlines).where(RollupRow.day_id.in_(day_ids))):
        dim, camera, k, label, *counts, decision, clear, deadlines = tuple(row)
        found = rows.get((dim, camera, k))
        if found is None:
            rows[(dim, camera, k)] = {"day_id": month_id, "dim": dim, "camera_id": camera, "key": k, "label": label,
                                      **dict(zip(SUMMED, counts, strict=True)), "decision": [decision],
                                      "clear": [clear], "deadlines": [deadlines]}
            continue
        if label is not None and (found["label"] is None or label > found["label"]):
            found["label"] = label
        for name, n in zip(SUMMED, counts, strict=True):
            found[name] += n
        found["decision"].append(decision)
        found["clear"].append(clear)
        found["deadlines"].append(deadlines)
    for found in rows.values():
        for name in ("decision", "clear", "deadlines"):
            found[name] = b"".join(bytes(v) for v in found[name])
    by = (RollupReason.dim, RollupReason.camera_id, RollupReason.key, RollupReason.reason)
    reasons = [{"day_id": month_id, "dim": dim, "camera_id": camera, "key": k, "reason": reason, "cases": int(n)}
               for dim, camera, k, reason, n in b.execute(
                   select(*by, func.sum(RollupReason.cases)).where(RollupReason.day_id.in_(day_ids)).group_by(*by))]
    return list(rows.values()), reasons
