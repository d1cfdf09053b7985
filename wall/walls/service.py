"""WallService: the one owner of every wall's state — it locks, saves, audits and publishes; the rules of the
wall are :class:`wall.walls.machine.WallMachine`'s pure transitions.

Why server-side: the hall's displays (``/wall/hall?kiosk=1``) and the operators' seat pages must show the same
wall, and a restart must bring the hall back as it was. Every change is made under one lock, written to the
database (with its audit row, in the same transaction) and then pushed to every display over ``/ws/wall``,
rendered per user (:mod:`wall.walls.views`).

No SQL runs under the wall lock: what a change needs from the database (a tour's group members and its
starter's grants, a preset) is read before the lock is taken, and the writes go, in the order the changes were
made, to one writer thread that the change then waits for outside the lock (:mod:`wall.walls.records`). So a
slow database never stalls the ticker, the readers or the other walls. Who may change a wall is
:mod:`wall.walls.rights`' decision (controllers in :mod:`wall.walls.controllers`); a refusal is audited too.

A thread ticks four times a second to step tours and time out alarms. Tour steps and alarm timeouts are the
system's own changes: they are saved and pushed but not audited (a 5 s tour would flood the log); alarms shown
and every user action are audited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from wall.auth.principal import Principal
from wall.cases.models import CaseNotice
from wall.errors import Conflict, NotFound, Unprocessable
from wall.hall_settings import WallSpec
from wall.walls import records
from wall.walls.core import WallCore
from wall.walls.machine import KEEP, Outcome
from wall.walls.records import Change, Write
from wall.walls.rights import controls
from wall.walls.state import Alarm, Tour, TourOrder, WallState
from wall.walls.views import PresetSummary, WallControllersView, WallSummary, WallView, summary

log = logging.getLogger(__name__)
TICK_SECONDS = 0.25


class WallService(WallCore):
    """The walls' changes: the users', the admins' (shared walls and their controllers), the case desk's and the
    ticker's; how each is made (lock, rights, save, audit, push) is :class:`wall.walls.core.WallCore`'s."""

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load every wall and the controllers (the file's as it says now), seed the configured walls that do not
        exist yet, and start ticking."""
        self.controllers.start(self.specs)
        loaded: dict[str, WallState] = {}
        for name, data in self.records.stored():
            try:
                state = WallState.model_validate(data)
            except ValueError:
                log.exception("wall %s: stored state unreadable; it starts afresh", name)
                continue
            if state.layout not in self.machine.layouts:
                log.warning("wall %s: layout %s no longer exists; using 2x2", name, state.layout)
            loaded[name] = self.machine.fit(state)
        missing = [spec for spec in self.specs if spec.name not in loaded]
        resolved = self._resolve(self.machine.seeded_tour(spec) for spec in missing)
        with self._locked() as writes:
            self.walls.update(loaded)
            for spec in missing:
                self._seed(spec, resolved, writes)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="walls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def cameras_changed(self, camera_ids: Sequence[str]) -> None:
        """The cameras that exist now (in configuration order): what tiles, tours and seats may show from here on.
        Walls keep what they show until it is changed (a restart drops cameras that are gone)."""
        with self._lock:
            self.machine = replace(self.machine, cameras=tuple(camera_ids))

    # -- reading ---------------------------------------------------------------------------------------------

    def list_for(self, principal: Principal) -> list[WallSummary]:
        with self._locked() as writes:
            self._readable("@me", principal, writes)  # the seat is made at first use
            shown = [w for w in self.walls.values() if w.owner in (None, principal.name)]
        return [summary(w, controls(self._rights(w.name), principal)) for w in shown]

    def view(self, name: str, principal: Principal) -> WallView:
        with self._locked() as writes:
            state = self._readable(name, principal, writes)
        state = self.walls.get(state.name, state)  # a seat made here first and by another replica settled
        return self._render(state, principal, self._rights(state.name))

    def presets(self, name: str, principal: Principal) -> list[PresetSummary]:
        """A wall's presets are its controllers' (issue 16): others do not even list them."""
        rights = self._rights(self.resolve(name, principal))
        with self._locked() as writes:
            state = self._readable(name, principal, writes)
            self._allow(state, rights, Change(principal, "wall.presets"), writes)
        return self.records.presets(state.name)

    # -- changes by users ------------------------------------------------------------------------------------
    def set_layout(self, name: str, principal: Principal, layout_name: str) -> WallView:
        self.machine.layout(layout_name)  # a missing layout is not found, whatever the wall
        return self._change(name, Change(principal, "wall.layout", {"layout": layout_name}),
                            lambda state, now: self.machine.set_layout(state, layout_name, now))

    def set_tile(self, name: str, principal: Principal, index: int, camera: str | None,
                 pinned: bool | None = None) -> WallView:
        if camera is not None:
            self.machine.check_camera(camera, principal.may_view)
        detail = {"tile": index, "camera": camera} | ({"pinned": pinned} if pinned is not None else {})
        return self._change(name, Change(principal, "wall.tile", detail),
                            lambda state, now: self.machine.set_tile(state, index, camera, pinned), tile=index)

    def set_options(self, name: str, principal: Principal, *, title: str | None = None, alarms: bool | None = None,
                    alarm_tile: int | None = KEEP, alarm_timeout: int | None = None) -> WallView:
        """``alarm_tile``: KEEP leaves it, None goes back to the layout's own alarm tile."""
        detail = {k: v for k, v in {"title": title, "alarms": alarms, "alarm_timeout": alarm_timeout}.items()
                  if v is not None} | ({"alarm_tile": alarm_tile} if alarm_tile != KEEP else {})

        def change(state: WallState, now: float) -> Outcome:
            return self.machine.set_options(state, now, title=title, alarms=alarms, alarm_tile=alarm_tile,
                                            alarm_timeout=alarm_timeout)

        return self._change(name, Change(principal, "wall.options", detail), change)

    def start_tour(self, name: str, principal: Principal, *, cameras: list[str], group: str | None,
                   interval: int, order: TourOrder) -> WallView:
        for camera in cameras:
            self.machine.check_camera(camera, principal.may_view)
        if group is not None:
            members = self.records.group_cameras(group, self.machine.cameras)
            if not any(principal.may_view(c) for c in members):
                raise NotFound(f"no group '{group[:64]}' with cameras you may view")
        if not cameras and group is None:
            raise Unprocessable("a tour needs cameras or a group")
        tour = Tour(cameras=cameras, group=group, interval=interval, order=order, started_by=principal.name)
        resolved = self._resolve([tour])
        detail = {"cameras": cameras, "group": group, "interval": interval, "order": order}
        return self._change(name, Change(principal, "wall.tour.start", detail),
                            lambda state, now: self.machine.start_tour(state, tour, now, resolved))

    def stop_tour(self, name: str, principal: Principal) -> WallView:
        return self._change(name, Change(principal, "wall.tour.stop"),
                            lambda state, now: self.machine.stop_tour(state))

    def pause_tour(self, name: str, principal: Principal, paused: bool) -> WallView:
        return self._change(name, Change(principal, "wall.tour.pause" if paused else "wall.tour.resume"),
                            lambda state, now: self.machine.pause_tour(state, paused, now))

    def acknowledge(self, name: str, principal: Principal) -> WallView:
        detail: dict[str, Any] = {}

        def acknowledge(state: WallState, now: float) -> Outcome:
            outcome = self.machine.acknowledge(state, principal.may_view, now)
            assert outcome.cleared is not None
            detail["case"] = outcome.cleared.case_id
            return outcome

        return self._change(name, Change(principal, "wall.alarm.ack", detail), acknowledge)

    def copy_from(self, name: str, principal: Principal, source: str) -> WallView:
        """Push a seat's arrangement to a shared wall in one change (坐席推大屏): layout and tiles."""
        with self._locked() as writes:
            origin = self._readable(source, principal, writes)
        detail = {"from": origin.name, "layout": origin.layout}
        return self._change(name, Change(principal, "wall.push", detail),
                            lambda state, now: self.machine.copy_from(state, origin, principal.may_view, now))

    # -- presets (预案) ---------------------------------------------------------------------------------------
    def save_preset(self, name: str, principal: Principal, preset: str) -> WallView:
        def put(state: WallState) -> Write:
            return records.preset_saving(state.name, preset, self.machine.arrangement(state), principal.name)

        return self._change(name, Change(principal, "wall.preset.save", {"preset": preset}),
                            lambda state, now: Outcome(state, changed=False), also=put)

    def recall_preset(self, name: str, principal: Principal, preset: str) -> WallView:
        saved = self.records.preset(self.resolve(name, principal), preset)
        tour = None
        if saved is not None and saved.tour is not None:
            tour = self.machine.recalled_tour(saved.tour, principal.may_view, principal.name)
        resolved = self._resolve([tour])

        def recall(state: WallState, now: float) -> Outcome:
            if saved is None:
                raise NotFound(f"no preset '{preset[:64]}'")
            return self.machine.recall(state, saved, principal.may_view, principal.name, now, resolved)

        return self._change(name, Change(principal, "wall.preset.recall", {"preset": preset}), recall)

    def delete_preset(self, name: str, principal: Principal, preset: str) -> WallView:
        found = self.records.preset(self.resolve(name, principal), preset) is not None

        def check(state: WallState, now: float) -> Outcome:
            if not found:
                raise NotFound(f"no preset '{preset[:64]}'")
            return Outcome(state, changed=False)

        return self._change(name, Change(principal, "wall.preset.delete", {"preset": preset}), check,
                            also=lambda state: records.preset_deleting(state.name, preset))

    # -- shared walls (admin) --------------------------------------------------------------------------------
    def create(self, principal: Principal, spec: WallSpec) -> WallView:
        """A shared wall made by an admin, with the controllers ``spec`` names (as the admins' own)."""
        self.machine.layout(spec.layout)
        for camera in spec.cameras:
            self.machine.check_camera(camera, principal.may_view)
        self.controllers.check(spec.controllers)
        with self._locked() as writes:
            if spec.name in self.walls:
                raise Conflict(f"wall '{spec.name}' exists")
            state = self._seed(spec.model_copy(update={"tour": None}), {}, writes, exists="refuse")
            writes.append(records.audited(Change(principal, "wall.create", {"layout": spec.layout}), state))
        if spec.controllers:
            self.controllers.set(spec.name, spec.controllers, principal)
        self._push(state)
        return self.view(spec.name, principal)

    def delete(self, principal: Principal, name: str) -> None:
        with self._locked() as writes:
            self._shared(name)
            state = self.walls.pop(name)
            writes += [records.wall_deleting(name), records.audited(Change(principal, "wall.delete"), state)]
        self.controllers.forget(name)

    def controllers_of(self, name: str) -> WallControllersView:
        with self._lock:
            self._shared(name)
        return self.controllers.of(name)

    def set_controllers(self, principal: Principal, name: str, controllers: list[str]) -> WallControllersView:
        """The admins' controllers of a shared wall (the file's stay); its displays learn their new rights."""
        with self._lock:
            state = self._shared(name)
        view = self.controllers.set(name, controllers, principal)
        self._push(state)
        return view

    # -- the case desk tells us ------------------------------------------------------------------------------
    def on_case(self, notice: CaseNotice) -> None:
        """The desk's listener: a raised case pops up on the walls, a decided one leaves them."""
        case = notice.case
        if notice.type == "case_raised":
            self.case_raised(Alarm(case_id=case.id, camera=case.camera, camera_name=case.camera_name,
                                   code=case.code, code_name=case.code_name, family=case.family))
        elif notice.type == "case_decided":
            self.case_decided(case.id)

    def case_raised(self, alarm: Alarm) -> None:
        """The case pops up on every wall that takes alarms (raised now)."""
        alarm = alarm.model_copy(update={"raised_at": self.clock()})

        def pop_up(state: WallState, now: float) -> Outcome:
            outcome = self.machine.raise_alarm(state, alarm, now)
            if outcome.dropped is not None:
                log.warning("wall %s: alarm queue full; case %s not queued", state.name, alarm.case_id)
            return outcome

        self._system_change(pop_up, only=lambda w: w.alarms)

    def case_decided(self, case_id: int) -> None:
        """A decided case leaves every wall (the operator acted), on show or queued."""
        self._system_change(lambda state, now: self.machine.dismiss(state, case_id, now),
                            only=lambda w: any(a.case_id == case_id for a in [w.alarm, *w.queue] if a))

    # -- the ticker ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                if self.ticking():
                    self.tick()
            except Exception:
                log.exception("wall tick failed")

    def tick(self) -> None:
        """Step due tours and time out alarms (public so tests can drive it with their own clock). The cameras of
        due tours are read before the lock: a step that ends a cycle starts the next with them."""
        now = self.clock()
        with self._lock:
            due = [state.tour for state in self.walls.values() if self.machine.tour_due(state, now)]
        resolved = self._resolve(due)

        def tick(state: WallState, _: float) -> Outcome:
            outcome = self.machine.tick(state, now, resolved)
            if outcome.cleared is not None:
                log.info("wall %s: alarm of case %s timed out", state.name, outcome.cleared.case_id)
            return outcome

        self._system_change(tick, only=lambda w: self.machine.due(w, now), now=now)
