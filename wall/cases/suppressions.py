"""False-alarm memory (误报抑制): a rejection that says "allowed here" or "not an event" may remember the place, so
the same thing there is counted instead of raised again (a licensed breakfast cart, a shop's own display, a
statue the detector takes for a person).

The check sits in the case desk, not in the vision layer: the analyzer keeps timing places and opening events as
always (its dwell, intervals and clears stay right), and the desk, where an ``opened`` change would become a case,
counts it on the matching suppression in the same transaction instead. The vision layer never learns of the
database, and a lifted or expired suppression needs nothing but a different answer from this query.

A candidate matches when it has the same camera, zone and family and the same *place* in the sense of
``vision/places.py``: its place key (the cell of the anchor point) is the suppression's cell or one of its eight
neighbours (what the place tracker itself credits to one place), or its box overlaps the remembered box by an
IoU of at least ``MIN_IOU`` (the same object seen a little larger or smaller).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from vision.events import EventChange
from wall.auth import audit
from wall.cases.models import SuppressionOut
from wall.errors import Conflict, NotFound, Unprocessable
from wall.store.cases import Case, Suppression
from wall.store.db import Database

log = logging.getLogger(__name__)
MIN_IOU = 0.5
State = Literal["active", "lifted", "expired", "all"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def _cell(key: str) -> tuple[int, int] | None:
    try:
        x, y = key.split("-")
        return int(x), int(y)
    except ValueError:
        return None


def _iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    if len(a) != 4 or len(b) != 4:
        return 0.0
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_place(key: str, box: list[float] | tuple[float, ...], other_key: str,
               other_box: list[float] | tuple[float, ...]) -> bool:
    """Within one cell of each other (the place tracker's own notion), or boxes overlapping by ``MIN_IOU``."""
    a, b = _cell(key), _cell(other_key)
    if key == other_key or (a is not None and b is not None and abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1):
        return True
    return _iou(box, other_box) >= MIN_IOU


def state_of(row: Suppression, at: datetime) -> Literal["active", "lifted", "expired"]:
    if row.lifted_at is not None:
        return "lifted"
    expires = _utc(row.expires_at)
    return "expired" if expires is not None and expires <= at else "active"


def out(row: Suppression, at: datetime) -> SuppressionOut:
    result = SuppressionOut.model_validate(row)
    result.state = state_of(row, at)
    return result


class SuppressionBook:
    """The suppressions of a site: made by the desk's reject (in its transaction), matched by its ``on_event``,
    listed, lifted and given a new expiry by admins (audited in the same transaction as the change)."""

    def __init__(self, db: Database, *, reasons: list[str], days: float | None) -> None:
        self.db = db
        self.reasons = reasons  # the reject reasons that may remember the place
        self.days = days  # default lifetime; None: until lifted

    # -- inside the desk's unit of work ------------------------------------------------------------
    def create(self, s: Session, case: Case, reason: str, user: str, at: datetime) -> Suppression:
        if reason not in self.reasons:
            raise Unprocessable(f"reason '{reason}' cannot suppress the place; one of: {', '.join(self.reasons)}")
        if case.source != "ai" or not case.place:
            raise Unprocessable("only a case the analytics raised at a place can suppress it")
        row = Suppression(case_id=case.id, camera_id=case.camera_id, zone_id=case.zone_id, family=case.family,
                          code=case.code, place=case.place, place_box=list(case.place_box), reason=reason,
                          created_by=user, created_at=at, hits=0,
                          expires_at=at + timedelta(days=self.days) if self.days is not None else None)
        s.add(row)
        s.flush()
        return row

    def match(self, s: Session, camera: str, zone: str, family: str, place: str,
              box: list[float] | tuple[float, ...], at: datetime) -> Suppression | None:
        """The oldest active suppression covering that place, or None."""
        rows = s.scalars(select(Suppression).where(  # the expiry in Python: SQLite compares times as text
            Suppression.camera_id == camera, Suppression.zone_id == zone, Suppression.family == family,
            Suppression.lifted_at.is_(None)).order_by(Suppression.id))
        return next((r for r in rows if state_of(r, at) == "active"
                     and same_place(place, box, r.place, r.place_box)), None)

    def hit(self, s: Session, change: EventChange, at: datetime) -> Suppression | None:
        """Count an ``opened`` change on the suppression that covers it; None if none does (raise the case)."""
        row = self.match(s, change.camera_id, change.zone_id, change.family, change.place, change.place_box, at)
        if row is not None and row.last_event_id != change.event_id:  # an event's opened comes again with its clip
            row.hits += 1
            row.last_hit_at, row.last_event_id = at, change.event_id
            log.info("candidate %s at %s/%s place %s suppressed by suppression %d (%d so far)", change.event_id,
                     change.camera_id, change.zone_id, change.place, row.id, row.hits)
        return row

    def for_case(self, s: Session, case: Case, at: datetime) -> list[SuppressionOut]:
        """Made from this case, or (active) covering its place: what the desk's detail shows."""
        rows = s.scalars(select(Suppression).where(
            Suppression.camera_id == case.camera_id, Suppression.zone_id == case.zone_id,
            Suppression.family == case.family).order_by(Suppression.id))
        return [out(r, at) for r in rows if r.case_id == case.id or (
            state_of(r, at) == "active" and same_place(case.place, case.place_box, r.place, r.place_box))]

    # -- admins --------------------------------------------------------------------------------------
    def list(self, state: State, at: datetime, camera: str | None = None) -> list[SuppressionOut]:
        with self.db.session() as s:
            query = select(Suppression).order_by(Suppression.id.desc())
            if camera is not None:
                query = query.where(Suppression.camera_id == camera)
            rows = [out(r, at) for r in s.scalars(query)]
        return [r for r in rows if state == "all" or r.state == state]

    def lift(self, suppression_id: int, user: str, address: str | None, at: datetime) -> SuppressionOut:
        with self.db.session() as s:
            row = self._get(s, suppression_id)
            if row.lifted_at is not None:
                raise Conflict(f"suppression {suppression_id} was lifted already")
            row.lifted_by, row.lifted_at = user, at
            audit.record(s, user=user, action="suppression.lift", target=f"suppression:{row.id}", success=True,
                         address=address, detail={"case": row.case_id, "camera": row.camera_id, "hits": row.hits})
            return out(row, at)

    def set_expiry(self, suppression_id: int, expires_at: datetime | None, user: str, address: str | None,
                   at: datetime) -> SuppressionOut:
        """A new end (a time in the past expires it now; None keeps it until lifted)."""
        with self.db.session() as s:
            row = self._get(s, suppression_id)
            if row.lifted_at is not None:
                raise Conflict(f"suppression {suppression_id} was lifted; make a new one from a case")
            before = _utc(row.expires_at)
            row.expires_at = expires_at
            audit.record(s, user=user, action="suppression.expiry", target=f"suppression:{row.id}", success=True,
                         address=address, detail={"before": before.isoformat() if before else None,
                                                  "after": expires_at.isoformat() if expires_at else None})
            return out(row, at)

    @staticmethod
    def _get(s: Session, suppression_id: int) -> Suppression:
        row = s.get(Suppression, suppression_id)
        if row is None:
            raise NotFound("suppression not found")
        return row
