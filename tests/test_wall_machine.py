"""The wall's rules as pure transitions (wall/walls/machine.py): no database, no clock, no lock.

Each test builds a state, runs a transition with the time it passes in, and reads the new state; the state it
started from must be left as it was. tests/test_walls.py checks the same rules through the service, with the
database, the audit rows and the pushes.
"""

from __future__ import annotations

import random

import pytest

from wall.errors import Conflict, Invalid, NotFound, Unprocessable
from wall.hall_settings import TourSpec, WallSpec, layout_table
from wall.walls.machine import ALARM_QUEUE_LIMIT, KEEP, WallMachine
from wall.walls.state import Alarm, Arrangement, Tour, TourSettings, TourSource, WallState

CAMERAS = tuple(f"c{i}" for i in range(10))
NOW = 1_800_000_000.0
MACHINE = WallMachine(layout_table([]), CAMERAS, random.Random(7))


def everything(camera: str) -> bool:
    return True


def wall(layout: str = "2x2", tiles: list[str | None] | None = None, **fields: object) -> WallState:
    n = MACHINE.layouts[layout].tile_count
    tiles = tiles if tiles is not None else list(CAMERAS[:n])
    return WallState.model_validate({"name": "hall", "layout": layout, "tiles": tiles + [None] * (n - len(tiles)),
                                     "alarm_timeout": 60, **fields})


def alarm(case_id: int = 1, camera: str = "c9") -> Alarm:
    return Alarm(case_id=case_id, camera=camera, raised_at=NOW)


def with_alarm(state: WallState, case_id: int = 1, camera: str = "c9") -> WallState:
    return MACHINE.raise_alarm(state, alarm(case_id, camera), NOW).state


def tour(cameras: list[str], interval: int = 10, order: str = "sequential", **fields: object) -> Tour:
    return Tour.model_validate({"cameras": cameras, "interval": interval, "order": order, **fields})


def resolved(*tours: Tour) -> dict[TourSource, list[str]]:
    return {TourSource.of(t): list(t.cameras) for t in tours}


# -- new walls -----------------------------------------------------------------------------------------------


def test_seed_keeps_existing_cameras_and_starts_the_configured_tour() -> None:
    spec = WallSpec(name="hall", layout="2x2", cameras=["c1", "gone", "c2"], alarm_tile=7,
                    tour=TourSpec(cameras=["c3", "c4", "gone"], interval=5))
    planned = MACHINE.seeded_tour(spec)
    assert planned is not None and planned.cameras == ["c3", "c4"] and planned.started_by == "system"
    state = MACHINE.seed(spec, NOW, resolved(planned))
    assert state.title == "hall" and state.alarm_tile is None, "an alarm tile outside the layout is dropped"
    assert state.tiles == ["c3", "c4", None, None], "the tour's first step shows at once, each camera once"
    assert state.tour is not None and state.tour.next_at == NOW + 5
    with pytest.raises(Invalid):
        MACHINE.seed(WallSpec(name="x", layout="9x9"), NOW, {})


def test_a_seat_shows_what_its_owner_may_see_and_fit_follows_the_site() -> None:
    seat = MACHINE.seat("li", lambda c: c in {"c5", "c1"})
    assert (seat.name, seat.owner, seat.layout, seat.alarms) == ("@li", "li", "2x2", False)
    assert seat.tiles == ["c1", "c5", None, None], "in configuration order"
    stored = WallState(name="hall", layout="removed", tiles=["c0", "gone", "c2", "c3", "c4"], pinned=[1, 4])
    fitted = MACHINE.fit(stored)
    assert fitted.layout == "2x2" and fitted.tiles == ["c0", None, "c2", "c3"] and fitted.pinned == [1]
    assert stored.layout == "removed", "the state given is left as it was"


def test_stamp_counts_versions() -> None:
    state = MACHINE.stamp(wall(version=4), None, NOW)
    assert (state.version, state.updated_at, state.updated_by) == (5, NOW, "system")
    assert MACHINE.stamp(state, "duty", NOW + 1).updated_by == "duty"


