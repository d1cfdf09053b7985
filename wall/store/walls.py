"""Tables of the shared walls: each wall's current state (one JSON document, rewritten on every change so a
restart brings the hall back exactly as it was), the named presets (预案) saved for it and who controls it
(users, roles, camera-group holders: from server.yaml or set by admins); and the reads and
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
    # The state's own version (migration 0019): every UPDATE is a compare-and-set on it (the ORM's version
    # counter, set by the wall service), so a write made on a state another replica replaced meanwhile fails
    # instead of overwriting it, whatever the database's locks (wall.walls.records).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012 (SQLAlchemy's)


class WallPreset(Base):
    __tablename__ = "wall_presets"
    __table_args__ = (UniqueConstraint("wall", "name", name="uq_wall_presets"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wall: Mapped[str] = mapped_column(String(80), index=True)
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)  # layout, tiles, pinned, alarm tile, tour settings
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WallController(Base):
    """One controller of a shared wall: ``subject_kind`` user | role | group. ``source`` config rows follow
    server.yaml (rewritten at every start); admin rows are the console's."""

    __tablename__ = "wall_controllers"
    __table_args__ = (UniqueConstraint("wall", "subject_kind", "subject", name="uq_wall_controllers"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wall: Mapped[str] = mapped_column(String(80), index=True)
    subject_kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(8))  # config | admin
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def wall_states(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """Every stored wall's name and state document, as last saved."""
    return [(row.name, row.state) for row in session.scalars(select(WallRow))]


def wall_state(session: Session, name: str) -> dict[str, Any] | None:
    row = session.get(WallRow, name)
    return row.state if row is not None else None


def lock_walls(session: Session, names: set[str]) -> dict[str, WallRow]:
    """These walls' rows (those that exist), locked until the transaction ends: ``FOR UPDATE`` on PostgreSQL,
    taken in name order so that two replicas' transactions over several walls never deadlock (SQLite ignores
    it: it has one writer at a time, and the version check catches a write in between)."""
    if not names:
        return {}
    rows = session.scalars(select(WallRow).where(WallRow.name.in_(sorted(names))).order_by(WallRow.name)
                           .with_for_update().execution_options(populate_existing=True))
    return {row.name: row for row in rows}


def save_wall(session: Session, row: WallRow | None, name: str, state: dict[str, Any], updated_by: str,
              version: int) -> WallRow:
    """Write a wall's state at ``version`` over ``row`` as read in this transaction (None: a new wall). The
    UPDATE is ``WHERE version = <read>`` (StaleDataError when another writer got in between), the INSERT of a
    new wall fails on its primary key when another made it first (IntegrityError): the caller retries."""
    if row is None:
        row = WallRow(name=name, state=state, updated_by=updated_by, version=version)
        session.add(row)
    else:
        row.state, row.updated_by, row.version = state, updated_by, version
    session.flush()
    return row


def delete_wall(session: Session, name: str) -> None:
    """The wall and its presets."""
    row = session.get(WallRow, name)
    if row is not None:
        session.delete(row)
    for preset in session.scalars(select(WallPreset).where(WallPreset.wall == name)):
        session.delete(preset)
    for controller in session.scalars(select(WallController).where(WallController.wall == name)):
        session.delete(controller)


def controllers(session: Session) -> list[WallController]:
    """Every wall's controllers, in a stable order (wall, kind, name)."""
    return list(session.scalars(select(WallController).order_by(
        WallController.wall, WallController.subject_kind, WallController.subject)))


def set_controllers(session: Session, wall: str, source: str, wanted: set[tuple[str, str]], by: str) -> bool:
    """Make ``wall``'s controllers of ``source`` exactly ``wanted`` ((kind, name) pairs); whether anything
    changed. A pair the other source already holds stays with it, except that the file takes over an admin's row
    it names (as it does with groups)."""
    changed = False
    rows = {(r.subject_kind, r.subject): r for r in session.scalars(
        select(WallController).where(WallController.wall == wall))}
    for key, row in rows.items():
        if row.source == source and key not in wanted:
            session.delete(row)
            changed = True
        elif row.source != source and key in wanted and source == "config":
            row.source, row.created_by = source, by
            changed = True
    for kind, name in sorted(wanted - set(rows)):
        session.add(WallController(wall=wall, subject_kind=kind, subject=name, source=source, created_by=by))
        changed = True
    return changed


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
