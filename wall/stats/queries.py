"""The statistics (综合评价 / 考核) of a filter: ``report`` answers from the daily rollup where it covers the range
(``wall.stats.rollup``: whole past days, read as pre-added rows, with only the edge days read from the cases)
and straight from the cases otherwise (``wall.stats.raw``). Both give the same figures; the rollup exists
because the straight statements scale with the cases in the range (7–11 s for a year of a million cases) and
the page must answer within a second (docs/performance.md).

What differs between the databases is only how a time is cut into a local day/week/month, how two times are
subtracted and the median (``wall.stats.sql.Dialect``). The answer is bounded: at most ``MAX_PERIODS`` periods
and ``MAX_ROWS`` keys per level, else :class:`~wall.errors.Unprocessable` asks for a narrower filter.

The grant filter is the case list's (``CaseDesk.list``): ``camera_id IN`` the principal's cameras, nothing for a
principal who sees every camera.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from wall.stats import raw, rollup
from wall.stats.models import StatsQuery, StatsReport
from wall.stats.sql import AI_SOURCE, MAX_PERIODS, MAX_ROWS, assemble, group_columns, period_keys, query_dialect
from wall.store.cases import Case

__all__ = ["AI_SOURCE", "MAX_PERIODS", "MAX_ROWS", "period_keys", "raw_report", "report"]


def raw_report(s: Session, query: StatsQuery) -> StatsReport:
    """The figures of ``query`` straight from the cases: the grand total, per group, and per period and group.
    The counts are one pass at the finest level, added up for the coarser two; each level's medians one more
    pass."""
    periods = period_keys(query)
    dialect = query_dialect(s, query)
    period = dialect.period(Case.raised_at, query.period)
    if query.by is None:
        finest = raw.level(s, query, raw.counts(s, query, (period,), None), (period,), dialect)
        groups = None
    else:
        key, label = group_columns(query.by)
        finest = raw.level(s, query, raw.counts(s, query, (period, key), label), (period, key), dialect)
        groups = raw.level(s, query, raw.roll_up(finest, slice(1, None)), (key,), dialect)
    total = raw.level(s, query, raw.roll_up(finest, slice(0)), (), dialect).get(())
    return assemble(query, periods, finest, groups, total)


def report(s: Session, query: StatsQuery) -> StatsReport:
    """The figures of ``query``: from the rollup where it covers whole days of the range, else from the cases."""
    period_keys(query)  # refuse an unbounded answer before building anything
    answer = rollup.report(s, query)
    return answer if answer is not None else raw_report(s, query)
