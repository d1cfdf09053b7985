"""The whole case loop against the platform simulator (``citywall platform-sim``) over real HTTP both ways: the
real RTSP server plays the clips, the shipped model raises the cases, an operator confirms them through the API,
and the simulator (a real uvicorn service) receives the signed webhooks, fetches the evidence by the signed links
and calls citywall's platform API with a service token.

- the lobby: a visitor lingering at the table is a 0501 case → confirmed → dispatched → handled → the video check
  sees the table empty (the visitor leaves the clip) → cleared_on_video → closed;
- the shelf: a bottle standing on the display is a 0507 case → … → handled → still present (the bottle stays
  there but for a moment at each loop of the clip, shorter than the check's 8 s) → 返工: handled again → still
  present → left open by the platform.

Both sides' records are checked: citywall's case history, and the simulator's (each message once, signatures
valid, every evidence file fetched = 200 with its SHA-256); a redelivered message starts nothing, a tampered one
is 401. And ``citywall platform-sim`` itself: refused without its token and secret, serving with them, stopped by
SIGINT with exit code 0, the token in no line of its output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.conftest import REPO, LiveServer, start_site, wait_until
from tests.test_live_analytics import ANALYTICS  # the lobby's stall zone "table"
from wall.cases.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from wall.platform import accounts
from wall.platform.models import Scope
from wall.platform.simulator import SimRecord, SimulatorSettings
from wall.platform.simulator_server import SECRET_ENV, TOKEN_ENV, SimulatorServer
from wall.store.cases import Evidence, OutboxMessage

pytestmark = pytest.mark.slow

SECRET = "sim-secret"
SHELF = """  shelf:
    zones:
      - id: display
        family: road_occupation
        code: "0507"
        classes: [bottle]
        polygon: [[0.72, 0.55], [0.99, 0.55], [0.99, 0.99], [0.72, 0.99]]
        dwell_seconds: 4
        grace_seconds: 4
        clear_after_seconds: 8
        alarm_interval_seconds: 5
        confirm: {hits: 2, looks: 3}
"""


@pytest.fixture
def hall(rtsp: RtspDevServer, tmp_path: Path) -> Iterator[tuple[LiveServer, SimulatorServer]]:
    """citywall with the lobby (person clip) and the shelf (bottle clip), its webhook pointed at the simulator."""
    sim_port = free_port()
    cameras = ("cameras:\n"
               f'  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", analysis_interval: 1}}\n'
               f'  - {{id: shelf, name: 货架, url: "{rtsp.url("bottle")}", analysis_interval: 1}}\n')
    server = (f"server:\n  data_dir: {tmp_path / 'data'}\n"
              f"platform:\n  webhook_url: http://127.0.0.1:{sim_port}/webhook\n  secret: {SECRET}\n"
              "  evidence_url_ttl: 600\n  backoff_initial: 0.05\n  backoff_max: 0.5\n"
              "  verification:\n    default: {clear_after: 600, within: 7200}\n"
              "    codes: {'0501': {clear_after: 3, within: 300}, '0507': {clear_after: 8, within: 10}}\n")
    site = start_site(tmp_path, cameras, server, ANALYTICS + SHELF)
    site.add_user("op", "operator", grants=("lobby", "shelf"))
    with site.db.session() as s:
        token = accounts.create(s, "sim", list(Scope))
    settings = SimulatorSettings(citywall_url=site.url, token=SecretStr(token), secret=SecretStr(SECRET),
                                 dispatch_after=0.5, handled_after=0.5, close_after=0.2, max_rework=1)
    sim = SimulatorServer(settings, port=sim_port).start()
    try:
        yield site, sim
    finally:
        sim.stop()
        site.__exit__(None, None, None)


def record(sim: SimulatorServer) -> SimRecord:
    """The simulator's record as its HTTP API gives it."""
    res = httpx.get(f"{sim.url}/record", timeout=10)
    assert res.status_code == 200, res.text
    return SimRecord.model_validate(res.json())


def history(site: LiveServer, case_id: int) -> list[dict[str, Any]]:
    res = site.client("op").get(f"/api/cases/{case_id}")
    assert res.status_code == 200, res.text
    return list(res.json()["events"])


