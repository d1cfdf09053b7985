"""Tables of the shared walls: each wall's current state (one JSON document, rewritten on every change so a
restart brings the hall back exactly as it was) and the named presets (预案) saved for it; and the reads and
writes of them that :class:`wall.walls.service.WallService` makes (it hands over JSON documents, never its
models, so the store imports nothing above it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

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


def wall_states(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """Every stored wall's name and state document, as last saved."""
    return [(row.name, row.state) for row in session.scalars(select(WallRow))]


def save_wall(session: Session, name: str, state: dict[str, Any], updated_by: str) -> None:
    row = session.get(WallRow, name)
    if row is None:
        session.add(WallRow(name=name, state=state, updated_by=updated_by))
    else:
        row.state, row.updated_by = state, updated_by


def delete_wall(session: Session, name: str) -> None:
    """The wall and its presets."""
    row = session.get(WallRow, name)
    if row is not None:
        session.delete(row)
    for preset in session.scalars(select(WallPreset).where(WallPreset.wall == name)):
        session.delete(preset)


def find_preset(session: Session, wall: str, name: str) -> WallPreset | None:
    return session.scalar(select(WallPreset).where(WallPreset.wall == wall, WallPreset.name == name))


def presets_of(session: Session, wall: str) -> list[WallPreset]:
    return list(session.scalars(select(WallPreset).where(WallPreset.wall == wall).order_by(WallPreset.name)))


def put_preset(session: Session, wall: str, name: str, state: dict[str, Any], created_by: str) -> None:
    """Save a preset, replacing one of the same name (it becomes the saver's)."""
    row = find_preset(session, wall, name)
    if row is None:
        session.add(WallPreset(wall=wall, name=name, state=state, created_by=created_by))
    else:
        row.state, row.created_by = state, created_by


def delete_preset(session: Session, wall: str, name: str) -> None:
    row = find_preset(session, wall, name)
    if row is not None:
        session.delete(row)