def test_cameras_one_may_not_see_are_not_found_like_missing_ones() -> None:
    MACHINE.check_camera("c1", everything)
    for camera, may_view in (("c1", lambda c: False), ("nope", everything)):
        with pytest.raises(NotFound, match="camera not found"):
            MACHINE.check_camera(camera, may_view)


# -- layouts, tiles, options ---------------------------------------------------------------------------------


def test_layout_change_keeps_cameras_and_drops_what_falls_outside() -> None:
    state = wall("3x3", pinned=[1, 8], alarm_tile=7)
    bigger = MACHINE.set_layout(state, "3x6", NOW).state
    assert bigger.tiles[:9] == state.tiles and bigger.tiles[9:] == [None] * 9 and bigger.pinned == [1, 8]
    smaller = MACHINE.set_layout(state, "2x2", NOW).state
    assert smaller.tiles == list(CAMERAS[:4]) and smaller.pinned == [1] and smaller.alarm_tile is None
    assert state.layout == "3x3" and len(state.tiles) == 9
    with pytest.raises(NotFound, match="no layout"):
        MACHINE.set_layout(state, "7x7", NOW)


def test_set_tile_and_pins() -> None:
    state = MACHINE.set_tile(wall(), 2, "c8", pinned=True).state
    assert state.tiles[2] == "c8" and state.pinned == [2]
    state = MACHINE.set_tile(state, 2, None, pinned=False).state
    assert state.tiles[2] is None and state.pinned == []
    with pytest.raises(NotFound, match="no tile 4"):
        MACHINE.set_tile(state, 4, "c1", None)


def test_a_tile_the_alarm_holds_gets_its_camera_when_the_alarm_goes() -> None:
    state = with_alarm(wall("1+5"))  # the big tile 0
    state = MACHINE.set_tile(state, 0, "c7", None).state
    assert state.tiles[0] == "c9" and state.alarm is not None and state.alarm.previous == "c7"
    assert MACHINE.acknowledge(state, everything, NOW).state.tiles[0] == "c7"


def test_options_and_the_alarm_tile() -> None:
    state = MACHINE.set_options(wall(), NOW, title="东区", alarms=False, alarm_timeout=30).state
    assert (state.title, state.alarms, state.alarm_timeout, state.alarm_tile) == ("东区", False, 30, None)
    assert MACHINE.set_options(state, NOW, alarm_tile=KEEP).state.alarm_tile is None
    state = with_alarm(MACHINE.set_options(wall(), NOW, alarm_tile=3).state)
    assert state.tiles[3] == "c9" and MACHINE.alarm_tile(state) == 3
    moved = MACHINE.set_options(state, NOW + 5, alarm_tile=None).state  # back to the layout's tile 0
    assert moved.tiles == ["c9", "c1", "c2", "c3"], "the alarm moves; the tile it left gets its camera back"
    assert moved.alarm is not None and moved.alarm.until == NOW + 60 and moved.alarm.previous == "c0"
    with pytest.raises(NotFound):
        MACHINE.set_options(state, NOW, alarm_tile=4)


def test_every_rearrangement_sets_the_alarm_aside_and_shows_it_again() -> None:
    """The one rule written once for layouts, the alarm tile, pushes and presets: the alarm's tile reverts,
    the wall is rearranged, the alarm goes to the new arrangement's alarm tile with its deadline."""
    state = with_alarm(wall("2x2"))
    seat = wall("1+5", ["c5", "c6"])
    saved = Arrangement(layout="1+7", tiles=["c1", "c2"])
    for changed in (MACHINE.set_layout(state, "1+5", NOW + 9).state,
                    MACHINE.copy_from(state, seat, everything, NOW + 9).state,
                    MACHINE.recall(state, saved, everything, "duty", NOW + 9, {}).state):
        assert changed.alarm is not None and changed.alarm.until == NOW + 60, changed.layout
        assert changed.tiles[MACHINE.alarm_tile(changed)] == "c9" and changed.alarm.tile == MACHINE.alarm_tile(changed)
        back = MACHINE.acknowledge(changed, everything, NOW + 10).state
        assert "c9" not in back.tiles and back.alarm is None


# -- push and presets ----------------------------------------------------------------------------------------