def test_the_loop_against_the_simulator(hall: tuple[LiveServer, SimulatorServer]) -> None:
    site, sim = hall
    op = site.client("op")
    confirmed: dict[str, int] = {}

    def confirm_the_first_cases() -> bool:
        """Confirm each camera's first case as soon as the analytics raise it (the visitor still at the table)."""
        for camera in ("lobby", "shelf"):
            if camera in confirmed:
                continue
            items = op.get("/api/cases", params={"camera": camera, "status": "pending_review"}).json()["items"]
            if items:
                case_id = min(c["id"] for c in items)
                res = op.post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": site.origin})
                assert res.status_code == 200, res.text
                confirmed[camera] = case_id
        return len(confirmed) == 2

    assert wait_until(confirm_the_first_cases, 150, 0.5), f"no AI case raised on each camera: {confirmed}"
    lobby, shelf = f"citywall-{confirmed['lobby']}", f"citywall-{confirmed['shelf']}"

    def state(case: str) -> str | None:
        track = record(sim).cases.get(case)
        return track.state if track else None

    assert wait_until(lambda: state(lobby) == "closed", 120, 0.5), record(sim).model_dump_json(indent=1)
    assert wait_until(lambda: state(shelf) == "left_open", 90, 0.5), record(sim).model_dump_json(indent=1)

    # citywall's side: the lobby case went the whole way, each step by whom it should be
    steps = [(e["action"], e["actor"]) for e in history(site, confirmed["lobby"])
             if e["action"] in ("raised", "confirm", "dispatch", "handled", "cleared_on_video", "close")]
    assert [a for a, _ in steps] == ["raised", "confirm", "dispatch", "handled", "cleared_on_video", "close"], steps
    assert dict(steps)["confirm"] == "op" and dict(steps)["dispatch"] == "platform:sim"
    assert dict(steps)["handled"] == "platform:sim" and dict(steps)["close"] == "platform:sim"
    case = op.get(f"/api/cases/{confirmed['lobby']}").json()
    assert case["status"] == "closed" and case["department"] == "城管执法一中队"
    assert "after_snapshot" in {e["kind"] for e in case["evidence"]}
    # the shelf case: two reports, two checks that still saw the bottle, still with the department
    shelf_steps = [e["action"] for e in history(site, confirmed["shelf"])
                   if e["action"] in ("dispatch", "handled", "still_present", "cleared_on_video", "close")]
    assert shelf_steps == ["dispatch", "handled", "still_present", "handled", "still_present"], shelf_steps
    assert op.get(f"/api/cases/{confirmed['shelf']}").json()["status"] == "still_present"

    # the simulator's side: each message once, signed; every evidence file fetched by its link, intact
    seen = record(sim)
    assert seen.bad_signatures == 0 and seen.redelivered == 0
    assert all(d.times == 1 for d in seen.deliveries)
    by_case = {c: [d for d in seen.deliveries if d.case == c] for c in (lobby, shelf)}
    assert [(d.message, d.verdict, d.trigger) for d in by_case[lobby]] == [
        ("case_confirmed", None, None), ("video_check", "cleared_on_video", "handled")]
    assert [(d.message, d.verdict, d.trigger) for d in by_case[shelf]] == [
        ("case_confirmed", None, None), ("video_check", "still_present", "handled"),
        ("video_check", "still_present", "handled")]
    assert seen.fetches and all(f.status == 200 and f.sha256_ok and f.size > 0 for f in seen.fetches), seen.fetches
    for d in by_case[lobby] + by_case[shelf]:
        kinds = {f.kind for f in seen.fetches if f.key == d.key}
        assert kinds >= ({"snapshot"} if d.message == "case_confirmed" else {"before_picture", "after_picture"}), d
    calls = [(c.case, c.call, c.status) for c in seen.calls]
    assert calls.count((lobby, "dispatched", 200)) == 1 and calls.count((lobby, "closed", 200)) == 1
    assert calls.count((shelf, "handled", 200)) == 2 and (shelf, "closed", 200) not in calls
    assert seen.cases[shelf].rework == 1 and seen.cases[shelf].verdicts == ["still_present", "still_present"]

    # a redelivery (the outbox's retry of the same key, as it would post it) is answered 2xx and starts nothing
    outbox = site.app.state.services.cases.outbox
    with site.db.session() as s:
        message = s.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == f"citywall-case-{confirmed['lobby']}")).one()
        body = outbox.body(message, list(s.scalars(select(Evidence).where(Evidence.case_id == message.case_id))))
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.idempotency_key}
    again = httpx.post(sim.webhook_url, content=body, headers={**headers, SIGNATURE_HEADER: sign(SECRET, body)})
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    tampered = body.replace(b'"status"', b'"Status"', 1)
    refused = httpx.post(sim.webhook_url, content=tampered, headers={**headers, SIGNATURE_HEADER: sign(SECRET, body)})
    assert refused.status_code == 401, refused.text
    assert not wait_until(lambda: len(record(sim).calls) > len(seen.calls), 2), "a redelivery was acted on"
    after = record(sim)
    assert after.redelivered == 1 and after.bad_signatures == 1 and len(after.deliveries) == len(seen.deliveries)
    assert [d.times for d in after.deliveries if d.key == message.idempotency_key] == [2]
    assert json.loads(body)["id"] == lobby


def test_the_command_needs_its_token_and_secret_and_stops_cleanly(tmp_path: Path) -> None:
    """``citywall platform-sim`` as a vendor starts it: no token or secret is exit 2 before anything listens; with
    them it serves (a webhook signed with another key is 401), logs without the token, and SIGINT ends it with 0."""
    command = [sys.executable, "-m", "wall.cli", "platform-sim", "--port", str(port := free_port())]
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, SECRET_ENV)} | {"PYTHONPATH": str(REPO)}
    refused = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--token-file" in refused.stderr, refused.stderr
    token, secret = "cwp_" + "t" * 43, "a-secret"
    (tmp_path / "token").write_text(token + "\n")
    proc = subprocess.Popen([*command, "--token-file", str(tmp_path / "token")], cwd=REPO, text=True,
                            env={**env, SECRET_ENV: secret}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, "platform-sim ended early"
                return False

        assert wait_until(up, 30, 0.2), "platform-sim did not serve"
        body = b'{"message": "case_closed"}'
        res = httpx.post(f"http://127.0.0.1:{port}/webhook", content=body,
                         headers={SIGNATURE_HEADER: sign("another-key", body), IDEMPOTENCY_HEADER: "k-1"})
        assert res.status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/record").json()["bad_signatures"] == 1
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "listening on" in out and "webhook refused: bad signature" in out, out
    assert token not in out and secret not in out and "Traceback" not in out, out
