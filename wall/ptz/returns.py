"""When a PTZ camera goes back to its analysis preset — kept in the one database, so it happens once across
control-plane replicas.

An operator may steer a camera through one replica and then another (their page reconnected elsewhere); each
replica used to keep its own timer, so the first one's sent the camera back under the operator's hands on the
second, and a replica that stopped took its pending return with it. Now every command writes the camera's
``due`` time (``ptz_returns``, wall-clock seconds: the one clock the replicas share), and each replica's ticker
*claims* the rows that are due — ``FOR UPDATE SKIP LOCKED``, deleted in the claiming transaction — so exactly one
replica sends each camera back, after the last command wherever it came from, and any replica does it when the
commanding one is gone. A camera the claimer failed to send back is written again with a short due, for anyone
to try. A row never has more than its length (``seconds``) left: one read after the system clock was stepped
back cuts it to that (written back), so a camera is not kept away for the size of the step (a step forward
returns it early). Blocking: call from a worker thread.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wall.store.db import Database
from wall.store.ptz import PtzReturn


def _due(row: PtzReturn, now: float) -> float:
    if row.due > now + row.seconds:
        row.due = now + row.seconds
    return row.due


class ReturnBook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def away(self, camera_id: str, now: float, seconds: float, *, create: bool = True) -> None:
        """The camera was commanded at ``now`` (or its return failed): send it back ``seconds`` later.
        ``create=False``: only if it is away already (a stop of a camera at its preset starts no return)."""
        try:
            self._away(camera_id, now, seconds, create)
        except IntegrityError:  # two replicas' first commands raced to insert the row: the loser updates it
            self._away(camera_id, now, seconds, create)

    def _away(self, camera_id: str, now: float, seconds: float, create: bool) -> None:
        with self.db.session() as unit:
            row = unit.scalars(select(PtzReturn).where(PtzReturn.camera_id == camera_id).with_for_update()).first()
            if row is None:
                if create:
                    unit.add(PtzReturn(camera_id=camera_id, due=now + seconds, seconds=seconds))
            else:
                row.due, row.seconds = now + seconds, seconds

    def back(self, camera_id: str) -> None:
        """The camera is at its analysis preset (sent there by hand): nothing to return."""
        with self.db.session() as unit:
            row = unit.get(PtzReturn, camera_id)
            if row is not None:
                unit.delete(row)

    def pending(self, now: float) -> dict[str, float]:
        """Every camera off its preset, with when it goes back."""
        with self.db.session() as unit:
            return {row.camera_id: _due(row, now) for row in unit.scalars(select(PtzReturn))}

    def claim(self, now: float) -> list[str]:
        """The cameras due at ``now`` that this replica is to send back: each claimed by one replica only (the
        rows another one is claiming are skipped, and gone once it commits)."""
        with self.db.session() as unit:
            rows = unit.scalars(select(PtzReturn).order_by(PtzReturn.camera_id)
                                .with_for_update(skip_locked=True)).all()
            due = [row for row in rows if _due(row, now) <= now]
            for row in due:
                unit.delete(row)
            return [row.camera_id for row in due]
