"""Tables of the platform link (issue 13): the platform's service accounts, its requests (for idempotency) and
the video checks (视频核查) that watch places, so that a check outlives a restart of the service.

Created by migration ``0008_platform``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.accounts import UTCDateTime
from wall.store.db import Base

CHECK_STATES = ("watching", "done", "superseded")


class ServiceAccount(Base):
    """A machine caller of the platform API (the city's case platform): a name, the SHA-256 of its bearer token
    (the token itself is shown once, by ``citywall platform token``) and what it may call."""

    __tablename__ = "service_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlatformRequest(Base):
    """A platform call that succeeded, kept by the platform's own request id: the same id again gets the same
    answer and changes nothing (the platform retries after a timeout without knowing whether we acted)."""

    __tablename__ = "platform_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(100), unique=True)
    account: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the call (action, target, body)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class VideoCheck(Base):
    """One video check: the place watched (a case's, or a box on any camera), until when, and its verdict.

    ``watching`` rows are armed again in the camera runtime at every start; a verdict is written once (a
    conditional update from ``watching``) with its outbox message in the same transaction."""

    __tablename__ = "video_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # dispatched | reopened | handled | verify
    request_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)  # CHECK_STATES
    verdict: Mapped[str | None] = mapped_column(String(32))
    zone_id: Mapped[str] = mapped_column(String(64), default="")
    box: Mapped[list[float] | None] = mapped_column(JSON)
    clear_after: Mapped[float] = mapped_column()
    within: Mapped[float] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    before_picture: Mapped[str | None] = mapped_column(String(80))  # evidence file names
    after_picture: Mapped[str | None] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