def test_push_a_seat_shows_what_the_pusher_may_see_and_stops_the_tour() -> None:
    state = MACHINE.start_tour(wall(), tour(["c0", "c1"]), NOW, resolved(tour(["c0", "c1"]))).state
    seat = wall("1+5", ["c1", "c5", None, "c2"])
    pushed = MACHINE.copy_from(state, seat, lambda c: c != "c5", NOW).state
    assert pushed.layout == "1+5" and pushed.tiles == ["c1", None, None, "c2", None, None] and pushed.tour is None


def test_a_preset_keeps_the_arrangement_and_recall_checks_it_against_today() -> None:
    state = MACHINE.set_tile(with_alarm(wall("3x3", alarm_tile=4)), 1, "c8", pinned=True).state
    state = MACHINE.start_tour(state, tour(["c0", "c1"], interval=20), NOW, resolved(tour(["c0", "c1"], 20))).state
    kept = MACHINE.arrangement(state)
    assert kept.tiles[4] == "c4", "the alarm's tile as it was before the alarm"
    assert kept.pinned == [1] and kept.alarm_tile == 4 and kept.tour == TourSettings(cameras=["c0", "c1"],
                                                                                     interval=20)
    plain = wall("1")
    planned = MACHINE.recalled_tour(kept.tour, lambda c: c != "c1", "li")  # type: ignore[arg-type]
    assert planned.cameras == ["c0"] and planned.started_by == "li"
    back = MACHINE.recall(plain, kept.model_copy(update={"tiles": [*kept.tiles[:8], "gone"]}),
                          lambda c: c != "c1", "li", NOW, resolved(planned)).state
    assert back.layout == "3x3" and back.tiles[1] == "c8" and back.tiles[8] is None and back.pinned == [1]
    assert back.tour is not None and back.tour.started_by == "li" and back.tour.sequence == ["c0"]
    with pytest.raises(Conflict, match="no longer exists"):
        MACHINE.recall(plain, Arrangement(layout="5x5"), everything, "li", NOW, {})


# -- tours ---------------------------------------------------------------------------------------------------


def test_tour_steps_skip_pinned_tiles_and_the_alarm_and_wrap() -> None:
    planned = tour(["c0", "c1", "c2", "c3", "c4"])
    state = MACHINE.set_tile(wall(tiles=[None] * 4), 2, "c9", pinned=True).state
    state = MACHINE.start_tour(state, planned, NOW, resolved(planned)).state
    assert state.tiles == ["c0", "c1", "c9", "c2"] and MACHINE.peek(state) == ["c3", "c4", "c0"]
    assert not MACHINE.due(state, NOW + 9.9) and MACHINE.due(state, NOW + 10)
    state = MACHINE.tick(state, NOW + 10, resolved(planned)).state
    assert state.tiles == ["c3", "c4", "c9", "c0"], "the cycle wrapped; the next one starts from the top"
    state = with_alarm(state)  # the alarm takes tile 0; the tour steps tiles 1 and 3
    assert MACHINE.tour_tiles(state) == [1, 3]
    state = MACHINE.tick(state, NOW + 20, resolved(planned)).state
    assert state.tiles == ["c9", "c0", "c9", "c1"]


def test_a_new_cycle_reads_the_tours_cameras_afresh() -> None:
    """A tour over a group follows its members: the cycle after a change shows the new list."""
    planned = tour([], group="east", interval=5)
    state = MACHINE.start_tour(wall("1"), planned, NOW, {TourSource.of(planned): ["c0", "c1"]}).state
    assert state.tiles == ["c0"]
    state = MACHINE.tick(state, NOW + 5, {TourSource.of(planned): ["c5", "c6"]}).state
    assert state.tiles == ["c1"] and state.tour is not None and state.tour.sequence == ["c5", "c6"]
    state = MACHINE.tick(state, NOW + 10, {}).state  # not resolved this time: the cycle's list carries on
    assert state.tiles == ["c5"]


