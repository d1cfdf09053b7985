"""The statistics computed in SQL straight from ``cases``, on SQLite and PostgreSQL: the answer for ranges the
daily rollup does not cover (``wall.stats.rollup``: recent days, a user limited to some cameras grouped other
than per camera), and the reference the rollup is tested against.

Every figure is a GROUP BY in the database, never a walk over case rows in Python, as four statements:

- the counts are conditional sums in **one** pass at the finest level (period × group, and reject reason); they
  add up, so the per-group figures and the grand total are summed here from those rows, not counted again;
- a median does not add up, so each level has one pass for both of its medians, an aggregate: PostgreSQL's
  ``percentile_cont(0.5)``, on SQLite a registered ``citywall_median`` (SQLite has none). Ranking in SQL
  (``row_number() … count() over``) gave the same figures on both but cost a second per level at 82k cases;
- dispatch → cleared-on-video reads ``cases.cleared_at``, the first "cleared on video" of the case's history,
  which the database keeps as the history is written (migration 0007) — not a regrouping of ``case_events``
  per statement;
- the range (and a user's cameras) is read from ``ix_cases_raised_camera`` (raised_at, camera_id).

They scale with the cases in the range (about 10 µs a case): 7–11 s for a year of a million cases, which is why
long ranges read the rollup.

Overdue (处置时限, issue 13 item 5) is one more conditional sum: the case has a deadline (set at dispatch) and was
first cleared on video — or, never cleared, closed — after it, or is neither and the deadline has passed by the
query's ``now`` (``wall.cases.listing.overdue_ever``: the desk's definition, in SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.orm import Session

from wall.cases.listing import overdue_ever
from wall.stats.models import StatsQuery
from wall.stats.sql import (
    MAX_ROWS,
    Dialect,
    Key,
    Tally,
    bounded,
    flag_conditions,
    one,
    range_filters,
    rounded,
    tally_row,
    too_many,
)
from wall.store.cases import Case


def counts(s: Session, query: StatsQuery, dims: Sequence[ColumnElement[Any]], label: ColumnElement[Any] | None,
           overdue: ColumnElement[bool] | None = None) -> dict[Key, Tally]:
    """The conditional sums per key of ``dims`` and reject reason, in one pass over the range; a key's rows
    (one per reason, one for cases not rejected) are added up here. Counts add, so the coarser levels are sums
    of these keys (``roll_up``) instead of passes of their own. Refused past MAX_ROWS keys, read as they come.
    ``overdue`` replaces the query's own condition (the rollup counts only what no clock changes)."""
    flags = flag_conditions(overdue if overdue is not None else overdue_ever(query.now or datetime.now(UTC)))
    columns: list[Any] = [*dims, Case.reject_reason, func.count(), *(one(f) for f in flags),
                          func.max(label) if label is not None else literal_column("NULL")]
    statement = select(*columns).where(*range_filters(query)).group_by(*dims, Case.reject_reason)
    out: dict[Key, Tally] = {}
    n = len(dims)
    for row in s.execute(statement):
        key = tuple(row[:n])
        part = tally_row(row[n], int(row[n + 1]), row[n + 2:n + 10], row[n + 10])
        if key in out:
            out[key].add(part)
        elif len(out) == MAX_ROWS:
            raise too_many()
        else:
            out[key] = part
    return out


def roll_up(rows: dict[Key, Tally], keep: slice) -> dict[Key, Tally]:
    """The same counts per the ``keep`` parts of each key: per group (the key without its period) from per
    period and group, the total (no part) from either."""
    out: dict[Key, Tally] = {}
    for key, row in rows.items():
        out.setdefault(key[keep], Tally()).add(row)
    return out


def medians(s: Session, query: StatsQuery, dims: Sequence[ColumnElement[Any]],
            dialect: Dialect) -> dict[Key, tuple[float | None, float | None]]:
    """Per key, the median raise → decision and dispatch → first cleared-on-video seconds, in one pass over the
    decided cases of the range (a dispatched case is a decided one)."""
    decision = dialect.seconds(Case.raised_at, Case.decided_at)
    clear = case((Case.dispatched_at.is_not(None), dialect.seconds(Case.dispatched_at, Case.cleared_at)))
    statement = (select(*dims, dialect.median(decision), dialect.median(clear))
                 .where(*range_filters(query), Case.decided_at.is_not(None)).group_by(*dims))
    n = len(dims)
    return {tuple(row[:n]): (rounded(row[n]), rounded(row[n + 1])) for row in bounded(s, statement)}


def level(s: Session, query: StatsQuery, rows: dict[Key, Tally], dims: Sequence[ColumnElement[Any]],
          dialect: Dialect) -> dict[Key, Tally]:
    for key, pair in medians(s, query, dims, dialect).items():
        if key in rows:
            rows[key].medians = pair
    return rows
