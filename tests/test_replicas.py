"""Several control-plane replicas on one PostgreSQL (cluster mode's control plane, issue 12): two real app
instances on real sockets share the outbox — every idempotency key reaches the platform exactly once although
both deliver —, a seat pushed to the hall wall on one shows on a ``/ws/wall`` display of the other, with the
alarm of a case raised there and its dismissal when confirmed (LISTEN/NOTIFY), its evidence (in the shared
``server.evidence_dir``) is served by both, only one of them steps the tours, and a camera changed in the editor
of one runs with that change on the other, and so does a model promoted there.

The replicas run the single-box runtime here (their cameras do not matter to the store, and no Ray is needed);
the bridges are the ones ``create_app`` starts in cluster mode (``wall.cluster.replicas``), attached to each app
as they would be there. Both replicas read one configuration directory, as cluster mode asks.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.case_helpers import Receiver, event_change
from tests.conftest import SiteStarter, wait_until
from tests.pg import database_url
from vision.card import DEFAULT_CARD
from wall.cluster.replicas import ReplicaBridges
from wall.runtime.registry import ModelChanged
from wall.services import Services

CASES = 12


class Display:
    """A /ws/wall socket's messages as they come, kept: a case notice and the wall push it causes may arrive in
    either order (they travel on two channels), so a test waits for a message among those since a mark."""

    def __init__(self, ws) -> None:
        self.ws, self.seen = ws, []

    def mark(self) -> int:
        return len(self.seen)

    def wait(self, wanted: Callable[[dict], bool], since: int, timeout: float = 10) -> dict:
        deadline, index = time.monotonic() + timeout, since
        while True:
            while index < len(self.seen):
                if wanted(self.seen[index]):
                    return self.seen[index]
                index += 1
            self.seen.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def case(self, case_id: int, since: int) -> dict:
        return self.wait(lambda m: m.get("case", {}).get("id") == case_id, since)

    def hall(self, wanted: Callable[[dict], bool], since: int) -> dict:
        """A push of the hall wall that ``wanted`` takes."""
        return self.wait(lambda m: m.get("type") == "wall" and m["wall"]["name"] == "hall" and wanted(m["wall"]),
                         since)["wall"]


def shown(wall: dict) -> list[str | None]:
    return [tile["camera"] for tile in wall["tiles"]]


@pytest.mark.slow
def test_two_replicas_deliver_each_key_once_and_share_case_notices(
        postgres_server: int, serve_site: SiteStarter, tmp_path: Path) -> None:
    receiver = Receiver(delay=0.15)  # slow enough that both replicas' outboxes are at it at once
    cameras = ("cameras:\n  - {id: gate, name: 大门, url: 'rtsp://127.0.0.1:9/closed'}\n"
               "  - {id: yard, name: 院子, url: 'rtsp://127.0.0.1:9/closed'}\n")
    shared = tmp_path / "shared-evidence"  # the volume every replica mounts (the same one here: one machine)
    server = f"""
server:
  data_dir: {tmp_path / 'data'}
  evidence_dir: {shared}
  database_url: "{database_url(postgres_server)}"
platform:
  webhook_url: {receiver.url}
  secret: webhook-secret
