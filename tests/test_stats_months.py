"""The rollup's months (wall/stats/days.py ``ensure_months``: a month's rows are its days' rows added up) give
exactly the straight statements' figures (wall/stats/raw.py): on randomised histories over four months
(hypothesis) — every grouping, a user's cameras, fixed offsets and zones with and without summer time, ranges
cut mid-month and mid-day — on SQLite, before and after cases change under built months; and on a generated
history on PostgreSQL. The months must actually be read (built month rows), a change to a case must mark its
month stale with its day, and a month older than one of its days is not read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from tests.test_stats_rollup import CAMERAS, _drawn, assert_same, case_rows, clear, insert_cases
from wall.stats.models import GroupBy, Period, StatsQuery
from wall.store.cases import Case
from wall.store.db import Database, open_database
from wall.store.stats import RollupDay

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = 120 * 86400  # four months of cases, 1 January to 1 May
CLOCKS: list[dict[str, Any]] = [{"utc_offset": 0}, {"utc_offset": 480}, {"utc_offset": -300},
                                {"time_zone": "Asia/Shanghai"}, {"time_zone": "America/New_York"},
                                {"time_zone": "Europe/London"}]


def spread(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``row`` (drawn in March by the day tests' strategies) moved to a time in the four months, with every later
    time of it moved alike."""
    shift = START + timedelta(seconds=rng.uniform(0, SPAN)) - row["raised_at"]
    return {k: v + shift if isinstance(v, datetime) else v for k, v in row.items()}


@st.composite
def month_queries(draw: Any) -> StatsQuery:
    since = START + timedelta(minutes=draw(st.integers(-2 * 1440, 40 * 1440)))
    until = since + timedelta(minutes=draw(st.integers(1440, 125 * 1440)))
    return StatsQuery(period=Period.MONTH, since=since, until=until,
                      by=draw(st.one_of(st.none(), st.sampled_from(list(GroupBy)))),
                      cameras=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(CAMERAS), min_size=1))),
                      now=START + timedelta(days=draw(st.integers(60, 140)), microseconds=3),
                      **draw(st.sampled_from(CLOCKS)))


def months_built(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(RollupDay).where(
            func.length(RollupDay.day) == len("YYYY-MM"), RollupDay.state == "built")) or 0


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = open_database(tmp_path_factory.mktemp("months"))
    yield db
    db.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(case_rows(), min_size=1, max_size=60), seed=st.integers(0, 2**32),
       asked=st.lists(month_queries(), min_size=1, max_size=3), change=st.data())
def test_months_answer_what_the_cases_answer(sqlite_db: Database, rows: list[dict[str, Any]], seed: int,
                                             asked: list[StatsQuery], change: Any) -> None:
    clear(sqlite_db)
    rng = random.Random(seed)
    ids = insert_cases(sqlite_db, [spread(row, rng) for row in rows])
    for query in asked:
        assert_same(sqlite_db, query)
    victim = change.draw(st.sampled_from(ids))
    values = change.draw(st.sampled_from([
        {"status": "rejected", "reject_reason": "late", "decided_at": START + timedelta(days=100)},
        {"cleared_at": START + timedelta(days=50, seconds=0.5), "status": "cleared_on_video"},
        {"camera_id": "cam-z"}, {"raised_at": START + timedelta(days=33, hours=5)},
        {"deadline_at": START + timedelta(days=70)}]))
    with sqlite_db.session() as s:
        s.execute(update(Case).where(Case.id == victim).values(**values))
    for query in asked:
        assert_same(sqlite_db, query)


def seeded_months(db: Database) -> None:
    """A fixed four-month history, a year-style report per month on it (months built and read), a change under
    the built months, and a month row made older than its day: every answer the straight one."""
    rng = random.Random(2026)
    insert_cases(db, [spread(_drawn(random.Random(7 + n)), rng) for n in range(600)])
    now = START + timedelta(days=130)
    queries = [StatsQuery(Period.MONTH, START, START + timedelta(days=121), by, cameras, now=now, **clock)
               for by in (None, GroupBy.CAMERA, GroupBy.STREET) for cameras in (None, frozenset({"cam-b"}))
               for clock in CLOCKS[1:5]]
    for query in queries:
        assert_same(db, query)
    assert months_built(db) >= 7, "whole months were answered from month rows"  # Feb–Apr at +8, Jan–Apr at -5, …
    with db.session() as s:
        case_id, raised = s.execute(select(Case.id, Case.raised_at).order_by(Case.id).limit(1)).one()
        s.execute(update(Case).where(Case.id == case_id).values(street="新街道"))
    with db.session() as s:
        states = {(len(day), state) for day, state in s.execute(select(RollupDay.day, RollupDay.state).where(
            RollupDay.start_at <= raised, RollupDay.end_at > raised))}
    assert states == {(10, "stale"), (7, "stale")}, "the day and its month are stale"
    for query in queries:
        assert_same(db, query)
    with db.session() as s:  # a day rebuilt after its month (as when its span changed): the month is not read
        s.execute(update(RollupDay).where(func.length(RollupDay.day) == 10).values(
            built_at=datetime.now(UTC) + timedelta(days=1)))
    for query in queries[:4]:
        assert_same(db, query)


def test_months_are_read_and_kept_current(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        seeded_months(db)
    finally:
        db.dispose()


@pytest.mark.slow
def test_months_answer_what_the_cases_answer_on_postgresql(tmp_path: Path, postgres_server: int) -> None:
    from tests.pg import database_url

    db = open_database(tmp_path, database_url(postgres_server))
    try:
        seeded_months(db)
    finally:
        db.dispose()
