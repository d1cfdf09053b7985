"""The walls' side of the database: what the wall service reads before it takes the wall lock, and what it
writes after each change — the wall's state, a preset, the audit row — on one writer thread, in the order the
changes were made.

In cluster mode the other control-plane replicas must learn of every wall row written (they keep the walls in
memory too): ``announce``, set by ``wall.cluster.walls``, is called in the same transaction for each wall row
written, so they are told when it commits, in commit order. On one box it stays None.

The service never runs SQL under its lock (a slow database must not stall the ticker, the readers or the other
walls); it builds :data:`Write` steps under the lock, hands them to :meth:`WallRecords.submit` in lock order and
waits for them outside it. All steps of one change commit in one transaction, so an audit row commits with the
change it records or not at all.

A change of a wall's state is a :class:`WallStep`: the state it was made on (the replica's memory), what it made,
and how to make it again. Several replicas each hold the walls in memory, so two of them may change one wall at
once (two operators, two tiles): the writer reads the wall's row ``FOR UPDATE`` and writes the step as made only
when the committed state is still the one it was made on; otherwise it *remakes* it — the wall's transitions are
pure (:mod:`wall.walls.machine`) — on the committed state, inside the same transaction, so both changes stay
(the other replica's and this one). The UPDATE is also a compare-and-set on ``walls.version`` (SQLite has no row
locks: a write in between fails it, and the writer runs the change's transaction again).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from wall.auth import audit
from wall.auth.principal import Principal
from wall.store import walls as store
from wall.store.db import Database
from wall.walls import tours
from wall.walls.machine import Resolved
from wall.walls.state import SYSTEM, Alarm, Arrangement, Tour, TourSource, WallState
from wall.walls.views import PresetSummary

log = logging.getLogger(__name__)
Write = Callable[[Session], None]
Told = Literal["state", "controllers"]  # what changed of a wall, for the other replicas
Announce = Callable[[Session, str, Told], None]  # (the transaction, the wall's stored name, what changed)
ATTEMPTS = 20  # a change's transaction is run again when another writer got in between (see WallRecords._write)
BACKOFF_SECONDS = 0.01  # up to this × the attempt, at random, before the next: two losers do not meet again


@dataclass(frozen=True)
class Made:
    """What one change makes of one wall: its state after it (None: there is no such wall), whether that is
    written (False: the row stays as committed) and the change's other rows (its audit, a preset)."""

    state: WallState | None
    save: bool
    writes: tuple[Write, ...] = ()


Remake = Callable[[dict[str, Any] | None], Made]  # the change again, on the state committed now (None: no wall)


@dataclass
class WallStep:
    """One change of one wall, made on ``base`` (its state document; None: the wall did not exist). Written as
    ``made`` when the committed state is still ``base``, else ``remake`` makes it again on the committed one (in
    the transaction, the row locked); ``after`` is what was written."""

    wall: str
    base: dict[str, Any] | None
    made: Made
    remake: Remake
    after: Made | None = None
    remade: bool = False


@dataclass(frozen=True)
class WallDelete:
    """The wall's row, its presets and controllers deleted (an admin deleted a shared wall)."""

    wall: str


Step = Write | WallStep | WallDelete  # what one change writes, in order


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
        self.remade = 0  # changes committed as remade on another writer's state (the writer thread counts)

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
    def submit(self, writes: Sequence[Step]) -> Future[None]:
        """Queue one change's steps; they commit together, after every change submitted before."""
        return self._writer.submit(self._write, writes)

    def _write(self, writes: Sequence[Step]) -> None:
        """One change's transaction. Run again (a few times) when another writer got in between the read of a
        wall and its write — SQLite's compare-and-set failing, or two replicas making one new wall (a seat at
        its first use) at once — so the second run reads what the other committed and remakes on it."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.db.session() as s:
                    self._apply(s, writes)
                self.remade += sum(1 for w in writes if isinstance(w, WallStep) and w.remade)
                return
            except (StaleDataError, IntegrityError) as exc:
                if attempt == ATTEMPTS or not any(isinstance(w, WallStep) for w in writes):
                    raise
                log.info("walls: another writer changed a wall meanwhile (%s); the change is made again",
                         type(exc).__name__)
                time.sleep(random.uniform(0, BACKOFF_SECONDS * attempt))

    def _apply(self, s: Session, writes: Sequence[Step]) -> None:
        rows = store.lock_walls(s, {w.wall for w in writes if isinstance(w, (WallStep, WallDelete))})
        told: list[str] = []
        for write in writes:
            if isinstance(write, WallDelete):
                store.delete_wall(s, write.wall)
                rows.pop(write.wall, None)
                told.append(write.wall)
                continue
            if not isinstance(write, WallStep):
                write(s)
                continue
            row = rows.get(write.wall)
            stored = row.state if row is not None else None
            write.remade = stored != write.base
            made = write.remake(stored) if write.remade else write.made
            if made.save and made.state is not None:
                document = made.state.model_dump(mode="json")
                rows[write.wall] = store.save_wall(s, row, write.wall, document, made.state.updated_by,
                                                   made.state.version)
                told.append(write.wall)
            for other in made.writes:
                other(s)
            write.after = made
        if self.announce is not None:
            for wall in dict.fromkeys(told):
                self.announce(s, wall, "state")


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


def wall_deleting(wall: str) -> WallDelete:
    return WallDelete(wall)
