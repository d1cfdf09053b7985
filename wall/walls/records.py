"""The walls' side of the database: what the wall service reads before it takes the wall lock, and what it
writes after each change — the wall's state, a preset, the audit row — on one writer thread, in the order the
changes were made.

In cluster mode the other control-plane replicas must learn of every wall row written (they keep the walls in
memory too): ``announce``, set by ``wall.cluster.walls``, is called in the same transaction for each
:class:`WallWrite`, so they are told when it commits, in commit order. On one box it stays None.

The service never runs SQL under its lock (a slow database must not stall the ticker, the readers or the other
walls); it builds :data:`Write` steps under the lock, hands them to :meth:`WallRecords.submit` in lock order and
waits for them outside it. All steps of one change commit in one transaction, so an audit row commits with the
change it records or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from wall.auth import audit
from wall.auth.principal import Principal
from wall.store import walls as store
from wall.store.db import Database
from wall.walls import tours
from wall.walls.machine import Resolved
from wall.walls.state import SYSTEM, Alarm, Arrangement, Tour, TourSource, WallState
from wall.walls.views import PresetSummary

Write = Callable[[Session], None]
Told = Literal["state", "controllers"]  # what changed of a wall, for the other replicas
Announce = Callable[[Session, str, Told], None]  # (the transaction, the wall's stored name, what changed)


@dataclass(frozen=True)
class WallWrite:
    """A write of a wall's own row: its state saved (``state``) or the wall deleted (None)."""

    wall: str
    state: dict[str, Any] | None
    by: str = SYSTEM

    def __call__(self, session: Session) -> None:
        if self.state is None:
            store.delete_wall(session, self.wall)
        else:
            store.save_wall(session, self.wall, self.state, self.by)


@dataclass(frozen=True)
class Change:
    """Who changed a wall, for the audit row written with the new state."""

    principal: Principal
    action: str
    detail: dict[str, Any] | None = None


class WallRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="walls-db")  # one: writes in order
        self.announce: Announce | None = None  # cluster mode: the other replicas are told (wall.cluster.walls)

    # -- reads (before the lock) -----------------------------------------------------------------------------
    def stored(self) -> list[tuple[str, dict[str, Any]]]:
        with self.db.session() as s:
            return store.wall_states(s)

    def stored_one(self, name: str) -> dict[str, Any] | None:
        """One wall's state as last committed (None: no such wall), for a replica told it changed."""
        with self.db.session() as s:
            return store.wall_state(s, name)

    def presets(self, wall: str) -> list[PresetSummary]:
        with self.db.session() as s:
            return [PresetSummary(name=p.name, layout=p.state.get("layout"), created_by=p.created_by,
                                  created_at=p.created_at.isoformat()) for p in store.presets_of(s, wall)]

    def preset(self, wall: str, name: str) -> Arrangement | None:
        with self.db.session() as s:
            row = store.find_preset(s, wall, name)
            return Arrangement.model_validate(row.state) if row is not None else None

    def group_cameras(self, group: str, cameras: Sequence[str]) -> list[str]:
        with self.db.session() as s:
            return tours.group_cameras(s, group, cameras)

    def resolve(self, of: Iterable[Tour | None], cameras: Sequence[str]) -> Resolved:
        """The cameras of these tours' sources now (group members, starters' grants)."""
        sources = [TourSource.of(tour) for tour in of if tour is not None]
        if not sources:
            return {}
        with self.db.session() as s:
            return tours.resolve(s, sources, cameras)

    # -- writes (after the lock) -----------------------------------------------------------------------------
    def submit(self, writes: list[Write]) -> Future[None]:
        """Queue one change's steps; they commit together, after every change submitted before."""
        return self._writer.submit(self._write, writes)

    def _write(self, writes: list[Write]) -> None:
        with self.db.session() as s:
            for write in writes:
                write(s)
            if self.announce is not None:
                for wall in dict.fromkeys(w.wall for w in writes if isinstance(w, WallWrite)):
                    self.announce(s, wall, "state")


def saving(state: WallState) -> Write:
    return WallWrite(state.name, state.model_dump(mode="json"), state.updated_by)


def audited(change: Change, state: WallState) -> Write:
    p, target = change.principal, f"wall:{state.name}"
    return lambda s: audit.record(s, user=p.name, action=change.action, target=target, success=True,
                                  address=p.address, detail=change.detail)


def refused(change: Change, state: WallState, reason: str) -> Write:
    """A change the wall's rights refused (:mod:`wall.walls.rights`), audited like the changes it would have been."""
    p, target = change.principal, f"wall:{state.name}"
    detail = (change.detail or {}) | {"refused": reason}
    return lambda s: audit.record(s, user=p.name, action=change.action, target=target, success=False,
                                  address=p.address, detail=detail)


def alarm_shown(state: WallState, alarm: Alarm) -> Write:
    """The one system change that is audited: an alarm put on show as its case was raised."""
    detail = {"case": alarm.case_id, "camera": alarm.camera}
    return lambda s: audit.record(s, user=SYSTEM, action="wall.alarm.show", target=f"wall:{state.name}",
                                  success=True, address=None, detail=detail)


def preset_saving(wall: str, name: str, arrangement: Arrangement, by: str) -> Write:
    data = arrangement.model_dump(mode="json")
    return lambda s: store.put_preset(s, wall, name, data, by)


def preset_deleting(wall: str, name: str) -> Write:
    return lambda s: store.delete_preset(s, wall, name)


def wall_deleting(wall: str) -> Write:
    return WallWrite(wall, None)