"""
    bridges: list[ReplicaBridges] = []
    try:
        a = serve_site(cameras, server)
        b = serve_site(cameras, server, admin=False)  # the same database: the admin exists already
        parts = [Services.of(site.app) for site in (a, b)]
        bridges += [ReplicaBridges(p.site, p.db, p.registry, p.cases, p.walls, "replicas") for p in parts]
        for bridge in bridges:
            bridge.start()
        assert all(bridge.wait_listening(10) for bridge in bridges)
        assert [bridge.walls.keeping for bridge in bridges].count(True) == 1  # one replica steps the tours

        # A display of the hall wall on replica B; an operator's seat pushed to the hall on replica A.
        with connect(f"ws://127.0.0.1:{b.port}/ws/wall", open_timeout=20,
                     additional_headers={"Cookie": b.cookie(), "Origin": b.origin}) as ws:
            display = Display(ws)
            assert display.wait(lambda m: True, 0)["type"] == "hello"
            seat = a.client()
            for index, camera in enumerate(["yard", "gate", None, "yard"]):
                put = seat.put(f"/api/walls/@me/tiles/{index}", json={"camera": camera}, headers={"Origin": a.origin})
                assert put.status_code == 200, put.text
            pushed = seat.post("/api/walls/hall/push", json={}, headers={"Origin": a.origin})
            assert pushed.status_code == 200, pushed.text
            hall = display.hall(lambda w: shown(w) == ["yard", "gate", None, "yard"], 1)
            assert hall["version"] == pushed.json()["version"]
            assert shown(b.client().get("/api/walls/hall").json()) == ["yard", "gate", None, "yard"]

            # A case raised on A: its notice and its alarm on the hall reach B's display; confirmed, both leave.
            desk = a.app.state.services.cases.desk
            mark = display.mark()
            change = event_change(desk.evidence_dir, camera="gate")
            raised = desk.on_event(change)
            assert raised is not None
            assert display.case(raised, mark)["type"] == "case_raised"
            snapshot = Path(change.evidence["snapshot"])  # stored by A in the shared directory, served by B
            assert snapshot.parent == shared and parts[1].cases.desk.evidence_dir == shared
            served = b.client().get(f"/api/evidence/{snapshot.name}")
            assert served.status_code == 200 and served.content == snapshot.read_bytes()
            alarm = display.hall(lambda w: w["alarm"] is not None, mark)["alarm"]
            assert (alarm["case_id"], alarm["camera"]) == (raised, "gate")
            op = a.client()
            mark = display.mark()
            done = op.post(f"/api/cases/{raised}/confirm", json={"note": "核实"}, headers={"Origin": a.origin})
            assert done.status_code == 200, done.text
            decided = display.case(raised, mark)
            assert decided["type"] == "case_decided" and decided["case"]["status"] == "confirmed"
            assert shown(display.hall(lambda w: w["alarm"] is None, mark)) == ["yard", "gate", None, "yard"]
        assert bridges[1].notices.relayed >= 2 and bridges[0].notices.relayed == 0  # A told its own hub directly
        assert parts[1].walls.walls["hall"] == parts[0].walls.walls["hall"]  # B holds what A committed last

        # A camera renamed in B's editor: A (the supervising replica in cluster mode) runs it with the new name.
        renamed = b.client().put("/api/config/cameras/gate", json={"name": "北门"}, headers={"Origin": b.origin})
        assert renamed.status_code == 200, renamed.text
        # the relay counts a change just after it is in the registry: wait for both
        assert wait_until(lambda: getattr(parts[0].registry.get("gate"), "name", None) == "北门"
                          and bridges[0].config.applied == 1, 10, 0.05)
        assert bridges[0].config.applied == 1 and bridges[1].config.applied == 0

        # More confirmations, the outboxes of both replicas delivering at once: each key exactly once.
        others = [desk.on_event(event_change(desk.evidence_dir, camera="gate", place=f"{i}-1"))
                  for i in range(CASES - 1)]
        for case_id in others:
            assert case_id is not None
            desk.confirm(case_id, "admin")
        for site in (a, b):
            outbox = site.app.state.services.cases.outbox
            assert outbox is not None
            outbox.kick()
        sent = lambda: [m for m in a.app.state.services.cases.outbox.list("sent")]  # noqa: E731
        assert wait_until(lambda: len(sent()) == CASES, 60, 0.2), len(sent())
        time.sleep(0.5)  # a duplicate post would still be under way
        keys = Counter(receiver.keys())
        assert set(keys) == {f"citywall-case-{i}" for i in [raised, *others]}
        assert set(keys.values()) == {1}, keys
        assert all(m.attempts == 1 for m in sent())

        # A model promoted on B (analytics.yaml's model: names the new card, then the registry's model change, as
        # the admin console does it): A, which supervises the workers in cluster mode, hears it from the relay
        # and its registry tells its runtime; nothing is told back.
        directory = parts[1].site.directory
        assert parts[0].site.directory == directory
        candidate = directory / "models" / "candidate"
        candidate.mkdir(parents=True)
        for name in (DEFAULT_CARD.name, "yolox_nano_coco_416.onnx"):
            shutil.copy(DEFAULT_CARD.parent / name, candidate / name)
        (directory / "analytics.yaml").write_text(f"model: models/candidate/{DEFAULT_CARD.name}\ncameras: {{}}\n")
        models: dict[int, list[ModelChanged]] = {0: [], 1: []}
        for index, p in enumerate(parts):
            p.registry.subscribe_model(models[index].append)
        parts[1].registry.put_model(candidate / DEFAULT_CARD.name)
        assert wait_until(lambda: bridges[0].config.applied == 2, 10, 0.05)
        assert [m.card.resolve() for m in models[0]] == [(candidate / DEFAULT_CARD.name).resolve()]
        time.sleep(0.5)  # an echo back to B would be under way
        assert len(models[1]) == 1 and bridges[1].config.applied == 0
    finally:
        receiver.close()
        for bridge in bridges:
            bridge.stop()
