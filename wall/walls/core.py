"""How a wall changes, whoever changes it: the one lock, the rights check, the writes in lock order, the audit
row, the push — the part of :class:`wall.walls.service.WallService` that every change goes through.

No SQL runs under the wall lock: the rights' group holders are read before it (:meth:`WallCore._rights`), the
writes go to the writer thread and are waited for after it (:mod:`wall.walls.records`). A change the rights
refuse (:mod:`wall.walls.rights`) is answered 403 and audited as refused, in the order of the other changes.

Memory is this replica's view, not the judge: each change is made on it under the lock (so the answer is at
once) and handed to the writer as a :class:`wall.walls.records.WallStep` with a way to make it again. Where
another replica committed a change of the wall meanwhile, the writer remakes it on the committed state (two
operators' tiles both stay), and the step settles here: memory, the answer and the push take what was committed.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from settings.steady import steady_time
from wall.auth.principal import Principal
from wall.errors import Conflict, DomainError, Forbidden, NotFound
from wall.hall_settings import Layout, WallSpec
from wall.store.db import Database, unavailable
from wall.walls import records
from wall.walls.controllers import WallControllers
from wall.walls.machine import SEAT_PREFIX, Outcome, Resolved, WallMachine
from wall.walls.records import Announce, Change, Made, Remake, Step, WallRecords, WallStep, Write
from wall.walls.rights import WallRights, controls, decide
from wall.walls.state import Tour, WallState
from wall.walls.views import WallNotice, WallView, render

log = logging.getLogger(__name__)

Render = Callable[[Principal], WallNotice | None]
Publish = Callable[[Render], None]


class WallCore:
    def __init__(self, db: Database, layouts: dict[str, Layout], camera_ids: Iterable[str],
                 specs: Iterable[WallSpec] = (), publish: Publish | None = None,
                 clock: Callable[[], float] = steady_time, rng: random.Random | None = None) -> None:
        self.records = WallRecords(db)
        self.controllers = WallControllers(db)
        self.machine = WallMachine(layouts, tuple(camera_ids), rng or random.Random())
        self.specs = list(specs)
        self.publish = publish
        self.clock = clock
        self.walls: dict[str, WallState] = {}
        # Whether this process steps tours and times out alarms: on one box always; of several control-plane
        # replicas only one (wall.cluster.walls), the others take its changes as they take each other's.
        self.ticking: Callable[[], bool] = lambda: True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- names -----------------------------------------------------------------------------------------------
    @staticmethod
    def resolve(name: str, principal: Principal) -> str:
        """``@me`` is the principal's own seat; any other seat is someone else's and not found."""
        return SEAT_PREFIX + principal.name if name == "@me" else name

    # -- other replicas (cluster mode: wall.cluster.walls) ------------------------------------------------------
    def relay_through(self, announce: Announce) -> None:
        """Tell ``announce`` of every wall row and controller change, in the transaction that makes it."""
        self.records.announce = self.controllers.announce = announce

    def adopt(self, name: str, own: bool) -> None:
        """A replica committed a change of wall ``name`` (``own``: this one): take the state the database has now
        if it differs, and push it to this replica's displays. The database is the judge: notifications come in
        commit order, so each replica ends with the state committed last. An own change is older than what we
        hold when we made more since (those notifications follow); another's always wins, even at an equal
        version (our change at that version was not committed: the writer makes it again on theirs)."""
        data = self.records.stored_one(name)  # no SQL under the wall lock
        stored = None
        if data is not None:
            try:
                stored = self.machine.fit(WallState.model_validate(data))
            except ValueError:
                log.exception("wall %s: stored state unreadable; this replica keeps its own", name)
                return
        with self._lock:
            local = self.walls.get(name)
            if stored is None:
                if local is not None and not own:  # deleted on another replica
                    del self.walls[name]
                    self.controllers.forget(name)
                return
            if stored == local or (own and local is not None and stored.version < local.version):
                return
            self.walls[name] = stored
        self._push(stored)

    def controllers_changed(self, name: str) -> None:
        """Another replica changed the controllers of ``name``: load them all again, tell its displays."""
        self.controllers.load()
        with self._lock:
            state = self.walls.get(name)
        if state is not None:
            self._push(state)

    # -- internals -------------------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[list[Step]]:
        """Hold the wall lock for the body, which changes the walls in memory and lists what to write; the writes
        go to the writer (in lock order) and are waited for after the lock is released — also when the body
        failed, for what it changed before (a seat made on first use). Then the steps the writer had to remake
        (another replica changed the wall meanwhile) settle: memory takes what was committed. A change refused
        as remade (the alarm it acknowledges is gone) leaves the wall as committed, read again."""
        writes: list[Step] = []
        done: Future[None] | None = None
        try:
            with self._lock:
                try:
                    yield writes
                finally:
                    if writes:
                        done = self.records.submit(writes)
        finally:
            if done is not None:
                steps = [w for w in writes if isinstance(w, WallStep)]
                try:
                    done.result()
                except DomainError:
                    for name in dict.fromkeys(step.wall for step in steps):
                        self.adopt(name, own=False)
                    raise
                self._settle(steps)

    def _settle(self, steps: Sequence[WallStep]) -> None:
        """Memory takes a remade step's committed state, unless a later change or the relay replaced it already
        (that one's own step or notification settles it), and its displays are told."""
        for step in steps:
            if not step.remade or step.after is None:
                continue
            after = step.after.state
            with self._lock:
                if self.walls.get(step.wall) is not step.made.state:
                    continue
                if after is None:
                    self.walls.pop(step.wall, None)
                else:
                    self.walls[step.wall] = after
            if after is not None:
                self._push(after)

    def _committed(self, document: dict[str, Any] | None) -> WallState | None:
        return None if document is None else self.machine.fit(WallState.model_validate(document))

    def _step(self, base: WallState | None, made: Made, remake: Remake) -> WallStep:
        """The step of one change made on ``base`` under the lock; memory holds what it made from now on."""
        assert made.state is not None
        self.walls[made.state.name] = made.state
        return WallStep(made.state.name, base.model_dump(mode="json") if base is not None else None, made, remake)

    def _change(self, name: str, change: Change, transition: Callable[[WallState, float], Outcome],
                also: Callable[[WallState], Write] | None = None, tile: int | None = None) -> WallView:
        """A user's change: the transition on the wall they control (``tile``: the one it changes), saved and
        audited in one transaction (with ``also``'s write of the new state: a preset), then pushed. A transition
        that leaves the wall as it is (``changed=False``: saving a preset) saves and pushes nothing of it. Made
        on this replica's memory; the writer makes it again on the committed state if another replica changed
        the wall meanwhile (the answer and the push are then of that)."""
        principal = change.principal
        rights = self._rights(self.resolve(name, principal))

        def make(state: WallState) -> Made:
            now = self.clock()
            outcome = transition(state, now)
            new = self.machine.stamp(outcome.state, principal.name, now) if outcome.changed else state
            writes = ([also(new)] if also is not None else []) + [records.audited(change, new)]
            return Made(new, outcome.changed, tuple(writes))

        def remake(document: dict[str, Any] | None) -> Made:
            committed = self._committed(document)
            if committed is None:
                raise NotFound("wall not found")
            return make(committed)

        with self._locked() as writes:
            state = self._readable(name, principal, writes)
            shown = state.tiles[tile:tile + 1] if tile is not None else []
            self._allow(state, rights, change, writes, shown)
            step = self._step(state, make(state), remake)
            writes.append(step)
        after = step.after if step.after is not None else step.made
        new = after.state or state
        if after.save and not step.remade:  # a remade one was pushed as it settled
            self._push(new)
        return self._render(new, principal, rights)

    def _system_change(self, transition: Callable[[WallState, float], Outcome], only: Callable[[WallState], bool],
                       now: float | None = None) -> None:
        """The system's own change of every wall ``only`` picks: saved and pushed, not audited (but an alarm put on
        show is); one wall's failure leaves that wall as it was. Remade on the committed state of a wall another
        replica changed meanwhile, as users' changes are."""
        at = self.clock() if now is None else now

        def make(state: WallState) -> Made:
            outcome = transition(state, at)
            if not outcome.changed:
                return Made(state, False)
            new = self.machine.stamp(outcome.state, None, at)
            return Made(new, True, (records.alarm_shown(new, outcome.shown),) if outcome.shown is not None else ())

        def remake(document: dict[str, Any] | None) -> Made:
            committed = self._committed(document)
            if committed is None or not only(committed):
                return Made(committed, False)
            try:
                return make(committed)
            except Exception:
                log.exception("wall %s: a system change failed; the wall keeps its state", committed.name)
                return Made(committed, False)

        steps: list[WallStep] = []
        failed = False
        try:
            with self._locked() as writes:
                for name, state in list(self.walls.items()):
                    if not only(state):
                        continue
                    try:
                        made = make(state)
                    except Exception:
                        log.exception("wall %s: a system change failed; the wall keeps its state", name)
                        continue
                    if made.save:
                        steps.append(self._step(state, made, remake))
                writes += steps
        except Exception as exc:
            if not unavailable(exc):
                log.exception("walls: saving a system change failed; the walls show it until the next change")
            else:  # a database restart: one line; the next change of the wall is made on the committed state
                log.warning("walls: database unavailable (%s); a system change is shown, not saved",
                            type(exc).__name__)
            failed = True
        for step in steps:
            if (failed or not step.remade) and step.made.state is not None:  # a remade one was pushed as it settled
                self._push(step.made.state)

    def _seed(self, spec: WallSpec, resolved: Resolved, writes: list[Step], exists: str = "keep") -> WallState:
        """A configured wall made (or an admin's new one): a replica that finds it made by another meanwhile
        keeps that one (``exists="keep"``) or refuses (``"refuse"``: the admin's create)."""
        now = self.clock()
        state = self.machine.stamp(self.machine.seed(spec, now, resolved), None, now)
        writes.append(self._step(None, Made(state, True), self._made_meanwhile(spec.name, exists)))
        log.info("wall %s created from the configuration (layout %s)", spec.name, spec.layout)
        return state

    def _made_meanwhile(self, name: str, exists: str) -> Remake:
        def remake(document: dict[str, Any] | None) -> Made:
            if exists == "refuse":
                raise Conflict(f"wall '{name}' exists")
            return Made(self._committed(document), False)

        return remake

    def _rights(self, wall: str) -> WallRights:
        """The wall's rights with its group holders read now: never with the wall lock held. Controllers an
        admin adds after this read count from the next request (their groups were not read: held by nobody)."""
        return self.controllers.rights(wall, self.controllers.holders(wall))

    def _allow(self, state: WallState, rights: WallRights, change: Change, writes: list[Step],
               shown: Sequence[str | None] = ()) -> None:
        """Refuse (403, audited) a change of a wall ``change.principal`` does not control. Under the lock: the
        controllers are the wall's current ones, the group holders those read before."""
        decision = decide(self.controllers.rights(state.name, rights.holders), change.principal, shown)
        if not decision.allowed:
            writes.append(records.refused(change, state, decision.reason))
            raise Forbidden(decision.reason)

    def _shared(self, name: str) -> WallState:
        state = self.walls.get(name)
        if state is None or state.owner is not None:
            raise NotFound("wall not found")
        return state

    def _readable(self, name: str, principal: Principal, writes: list[Step]) -> WallState:
        key = self.resolve(name, principal)
        if key == SEAT_PREFIX + principal.name and key not in self.walls:  # a seat is made at its first use
            seat = self.machine.stamp(self.machine.seat(principal.name, principal.may_view), principal.name,
                                      self.clock())
            writes.append(self._step(None, Made(seat, True), self._made_meanwhile(key, "keep")))
        state = self.walls.get(key)
        if state is None or (state.owner is not None and state.owner != principal.name):
            raise NotFound("wall not found")
        return state

    def _resolve(self, of: Iterable[Tour | None]) -> Resolved:
        """The cameras of these tours from the database: never with the wall lock held."""
        return self.records.resolve(of, self.machine.cameras)

    def _render(self, state: WallState, principal: Principal, rights: WallRights) -> WallView:
        view = render(self.machine, state, principal, self.clock(), controls(rights, principal))
        assert view is not None  # _readable let only the owner at a seat
        return view

    def _push(self, state: WallState) -> None:
        """Publish the wall, rendered per user at send time with the rights read now (outside the lock)."""
        if self.publish is not None:
            machine, rights = self.machine, self._rights(state.name)

            def notice(principal: Principal) -> WallNotice | None:
                wall = render(machine, state, principal, self.clock(), controls(rights, principal))
                return WallNotice(wall=wall) if wall is not None else None

            self.publish(notice)

