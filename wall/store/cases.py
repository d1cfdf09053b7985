"""Tables of the case loop: cases, their append-only history, evidence files, the outbox and labelled examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wall.store.db import Base

OPEN_STATES = ("pending_review", "confirmed", "dispatched")
SOURCES = ("ai", "patrol")  # found by the analytics | filed by an operator from video (视频巡查)
STATES = ("pending_review", "confirmed", "dispatched", "cleared_on_video", "still_present", "closed", "rejected")


class Case(Base):
    __tablename__ = "cases"
    # the statistics' filter: a raise-time range, and camera_id IN (the user's cameras) read from the index
    __table_args__ = (Index("ix_cases_raised_camera", "raised_at", "camera_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # the vision event that raised it
    status: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(32), default="ai", index=True)  # "ai" | "patrol" (SOURCES)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_name: Mapped[str] = mapped_column(String(120))
    national_id: Mapped[str | None] = mapped_column(String(20))
    zone_id: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(32))
    place_box: Mapped[list[float]] = mapped_column(JSON)
    code: Mapped[str] = mapped_column(String(8), index=True)
    code_name: Mapped[str] = mapped_column(String(64))
    catalogue_version: Mapped[str] = mapped_column(String(64))
    grid_code: Mapped[str | None] = mapped_column(String(20))
    street: Mapped[str | None] = mapped_column(String(120))
    community: Mapped[str | None] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(240))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text, default="")
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(String(64))
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    department: Mapped[str | None] = mapped_column(String(120))
    platform_ref: Mapped[str | None] = mapped_column(String(120))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the department must have handled it (处置时限), set at dispatch: the platform's deadline, else the code's
    # limit from then (wall/time_limits.py; migration 0009; indexed by 0014 for the desk's overdue filter)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The first "cleared_on_video" in the history, for the statistics. Written by the database (a trigger on
    # case_events, migration 0007) when that history row is inserted, never by the ORM: read it from a fresh query.
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    events: Mapped[list[CaseEvent]] = relationship(order_by="CaseEvent.id", viewonly=True)
    evidence: Mapped[list[Evidence]] = relationship(order_by="Evidence.id", viewonly=True)


class CaseEvent(Base):
    """Append-only: who did what to a case, when, with the state before and after (UPDATE/DELETE refused)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(32))
    after: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "sha256", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # snapshot | clip | after_snapshot
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(80))  # file name under the evidence directory
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A message on its way to the city's case platform (a confirmed case, a video check's result, a close);
    survives restarts, retried with backoff. ``case_id`` is None for a check of a camera without a case."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="case_confirmed")  # wall.platform.models.MessageKind
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Label(Base):
    """An operator's decision kept as a training example: the picture, the boxes, confirmed or rejected, why, and
    what the operator said of the object (wall/cases/labelling.py; migration 0016)."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(8))
    image: Mapped[str | None] = mapped_column(String(80))  # evidence file name
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    place_box: Mapped[list[float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(String(64))
    # a rejection's kind: absent (误报/无目标), allowed (允许/合规), wrong_class (类别错误); None: not said
    kind: Mapped[str | None] = mapped_column(String(16))
    # labelling.LabelObject dumps: the object's class, a corrected box, drawn boxes (0–1 of the clean frame)
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Suppression(Base):
    """误报抑制: an operator's "don't raise here again" from a rejection (allowed here, not an event). A later
    candidate at the same camera, zone, family and place is counted here instead of raising a case, until an
    admin lifts it or it expires (wall/cases/suppressions.py; migration 0010)."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_where", "camera_id", "zone_id", "family"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)  # the rejected case it came from
    camera_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(8))
    place: Mapped[str] = mapped_column(String(32))  # the place key (cell) of vision/places.py
    place_box: Mapped[list[float]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: until lifted
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(Integer, default=0)  # candidates it kept from raising a case
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_id: Mapped[str | None] = mapped_column(String(64))
