"""The controllers of the shared walls as the wall service keeps them: in memory for every decision and every
pushed view (the pages' ``may_control``), in the ``wall_controllers`` table for restarts.

Two sources, like camera groups: server.yaml's ``walls: - controllers:`` follow the file (rewritten at every
start, so a hall's default teams need no console work), and admins add their own through the API. Who holds a
controller *group* (the users and roles a camera group is granted to) is read from the grants each time it is
needed, before the wall lock, so a revoked grant takes a controller's rights away at the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import cast

from sqlalchemy import select

from wall.auth import audit
from wall.auth.grants import SYSTEM
from wall.auth.principal import Principal
from wall.errors import NotFound
from wall.hall_settings import ControllerKind, WallSpec
from wall.store import walls as store
from wall.store.accounts import CameraGroup, Grant, User
from wall.store.db import Database
from wall.walls.machine import SEAT_PREFIX
from wall.walls.records import Announce
from wall.walls.rights import Controller, WallRights, parse_all
from wall.walls.views import ControllerView, WallControllersView


class WallControllers:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: dict[str, list[ControllerView]] = {}
        self._controllers: dict[str, frozenset[Controller]] = {}
        self._lock = threading.Lock()  # the admins' changes, one at a time; readers take a snapshot
        self.announce: Announce | None = None  # cluster mode: the other replicas load them again

    def start(self, specs: Iterable[WallSpec]) -> None:
        """Make the file's controllers of every configured wall what the file says now (audited when they change),
        drop those of walls the file no longer names, and load them all."""
        specs = list(specs)
        with self.db.session() as s:
            named = {spec.name for spec in specs}
            stale = {r.wall for r in store.controllers(s) if r.source == "config" and r.wall not in named}
            wanted = {spec.name: parse_all(spec.controllers) for spec in specs} | {w: frozenset() for w in stale}
            for wall, controllers in sorted(wanted.items()):
                if store.set_controllers(s, wall, "config", {(c.kind, c.name) for c in controllers}, SYSTEM):
                    audit.record(s, user=SYSTEM, action="wall.controllers.seed", target=f"wall:{wall}", success=True,
                                 address=None, detail={"controllers": sorted(map(str, controllers))})
        self.load()

    def of(self, wall: str) -> WallControllersView:
        return WallControllersView(wall=wall, controllers=list(self._rows.get(wall, [])))

    def holders(self, wall: str) -> dict[str, frozenset[str]]:
        """Who holds each controller group of ``wall`` now (``alice``, ``role:operator``), from the grants: read
        before the wall lock, handed to :meth:`rights`."""
        groups = sorted(c.name for c in self._controllers.get(wall, ()) if c.kind == "group")
        if not groups:
            return {}
        found: dict[str, set[str]] = {g: set() for g in groups}
        with self.db.session() as s:
            for kind, subject, group in s.execute(select(Grant.subject_kind, Grant.subject, Grant.target).where(
                    Grant.target_kind == "group", Grant.target.in_(groups))):
                found[group].add(f"role:{subject}" if kind == "role" else subject)
        return {g: frozenset(h) for g, h in found.items()}

    def rights(self, wall: str, holders: Mapping[str, frozenset[str]]) -> WallRights:
        """The rights of the wall stored as ``wall`` ("hall", or "@alice" for alice's seat), with the controllers
        it has now and the group holders read before."""
        if wall.startswith(SEAT_PREFIX):
            return WallRights(owner=wall.removeprefix(SEAT_PREFIX))
        return WallRights(controllers=self._controllers.get(wall, frozenset()), holders=holders)

    def check(self, texts: Iterable[str]) -> frozenset[Controller]:
        """Controllers as written, each user and group existing (:class:`NotFound` otherwise)."""
        controllers = parse_all(texts)
        with self.db.session() as s:
            for c in sorted(controllers):
                if c.kind == "user" and s.scalar(select(User.id).where(User.name == c.name)) is None:
                    raise NotFound(f"no user '{c.name}'")
                if c.kind == "group" and s.scalar(select(CameraGroup.id).where(CameraGroup.name == c.name)) is None:
                    raise NotFound(f"no group '{c.name}'")
        return controllers

    def set(self, wall: str, texts: Iterable[str], principal: Principal) -> WallControllersView:
        """Make the admins' controllers of ``wall`` exactly ``texts`` (the file's stay); users and groups must
        exist. Audited with what was added and removed."""
        controllers = self.check(texts)
        with self._lock, self.db.session() as s:
            before = {row.subject for row in self._rows.get(wall, []) if row.source == "admin"}
            store.set_controllers(s, wall, "admin", {(c.kind, c.name) for c in controllers}, principal.name)
            after = set(map(str, controllers))
            audit.record(s, user=principal.name, action="wall.controllers", target=f"wall:{wall}", success=True,
                         address=principal.address,
                         detail={"added": sorted(after - before), "removed": sorted(before - after)})
            if self.announce is not None:
                self.announce(s, wall, "controllers")
        self.load()
        return self.of(wall)

    def forget(self, wall: str) -> None:
        """A deleted wall's controllers (its rows go with the wall: :func:`wall.store.walls.delete_wall`)."""
        with self._lock:
            self._rows.pop(wall, None)
            self._controllers.pop(wall, None)

    def load(self) -> None:
        """Every wall's controllers as stored (at start, after a change, and when another replica changed them)."""
        rows: dict[str, list[ControllerView]] = {}
        controllers: dict[str, set[Controller]] = {}
        with self.db.session() as s:
            for r in store.controllers(s):
                c = Controller(cast(ControllerKind, r.subject_kind), r.subject)  # only the kinds we wrote
                controllers.setdefault(r.wall, set()).add(c)
                rows.setdefault(r.wall, []).append(ControllerView(
                    subject=str(c), source=r.source, created_by=r.created_by, created_at=r.created_at.isoformat()))
        self._rows, self._controllers = rows, {wall: frozenset(cs) for wall, cs in controllers.items()}
