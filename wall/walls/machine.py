"""The wall as a pure state machine: every change of a wall is a transition from one :class:`WallState` to the
next, given the time and what the database said beforehand.

No transition reads a clock, takes a lock or touches the database: the service passes ``now`` in and resolves
what tours step through (group members, the starter's grants) before it takes the wall lock, so every rule of
the wall — layouts, tiles, pins, tour steps, the alarm pop-up and its queue, presets, pushing a seat — is tested
without a database (tests/test_wall_machine.py), and the lock is held only as long as the rule takes.

A transition never changes the state it is given; it returns an :class:`Outcome` with a new one. Rules that
break a request raise :mod:`wall.errors` kinds (:class:`NotFound`, :class:`Conflict`, :class:`Unprocessable`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from wall.errors import Conflict, Invalid, NotFound, Unprocessable
from wall.hall_settings import Layout, WallSpec
from wall.walls.state import SYSTEM, Alarm, Arrangement, Tour, TourSettings, TourSource, WallState

ALARM_QUEUE_LIMIT = 50
KEEP = -1  # set_options: leave the alarm tile as it is
SEAT_PREFIX = "@"  # a user's own seat wall is stored as "@name" (and addressed as "@me")
CAMERA_NOT_FOUND = "camera not found"  # the same words as for a camera that does not exist (wall.access)

MayView = Callable[[str], bool]
Resolved = Mapping[TourSource, Sequence[str]]  # each tour source's cameras, filtered, not yet shuffled


@dataclass(frozen=True)
class Outcome:
    """A transition's result: the new state and what happened to it, for the service to save, audit and log."""

    state: WallState
    changed: bool = True  # False: nothing to save or push
    shown: Alarm | None = None  # put on show at once as its case was raised (the one alarm event audited)
    cleared: Alarm | None = None  # taken off the tile: acknowledged, decided or timed out
    dropped: Alarm | None = None  # not even queued: the queue is full


