"""Two wall services on one database, as two control-plane replicas are (issue 12), on a real SQLite file: a
change made on a state another one replaced meanwhile is made again on the committed state (both changes stay),
never written over it; a change that no longer applies there is refused and the wall reloaded; many concurrent
edits of different tiles from both lose none (the version column is the compare-and-set). The same over two
real app instances on PostgreSQL, with the relay: tests/test_wall_replicas.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from tests.migration_helpers import table_diff
from wall.auth.audit import AuditEntry
from wall.auth.principal import Principal
from wall.errors import Conflict
from wall.hall_settings import WallSpec, layout_table
from wall.store.db import Database, database_url, open_database
from wall.store.walls import WallRow
from wall.walls.service import WallService
from wall.walls.state import Alarm

CAMERAS = [f"c{i}" for i in range(8)]
OPERATOR = Principal("duty", "operator", cameras=frozenset(CAMERAS))
ADMIN = Principal("root", "admin", all_cameras=True)
HALL = WallSpec(name="hall", layout="2x2", controllers=["role:operator"])


def replica(db: Database, pushed: list[Any] | None = None) -> WallService:
    """One replica's wall service (no ticker thread: the test drives it)."""
    svc = WallService(db, layout_table([]), CAMERAS, [HALL], publish=pushed.append if pushed is not None else None)
    svc.start()
    svc.stop()
    return svc


def committed(db: Database, name: str = "hall") -> tuple[dict[str, Any], int]:
    with db.session() as s:
        row = s.get(WallRow, name)
        assert row is not None
        return row.state, row.version


def test_a_change_on_a_stale_replica_is_made_again_on_the_committed_state(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    pushed: list[Any] = []
    a, b = replica(db), replica(db, pushed)
    start = committed(db)[1]
    a.set_tile("hall", OPERATOR, 0, "c1")
    assert b.walls["hall"].tiles[0] is None  # B has not heard of it (no relay here)
    view = b.set_tile("hall", OPERATOR, 1, "c2")
    # B's change was made again on A's committed one: both tiles, one version after A's.
    assert [t.camera for t in view.tiles][:2] == ["c1", "c2"]
    state, version = committed(db)
    assert state["tiles"][:2] == ["c1", "c2"] and version == state["version"] == start + 2 == view.version
    assert b.walls["hall"].tiles[:2] == ["c1", "c2"] and b.walls["hall"].version == version
    assert pushed, "B's displays were told the remade state"
    # A is stale now; its next change is remade the same way and keeps B's.
    a.set_tile("hall", OPERATOR, 2, "c3")
    assert committed(db)[0]["tiles"][:3] == ["c1", "c2", "c3"] and committed(db)[1] == start + 3
    with db.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target == "wall:hall")).all()
    assert actions.count("wall.tile") == 3


def test_a_change_that_no_longer_applies_is_refused_and_the_wall_reloaded(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    a, b = replica(db), replica(db)
    a.case_raised(Alarm(case_id=7, camera="c1"))
    b.adopt("hall", own=False)  # both show the alarm (the relay does this in cluster mode)
    assert b.walls["hall"].alarm is not None
    a.acknowledge("hall", OPERATOR)
    with pytest.raises(Conflict, match="no alarm is on show"):
        b.acknowledge("hall", OPERATOR)  # B still showed it: remade on the committed state, it has nothing to do
    assert b.walls["hall"].alarm is None and b.walls["hall"] == a.walls["hall"]
    with db.session() as s:
        acks = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "wall.alarm.ack"))
    assert acks == 1  # the refused one rolled back with its audit row


def test_a_seat_made_on_two_replicas_at_once_is_one_seat_and_a_second_create_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    a, b = replica(db), replica(db)
    a.set_tile("@me", OPERATOR, 0, "c4")  # the seat is made at first use, on A
    view = b.set_tile("@me", OPERATOR, 1, "c5")  # and B made it too (its memory had none): A's stays, B's tile on it
    assert [t.camera for t in view.tiles][:2] == ["c4", "c5"]
    assert committed(db, "@duty")[0]["tiles"][:2] == ["c4", "c5"]
    a.create(ADMIN, WallSpec(name="north", layout="2x2"))
    with pytest.raises(Conflict, match="exists"):
        b.create(ADMIN, WallSpec(name="north", layout="3x3"))
    assert committed(db, "north")[0]["layout"] == "2x2" and b.walls["north"].layout == "2x2"  # B took A's


def test_concurrent_edits_of_different_tiles_on_two_replicas_lose_none(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    services = [replica(db), replica(db)]
    start = committed(db)[1]
    rounds, errors = 15, []
    last: dict[int, str] = {}

    def edit(svc: WallService, tile: int) -> None:
        try:
            for n in range(rounds):
                camera = CAMERAS[(n + tile) % len(CAMERAS)]
                view = svc.set_tile("hall", OPERATOR, tile, camera)
                assert view.tiles[tile].camera == camera
                last[tile] = camera
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=(services[tile % 2], tile)) for tile in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and sum(svc.records.remade for svc in services) > 0  # the edits met
    state, version = committed(db)
    assert state["tiles"] == [last[i] for i in range(4)]
    assert version == start + 4 * rounds, "every edit is one version of the wall: none written over another"
    with db.session() as s:
        tiles = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "wall.tile"))
    assert tiles == 4 * rounds


def check_migration(url: str) -> None:
    """0019 over a wall stored before it: the column holds the state's version; down and up again."""
    db = Database(url)
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0017_ptz_leases")
            conn.execute(text("INSERT INTO walls (name, state, updated_at, updated_by) VALUES "
                              "('hall', '{\"name\": \"hall\", \"version\": 7}', '2026-01-01', 'system')"))
            command.upgrade(config, "head")
            assert conn.execute(text("SELECT version FROM walls")).scalar() == 7
            command.downgrade(config, "0017_ptz_leases")
            assert "version" not in {c["name"] for c in inspect(conn).get_columns("walls")}
            command.upgrade(config, "head")
        # (PostgreSQL differs on walls.updated_at's type from 0003 on: not this migration's column)
        assert [c for c in table_diff(db, "walls") if "version" in repr(c)] == []
        assert table_diff(db, "ptz_returns") == []
    finally:
        db.dispose()


def test_migration_0019_on_sqlite(tmp_path: Path) -> None:
    check_migration(database_url(tmp_path))


def test_migration_0019_on_postgresql(postgres_server: int) -> None:
    from tests.pg import database_url as pg_url

    check_migration(pg_url(postgres_server))
