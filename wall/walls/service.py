"""WallService: the one owner of every wall's state — changes, tours, the alarm pop-up, presets.

Why server-side: the hall's displays (``/wall/hall?kiosk=1``) and the operators' seat pages must show the same
wall, and a restart must bring the hall back as it was. Every change goes through here under one lock, is
written to the database (with its audit row, in the same transaction) and then pushed to every display over
``/ws/wall``, rendered per user: a tile whose camera the user may not see is sent without its camera.

A thread ticks four times a second to step tours and time out alarms. Tour steps and alarm timeouts are the
system's own changes: they are saved and pushed but not audited (a 5 s tour would flood the log); alarms shown
and every user action are audited.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wall.access import NOT_FOUND, Principal
from wall.auth import audit, grants
from wall.auth.errors import AccessError
from wall.store.accounts import User
from wall.store.db import Database
from wall.store.walls import WallPreset, WallRow
from wall.walls.layouts import Layout
from wall.walls.state import ALARM_QUEUE_LIMIT, Alarm, Tour, WallSpec, WallState, preset_of

log = logging.getLogger(__name__)
TICK_SECONDS = 0.25
SEAT_PREFIX = "@"
CONTROL_ROLES = ("admin", "operator")
KEEP = -1  # set_options: leave the alarm tile as it is


class WallError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Change:
    """Who changed a wall, for the audit row written with the new state."""

    principal: Principal
    action: str
    detail: dict[str, Any] | None = None


Publish = Callable[[Callable[[Principal], dict[str, Any] | None]], None]


class WallService:
    def __init__(self, db: Database, layouts: dict[str, Layout], camera_ids: Iterable[str],
                 specs: Iterable[WallSpec] = (), publish: Publish | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.layouts = layouts
        self.camera_ids = list(camera_ids)
        self.specs = list(specs)
        self.publish = publish
        self.clock = clock
        self.walls: dict[str, WallState] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load every wall, seed the configured ones that do not exist yet, and start ticking."""
        with self._lock, self.db.session() as s:
            for row in s.scalars(select(WallRow)):
                try:
                    self.walls[row.name] = self._fit(WallState.model_validate(row.state))
                except ValueError:
                    log.exception("wall %s: stored state unreadable; it starts afresh", row.name)
            for spec in self.specs:
                if spec.name not in self.walls:
                    self._seed(s, spec)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="walls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _seed(self, s: Session, spec: WallSpec) -> None:
        layout = self.layouts.get(spec.layout)
        if layout is None:
            raise WallError(400, f"wall {spec.name}: no layout '{spec.layout}'")
        cameras = [c for c in spec.cameras if c in self.camera_ids][: layout.tile_count]
        state = WallState(name=spec.name, title=spec.title or spec.name, layout=spec.layout,
                          tiles=cameras + [None] * (layout.tile_count - len(cameras)), alarms=spec.alarms,
                          alarm_tile=spec.alarm_tile if spec.alarm_tile is not None
                          and spec.alarm_tile < layout.tile_count else None, alarm_timeout=spec.alarm_timeout)
        if spec.tour is not None:
            state.tour = Tour(cameras=[c for c in spec.tour.cameras if c in self.camera_ids], group=spec.tour.group,
                              interval=spec.tour.interval, order=spec.tour.order, started_by="system")
            self._begin_tour(s, state, None)
        self._save(s, state, None)
        log.info("wall %s created from the configuration (layout %s)", spec.name, spec.layout)

    # -- reading ---------------------------------------------------------------------------------------------
    def resolve(self, name: str, principal: Principal) -> str:
        """``@me`` is the principal's own seat; any other seat is someone else's and not found."""
        if name == "@me":
            return SEAT_PREFIX + principal.name
        return name

    def list_for(self, principal: Principal) -> list[dict[str, Any]]:
        seat = SEAT_PREFIX + principal.name
        with self._lock:
            if seat not in self.walls:
                self._create_seat(principal)
            return [{"name": "@me" if w.owner else w.name, "title": w.title, "layout": w.layout,
                     "seat": w.owner is not None, "may_control": self._may_control(w, principal)}
                    for w in self.walls.values() if w.owner in (None, principal.name)]

    def view(self, name: str, principal: Principal) -> dict[str, Any]:
        with self._lock:
            state = self._readable(name, principal)
            rendered = self.render(state, principal)
            assert rendered is not None
            return rendered

    def render(self, state: WallState, principal: Principal) -> dict[str, Any] | None:
        """The wall as ``principal`` may see it; None if it is another user's seat."""
        if state.owner is not None and state.owner != principal.name:
            return None
        layout = self.layouts[state.layout]
        alarm_tile = self._alarm_tile(state)
        shown = state.alarm if state.alarm and principal.may_view(state.alarm.camera) else None
        tiles = []
        for i, camera in enumerate(state.tiles):
            visible = camera is not None and principal.may_view(camera)
            tiles.append({"index": i, "camera": camera if visible else None,
                          "forbidden": camera is not None and not visible, "pinned": i in state.pinned,
                          "alarm": shown is not None and shown.tile == i})
        tour = None
        if state.tour is not None:
            t = state.tour
            tour = {"cameras": [c for c in t.cameras if principal.may_view(c)], "group": t.group,
                    "interval": t.interval, "order": t.order, "paused": t.paused, "next_at": t.next_at,
                    "remaining": t.remaining, "started_by": t.started_by, "tiles": self._tour_tiles(state),
                    "next_cameras": [c for c in self._peek(state) if principal.may_view(c)]}
        return {
            "name": "@me" if state.owner else state.name, "title": state.title, "seat": state.owner is not None,
            "layout": layout.model_dump(), "tiles": tiles, "alarm_tile": alarm_tile, "alarms": state.alarms,
            "alarm_timeout": state.alarm_timeout, "tour": tour,
            "alarm": shown.model_dump(exclude={"previous"}) if shown else None,
            "queued": sum(1 for a in state.queue if principal.may_view(a.camera)),
            "version": state.version, "updated_at": state.updated_at, "updated_by": state.updated_by,
            "may_control": self._may_control(state, principal), "now": self.clock(),
        }

    # -- changes by users ------------------------------------------------------------------------------------
    def set_layout(self, name: str, principal: Principal, layout_name: str) -> dict[str, Any]:
        layout = self.layouts.get(layout_name)
        if layout is None:
            raise WallError(404, f"no layout '{layout_name[:40]}'")

        def change(s: Session, state: WallState) -> None:
            alarm = state.alarm
            if alarm is not None:
                self._revert_alarm(state)
            n = layout.tile_count
            state.layout = layout.name
            state.tiles = (state.tiles + [None] * n)[:n]
            state.pinned = [i for i in state.pinned if i < n]
            if state.alarm_tile is not None and state.alarm_tile >= n:
                state.alarm_tile = None
            if alarm is not None:
                self._show_alarm(state, alarm)

        return self._change(name, Change(principal, "wall.layout", {"layout": layout.name}), change)

    def set_tile(self, name: str, principal: Principal, index: int, camera: str | None,
                 pinned: bool | None = None) -> dict[str, Any]:
        if camera is not None:
            self._check_camera(principal, camera)

        def change(s: Session, state: WallState) -> None:
            if index >= len(state.tiles):
                raise WallError(404, f"no tile {index} in layout {state.layout}")
            if state.alarm is not None and state.alarm.tile == index:
                state.alarm.previous = camera  # the alarm keeps the tile; this is what it reverts to
            else:
                state.tiles[index] = camera
            if pinned is not None:
                state.pinned = sorted(set(state.pinned) - {index} | ({index} if pinned else set()))

        detail = {"tile": index, "camera": camera} | ({"pinned": pinned} if pinned is not None else {})
        return self._change(name, Change(principal, "wall.tile", detail), change)

    def set_options(self, name: str, principal: Principal, *, title: str | None = None, alarms: bool | None = None,
                    alarm_tile: int | None = KEEP, alarm_timeout: int | None = None) -> dict[str, Any]:
        """``alarm_tile``: KEEP leaves it, None goes back to the layout's own alarm tile."""

        def change(s: Session, state: WallState) -> None:
            if title is not None:
                state.title = title
            if alarms is not None:
                state.alarms = alarms
            if alarm_timeout is not None:
                state.alarm_timeout = alarm_timeout
            if alarm_tile != KEEP:
                if alarm_tile is not None and alarm_tile >= len(state.tiles):
                    raise WallError(404, f"no tile {alarm_tile} in layout {state.layout}")
                alarm = state.alarm
                if alarm is not None:
                    self._revert_alarm(state)
                state.alarm_tile = alarm_tile
                if alarm is not None:
                    self._show_alarm(state, alarm)

        detail = {k: v for k, v in {"title": title, "alarms": alarms, "alarm_timeout": alarm_timeout}.items()
                  if v is not None} | ({"alarm_tile": alarm_tile} if alarm_tile != KEEP else {})
        return self._change(name, Change(principal, "wall.options", detail), change)

    def start_tour(self, name: str, principal: Principal, *, cameras: list[str], group: str | None,
                   interval: int, order: str) -> dict[str, Any]:
        for camera in cameras:
            self._check_camera(principal, camera)
        if group is not None:
            with self.db.session() as s:
                members = self._group_members(s, group)
            if not any(principal.may_view(c) for c in members):
                raise WallError(404, f"no group '{group[:64]}' with cameras you may view")
        if not cameras and group is None:
            raise WallError(422, "a tour needs cameras or a group")

        def change(s: Session, state: WallState) -> None:
            state.tour = Tour(cameras=cameras, group=group, interval=interval, order=order,  # type: ignore[arg-type]
                              started_by=principal.name)
            self._begin_tour(s, state, principal)
            if not state.tour.sequence:
                raise WallError(422, "the tour has no camera you may view")

        detail = {"cameras": cameras, "group": group, "interval": interval, "order": order}
        return self._change(name, Change(principal, "wall.tour.start", detail), change)

    def stop_tour(self, name: str, principal: Principal) -> dict[str, Any]:
        def change(s: Session, state: WallState) -> None:
            if state.tour is None:
                raise WallError(409, "no tour is running")
            state.tour = None

        return self._change(name, Change(principal, "wall.tour.stop"), change)

    def pause_tour(self, name: str, principal: Principal, paused: bool) -> dict[str, Any]:
        def change(s: Session, state: WallState) -> None:
            tour = state.tour
            if tour is None:
                raise WallError(409, "no tour is running")
            if paused and not tour.paused:
                tour.paused, tour.remaining = True, max(0.0, tour.next_at - self.clock())
            elif not paused and tour.paused:
                tour.paused = False
                tour.next_at = self.clock() + (tour.remaining if tour.remaining is not None else tour.interval)
                tour.remaining = None

        return self._change(name, Change(principal, "wall.tour.pause" if paused else "wall.tour.resume"), change)

    def acknowledge(self, name: str, principal: Principal) -> dict[str, Any]:
        detail: dict[str, Any] = {}

        def change(s: Session, state: WallState) -> None:
            if state.alarm is None or not principal.may_view(state.alarm.camera):
                raise WallError(409, "no alarm is on show")
            detail["case"] = state.alarm.case_id
            self._revert_alarm(state)
            self._next_alarm(state)

        return self._change(name, Change(principal, "wall.alarm.ack", detail), change)

    def copy_from(self, name: str, principal: Principal, source: str) -> dict[str, Any]:
        """Push a seat's arrangement to a shared wall in one change (坐席推大屏): layout and tiles."""
        with self._lock:
            origin = self._readable(source, principal).model_copy(deep=True)

        def change(s: Session, state: WallState) -> None:
            alarm = state.alarm
            if alarm is not None:
                self._revert_alarm(state)
            state.layout = origin.layout
            state.tiles = [c if c is not None and principal.may_view(c) else None for c in origin.tiles]
            state.tour = None  # what the operator pushed stays: a running tour would step over it
            state.pinned = [i for i in state.pinned if i < len(state.tiles)]
            if state.alarm_tile is not None and state.alarm_tile >= len(state.tiles):
                state.alarm_tile = None
            if alarm is not None:
                self._show_alarm(state, alarm)

        detail = {"from": origin.name, "layout": origin.layout}
        return self._change(name, Change(principal, "wall.push", detail), change)

    # -- presets (预案) ---------------------------------------------------------------------------------------
    def presets(self, name: str, principal: Principal) -> list[dict[str, Any]]:
        with self._lock:
            state = self._readable(name, principal)
        with self.db.session() as s:
            rows = s.scalars(select(WallPreset).where(WallPreset.wall == state.name).order_by(WallPreset.name))
            return [{"name": p.name, "layout": p.state.get("layout"), "created_by": p.created_by,
                     "created_at": p.created_at.isoformat()} for p in rows]

    def save_preset(self, name: str, principal: Principal, preset: str) -> dict[str, Any]:
        def change(s: Session, state: WallState) -> None:
            row = s.scalar(select(WallPreset).where(WallPreset.wall == state.name, WallPreset.name == preset))
            snapshot = preset_of(state)
            if state.alarm is not None and state.alarm.tile is not None:
                snapshot["tiles"] = list(state.tiles)
                snapshot["tiles"][state.alarm.tile] = state.alarm.previous  # not the alarm's camera
            if row is None:
                s.add(WallPreset(wall=state.name, name=preset, state=snapshot, created_by=principal.name))
            else:
                row.state, row.created_by = snapshot, principal.name

        return self._change(name, Change(principal, "wall.preset.save", {"preset": preset}), change, bump=False)

    def recall_preset(self, name: str, principal: Principal, preset: str) -> dict[str, Any]:
        def change(s: Session, state: WallState) -> None:
            row = s.scalar(select(WallPreset).where(WallPreset.wall == state.name, WallPreset.name == preset))
            if row is None:
                raise WallError(404, f"no preset '{preset[:64]}'")
            saved = row.state
            layout = self.layouts.get(saved.get("layout", ""))
            if layout is None:
                raise WallError(409, f"the preset's layout '{saved.get('layout')}' no longer exists")
            alarm = state.alarm
            if alarm is not None:
                self._revert_alarm(state)
            n = layout.tile_count
            tiles = [c if c in self.camera_ids and principal.may_view(c) else None for c in saved.get("tiles", [])]
            state.layout, state.tiles = layout.name, (tiles + [None] * n)[:n]
            state.pinned = [i for i in saved.get("pinned", []) if isinstance(i, int) and 0 <= i < n]
            alarm_tile = saved.get("alarm_tile")
            state.alarm_tile = alarm_tile if isinstance(alarm_tile, int) and 0 <= alarm_tile < n else None
            tour = saved.get("tour")
            state.tour = None
            if tour:
                state.tour = Tour(cameras=[c for c in tour.get("cameras", []) if principal.may_view(c)],
                                  group=tour.get("group"), interval=tour.get("interval", 30),
                                  order=tour.get("order", "sequential"), started_by=principal.name)
                self._begin_tour(s, state, principal)
            if alarm is not None:
                self._show_alarm(state, alarm)

        return self._change(name, Change(principal, "wall.preset.recall", {"preset": preset}), change)

    def delete_preset(self, name: str, principal: Principal, preset: str) -> dict[str, Any]:
        def change(s: Session, state: WallState) -> None:
            row = s.scalar(select(WallPreset).where(WallPreset.wall == state.name, WallPreset.name == preset))
            if row is None:
                raise WallError(404, f"no preset '{preset[:64]}'")
            s.delete(row)

        return self._change(name, Change(principal, "wall.preset.delete", {"preset": preset}), change, bump=False)

    # -- shared walls (admin) --------------------------------------------------------------------------------
    def create(self, principal: Principal, spec: WallSpec) -> dict[str, Any]:
        if spec.layout not in self.layouts:
            raise WallError(404, f"no layout '{spec.layout[:40]}'")
        for camera in spec.cameras:
            self._check_camera(principal, camera)
        with self._lock, self.db.session() as s:
            if spec.name in self.walls:
                raise WallError(409, f"wall '{spec.name}' exists")
            self._seed(s, spec.model_copy(update={"tour": None}))
            state = self.walls[spec.name]
            self._audit(s, Change(principal, "wall.create", {"layout": spec.layout}), state)
        self._push(state)
        return self.view(spec.name, principal)

    def delete(self, principal: Principal, name: str) -> None:
        with self._lock, self.db.session() as s:
            state = self.walls.get(name)
            if state is None or state.owner is not None:
                raise WallError(404, "wall not found")
            s.delete(s.get(WallRow, name))
            for preset in s.scalars(select(WallPreset).where(WallPreset.wall == name)):
                s.delete(preset)
            self._audit(s, Change(principal, "wall.delete"), state)
            del self.walls[name]

    # -- the case desk tells us ------------------------------------------------------------------------------
    def on_case(self, message: dict[str, Any]) -> None:
        """A raised case pops up on every wall that takes alarms; a decided one leaves them (the operator acted)."""
        case = message.get("case") or {}
        kind = message.get("type")
        if kind == "case_raised":
            alarm = Alarm(case_id=case["id"], camera=case["camera"], camera_name=case.get("camera_name") or "",
                          code=case.get("code") or "", code_name=case.get("code_name") or "",
                          family=case.get("family") or "", raised_at=self.clock())
            self._system_change(lambda s, state: self._enqueue(s, state, alarm), only=lambda w: w.alarms)
        elif kind == "case_decided":
            self._system_change(lambda s, state: self._dismiss(state, case["id"]),
                                only=lambda w: any(a.case_id == case["id"] for a in [w.alarm, *w.queue] if a))

    # -- internals -------------------------------------------------------------------------------------------
    def _change(self, name: str, change: Change, apply: Callable[[Session, WallState], None],
                bump: bool = True) -> dict[str, Any]:
        principal = change.principal
        with self._lock:
            state = self._readable(name, principal)
            if not self._may_control(state, principal):
                raise WallError(403, "you may watch this wall but not change it")
            draft = state.model_copy(deep=True)
            with self.db.session() as s:
                apply(s, draft)
                if bump:
                    self._save(s, draft, principal.name)
                self._audit(s, change, draft)
            self.walls[draft.name] = draft
            rendered = self.render(draft, principal)
        if bump:
            self._push(draft)
        assert rendered is not None
        return rendered

    def _system_change(self, apply: Callable[[Session, WallState], bool], only: Callable[[WallState], bool]) -> None:
        changed: list[WallState] = []
        with self._lock:
            for name, state in list(self.walls.items()):
                if not only(state):
                    continue
                draft = state.model_copy(deep=True)
                try:
                    with self.db.session() as s:
                        if apply(s, draft):
                            self._save(s, draft, None)
                            changed.append(draft)
                            self.walls[name] = draft
                except Exception:
                    log.exception("wall %s: a system change failed; the wall keeps its state", name)
        for state in changed:
            self._push(state)

    def _save(self, s: Session, state: WallState, by: str | None) -> None:
        state.version += 1
        state.updated_at = self.clock()
        state.updated_by = by or "system"
        row = s.get(WallRow, state.name)
        data = state.model_dump(mode="json")
        if row is None:
            s.add(WallRow(name=state.name, state=data, updated_by=state.updated_by))
        else:
            row.state, row.updated_by = data, state.updated_by
        self.walls[state.name] = state

    def _audit(self, s: Session, change: Change, state: WallState) -> None:
        p = change.principal
        target = f"wall:{state.name}"
        audit.record(s, user=p.name, action=change.action, target=target, success=True, address=p.address,
                     detail=change.detail)

    def _push(self, state: WallState) -> None:
        if self.publish is not None:
            frozen = state.model_copy(deep=True)

            def message(principal: Principal) -> dict[str, Any] | None:
                wall = self.render(frozen, principal)
                return {"type": "wall", "wall": wall} if wall is not None else None

            self.publish(message)

    def _readable(self, name: str, principal: Principal) -> WallState:
        key = self.resolve(name, principal)
        if key == SEAT_PREFIX + principal.name and key not in self.walls:
            self._create_seat(principal)
        state = self.walls.get(key)
        if state is None or (state.owner is not None and state.owner != principal.name):
            raise WallError(404, "wall not found")
        return state

    def _may_control(self, state: WallState, principal: Principal) -> bool:
        if state.owner is not None:
            return state.owner == principal.name
        return principal.role in CONTROL_ROLES

    def _create_seat(self, principal: Principal) -> None:
        layout = self.layouts.get("2x2") or next(iter(self.layouts.values()))
        mine = [c for c in self.camera_ids if principal.may_view(c)][: layout.tile_count]
        state = WallState(name=SEAT_PREFIX + principal.name, title=principal.name, owner=principal.name,
                          layout=layout.name, tiles=mine + [None] * (layout.tile_count - len(mine)), alarms=False)
        with self.db.session() as s:
            self._save(s, state, principal.name)

    def _fit(self, state: WallState) -> WallState:
        """A stored wall whose layout a site has since removed falls back to 2x2; tiles follow the layout."""
        if state.layout not in self.layouts:
            log.warning("wall %s: layout %s no longer exists; using 2x2", state.name, state.layout)
            state.layout = "2x2" if "2x2" in self.layouts else next(iter(self.layouts))
        n = self.layouts[state.layout].tile_count
        state.tiles = [c if c in self.camera_ids else None for c in (state.tiles + [None] * n)[:n]]
        state.pinned = [i for i in state.pinned if i < n]
        return state

    def _check_camera(self, principal: Principal, camera: str) -> None:
        if camera not in self.camera_ids or not principal.may_view(camera):
            raise WallError(404, NOT_FOUND)

    def _alarm_tile(self, state: WallState) -> int:
        if state.alarm_tile is not None and state.alarm_tile < len(state.tiles):
            return state.alarm_tile
        layout_tile = self.layouts[state.layout].alarm_tile
        return layout_tile if layout_tile is not None else 0

    # tours
    def _group_members(self, s: Session, group: str) -> list[str]:
        try:
            return [c for c in grants.group_members(s, grants.find_group(s, group)) if c in self.camera_ids]
        except AccessError:
            return []

    def _tour_cameras(self, s: Session, state: WallState) -> list[str]:
        """The tour's cameras now: its list or its group's members, limited to what its starter may still see."""
        tour = state.tour
        assert tour is not None
        cameras = list(tour.cameras) if tour.cameras else self._group_members(s, tour.group or "")
        cameras = [c for c in dict.fromkeys(cameras) if c in self.camera_ids]
        starter = s.scalar(select(User).where(User.name == tour.started_by)) if tour.started_by != "system" else None
        if starter is not None:
            allowed = grants.visible_cameras(s, starter, self.camera_ids)
            cameras = [c for c in cameras if c in allowed]
        if tour.order == "random":
            self._random.shuffle(cameras)
        return cameras

    def _tour_tiles(self, state: WallState) -> list[int]:
        alarm_tile = state.alarm.tile if state.alarm is not None else None
        return [i for i in range(len(state.tiles)) if i not in state.pinned and i != alarm_tile]

    def _begin_tour(self, s: Session, state: WallState, principal: Principal | None) -> None:
        tour = state.tour
        assert tour is not None
        tour.sequence, tour.position = self._tour_cameras(s, state), 0
        self._step(s, state)

    def _peek(self, state: WallState) -> list[str]:
        """The cameras the next step will show, so displays can connect them before it comes."""
        tour = state.tour
        if tour is None or not tour.sequence:
            return []
        count = min(len(self._tour_tiles(state)), len(tour.sequence))
        return [tour.sequence[(tour.position + k) % len(tour.sequence)] for k in range(count)]

    def _step(self, s: Session, state: WallState) -> None:
        """Show the next cameras on the tour's tiles and set the next step's time (also when there is nothing to
        show yet: the list is resolved again for the next step)."""
        tour = state.tour
        assert tour is not None
        tour.next_at = self.clock() + tour.interval
        slots = self._tour_tiles(state)
        if not tour.sequence or not slots:
            tour.sequence, tour.position = self._tour_cameras(s, state), 0
            return
        shown = self._peek(state)
        for slot, camera in zip(slots, shown, strict=False):
            state.tiles[slot] = camera
        tour.position += len(shown)
        if tour.position >= len(tour.sequence):  # cycle done: the next one is resolved now (group changes,
            tour.sequence, tour.position = self._tour_cameras(s, state), 0  # grants, shuffle) so peek works

    # alarms
    def _enqueue(self, s: Session, state: WallState, alarm: Alarm) -> bool:
        if state.alarm is None:
            self._show_alarm(state, alarm.model_copy())
            audit.record(s, user="system", action="wall.alarm.show", target=f"wall:{state.name}", success=True,
                         address=None, detail={"case": alarm.case_id, "camera": alarm.camera})
        elif len(state.queue) < ALARM_QUEUE_LIMIT:
            state.queue.append(alarm.model_copy())
        else:
            log.warning("wall %s: alarm queue full; case %s not queued", state.name, alarm.case_id)
            return False
        return True

    def _show_alarm(self, state: WallState, alarm: Alarm) -> None:
        """Show ``alarm`` on the alarm tile; one shown before (moved by a layout change) keeps its deadline."""
        tile = self._alarm_tile(state)
        alarm.tile, alarm.previous = tile, state.tiles[tile]
        if alarm.shown_at is None or alarm.until is None:
            alarm.shown_at = self.clock()
            alarm.until = self.clock() + state.alarm_timeout
        state.tiles[tile] = alarm.camera
        state.alarm = alarm

    def _revert_alarm(self, state: WallState) -> None:
        alarm = state.alarm
        if alarm is None:
            return
        if alarm.tile is not None and alarm.tile < len(state.tiles):
            state.tiles[alarm.tile] = alarm.previous
        state.alarm = None

    def _next_alarm(self, state: WallState) -> None:
        if state.queue:
            self._show_alarm(state, state.queue.pop(0))

    def _dismiss(self, state: WallState, case_id: int) -> bool:
        before = len(state.queue)
        state.queue = [a for a in state.queue if a.case_id != case_id]
        changed = len(state.queue) != before
        if state.alarm is not None and state.alarm.case_id == case_id:
            self._revert_alarm(state)
            self._next_alarm(state)
            changed = True
        return changed

    # the ticker
    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception:
                log.exception("wall tick failed")

    def tick(self) -> None:
        """Step due tours and time out alarms (public so tests can drive it with their own clock)."""
        now = self.clock()

        def due(state: WallState) -> bool:
            tour_due = state.tour is not None and not state.tour.paused and state.tour.next_at <= now
            alarm_due = state.alarm is not None and (state.alarm.until or 0) <= now
            return tour_due or alarm_due

        def apply(s: Session, state: WallState) -> bool:
            changed = False
            if state.alarm is not None and (state.alarm.until or 0) <= now:
                log.info("wall %s: alarm of case %s timed out", state.name, state.alarm.case_id)
                self._revert_alarm(state)
                self._next_alarm(state)
                changed = True
            if state.tour is not None and not state.tour.paused and state.tour.next_at <= now:
                self._step(s, state)
                changed = True  # a step, or at least its next_at, moved
            return changed

        self._system_change(apply, only=due)
