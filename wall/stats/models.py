"""The statistics' values at their boundaries: what is asked (``StatsQuery``) and what is answered
(``StatsReport``), typed so that ``/openapi.json`` documents them and the CSV writer reads the same fields the
page does.

What the figures mean (the same for every group and period; cases are counted in the period they were *raised*
in, so a period's figures do not change shape as later decisions arrive, they only fill in):

- ``raised``: cases raised; ``confirmed``: decided as real (the desk's confirm, or an operator's own filing);
  ``rejected``: decided as false alarms, with ``rejected_by_reason``; ``merged``: closed as duplicates of
  another case (neither right nor wrong, so outside the precision); ``pending``: still awaiting review.
- ``ai_precision`` = ``ai_confirmed`` ÷ ``ai_decided`` over the AI's cases only (source "ai", 视频智能发现): an
  operator's own filing is confirmed by construction and would flatter the detector. None when nothing was
  decided.
- ``median_decision_seconds``: from the raise to the operator's decision; ``median_clear_seconds``: from the
  dispatch to the first "cleared on video" in the case's history. None when there is no such case.
- ``overdue``: cases that missed their deadline (处置时限, set at dispatch): first cleared on video — or, never
  cleared, closed — after it, or still neither when the deadline passed (by ``StatsQuery.now``). Cases never
  dispatched, or dispatched without a time limit, are never overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from wall.cases.models import UtcTime
from wall.stats.clock import HallClock


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # weeks start on Monday (ISO)
    MONTH = "month"


class GroupBy(StrEnum):
    STREET = "street"
    COMMUNITY = "community"
    CAMERA = "camera"
    CODE = "code"
    SOURCE = "source"


@dataclass(frozen=True)
class StatsQuery:
    """A filter: times in UTC (the routes convert), ``cameras`` None for a principal who sees every camera, and
    the hall's clock, which decides where a day begins: its time zone (``hall.time_zone``) when set, else the
    offset (minutes east of UTC) the page sent."""

    period: Period
    since: datetime
    until: datetime
    by: GroupBy | None = None
    cameras: frozenset[str] | None = None
    utc_offset: int = 0
    now: datetime | None = None  # what "the deadline has passed" is judged by (the service clock); None: the time now
    time_zone: str | None = None  # an IANA zone (wall.stats.clock): it wins over utc_offset

    @property
    def clock(self) -> HallClock:
        return HallClock(self.utc_offset, self.time_zone)


class Figures(BaseModel):
    raised: int = 0
    confirmed: int = 0
    rejected: int = 0
    merged: int = 0
    pending: int = 0
    rejected_by_reason: dict[str, int] = Field(default_factory=dict, description="reject reason key → cases")
    ai_decided: int = 0
    ai_confirmed: int = 0
    ai_precision: float | None = Field(default=None, description="ai_confirmed ÷ ai_decided; None if 0 decided")
    median_decision_seconds: float | None = None
    dispatched: int = 0
    cleared_on_video: int = 0
    median_clear_seconds: float | None = Field(default=None, description="dispatch → first cleared on video")
    overdue: int = Field(default=0, description="cases that missed their deadline: cleared on video (or closed) "
                         "after it, or neither by now")


class GroupFigures(Figures):
    key: str | None = Field(description="the group's value (camera id, code, street…); None where it is unset")
    label: str = Field(description="what to show: camera name, code name, or the key itself")


class PeriodFigures(GroupFigures):
    period: str = Field(description="the period's first day in the hall's clock, YYYY-MM-DD")


class StatsReport(BaseModel):
    period: Period
    by: GroupBy | None
    since: UtcTime
    until: UtcTime
    utc_offset: int = Field(description="minutes east of UTC that periods were cut in (with time_zone: its offset at "
                            "until)")
    time_zone: str | None = Field(default=None, description="the hall's time zone (hall.time_zone) periods were cut "
                                  "in; null: the fixed utc_offset")
    periods: list[str] = Field(description="every period of the range, empty ones included, oldest first")
    total: Figures
    groups: list[GroupFigures] = Field(description="per group over the whole range (one, keyless, without by)")
    rows: list[PeriodFigures] = Field(description="per period and group; only where a case was raised")
