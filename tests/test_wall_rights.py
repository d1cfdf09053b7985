"""Who may change which wall (issue 16, finding 3): an operator granted one camera used to blank the hall's tiles of
cameras it cannot see, push its seat onto the hall (stopping the hall's tour for everyone) and delete the admin's
preset. Now a shared wall is changed by the admins and its controllers only (wall/walls/rights.py).

The policy is tested on its own (no database); the controllers' persistence and the file's defaults on a real
SQLite file; the matrix — admin / controller operator / other operator / viewer × every wall action — against the
real app over a real socket, like the camera-grant matrix of test_access.py. Cameras are on a closed port: no
video is needed to change a wall.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from streams.devserver.rtsp import free_port
from tests.conftest import ADMIN, LiveServer, SiteStarter
from wall.auth.principal import Principal, Role
from wall.errors import Invalid
from wall.hall_settings import WallSpec, layout_table
from wall.store.db import open_database
from wall.walls.controllers import WallControllers
from wall.walls.rights import Controller, WallRights, controls, decide, parse_all
from wall.walls.service import WallService

CAMERAS = ("c1", "c2", "c3", "c4")
GROUPS = {"c1": "north", "c2": "north", "c3": "south"}

ADMIN_P = Principal("root", Role.ADMIN, all_cameras=True)
ALICE = Principal("alice", Role.OPERATOR, cameras=frozenset({"c1"}))
BOB = Principal("bob", Role.OPERATOR, cameras=frozenset({"c1"}))
KIOSK = Principal("kiosk", Role.VIEWER, cameras=frozenset(CAMERAS))


# -- the policy, without a database ---------------------------------------------------------------------------


def test_admins_control_every_shared_wall_and_nobody_else_without_being_named() -> None:
    bare = WallRights()
    assert controls(bare, ADMIN_P)
    assert not controls(bare, ALICE) and not controls(bare, KIOSK)


def test_users_roles_and_group_holders_control() -> None:
    assert controls(WallRights(controllers=parse_all(["alice"])), ALICE)
    assert not controls(WallRights(controllers=parse_all(["alice"])), BOB)
    assert controls(WallRights(controllers=parse_all(["role:operator"])), BOB)
    north = parse_all(["group:north"])
    assert controls(WallRights(controllers=north, holders={"north": frozenset({"alice"})}), ALICE)
    assert controls(WallRights(controllers=north, holders={"north": frozenset({"role:operator"})}), BOB)
    assert not controls(WallRights(controllers=north, holders={"north": frozenset({"alice"})}), BOB)
    assert not controls(WallRights(controllers=north), ALICE), "a group whose holders were not read is held by nobody"


def test_a_viewer_named_as_controller_still_only_watches_and_a_seat_is_its_owners() -> None:
    named = WallRights(controllers=parse_all(["kiosk", "role:operator"]))
    assert not controls(named, KIOSK)
    assert decide(named, KIOSK).reason == "you may watch this wall but not change it"
    seat = WallRights(owner="alice", controllers=parse_all(["bob"]))
    assert controls(seat, ALICE) and not controls(seat, BOB) and not controls(seat, ADMIN_P)


def test_the_refusal_says_why_a_tile_of_an_unseen_camera_is_not_theirs() -> None:
    bare = WallRights()
    assert "camera you may not see" in decide(bare, ALICE, ["c3"]).reason
    assert "controllers" in decide(bare, ALICE, ["c1"]).reason
    assert decide(WallRights(controllers=parse_all(["alice"])), ALICE, ["c3"]).allowed, \
        "a controller changes a tile whatever it shows"


def test_controllers_are_parsed_strictly() -> None:
    assert Controller.parse("group:东区 一组") == Controller("group", "东区 一组")
    assert str(Controller.parse("role:operator")) == "role:operator"
    for bad in ("role:viewer", "role:root", "Alice", "group:", "group: x", "a\nb", ""):
        with pytest.raises(Invalid):
            Controller.parse(bad)
    with pytest.raises(ValidationError, match="viewers watch walls"):
        WallSpec(name="hall", controllers=["role:viewer"])


# -- the controllers on a real SQLite file ----------------------------------------------------------------------


def test_the_files_controllers_follow_it_and_the_admins_persist(tmp_path: Path) -> None:
    from wall.auth.grants import seed_groups

    db = open_database(tmp_path)
    with db.session() as s:
        seed_groups(s, [("c1", "north")])
    hall = WallSpec(name="hall", controllers=["role:operator", "group:north"])
    first = WallControllers(db)
    first.start([hall])
    first.set("hall", ["group:north"], ADMIN_P)  # the file already names it: it stays the file's
    with pytest.raises(Exception, match="no user 'nobody'"):
        first.set("hall", ["nobody"], ADMIN_P)
    again = WallControllers(db)
    again.start([hall.model_copy(update={"controllers": ["group:north"]})])
    assert {(c.subject, c.source) for c in again.of("hall").controllers} == {("group:north", "config")}
    assert not controls(again.rights("hall", again.holders("hall")), BOB), "role:operator left the file"
    db.dispose()


def test_the_service_renders_and_pushes_each_users_rights(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    pushed: list[Any] = []
    svc = WallService(db, layout_table([]), CAMERAS, [WallSpec(name="hall", controllers=["alice"])],
                      publish=pushed.append)
    svc.start()
    svc.stop()
    assert {w.name: w.may_control for w in svc.list_for(BOB)} == {"hall": False, "@me": True}
    view = svc.set_tile("hall", ALICE, 0, "c1")
    assert view.may_control and not svc.view("hall", BOB).may_control
    assert pushed[-1](ALICE).wall.may_control and not pushed[-1](BOB).wall.may_control
    db.dispose()


# -- the matrix over the real app (a few seconds each: slow, like the camera-grant matrix) -----------------------


def offline_cameras() -> str:
    port = free_port()
    lines = ["cameras:"]
    for cam in CAMERAS:
        group = f", group: {GROUPS[cam]}" if cam in GROUPS else ""
        lines.append(f'  - {{id: {cam}, name: {cam}, url: "rtsp://127.0.0.1:{port}/{cam}"{group}}}')
    return "\n".join(lines) + "\n"


def hall_yaml(tmp_path: Path) -> str:
    """The hall (tiles c1 c3 / c2 c4) controlled by the holders of group north; a desk wall by every operator."""
    return (f"server:\n  data_dir: {tmp_path / 'data'}\n"
            "walls:\n"
            "  - {name: hall, layout: 2x2, cameras: [c1, c3, c2, c4], controllers: ['group:north']}\n"
            "  - {name: desk, layout: '1', cameras: [c1], controllers: ['role:operator']}\n")


@pytest.fixture
def hall(serve_site: SiteStarter, tmp_path: Path) -> LiveServer:
    """admin; 'ctl' an operator holding group north (c1, c2: not c3); 'op' an operator granted c1 alone (the
    finding's operator); 'vw' a viewer granted c1, named a controller by the admin (viewers still only watch)."""
    site = serve_site(offline_cameras(), hall_yaml(tmp_path))
    site.add_user("ctl", "operator", grants=("group:north",))
    site.add_user("op", "operator", grants=("c1",))
    site.add_user("vw", "viewer", grants=("c1",))
    res = site.client().put("/api/walls/hall/controllers", json={"controllers": ["vw"]})
    assert res.status_code == 200, res.text
    return site


Action = Callable[[httpx.Client], httpx.Response]
ACTIONS: dict[str, tuple[Action, int]] = {  # what the cell does, and its answer when allowed
    "change tile": (lambda c: c.put("/api/walls/hall/tiles/0", json={"camera": "c1", "pinned": True}), 200),
    "clear tile": (lambda c: c.put("/api/walls/hall/tiles/0", json={"camera": None}), 200),
    "tile of an ungranted camera": (lambda c: c.put("/api/walls/hall/tiles/1", json={"camera": None}), 200),
    "layout": (lambda c: c.put("/api/walls/hall/layout", json={"layout": "3x3"}), 200),
    "push seat": (lambda c: c.post("/api/walls/hall/push", json={"source": "@me"}), 200),
    "list presets": (lambda c: c.get("/api/walls/hall/presets"), 200),
    "save preset": (lambda c: c.post("/api/walls/hall/presets", json={"name": "mine"}), 201),
    "recall preset": (lambda c: c.post("/api/walls/hall/presets/base/recall"), 200),
    "delete preset": (lambda c: c.delete("/api/walls/hall/presets/spare"), 200),
    "start tour": (lambda c: c.post("/api/walls/hall/tour", json={"cameras": ["c1"], "interval": 5}), 200),
    "stop tour": (lambda c: c.delete("/api/walls/hall/tour"), 200),
}
CONTROLS = {ADMIN: True, "ctl": True, "op": False, "vw": False}


@pytest.mark.slow
def test_wall_rights_matrix(hall: LiveServer) -> None:
    admin = hall.client()
    assert admin.post("/api/walls/hall/presets", json={"name": "base"}).status_code == 201  # the hall as seeded

    def reset() -> dict[str, Any]:
        """The hall as it started (the admin's preset 'base'), their preset 'spare', a running tour (to stop)."""
        recalled = admin.post("/api/walls/hall/presets/base/recall")
        assert [t["camera"] for t in recalled.json()["tiles"]] == ["c1", "c3", "c2", "c4"]
        assert admin.post("/api/walls/hall/presets", json={"name": "spare"}).status_code == 201
        assert admin.delete("/api/walls/hall/presets/mine").status_code in (200, 404)
        assert admin.post("/api/walls/hall/tour", json={"cameras": ["c4"], "interval": 300}).status_code == 200
        return admin.get("/api/walls/hall").json()

    for user, allowed in CONTROLS.items():
        client = hall.client(user)
        wall = client.get("/api/walls/hall")
        assert wall.status_code == 200 and wall.json()["may_control"] is allowed, user
        listed = {w["name"]: w["may_control"] for w in client.get("/api/walls").json()}
        assert listed == {"hall": allowed, "desk": user != "vw", "@me": True}, user
        before = reset()
        for name, (act, ok) in ACTIONS.items():
            if allowed:  # a refused cell left the wall as it was: only an allowed one needs the hall set again
                before = reset()
            res = act(client)
            after = admin.get("/api/walls/hall").json()
            where = (user, name)
            if allowed:
                assert res.status_code == ok, (where, res.text)
            else:
                assert res.status_code == 403, (where, res.text)
                assert after["version"] == before["version"] and after["tiles"] == before["tiles"], where
                assert after["tour"] is not None, where
                assert [p["name"] for p in admin.get("/api/walls/hall/presets").json()] == ["base", "spare"], where

    refused = admin.get("/api/audit", params={"user": "op", "success": "false", "limit": 100}).json()["items"]
    assert len(refused) == len(ACTIONS) and {r["target"] for r in refused} == {"wall:hall"}
    assert any(r["action"] == "wall.tile" and "camera you may not see" in str(r["detail"]) for r in refused), refused


@pytest.mark.slow
def test_a_revoked_group_grant_takes_control_away_and_roles_control_their_wall(hall: LiveServer) -> None:
    ctl = hall.client("ctl")
    assert ctl.put("/api/walls/hall/tiles/0", json={"camera": None}).status_code == 200
    grant = next(g for g in hall.client().get("/api/grants").json() if g["subject"] == "ctl")
    assert hall.client().delete(f"/api/grants/{grant['id']}").status_code == 204
    assert ctl.put("/api/walls/hall/tiles/0", json={"camera": None}).status_code == 403
    assert hall.client("op").put("/api/walls/desk/tiles/0", json={"camera": None}).status_code == 200
    assert hall.client("vw").put("/api/walls/desk/tiles/0", json={"camera": "c1"}).status_code == 403


@pytest.mark.slow
def test_only_admins_set_controllers_and_get_clear_refusals(hall: LiveServer) -> None:
    admin = hall.client()
    shown = admin.get("/api/walls/hall/controllers").json()
    assert {(c["subject"], c["source"]) for c in shown["controllers"]} == {("group:north", "config"), ("vw", "admin")}
    for user in ("ctl", "op", "vw"):
        assert hall.client(user).get("/api/walls/hall/controllers").status_code == 403
        assert hall.client(user).put("/api/walls/hall/controllers", json={"controllers": [user]}).status_code == 403
    assert admin.put("/api/walls/hall/controllers", json={"controllers": ["role:viewer"]}).status_code == 422
    assert admin.put("/api/walls/hall/controllers", json={"controllers": ["nobody"]}).status_code == 404
    assert admin.put("/api/walls/hall/controllers", json={"controllers": ["group:nowhere"]}).status_code == 404
    assert admin.get("/api/walls/nowhere/controllers").status_code == 404
    res = admin.put("/api/walls/hall/controllers", json={"controllers": ["op"]})
    assert res.status_code == 200 and {c["subject"] for c in res.json()["controllers"]} == {"group:north", "op"}
    assert hall.client("op").put("/api/walls/hall/tiles/1", json={"camera": None}).status_code == 200
    made = admin.post("/api/walls", json={"name": "east", "controllers": ["op"]})
    assert made.status_code == 201 and hall.client("op").get("/api/walls/east").json()["may_control"]
    audit = admin.get("/api/audit", params={"action": "wall.controllers", "limit": 10}).json()["items"]
    assert {a["target"] for a in audit} == {"wall:hall", "wall:east"}
