"""The statistics' daily rollup (wall/stats/rollup.py; migration 0014): per hall-clock day, the figures of its
cases pre-added per camera and per event code, street, community and source, with the raw durations and open
deadlines the medians and the overdue count need. Derived data: a day is rebuilt from ``cases`` whenever the
trigger on ``cases`` marks it stale, and may be dropped at any time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.db import Base


class _Id:
    """The surrogate key every rollup table has: rows are found by their day and key, never by it.

    A mixin's columns would follow the table's own; ``sort_order`` keeps each table's columns where they have
    always been (first the id, then the day's key), so the models' DDL stays migration 0014's to the letter."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-2)


class _DayKey(_Id):
    """What a figure of a day is keyed by, alike in every table of figures (a row, its reject reasons), so the
    queries join and group them on the same columns: the day, the dimension, the camera ('' over every camera)
    and the dimension's key (``None`` for the dimension ``none``)."""

    day_id: Mapped[int] = mapped_column(ForeignKey("stats_rollup_days.id"), sort_order=-1)
    dim: Mapped[str] = mapped_column(String(16), sort_order=-1)
    camera_id: Mapped[str] = mapped_column(String(64), sort_order=-1)
    key: Mapped[str | None] = mapped_column(String(120), sort_order=-1)


class RollupDay(_Id, Base):
    """One hall-clock day (``day`` at ``utc_offset`` minutes east of UTC, the UTC span ``[start_at, end_at)``) and
    whether its rows are current: ``built`` at ``version``, or ``stale`` (a case raised in the span changed)."""

    __tablename__ = "stats_rollup_days"
    __table_args__ = (UniqueConstraint("utc_offset", "day"),
                      Index("ix_stats_rollup_days_span", "end_at", "start_at"))

    utc_offset: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in that clock
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(8))  # built | stale
    version: Mapped[int] = mapped_column(Integer)  # wall.stats.rollup.VERSION it was built by
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RollupRow(_DayKey, Base):
    """A day's figures for one key of one dimension: ``dim`` camera (one row per camera, ``camera_id`` its id),
    or none / code / street / community / source over every camera (``camera_id`` ''). The counts are those of
    ``wall.stats.sql.SUMMED`` (``overdue`` only the cases done after their deadline); ``decision`` and ``clear``
    the durations in seconds (float64, little-endian), ``deadlines`` the deadlines of cases not yet done
    (int64 microseconds since 1970), so the query's medians and overdue count stay exact."""

    __tablename__ = "stats_rollup"
    __table_args__ = (Index("ix_stats_rollup_day_dim", "day_id", "dim", "camera_id"),)

    label: Mapped[str | None] = mapped_column(String(120))
    raised: Mapped[int] = mapped_column(Integer)
    confirmed: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    merged: Mapped[int] = mapped_column(Integer)
    pending: Mapped[int] = mapped_column(Integer)
    ai_decided: Mapped[int] = mapped_column(Integer)
    ai_confirmed: Mapped[int] = mapped_column(Integer)
    dispatched: Mapped[int] = mapped_column(Integer)
    cleared_on_video: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    decision: Mapped[bytes] = mapped_column(LargeBinary)
    clear: Mapped[bytes] = mapped_column(LargeBinary)
    deadlines: Mapped[bytes] = mapped_column(LargeBinary)


class RollupReason(_DayKey, Base):
    """A row's rejected cases per reject reason (``RollupRow.rejected`` split up), keyed like the row itself: a
    table of its own so the database sums them per period and key, as it sums the counts."""

    __tablename__ = "stats_rollup_reasons"
    __table_args__ = (Index("ix_stats_rollup_reasons_day_dim", "day_id", "dim", "camera_id"),)

    reason: Mapped[str] = mapped_column(String(64))
    cases: Mapped[int] = mapped_column(Integer)