def test_random_tour_shows_every_camera_once_per_cycle() -> None:
    planned = tour(list(CAMERAS), interval=5, order="random")
    state = MACHINE.start_tour(wall("1"), planned, NOW, resolved(planned)).state
    seen = [state.tiles[0]]
    for step in range(1, len(CAMERAS)):
        state = MACHINE.tick(state, NOW + 5 * step, resolved(planned)).state
        seen.append(state.tiles[0])
    assert sorted(seen) == sorted(CAMERAS)


def test_pause_keeps_the_rest_of_the_step_and_stop_ends_the_tour() -> None:
    planned = tour(["c0", "c1", "c2", "c3", "c4"])
    state = MACHINE.start_tour(wall(), planned, NOW, resolved(planned)).state
    paused = MACHINE.pause_tour(state, True, NOW + 4).state
    assert paused.tour is not None and paused.tour.paused and paused.tour.remaining == 6
    assert not MACHINE.due(paused, NOW + 600)
    resumed = MACHINE.pause_tour(paused, False, NOW + 100).state
    assert resumed.tour is not None and resumed.tour.next_at == NOW + 106 and resumed.tour.remaining is None
    assert MACHINE.stop_tour(resumed).state.tour is None
    for refused in (lambda: MACHINE.stop_tour(wall()), lambda: MACHINE.pause_tour(wall(), True, NOW)):
        with pytest.raises(Conflict, match="no tour"):
            refused()


def test_a_tour_with_nothing_to_show_is_refused() -> None:
    with pytest.raises(Unprocessable):
        MACHINE.start_tour(wall(), tour(["c0"]), NOW, {TourSource.of(tour(["c0"])): []})


# -- alarms --------------------------------------------------------------------------------------------------


def test_alarms_show_queue_and_overflow() -> None:
    first = MACHINE.raise_alarm(wall(), alarm(1), NOW)
    assert first.shown is not None and first.state.alarm is not None and first.state.alarm.until == NOW + 60
    assert first.state.tiles[0] == "c9" and first.state.alarm.previous == "c0"
    queued = MACHINE.raise_alarm(first.state, alarm(2, "c8"), NOW)
    assert queued.shown is None and queued.changed and [a.case_id for a in queued.state.queue] == [2]
    full = queued.state.model_copy(update={"queue": [alarm(100 + i) for i in range(ALARM_QUEUE_LIMIT)]})
    dropped = MACHINE.raise_alarm(full, alarm(3), NOW)
    assert not dropped.changed and dropped.dropped is not None


def test_acknowledge_shows_the_next_and_only_for_who_may_see_the_alarm() -> None:
    state = MACHINE.raise_alarm(with_alarm(wall()), alarm(2, "c8"), NOW).state
    with pytest.raises(Conflict):
        MACHINE.acknowledge(state, lambda c: c != "c9", NOW)
    done = MACHINE.acknowledge(state, everything, NOW + 30)
    assert done.cleared is not None and done.cleared.case_id == 1
    assert done.state.alarm is not None and done.state.alarm.case_id == 2 and done.state.tiles[0] == "c8"
    assert done.state.alarm.until == NOW + 90, "the next alarm's own deadline starts when it shows"
    with pytest.raises(Conflict, match="no alarm"):
        MACHINE.acknowledge(wall(), everything, NOW)


def test_a_decided_case_leaves_the_tile_or_the_queue() -> None:
    state = MACHINE.raise_alarm(with_alarm(wall()), alarm(2, "c8"), NOW).state
    unqueued = MACHINE.dismiss(state, 2, NOW)
    assert unqueued.changed and unqueued.cleared is None and unqueued.state.queue == []
    shown = MACHINE.dismiss(state, 1, NOW)
    assert shown.cleared is not None and shown.state.alarm is not None and shown.state.alarm.case_id == 2
    assert not MACHINE.dismiss(state, 99, NOW).changed


def test_tick_times_the_alarm_out() -> None:
    state = with_alarm(wall())
    assert not MACHINE.due(state, NOW + 59) and MACHINE.due(state, NOW + 60)
    out = MACHINE.tick(state, NOW + 60, {})
    assert out.changed and out.cleared is not None and out.state.alarm is None and out.state.tiles[0] == "c0"
    assert state.alarm is not None, "the state given is left as it was"
