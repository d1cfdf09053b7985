"""Deadlines (处置时限) in everything the platform hears, over the real app and a real RTSP camera, with the city
platform as a real HTTP receiver: the case calls answer with the case's deadline (the one sent, else the event
code's time limit from the dispatch) and whether it was missed; ``video_check`` carries the case's deadline and
whether it had passed when the check ended; ``case_closed`` carries it and whether the case was handled late."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.case_helpers import Receiver, event_change
from tests.conftest import LiveServer, start_site, wait_until
from wall.cases.outbox import SIGNATURE_HEADER, sign
from wall.platform import accounts
from wall.platform.models import Scope

pytestmark = pytest.mark.slow
SECRET = "platform-secret"
LIMIT = 600  # the site's time limit of 0501, the code of tests.case_helpers.event_change


class Hall:
    def __init__(self, site: LiveServer, receiver: Receiver, platform: httpx.Client) -> None:
        self.site, self.receiver, self.platform = site, receiver, platform

    def confirmed_case(self) -> str:
        desk = self.site.app.state.services.cases.desk
        case_id = desk.on_event(event_change(desk.evidence_dir, camera="car", place=uuid.uuid4().hex[:8]))
        res = self.site.client("op").post(f"/api/cases/{case_id}/confirm", json={},
                                          headers={"Origin": self.site.origin})
        assert res.status_code == 200, res.text
        return f"citywall-{case_id}"

    def step(self, ref: str, call: str, **body: Any) -> dict[str, Any]:
        res = self.platform.post(f"/api/platform/cases/{ref}/{call}",
                                 json={"request_id": f"{ref}-{call}-{uuid.uuid4().hex[:6]}", **body})
        assert res.status_code == 200, res.text
        return dict(res.json())

    def message(self, kind: str, **match: Any) -> dict[str, Any]:
        def found() -> list[dict[str, Any]]:
            out = []
            for headers, body in list(self.receiver.posts):
                assert headers[SIGNATURE_HEADER] == sign(SECRET, body)
                document = json.loads(body)
                if document["message"] == kind and all(document.get(k) == v for k, v in match.items()):
                    out.append(document)
            return out

        assert wait_until(found, 20), (kind, match)
        return found()[0]


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, rtsp: RtspDevServer) -> Iterator[Hall]:
    directory: Path = tmp_path_factory.mktemp("deadlines")
    receiver = Receiver()
    cameras = f'cameras:\n  - {{id: car, name: 解放路口, url: "{rtsp.url("car")}"}}\n'
    server = (f"server:\n  data_dir: {directory / 'data'}\n"
              f"platform:\n  webhook_url: {receiver.url}\n  secret: {SECRET}\n"
              "  backoff_initial: 0.05\n  backoff_max: 0.2\n"
              f"  time_limits: {{default: 7200, codes: {{'0501': {LIMIT}}}}}\n")
    site = start_site(directory, cameras, server)
    site.add_user("op", "operator", grants=("car",))
    with site.db.session() as s:
        token = accounts.create(s, "city", [Scope.CASES, Scope.VERIFY])
    platform = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    assert wait_until(lambda: site.client("op").get("/api/cameras/car/snapshot.jpg").status_code == 200, 30)
    yield Hall(site, receiver, platform)
    platform.close()
    receiver.close()
    site.__exit__(None, None, None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_without_a_deadline_of_its_own_the_platform_learns_the_codes_limit(hall: Hall) -> None:
    ref = hall.confirmed_case()
    before = datetime.now(UTC)
    answer = hall.step(ref, "dispatched", department="一中队")
    deadline = at(answer["deadline_at"])
    assert before + timedelta(seconds=LIMIT - 1) <= deadline <= datetime.now(UTC) + timedelta(seconds=LIMIT + 1)
    assert answer["overdue"] is False and answer["status"] == "dispatched"
    handled = hall.step(ref, "handled", note="已清理")
    assert at(handled["deadline_at"]) == deadline and handled["overdue"] is False
    check = hall.message("video_check", case=ref, trigger="handled")
    assert at(check["case_deadline_at"]) == deadline and check["case_overdue"] is False
    assert at(check["deadline_at"]) != deadline  # the check's own end is another time
    closed = hall.step(ref, "closed")
    assert at(closed["deadline_at"]) == deadline and closed["overdue"] is False
    polled = hall.platform.get(f"/api/platform/checks/{check['check']}").json()
    assert at(polled["case_deadline_at"]) == deadline


def test_a_missed_deadline_is_said_in_the_answer_the_check_and_the_close(hall: Hall) -> None:
    ref = hall.confirmed_case()
    sent = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)  # the platform's own, already past
    answer = hall.step(ref, "dispatched", department="一中队", deadline=sent.astimezone().isoformat())
    assert at(answer["deadline_at"]) == sent and answer["overdue"] is True
    handled = hall.step(ref, "handled")
    check = hall.message("video_check", case=ref, check=handled["check"])
    assert at(check["case_deadline_at"]) == sent and check["case_overdue"] is True
    res = hall.site.client("op").post(f"/api/cases/{ref.removeprefix('citywall-')}/close",
                                      json={"note": "现场已清理"}, headers={"Origin": hall.site.origin})
    assert res.status_code == 200, res.text
    closed = hall.message("case_closed", case=ref)
    assert at(closed["deadline_at"]) == sent and closed["overdue"] is True and closed["closed_by"] == "op"


def test_a_camera_check_has_no_case_deadline(hall: Hall) -> None:
    res = hall.platform.post("/api/platform/verify", json={"request_id": "cam-1", "camera": "car"})
    assert res.status_code == 200, res.text
    assert res.json()["case_deadline_at"] is None and res.json()["case_overdue"] is None
