"""A video check outlives a restart: a dispatched case's watch is in the database, the next start arms it again
in the real analytics (real RTSP camera, the shipped model) with the time it has left, and its verdict reaches
the platform once. The per-code times of ``platform.verification`` are the check's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.case_helpers import Receiver, event_change
from tests.conftest import start_site, wait_until
from tests.test_live_analytics import ANALYTICS  # the lobby's stall zone "table"
from wall.cases.outbox import SIGNATURE_HEADER, sign
from wall.platform import accounts
from wall.platform.models import Scope
from wall.store.platform import VideoCheck

pytestmark = pytest.mark.slow

SECRET = "watch-secret"


def test_a_watch_resumes_after_a_restart_and_reports_once(rtsp: RtspDevServer, tmp_path: Path) -> None:
    receiver = Receiver()
    server = (f"server:\n  data_dir: {tmp_path / 'data'}\n"
              f"platform:\n  webhook_url: {receiver.url}\n  secret: {SECRET}\n  backoff_initial: 0.05\n"
              "  verification:\n    default: {clear_after: 600, within: 7200}\n"
              "    codes: {'0501': {clear_after: 3, within: 900}}\n")
    # first run: the lobby's stream cannot be reached, so its analyzer holds the watch without a look
    dark = f'cameras:\n  - {{id: lobby, name: 大厅, url: "rtsp://127.0.0.1:{free_port()}/none"}}\n'
    first = start_site(tmp_path, dark, server, ANALYTICS)
    try:
        first.add_user("op", "operator", grants=("lobby",))
        services = first.app.state.services
        with first.db.session() as s:
            token = accounts.create(s, "city", [Scope.CASES])
        # a stall case at a place of the table zone where nobody sits (its top-left corner)
        change = dataclasses.replace(event_change(services.cases.desk.evidence_dir, camera="lobby"),
                                     zone_id="table", place_box=(0.0, 0.0, 8.0, 8.0))
        case_id = services.cases.desk.on_event(change)
        res = first.client("op").post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": first.origin})
        assert res.status_code == 200, res.text
        res = httpx.post(f"{first.url}/api/platform/cases/citywall-{case_id}/dispatched",
                         json={"request_id": "d-1", "department": "一中队"},
                         headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200, res.text
        check_id = res.json()["check"]
        assert wait_until(lambda: check_id in services.cases.checks.armed, 10), "the watch was not armed"
        analyzer = services.runtime.analytics.analyzers["lobby"]
        assert [w.event_id for w in analyzer.watches] == [f"check-{check_id}"]
    finally:
        first.__exit__(None, None, None)
    with first.db.session() as s:
        row = s.get(VideoCheck, check_id)
        assert row is not None and row.status == "watching" and (row.clear_after, row.within) == (3.0, 900.0)

    # second run: the camera is back; the check is armed again and the place, empty, clears in 3 s of looks
    live = f'cameras:\n  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", analysis_interval: 1}}\n'
    second = start_site(tmp_path, live, server, ANALYTICS, admin=False)
    try:
        def checks() -> list[dict]:
            return [json.loads(body) for headers, body in receiver.posts
                    if json.loads(body)["message"] == "video_check"
                    and headers[SIGNATURE_HEADER] == sign(SECRET, body)]

        assert wait_until(checks, 90, 0.25), "no verdict after the restart"
        [result] = checks()
        assert result["check"] == check_id and result["verdict"] == "cleared_on_video"
        assert result["case"] == f"citywall-{case_id}" and result["trigger"] == "dispatched"
        assert {e["kind"] for e in result["evidence"]} == {"before_picture", "after_picture"}
        with second.db.session() as s:
            assert s.scalars(select(VideoCheck.status).where(VideoCheck.id == check_id)).one() == "done"
        case = second.app.state.services.cases.desk.get(case_id)
        assert case.status == "cleared_on_video" and "after_snapshot" in {e.kind for e in case.evidence}
        second.app.state.services.cases.outbox.kick()
        assert not wait_until(lambda: len(checks()) > 1, 3), "the verdict was reported twice"
        assert receiver.keys().count(f"citywall-check-{check_id}") == 1
    finally:
        second.__exit__(None, None, None)
        receiver.close()
