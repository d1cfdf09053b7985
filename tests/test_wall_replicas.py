"""Two control-plane replicas editing one wall at once (issue 12): two real app instances on real sockets, one
PostgreSQL, the relays ``create_app`` starts in cluster mode (``wall.cluster.replicas``). Operators on both edit
different tiles of the hall, many times, from several threads; every edit stays — each is one version of the
wall, so an edit written over another would show as a missing version —, and both replicas and the database end
with the last edit of every tile. (The same conflict path on SQLite, without the relay: test_walls_conflicts.py.)
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import SiteStarter, wait_until
from tests.pg import database_url
from wall.auth.audit import AuditEntry
from wall.cluster.replicas import ReplicaBridges
from wall.services import Services
from wall.store.walls import WallRow

ROUNDS = 20  # edits per thread
SHOWN = ["gate", "yard", None]


@pytest.mark.slow
def test_concurrent_edits_of_different_tiles_on_two_replicas_all_stay(
        postgres_server: int, serve_site: SiteStarter, tmp_path: Path) -> None:
    cameras = ("cameras:\n  - {id: gate, name: 大门, url: 'rtsp://127.0.0.1:9/closed'}\n"
               "  - {id: yard, name: 院子, url: 'rtsp://127.0.0.1:9/closed'}\n")
    server = f"""
server:
  data_dir: {tmp_path / 'data'}
  database_url: "{database_url(postgres_server)}"
"""
    bridges: list[ReplicaBridges] = []
    try:
        a = serve_site(cameras, server)
        b = serve_site(cameras, server, admin=False)  # the same database: the admin exists already
        parts = [Services.of(site.app) for site in (a, b)]
        bridges += [ReplicaBridges(p.site, p.db, p.registry, p.cases, p.walls, "wall-replicas") for p in parts]
        for bridge in bridges:
            bridge.start()
        assert all(bridge.wait_listening(10) for bridge in bridges)
        with parts[0].db.session() as s:
            hall = s.get(WallRow, "hall")
            assert hall is not None
            start, tiles = hall.version, len(hall.state["tiles"])
        assert tiles >= 4

        # Tiles 0 and 2 edited on A, 1 and 3 on B, each by its own thread and client, all at once.
        last: dict[int, str | None] = {}
        failures: list[str] = []
        go = threading.Barrier(4)

        def edit(tile: int) -> None:
            site = (a, b)[tile % 2]
            with site.client(headers={"Origin": site.origin}, timeout=60) as client:
                go.wait(30)
                for n in range(ROUNDS):
                    camera = SHOWN[(n + tile) % len(SHOWN)]
                    answer = client.put(f"/api/walls/hall/tiles/{tile}", json={"camera": camera})
                    if answer.status_code != 200 or answer.json()["tiles"][tile]["camera"] != camera:
                        failures.append(f"tile {tile} round {n}: {answer.status_code} {answer.text[:200]}")
                        return
                    last[tile] = camera

        threads = [threading.Thread(target=edit, args=(tile,)) for tile in range(4)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        took = time.monotonic() - began
        assert failures == [] and len(last) == 4, failures[:3]
        remade = [p.walls.records.remade for p in parts]
        print(f"wall replicas: {4 * ROUNDS} edits in {took:.1f} s, remade on the other's state: {remade}")
        assert sum(remade) > 0, "the edits never met: the test did not test the conflict"

        # The database: every edit one version on, the last edit of each tile shown, every edit audited.
        wanted = [last[i] for i in range(4)]
        with parts[0].db.session() as s:
            hall = s.get(WallRow, "hall")
            assert hall is not None
            assert hall.state["tiles"][:4] == wanted
            assert hall.version == hall.state["version"] == start + 4 * ROUNDS, (hall.version, start)
            details = s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "wall.tile",
                                                                 AuditEntry.target == "wall:hall")).all()
        audited = Counter(json.loads(detail)["tile"] for detail in details)
        assert audited == {0: ROUNDS, 1: ROUNDS, 2: ROUNDS, 3: ROUNDS}

        # Both replicas hold and serve what was committed last (the relay's notifications, in commit order).
        assert wait_until(lambda: all(p.walls.walls["hall"].version == start + 4 * ROUNDS for p in parts), 15, 0.1), \
            [p.walls.walls["hall"].version for p in parts]
        assert parts[0].walls.walls["hall"] == parts[1].walls.walls["hall"]
        for site in (a, b):
            served = site.client().get("/api/walls/hall").json()
            assert [t["camera"] for t in served["tiles"]][:4] == wanted and served["version"] == start + 4 * ROUNDS
    finally:
        for bridge in bridges:
            bridge.stop()
