"""Several control-plane replicas on one PostgreSQL (cluster mode's control plane, issue 12): two real app
instances on real sockets share the outbox — every idempotency key reaches the platform exactly once although
both deliver — and a case confirmed on one reaches a browser's ``/ws/wall`` on the other (LISTEN/NOTIFY).

The replicas run the single-box runtime here (their cameras do not matter to the store); the bridge is the one
``create_app`` starts in cluster mode (``wall.cluster.notices``), attached to each app as it would be there.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.case_helpers import Receiver, event_change
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.pg import database_url
from wall.cluster.notices import CaseNoticeBridge

CASES = 12


def next_case_message(ws, case_id: int, timeout: float) -> dict:
    """The first /ws/wall message about ``case_id`` (others — the hello, other cases — are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("case", {}).get("id") == case_id:
            return message


@pytest.mark.slow
def test_two_replicas_deliver_each_key_once_and_share_case_notices(
        postgres_server: int, serve_site: SiteStarter, tmp_path: Path) -> None:
    receiver = Receiver(delay=0.15)  # slow enough that both replicas' outboxes are at it at once
    cameras = "cameras:\n  - {id: gate, name: 大门, url: 'rtsp://127.0.0.1:9/closed'}\n"
    server = f"""
server:
  data_dir: {tmp_path / 'data'}
  database_url: "{database_url(postgres_server)}"
platform:
  webhook_url: {receiver.url}
  secret: webhook-secret
"""
    try:
        a = serve_site(cameras, server)
        b = serve_site(cameras, server, admin=False)  # the same database: the admin exists already
        bridges = [CaseNoticeBridge(site.app.state.services.db, site.app.state.services.cases.desk,
                                    site.app.state.services.cases.notices) for site in (a, b)]
        for bridge in bridges:
            bridge.start()
        assert all(bridge.wait_listening(10) for bridge in bridges)

        # A browser on replica B; cases raised and confirmed on replica A.
        with connect(f"ws://127.0.0.1:{b.port}/ws/wall", open_timeout=20,
                     additional_headers={"Cookie": b.cookie(), "Origin": b.origin}) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            desk = a.app.state.services.cases.desk
            raised = desk.on_event(event_change(desk.evidence_dir, camera="gate"))
            assert raised is not None
            assert next_case_message(ws, raised, 10)["type"] == "case_raised"
            op = a.client()
            done = op.post(f"/api/cases/{raised}/confirm", json={"note": "核实"}, headers={"Origin": a.origin})
            assert done.status_code == 200, done.text
            decided = next_case_message(ws, raised, 10)
            assert decided["type"] == "case_decided" and decided["case"]["status"] == "confirmed"
        assert bridges[1].relayed >= 2 and bridges[0].relayed == 0  # A told its own hub directly

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
    finally:
        receiver.close()
        for site in list(serve_site.servers):
            _stop_bridges(site)


def _stop_bridges(site: LiveServer) -> None:
    for listener in site.app.state.services.cases.desk.listeners:
        bridge = getattr(listener, "__self__", None)
        if isinstance(bridge, CaseNoticeBridge):
            bridge.stop()
