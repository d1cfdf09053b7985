"""The case list's filter as SQL (the desk's queue, ``GET /api/cases``, the wall's overdue count) and the overdue
conditions of wall/time_limits.py in SQL, which the statistics share, so "overdue" is one definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from wall.store.cases import Case
from wall.time_limits import WITH_DEPARTMENT


def overdue_now(now: datetime) -> ColumnElement[bool]:
    """``time_limits.is_overdue`` in SQL: past the deadline at ``now`` and still with the department."""
    return and_(Case.deadline_at.is_not(None), Case.deadline_at < now, Case.status.in_(WITH_DEPARTMENT))


def overdue_ever(now: datetime) -> ColumnElement[bool]:
    """For the statistics (考核): the case missed its deadline — it was first cleared on video (or, never cleared,
    closed) after it, or it is neither and the deadline had passed at ``now``."""
    done = func.coalesce(Case.cleared_at, Case.closed_at)
    return and_(Case.deadline_at.is_not(None),
                or_(and_(done.is_(None), Case.deadline_at < now), done > Case.deadline_at))


@dataclass(frozen=True)
class CaseFilter:
    """What the queue asks for; ``cameras`` None = every camera (a principal who sees all), ``now`` the service
    clock that ``overdue`` is judged by."""

    cameras: set[str] | None = None
    status: str | None = None
    camera: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    overdue: bool | None = None
    now: datetime | None = None

    def query(self) -> Select[Any]:
        query = select(Case)
        if self.cameras is not None:
            query = query.where(Case.camera_id.in_(sorted(self.cameras)))
        for column, value in ((Case.status, self.status), (Case.camera_id, self.camera), (Case.code, self.code)):
            if value:
                query = query.where(column == value)
        if self.since:
            query = query.where(Case.raised_at >= self.since)
        if self.until:
            query = query.where(Case.raised_at < self.until)
        if self.text:
            like = f"%{self.text}%"
            query = query.where(or_(Case.description.like(like), Case.address.like(like), Case.note.like(like),
                                    Case.camera_name.like(like), Case.code_name.like(like)))
        if self.overdue is not None and self.now is not None:
            late = overdue_now(self.now)
            query = query.where(late if self.overdue else ~late)
        return query
