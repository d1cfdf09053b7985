"""Tables of the shared walls: each wall's current state (one JSON document, rewritten on every change so a
restart brings the hall back exactly as it was) and the named presets (预案) saved for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.accounts import UTCDateTime, utcnow
from wall.store.db import Base


class WallRow(Base):
    __tablename__ = "walls"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # "hall", or "@alice" for a seat
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class WallPreset(Base):
    __tablename__ = "wall_presets"
    __table_args__ = (UniqueConstraint("wall", "name", name="uq_wall_presets"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wall: Mapped[str] = mapped_column(String(80), index=True)
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)  # layout, tiles, pinned, alarm tile, tour settings
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
