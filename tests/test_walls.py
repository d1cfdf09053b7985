"""Wall state (wall/walls/): layouts as data, tiles, pins, tours, alarms, presets — on a real SQLite file.

The service runs with a clock the test moves, and the test calls ``tick()`` itself (what the service's thread
does four times a second), so tours and alarm timeouts are checked exactly, without sleeping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from wall.auth.audit import AuditEntry
from wall.auth.principal import Principal
from wall.errors import Forbidden, NotFound
from wall.hall_settings import BUILT_IN, Layout, TourSpec, WallSpec, layout_table
from wall.store.db import Database, open_database
from wall.walls.service import WallService
from wall.walls.state import Alarm
from wall.walls.views import TileView, WallView

CAMERAS = [f"c{i}" for i in range(10)]
ADMIN = Principal("root", "admin", all_cameras=True)
OPERATOR = Principal("duty", "operator", cameras=frozenset(CAMERAS))
PARTIAL = Principal("li", "operator", cameras=frozenset({"c0", "c1"}))
VIEWER = Principal("kiosk", "viewer", cameras=frozenset(CAMERAS))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path)


def service(db: Database, clock: Clock, specs: list[WallSpec] | None = None,
            pushed: list[Any] | None = None) -> WallService:
    """The walls of ``specs`` (default: a 2x2 hall), controlled by the operators unless a spec names its own
    controllers (who may change which wall: tests/test_wall_rights.py)."""
    specs = specs if specs is not None else [WallSpec(name="hall", layout="2x2")]
    specs = [s if s.controllers else s.model_copy(update={"controllers": ["role:operator"]}) for s in specs]
    svc = WallService(db, layout_table([]), CAMERAS, specs,
                      publish=pushed.append if pushed is not None else None, clock=clock)
    svc.start()
    svc.stop()  # the test ticks by hand
    return svc


def cameras(view: WallView) -> list[str | None]:
    return [t.camera for t in view.tiles]


def test_built_in_layouts_have_the_halls_tile_counts() -> None:
    counts = {layout.name: layout.tile_count for layout in BUILT_IN}
    assert counts == {"1": 1, "2x2": 4, "3x3": 9, "4x4": 16, "1+5": 6, "1+7": 8, "3x6": 18}
    table = layout_table([])
    assert (table["3x6"].rows, table["3x6"].columns) == (3, 6)
    big = table["1+5"].cells[table["1+5"].alarm_tile]
    assert (big.width, big.height) == (2, 2), "the alarm pops up on the big tile of a 1+N layout"


def test_a_site_layout_is_checked_and_added() -> None:
    own = Layout(name="2+8", columns=4, rows=4, cells=[
        {"col": 0, "row": 0, "width": 2, "height": 2}, {"col": 2, "row": 0, "width": 2, "height": 2},
        *({"col": c, "row": r} for r in (2, 3) for c in range(4))])
    assert layout_table([own])["2+8"].tile_count == 10
    with pytest.raises(ValidationError, match="overlaps"):
        Layout(name="bad", columns=2, rows=2, cells=[{"col": 0, "row": 0, "width": 2}, {"col": 1, "row": 0}])
    with pytest.raises(ValidationError, match="outside"):
        Layout(name="bad", columns=2, rows=2, cells=[{"col": 1, "row": 1, "width": 2}])
    with pytest.raises(ValidationError, match="rows x columns"):
        Layout(name="bad", grid="3by6")


def test_tiles_layout_and_state_survive_a_restart(db: Database) -> None:
    clock = Clock()
    svc = service(db, clock)
    svc.set_tile("hall", OPERATOR, 0, "c3")
    view = svc.set_tile("hall", OPERATOR, 1, "c4", pinned=True)
    assert cameras(view)[:2] == ["c3", "c4"] and view.tiles[1].pinned
    view = svc.set_layout("hall", OPERATOR, "3x6")
    assert len(view.tiles) == 18 and cameras(view)[:2] == ["c3", "c4"], "cameras keep their tiles"
    again = service(db, clock)
    assert svc.view("hall", VIEWER).version == again.view("hall", VIEWER).version
    assert cameras(again.view("hall", VIEWER))[:2] == ["c3", "c4"]
    assert again.view("hall", VIEWER).layout.name == "3x6"


def test_who_may_watch_and_who_may_change(db: Database) -> None:
    svc = service(db, Clock())
    svc.set_tile("hall", ADMIN, 0, "c5")
    view = svc.view("hall", PARTIAL)
    assert view.tiles[0] == TileView(index=0, camera=None, forbidden=True, pinned=False, alarm=False)
    with pytest.raises(Forbidden):  # a viewer watches the wall but does not change it
        svc.set_tile("hall", VIEWER, 0, "c1")
    with pytest.raises(NotFound, match="camera not found"):  # a camera the user may not see, like a missing one
        svc.set_tile("hall", PARTIAL, 1, "c5")
    with pytest.raises(NotFound):
        svc.view("@duty", PARTIAL)
    seat = svc.set_tile("@me", PARTIAL, 0, "c1")
    assert seat.seat and seat.may_control and cameras(seat)[0] == "c1"
    assert [w.name for w in svc.list_for(PARTIAL)] == ["hall", "@me"]
    with db.session() as s:
        actions = [(a.username, a.action, a.target) for a in s.scalars(select(AuditEntry))]
    assert ("root", "wall.tile", "wall:hall") in actions and ("li", "wall.tile", "wall:@li") in actions


def test_tour_steps_on_time_skips_pinned_tiles_and_wraps(db: Database) -> None:
    clock = Clock()
    svc = service(db, clock)
    svc.set_tile("hall", OPERATOR, 2, "c9", pinned=True)
    view = svc.start_tour("hall", OPERATOR, cameras=["c0", "c1", "c2", "c3", "c4"], group=None, interval=10,
                          order="sequential")
    assert cameras(view) == ["c0", "c1", "c9", "c2"], "the first step shows at once; the pinned tile stays"
    assert view.tour is not None and view.tour.next_cameras == ["c3", "c4", "c0"]
    clock.now += 9.9
    svc.tick()
    assert cameras(svc.view("hall", OPERATOR)) == ["c0", "c1", "c9", "c2"]
    clock.now += 0.2
    svc.tick()
    assert cameras(svc.view("hall", OPERATOR)) == ["c3", "c4", "c9", "c0"]
    svc.pause_tour("hall", OPERATOR, True)
    clock.now += 60
    svc.tick()
    assert cameras(svc.view("hall", OPERATOR)) == ["c3", "c4", "c9", "c0"], "a paused tour stays"
    svc.pause_tour("hall", OPERATOR, False)
    clock.now += 10
    svc.tick()
    assert cameras(svc.view("hall", OPERATOR))[2] == "c9"
    svc.stop_tour("hall", OPERATOR)
    assert svc.view("hall", OPERATOR).tour is None


def test_random_tour_shows_every_camera_once_per_cycle(db: Database) -> None:
    clock = Clock()
    svc = service(db, clock, [WallSpec(name="hall", layout="1")])
    svc.start_tour("hall", OPERATOR, cameras=CAMERAS, group=None, interval=5, order="random")
    seen = [cameras(svc.view("hall", OPERATOR))[0]]
    for _ in range(len(CAMERAS) - 1):
        clock.now += 5
        svc.tick()
        seen.append(cameras(svc.view("hall", OPERATOR))[0])
    assert sorted(seen) == sorted(CAMERAS)


def test_tour_over_a_group_shows_only_what_the_starter_may_see(db: Database) -> None:
    from wall.auth.grants import seed_groups

    with db.session() as s:
        seed_groups(s, [("c0", "east"), ("c1", "east"), ("c5", "east")])
    svc = service(db, Clock())
    view = svc.start_tour("hall", PARTIAL, cameras=[], group="east", interval=5, order="sequential")
    # PARTIAL is not a user row in this database, so the starter filter cannot apply; the group is checked
    assert set(cameras(view)) - {None} <= {"c0", "c1", "c5"}
    with pytest.raises(NotFound):
        svc.start_tour("hall", PARTIAL, cameras=[], group="nowhere", interval=5, order="sequential")


def test_alarm_takes_the_alarm_tile_queues_and_reverts_on_ack_or_timeout(db: Database) -> None:
    clock = Clock()
    pushed: list[Any] = []
    svc = service(db, clock, [WallSpec(name="hall", layout="1+5", cameras=["c0", "c1", "c2"], alarm_timeout=60),
                              WallSpec(name="quiet", layout="2x2", alarms=False)], pushed)
    svc.case_raised(Alarm(case_id=7, camera="c8", camera_name="西门", code="0501", code_name="无照经营游商",
                          family="street_stall"))
    svc.case_raised(Alarm(case_id=8, camera="c9", code="0101", code_name="暴露垃圾"))
    view = svc.view("hall", OPERATOR)
    assert cameras(view)[0] == "c8" and view.tiles[0].alarm
    assert view.alarm is not None and view.alarm.case_id == 7 and view.alarm.code == "0501" and view.queued == 1
    assert svc.view("quiet", OPERATOR).alarm is None, "a wall without alarms is left alone"
    assert pushed and pushed[-1](OPERATOR).model_dump(mode="json")["wall"]["alarm"]["case_id"] == 7
    assert svc.view("hall", PARTIAL).alarm is None, "an alarm of a camera one may not see is not shown"

    view = svc.acknowledge("hall", OPERATOR)
    assert view.alarm is not None and view.alarm.case_id == 8 and cameras(view)[0] == "c9" and view.queued == 0
    clock.now += 61
    svc.tick()
    view = svc.view("hall", OPERATOR)
    assert view.alarm is None and cameras(view)[:3] == ["c0", "c1", "c2"], "the tile reverts after the timeout"
    with db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert actions.count("wall.alarm.show") == 1 and "wall.alarm.ack" in actions


def test_a_decided_case_leaves_the_wall_and_a_tour_leaves_the_alarm_tile_alone(db: Database) -> None:
    clock = Clock()
    svc = service(db, clock, [WallSpec(name="hall", layout="1+5", tour=TourSpec(cameras=CAMERAS[:6], interval=5))])
    svc.case_raised(Alarm(case_id=3, camera="c9"))
    for _ in range(3):
        clock.now += 5
        svc.tick()
        assert cameras(svc.view("hall", OPERATOR))[0] == "c9", "the tour does not step over the alarm"
    svc.case_decided(3)
    view = svc.view("hall", OPERATOR)
    assert view.alarm is None and cameras(view)[0] != "c9"


def test_presets_save_and_recall_the_arrangement(db: Database) -> None:
    svc = service(db, Clock())
    svc.set_layout("hall", OPERATOR, "3x3")
    svc.set_tile("hall", OPERATOR, 4, "c7", pinned=True)
    svc.save_preset("hall", OPERATOR, "早高峰")
    svc.set_layout("hall", OPERATOR, "1")
    view = svc.recall_preset("hall", OPERATOR, "早高峰")
    assert view.layout.name == "3x3" and cameras(view)[4] == "c7" and view.tiles[4].pinned
    assert [p.name for p in svc.presets("hall", OPERATOR)] == ["早高峰"]
    with pytest.raises(Forbidden):  # presets are the wall's controllers'
        svc.presets("hall", VIEWER)
    with pytest.raises(NotFound):
        svc.recall_preset("hall", OPERATOR, "none")
    svc.delete_preset("hall", OPERATOR, "早高峰")
    assert svc.presets("hall", OPERATOR) == []


def test_push_a_seat_to_the_shared_wall(db: Database) -> None:
    svc = service(db, Clock())
    svc.set_layout("@me", PARTIAL, "1+5")
    svc.set_tile("@me", PARTIAL, 0, "c1")
    view = svc.copy_from("hall", PARTIAL, "@me")
    assert view.layout.name == "1+5" and cameras(view)[0] == "c1"
    with pytest.raises(Forbidden):
        svc.copy_from("hall", VIEWER, "@me")


def test_pushing_stops_a_tour_and_a_layout_change_keeps_the_alarm_deadline(db: Database) -> None:
    clock = Clock()
    svc = service(db, clock, [WallSpec(name="hall", layout="1+5", alarm_timeout=60,
                                       tour=TourSpec(cameras=CAMERAS[:6], interval=5))])
    svc.set_tile("@me", OPERATOR, 0, "c9")
    view = svc.copy_from("hall", OPERATOR, "@me")
    assert view.tour is None, "a pushed arrangement is not stepped over by the tour"
    svc.case_raised(Alarm(case_id=1, camera="c8"))
    until = svc.view("hall", OPERATOR).alarm.until  # type: ignore[union-attr]
    clock.now += 30
    view = svc.set_layout("hall", OPERATOR, "1+7")
    assert view.alarm is not None and view.alarm.until == until, "moving the alarm keeps its deadline"
    clock.now += 31
    svc.tick()
    assert svc.view("hall", OPERATOR).alarm is None