@dataclass(frozen=True)
class WallMachine:
    """The transitions, with what they read besides the wall: the site's layouts and the cameras that exist
    (in configuration order). ``rng`` shuffles random tours; a test passes a seeded one."""

    layouts: Mapping[str, Layout]
    cameras: tuple[str, ...]
    rng: random.Random = field(default_factory=random.Random, compare=False)

    # -- new walls -------------------------------------------------------------------------------------------
    def seed(self, spec: WallSpec, now: float, resolved: Resolved) -> WallState:
        """A shared wall as server.yaml (or an admin) describes it; cameras that do not exist are left out."""
        layout = self.layouts.get(spec.layout)
        if layout is None:
            raise Invalid(f"wall {spec.name}: no layout '{spec.layout}'")
        n = layout.tile_count
        cameras = [c for c in spec.cameras if c in self.cameras][:n]
        state = WallState(name=spec.name, title=spec.title or spec.name, layout=spec.layout,
                          tiles=cameras + [None] * (n - len(cameras)), alarms=spec.alarms,
                          alarm_tile=spec.alarm_tile if spec.alarm_tile is not None and spec.alarm_tile < n else None,
                          alarm_timeout=spec.alarm_timeout)
        state.tour = self.seeded_tour(spec)
        if state.tour is not None:
            self._begin_tour(state, now, resolved)
        return state

    def seeded_tour(self, spec: WallSpec) -> Tour | None:
        """The tour a configured wall starts with: nobody's, over the configured cameras that exist."""
        if spec.tour is None:
            return None
        return Tour(cameras=[c for c in spec.tour.cameras if c in self.cameras], group=spec.tour.group,
                    interval=spec.tour.interval, order=spec.tour.order, started_by=SYSTEM)

    def seat(self, owner: str, may_view: MayView) -> WallState:
        """A user's own seat wall, made at first use: 2x2 with the first cameras they may see."""
        layout = self.layouts.get("2x2") or next(iter(self.layouts.values()))
        mine = [c for c in self.cameras if may_view(c)][: layout.tile_count]
        return WallState(name=SEAT_PREFIX + owner, title=owner, owner=owner, layout=layout.name,
                         tiles=mine + [None] * (layout.tile_count - len(mine)), alarms=False)

    def fit(self, state: WallState) -> WallState:
        """A stored wall as this site can show it: a layout the site has since removed falls back to 2x2, tiles
        follow the layout and lose cameras that no longer exist."""
        state = state.model_copy(deep=True)
        if state.layout not in self.layouts:
            state.layout = "2x2" if "2x2" in self.layouts else next(iter(self.layouts))
        n = self.layouts[state.layout].tile_count
        state.tiles = [c if c in self.cameras else None for c in (state.tiles + [None] * n)[:n]]
        state.pinned = [i for i in state.pinned if i < n]
        return state

    def stamp(self, state: WallState, by: str | None, now: float) -> WallState:
        """The state as saved: one version on, with when and by whom."""
        return state.model_copy(update={"version": state.version + 1, "updated_at": now,
                                        "updated_by": by or SYSTEM})

    # -- readings --------------------------------------------------------------------------------------------
    def layout(self, name: str) -> Layout:
        layout = self.layouts.get(name)
        if layout is None:
            raise NotFound(f"no layout '{name[:40]}'")
        return layout

    def check_camera(self, camera: str, may_view: MayView) -> None:
        """A camera that does not exist and one the user may not see answer alike."""
        if camera not in self.cameras or not may_view(camera):
            raise NotFound(CAMERA_NOT_FOUND)

    def alarm_tile(self, state: WallState) -> int:
        """Where the next alarm goes: the wall's own alarm tile, else its layout's."""
        if state.alarm_tile is not None and state.alarm_tile < len(state.tiles):
            return state.alarm_tile
        layout_tile = self.layouts[state.layout].alarm_tile
        return layout_tile if layout_tile is not None else 0

    @staticmethod
    def tour_tiles(state: WallState) -> list[int]:
        """The tiles a tour steps: all but the pinned ones and the one the alarm holds."""
        alarm_tile = state.alarm.tile if state.alarm is not None else None
        return [i for i in range(len(state.tiles)) if i not in state.pinned and i != alarm_tile]

    def peek(self, state: WallState) -> list[str]:
        """The cameras the next step will show, so displays can connect them before it comes."""
        tour = state.tour
        if tour is None or not tour.sequence:
            return []
        count = min(len(self.tour_tiles(state)), len(tour.sequence))
        return [tour.sequence[(tour.position + k) % len(tour.sequence)] for k in range(count)]

    @staticmethod
    def arrangement(state: WallState) -> Arrangement:
        """What a preset keeps of the wall; the alarm's tile as it was before the alarm took it."""
        tiles = list(state.tiles)
        if state.alarm is not None and state.alarm.tile is not None:
            tiles[state.alarm.tile] = state.alarm.previous
        tour = state.tour
        settings = None if tour is None else TourSettings(cameras=tour.cameras, group=tour.group,
                                                          interval=tour.interval, order=tour.order)
        return Arrangement(layout=state.layout, tiles=tiles, pinned=state.pinned, alarm_tile=state.alarm_tile,
                           tour=settings)

    # -- changes by users ------------------------------------------------------------------------------------
    def set_layout(self, state: WallState, layout_name: str, now: float) -> Outcome:
        layout = self.layout(layout_name)
        state = state.model_copy(deep=True)
        with self._alarm_aside(state, now):
            self._resize(state, layout.name, state.tiles)
        return Outcome(state)

    def set_tile(self, state: WallState, index: int, camera: str | None, pinned: bool | None) -> Outcome:
        """Show ``camera`` on tile ``index`` (or empty it); a tile the alarm holds gets it when the alarm goes."""
        if index >= len(state.tiles):
            raise NotFound(f"no tile {index} in layout {state.layout}")
        state = state.model_copy(deep=True)
        if state.alarm is not None and state.alarm.tile == index:
            state.alarm.previous = camera
        else:
            state.tiles[index] = camera
        if pinned is not None:
            state.pinned = sorted(set(state.pinned) - {index} | ({index} if pinned else set()))
        return Outcome(state)

    def set_options(self, state: WallState, now: float, *, title: str | None = None, alarms: bool | None = None,
                    alarm_tile: int | None = KEEP, alarm_timeout: int | None = None) -> Outcome:
        """``alarm_tile``: KEEP leaves it, None goes back to the layout's own alarm tile."""
        state = state.model_copy(deep=True)
        if title is not None:
            state.title = title
        if alarms is not None:
            state.alarms = alarms
        if alarm_timeout is not None:
            state.alarm_timeout = alarm_timeout
        if alarm_tile != KEEP:
            if alarm_tile is not None and alarm_tile >= len(state.tiles):
                raise NotFound(f"no tile {alarm_tile} in layout {state.layout}")
            with self._alarm_aside(state, now):
                state.alarm_tile = alarm_tile
        return Outcome(state)

    def copy_from(self, state: WallState, origin: WallState, may_view: MayView, now: float) -> Outcome:
        """Push a seat's arrangement to a shared wall in one change (坐席推大屏): layout and tiles. A running tour
        stops: it would step over what the operator pushed."""
        state = state.model_copy(deep=True)
        with self._alarm_aside(state, now):
            self._resize(state, origin.layout, [c if c is not None and may_view(c) else None for c in origin.tiles])
            state.tour = None
        return Outcome(state)

    def recall(self, state: WallState, saved: Arrangement, may_view: MayView, by: str, now: float,
               resolved: Resolved) -> Outcome:
        """Bring back a preset: its layout, the cameras of it the user ``by`` may still see, its pins, alarm tile
        and tour (restarted as theirs)."""
        layout = self.layouts.get(saved.layout)
        if layout is None:
            raise Conflict(f"the preset's layout '{saved.layout}' no longer exists")
        state = state.model_copy(deep=True)
        with self._alarm_aside(state, now):
            n = layout.tile_count
            tiles = [c if c in self.cameras and may_view(c) else None for c in saved.tiles]
            state.layout, state.tiles = layout.name, (tiles + [None] * n)[:n]
            state.pinned = [i for i in saved.pinned if 0 <= i < n]
            state.alarm_tile = saved.alarm_tile if saved.alarm_tile is not None and 0 <= saved.alarm_tile < n else None
            state.tour = None
            if saved.tour is not None:
                state.tour = self.recalled_tour(saved.tour, may_view, by)
                self._begin_tour(state, now, resolved)
        return Outcome(state)

    @staticmethod
    def recalled_tour(settings: TourSettings, may_view: MayView, by: str) -> Tour:
        """The tour a preset starts for user ``by``: its cameras they may see, its group, interval and order."""
        return Tour(cameras=[c for c in settings.cameras if may_view(c)], group=settings.group,
                    interval=settings.interval, order=settings.order, started_by=by)

    # -- tours -----------------------------------------------------------------------------------------------
    def start_tour(self, state: WallState, tour: Tour, now: float, resolved: Resolved) -> Outcome:
        """Start (or replace) the tour; its first step shows at once."""
        state = state.model_copy(deep=True)
        state.tour = tour.model_copy(deep=True)
        self._begin_tour(state, now, resolved)
        if not state.tour.sequence:
            raise Unprocessable("the tour has no camera you may view")
        return Outcome(state)

    def stop_tour(self, state: WallState) -> Outcome:
        if state.tour is None:
            raise Conflict("no tour is running")
        return Outcome(state.model_copy(update={"tour": None}, deep=True))

    def pause_tour(self, state: WallState, paused: bool, now: float) -> Outcome:
        """Pause keeps what is left of the step; resume gives it back."""
        if state.tour is None:
            raise Conflict("no tour is running")
        state = state.model_copy(deep=True)
        tour = state.tour
        assert tour is not None
        if paused and not tour.paused:
            tour.paused, tour.remaining = True, max(0.0, tour.next_at - now)
        elif not paused and tour.paused:
            tour.paused = False
            tour.next_at = now + (tour.remaining if tour.remaining is not None else tour.interval)
            tour.remaining = None
        return Outcome(state)

    # -- alarms ----------------------------------------------------------------------------------------------
    def raise_alarm(self, state: WallState, alarm: Alarm, now: float) -> Outcome:
        """A raised case pops up on the alarm tile, or waits its turn behind the one on show."""
        state = state.model_copy(deep=True)
        if state.alarm is None:
            self._show(state, alarm.model_copy(), now)
            return Outcome(state, shown=alarm)
        if len(state.queue) < ALARM_QUEUE_LIMIT:
            state.queue.append(alarm.model_copy())
            return Outcome(state)
        return Outcome(state, changed=False, dropped=alarm)

    def acknowledge(self, state: WallState, may_view: MayView, now: float) -> Outcome:
        """The operator has seen the alarm: the tile reverts and the next queued alarm (if any) shows."""
        alarm = state.alarm
        if alarm is None or not may_view(alarm.camera):
            raise Conflict("no alarm is on show")
        state = state.model_copy(deep=True)
        self._take_down(state, now)
        return Outcome(state, cleared=alarm)

    def dismiss(self, state: WallState, case_id: int, now: float) -> Outcome:
        """A decided case leaves the wall, on show or queued: the operator acted on it."""
        state = state.model_copy(deep=True)
        before = len(state.queue)
        state.queue = [a for a in state.queue if a.case_id != case_id]
        cleared = state.alarm if state.alarm is not None and state.alarm.case_id == case_id else None
        if cleared is not None:
            self._take_down(state, now)
        return Outcome(state, changed=cleared is not None or len(state.queue) != before, cleared=cleared)

    # -- the clock -------------------------------------------------------------------------------------------
    @staticmethod
    def due(state: WallState, now: float) -> bool:
        """Has the tour a step or the alarm its timeout at ``now``?"""
        return WallMachine.tour_due(state, now) or (state.alarm is not None and (state.alarm.until or 0) <= now)

    @staticmethod
    def tour_due(state: WallState, now: float) -> bool:
        return state.tour is not None and not state.tour.paused and state.tour.next_at <= now

    def tick(self, state: WallState, now: float, resolved: Resolved) -> Outcome:
        """Time out the alarm, then step the tour, if either is due. ``resolved`` should hold the tour's source
        (a step may start a new cycle, which reads group members and grants afresh)."""
        state = state.model_copy(deep=True)
        cleared = None
        if state.alarm is not None and (state.alarm.until or 0) <= now:
            cleared = state.alarm
            self._take_down(state, now)
        stepped = self.tour_due(state, now)
        if stepped:
            self._step(state, now, resolved)  # a step, or at least its next_at, moves
        return Outcome(state, changed=cleared is not None or stepped, cleared=cleared)

    # -- internals -------------------------------------------------------------------------------------------
    @contextmanager
    def _alarm_aside(self, state: WallState, now: float) -> Iterator[None]:
        """Revert the alarm's tile, let the body rearrange the wall, then show the alarm again on the alarm tile
        of the new arrangement (keeping its deadline). Every change of layout or alarm tile goes through here."""
        alarm = state.alarm
        self._revert(state)
        yield
        if alarm is not None:
            self._show(state, alarm, now)

    def _resize(self, state: WallState, layout: str, tiles: list[str | None]) -> None:
        """Give the wall ``layout`` with ``tiles`` (padded or cut to its tile count); pins and the wall's alarm
        tile that fall outside it go."""
        n = self.layouts[layout].tile_count
        state.layout, state.tiles = layout, (tiles + [None] * n)[:n]
        state.pinned = [i for i in state.pinned if i < n]
        if state.alarm_tile is not None and state.alarm_tile >= n:
            state.alarm_tile = None

    def _show(self, state: WallState, alarm: Alarm, now: float) -> None:
        """Show ``alarm`` on the alarm tile; one shown before (moved by a layout change) keeps its deadline."""
        tile = self.alarm_tile(state)
        alarm.tile, alarm.previous = tile, state.tiles[tile]
        if alarm.shown_at is None or alarm.until is None:
            alarm.shown_at = now
            alarm.until = now + state.alarm_timeout
        state.tiles[tile] = alarm.camera
        state.alarm = alarm

    @staticmethod
    def _revert(state: WallState) -> None:
        alarm = state.alarm
        if alarm is None:
            return
        if alarm.tile is not None and alarm.tile < len(state.tiles):
            state.tiles[alarm.tile] = alarm.previous
        state.alarm = None

    def _take_down(self, state: WallState, now: float) -> None:
        """The alarm on show goes; the first queued one takes its place."""
        self._revert(state)
        if state.queue:
            self._show(state, state.queue.pop(0), now)

    def _tour_cameras(self, tour: Tour, resolved: Resolved) -> list[str]:
        """This cycle's cameras: the source's as resolved (this cycle's again if the tour changed since the
        service looked), shuffled for a random tour."""
        cameras = list(resolved.get(TourSource.of(tour), tour.sequence))
        if tour.order == "random":
            self.rng.shuffle(cameras)
        return cameras

    def _begin_tour(self, state: WallState, now: float, resolved: Resolved) -> None:
        tour = state.tour
        assert tour is not None
        tour.sequence, tour.position = self._tour_cameras(tour, resolved), 0
        self._step(state, now, resolved)

    def _step(self, state: WallState, now: float, resolved: Resolved) -> None:
        """Show the next cameras on the tour's tiles and set the next step's time (also when there is nothing to
        show yet: the list is resolved again for the next step)."""
        tour = state.tour
        assert tour is not None
        tour.next_at = now + tour.interval
        slots = self.tour_tiles(state)
        if not tour.sequence or not slots:
            tour.sequence, tour.position = self._tour_cameras(tour, resolved), 0
            return
        shown = self.peek(state)
        for slot, camera in zip(slots, shown, strict=False):
            state.tiles[slot] = camera
        tour.position += len(shown)
        if tour.position >= len(tour.sequence):  # cycle done: the next one is resolved now (group changes,
            tour.sequence, tour.position = self._tour_cameras(tour, resolved), 0  # grants, shuffle) so peek works
