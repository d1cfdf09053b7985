"""The PTZ lease: one operator steers a camera at a time — across every control-plane replica.

Two operators pulling one camera in two directions would leave it where neither wants it, so a camera's control
is leased: the first command of an operator takes the camera when nobody holds it, every command renews the
lease, and it lapses ``lease_seconds`` after the last one (an operator who walked away frees the camera by
themselves). While someone holds it, another operator's command is refused and says who holds it and until
when; an admin may take over (the holder's next command is then refused).

The leases live in the one database (``wall.store.ptz``), not in a process: with several control-plane replicas
an operator on one and another on the next would otherwise each hold "the" lease. A take reads the camera's row
``FOR UPDATE`` (PostgreSQL: a second replica's take waits for the first to commit, then sees its holder) and a
process-wide lock orders the takes of one process (SQLite, which has no row locks). The rules themselves
(``decide``) are pure over an injected time, so they are tested without waiting; the service passes wall-clock
seconds, the one clock replicas share. A lease never has more than its length left: one read after the system
clock was stepped back shortens it to that (written back), so it lapses on time; a step forward only ends it
early (its holder's next command takes it again when nobody else did). Blocking: call from a worker thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wall.errors import Conflict, Forbidden
from wall.store.db import Database
from wall.store.ptz import PtzLease


@dataclass(frozen=True)
class Lease:
    camera_id: str
    holder: str
    since: float  # seconds (the service's clock)
    until: float


def decide(held: Lease | None, camera_id: str, user: str, now: float, seconds: float, *, take_over: bool = False,
           may_take_over: bool = False) -> tuple[Lease, Lease | None]:
    """``user``'s lease after a take or renewal at ``now`` over the lease in force (``held``), and the one it
    displaced when that was someone else's (a take-over). Raises Conflict when another operator holds the camera,
    Forbidden for a take-over by someone who may not."""
    displaced = held if held is not None and held.holder != user else None
    if displaced is not None:
        if not take_over:
            raise Conflict(f"camera '{camera_id}' is controlled by {displaced.holder} for "
                           f"{max(1, round(displaced.until - now))} s more")
        if not may_take_over:
            raise Forbidden("only an admin may take over a camera someone else controls")
    since = held.since if held is not None and displaced is None else now
    return Lease(camera_id, user, since, now + seconds), displaced


def _lease(row: PtzLease | None, now: float) -> Lease | None:
    """The row as a lease in force at ``now``; a lapsed one counts as none. A row with more than its length
    left (the clock was stepped back) is cut to its length, in the row too (the caller's unit commits it)."""
    if row is None or row.until <= now:
        return None
    if row.until > now + row.seconds:
        row.until = now + row.seconds
    return Lease(row.camera_id, row.holder, row.since, row.until)


class LeaseBook:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()

    def current(self, camera_id: str, now: float) -> Lease | None:
        """The camera's lease in force at ``now``."""
        with self.db.session() as unit:
            return _lease(unit.get(PtzLease, camera_id), now)

    def held(self, now: float) -> dict[str, Lease]:
        """Every lease in force at ``now``, by camera (one query for the wall's list of PTZ cameras)."""
        with self.db.session() as unit:
            rows = unit.scalars(select(PtzLease).where(PtzLease.until > now)).all()
            return {row.camera_id: lease for row in rows if (lease := _lease(row, now)) is not None}

    def take(self, camera_id: str, user: str, now: float, seconds: float, *, take_over: bool = False,
             may_take_over: bool = False) -> tuple[Lease, Lease | None]:
        """Take or renew ``user``'s lease (``decide``), stored before it returns. Two first takes of a camera on
        two replicas race to insert its row: the loser reads the winner's row and decides again."""
        with self._lock:
            try:
                return self._take(camera_id, user, now, seconds, take_over, may_take_over)
            except IntegrityError:
                return self._take(camera_id, user, now, seconds, take_over, may_take_over)

    def _take(self, camera_id: str, user: str, now: float, seconds: float, take_over: bool,
              may_take_over: bool) -> tuple[Lease, Lease | None]:
        with self.db.session() as unit:
            row = unit.scalars(select(PtzLease).where(PtzLease.camera_id == camera_id).with_for_update()).first()
            lease, displaced = decide(_lease(row, now), camera_id, user, now, seconds, take_over=take_over,
                                      may_take_over=may_take_over)
            if row is None:
                unit.add(PtzLease(camera_id=camera_id, holder=lease.holder, since=lease.since, until=lease.until,
                                  seconds=seconds))
            else:
                row.holder, row.since, row.until, row.seconds = lease.holder, lease.since, lease.until, seconds
            return lease, displaced

    def release(self, camera_id: str, user: str, now: float) -> Lease | None:
        """End ``user``'s own lease; returns it (None when they held none, which is no error: a page lets go
        when it closes, and the lease may have lapsed already)."""
        with self._lock, self.db.session() as unit:
            row = unit.scalars(select(PtzLease).where(PtzLease.camera_id == camera_id).with_for_update()).first()
            held = _lease(row, now)
            if row is None or held is None or held.holder != user:
                return None
            unit.delete(row)
            return held
