"""Wall state across control-plane replicas: every wall row committed on one is taken by the others.

Each replica's ``WallService`` keeps the walls in memory (its readers, its renders and its ticker never wait for
the database) and writes each change to PostgreSQL. In cluster mode several replicas serve one hall, so a push
from a seat on one must show on the hall wall whose displays are connected to another. This relay hooks the wall
service's writer: every wall row it writes (a state saved, a wall deleted) and every controller change sends
``NOTIFY citywall_walls`` (replica, wall, what) in the same transaction, so PostgreSQL delivers it when it commits,
in commit order. Every replica's listener (the sender's too) then reads that wall's committed state and, if it
differs from its own, takes it and pushes it to its displays, rendered per user as always
(``WallCore.adopt``): each replica ends with the state committed last.

Tours step and alarms time out on one replica only, the holder of the namespace's ``walls`` advisory lock
(``wall.cluster.leader``, the supervisor's lock with another key): two tickers would each step the same tour.
The others take its steps like any change. When the holder stops, another replica holds the lock within about
a second. Users' changes and case alarms are made where they happen. Two replicas changing one wall within the
same moment both keep their change: the later writer finds the row changed under its row lock and makes its
change again on the committed state (``wall.walls.records.WallStep``), so the last commit holds both.
A replica whose listener was down reads every wall again when it listens again. Nothing here imports Ray.
"""

from __future__ import annotations

import logging
import uuid

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from wall.cluster.leader import LeaderLock
from wall.cluster.listen import PgListener, conninfo, notify
from wall.store.db import Database
from wall.walls.records import Told
from wall.walls.service import WallService

log = logging.getLogger(__name__)
CHANNEL = "citywall_walls"
KEEPER_WAIT = 10.0  # start waits this long for the first try for the walls' lock


class WallTold(BaseModel):
    """The payload of one ``NOTIFY``: which wall changed, and what of it (well under PostgreSQL's 8000 bytes)."""

    origin: str
    wall: str
    what: Told


class WallRelay:
    def __init__(self, db: Database, walls: WallService, namespace: str) -> None:
        if db.engine.dialect.name != "postgresql":
            raise ValueError("the wall relay needs PostgreSQL (LISTEN/NOTIFY)")
        self.walls = walls
        self.origin = uuid.uuid4().hex[:12]
        self.adopted = 0  # walls taken from the database after a notification (own ones included)
        self.listener = PgListener(conninfo(db.engine.url), CHANNEL, self._told, on_connected=self._catch_up)
        self.keeper = LeaderLock(conninfo(db.engine.url), namespace, purpose="walls")
        walls.relay_through(self.announce)
        walls.ticking = lambda: self.keeper.leading

    @property
    def keeping(self) -> bool:
        """Whether this replica steps the tours and times out the alarms now."""
        return self.keeper.leading

    def start(self) -> None:
        """Before the wall service starts: its seeding is told too, and its first ticks know who ticks."""
        self.listener.start()
        self.keeper.start()
        self.keeper.wait_decided(KEEPER_WAIT)

    def stop(self) -> None:
        self.keeper.stop()
        self.listener.stop()

    def wait_listening(self, timeout: float) -> bool:
        return self.listener.wait_listening(timeout)

    def announce(self, session: Session, wall: str, what: Told) -> None:
        """Called by the wall service's writer inside the transaction of the change."""
        notify(session, CHANNEL, WallTold(origin=self.origin, wall=wall, what=what).model_dump_json())

    def _told(self, payload: str) -> None:
        try:
            told = WallTold.model_validate_json(payload)
        except ValidationError:
            log.warning("a wall notification that is not one of ours on %s: ignored", CHANNEL)
            return
        if told.what == "controllers":
            if told.origin != self.origin:
                self.walls.controllers_changed(told.wall)
            return
        self.walls.adopt(told.wall, own=told.origin == self.origin)
        self.adopted += 1

    def _catch_up(self) -> None:
        """Listening (again): what was missed meanwhile is in the database — every wall, and the controllers."""
        self.walls.controllers.load()
        for name in sorted({name for name, _ in self.walls.records.stored()} | set(self.walls.walls)):
            self.walls.adopt(name, own=False)
