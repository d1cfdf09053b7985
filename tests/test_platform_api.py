"""The platform API over the real app and a real RTSP camera, with the city platform as a real HTTP receiver:
who may call it (only a service token with its scope), the case steps and their refusals, idempotency, a verify
by national id, every message of a case with valid signatures and signed evidence links (fetchable; refused
when tampered or expired), the service-account commands, and schemathesis over the platform tag."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # loaded at collection, see below
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from streams.devserver.rtsp import RtspDevServer, free_port
from streams.stills import jpeg_size
from tests.case_helpers import Receiver, event_change
from tests.conftest import Clock, LiveServer, start_site, wait_until
from wall.cases.outbox import SIGNATURE_HEADER, sign
from wall.platform import accounts
from wall.platform.models import Scope

pytestmark = pytest.mark.slow
# schemathesis loads its OpenAPI modules on first use, and pytest parses each (it rewrites a plugin's asserts). In
# a test, with the app's threads running, that parse can fail on Python 3.11.7 (CPython gh-106905: the AST
# builder's depth counter is shared by threads), so they are imported here, at collection, before any thread.

SECRET = "platform-secret"
NATIONAL_ID = "34010000001320000001"


@dataclasses.dataclass
class Hall:
    site: LiveServer
    receiver: Receiver
    token: str
    platform: httpx.Client
    clock: Clock

    def raise_case(self, camera: str = "car") -> int:
        desk = self.site.app.state.services.cases.desk
        change = event_change(desk.evidence_dir, camera=camera, place=uuid.uuid4().hex[:8])  # a case of its own
        case_id = desk.on_event(change)
        assert case_id is not None
        return case_id

    def confirm(self, case_id: int) -> None:
        res = self.site.client("op").post(f"/api/cases/{case_id}/confirm", json={},
                                          headers={"Origin": self.site.origin})
        assert res.status_code == 200, res.text

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The posts the platform received, each checked against its signature."""
        out = []
        for headers, body in list(self.receiver.posts):
            assert headers[SIGNATURE_HEADER] == sign(SECRET, body), "bad signature"
            document = json.loads(body)
            if kind is None or document["message"] == kind:
                out.append(document)
        return out


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, rtsp: RtspDevServer) -> Iterator[Hall]:
    directory: Path = tmp_path_factory.mktemp("platform")
    receiver = Receiver()  # answers {"ok": true}: nothing is dispatched by the webhook's reply
    cameras = ("cameras:\n"
               f'  - {{id: car, name: 解放路口, url: "{rtsp.url("car")}", national_id: "{NATIONAL_ID}"}}\n'
               f'  - {{id: dark, name: 无信号, url: "rtsp://127.0.0.1:{free_port()}/none"}}\n')
    server = (f"server:\n  data_dir: {directory / 'data'}\n"
              f"platform:\n  webhook_url: {receiver.url}\n  secret: {SECRET}\n  evidence_url_ttl: 600\n"
              "  backoff_initial: 0.05\n  backoff_max: 0.2\n")
    site = start_site(directory, cameras, server)
    site.add_user("op", "operator", grants=("car", "dark"))
    site.add_user("viewer", "viewer", grants=("car",))
    with site.db.session() as s:
        token = accounts.create(s, "city", [Scope.CASES, Scope.VERIFY])
    clock = Clock().install(site)
    platform = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    assert wait_until(lambda: site.client("op").get("/api/cameras/car/snapshot.jpg").status_code == 200, 30)
    yield Hall(site, receiver, token, platform, clock)
    platform.close()
    receiver.close()
    site.__exit__(None, None, None)


def call(client: httpx.Client, path: str, **body: Any) -> httpx.Response:
    return client.post(f"/api/platform{path}", json=body)


def test_only_a_service_token_with_its_scope_opens_the_platform_api(hall: Hall) -> None:
    case = hall.raise_case()
    hall.confirm(case)
    path = f"/api/platform/cases/citywall-{case}/dispatched"
    body = {"request_id": "auth-1", "department": "城管执法一中队"}
    browser = hall.site.client("op").post(path, json=body, headers={"Origin": hall.site.origin})
    assert browser.status_code == 401 and "service account" in browser.json()["detail"]
    viewer = httpx.post(hall.site.url + path, json=body,
                        headers={"Authorization": f"Bearer {hall.site.token('viewer')}"})
    assert viewer.status_code == 401
    wrong = httpx.post(hall.site.url + path, json=body, headers={"Authorization": f"Bearer {hall.token}x"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    with hall.site.db.session() as s:
        verify_only = accounts.create(s, "inspector", [Scope.VERIFY])
    scoped = httpx.post(hall.site.url + path, json=body, headers={"Authorization": f"Bearer {verify_only}"})
    assert scoped.status_code == 403
    assert hall.site.client("op").get(f"/api/cases/{case}").json()["status"] == "confirmed"  # nothing happened
    refused = hall.site.client().get("/api/audit", params={"action": "platform.refused", "success": "false"}).json()
    assert len(refused["items"]) >= 3 and all(r["target"] == path for r in refused["items"])


def test_case_steps_refusals_and_idempotency(hall: Hall) -> None:
    case = hall.raise_case()
    ref = f"citywall-{case}"
    early = call(hall.platform, f"/cases/{ref}/dispatched", request_id="s-0", department="一中队")
    assert early.status_code == 409 and "pending_review" in early.json()["detail"]  # not confirmed: never sent
    assert call(hall.platform, "/cases/citywall-999999/dispatched", request_id="s-1",
                department="一中队").status_code == 404
    hall.confirm(case)
    first = call(hall.platform, f"/cases/{ref}/dispatched", request_id="s-2", department="一中队",
                 deadline="2026-12-03T08:00:00+00:00", ref="HF-1")
    assert first.status_code == 200, first.text
    again = call(hall.platform, f"/cases/{ref}/dispatched", request_id="s-2", department="一中队",
                 deadline="2026-12-03T08:00:00+00:00", ref="HF-1")
    assert again.json() == first.json() and first.json()["status"] == "dispatched"  # a retry changes nothing
    reused = call(hall.platform, f"/cases/{ref}/closed", request_id="s-2")
    assert reused.status_code == 409 and "another call" in reused.json()["detail"]
    twice = call(hall.platform, f"/cases/{ref}/dispatched", request_id="s-3", department="二中队")
    assert twice.status_code == 409  # a new request for a step already taken
    handled = call(hall.platform, f"/cases/{ref}/handled", request_id="s-4", note="已清理")
    assert handled.status_code == 200 and handled.json()["check"] is not None
    closed = call(hall.platform, f"/cases/{ref}/closed", request_id="s-5")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopened = call(hall.platform, f"/cases/{ref}/reopened", request_id="s-6", reason="返工")
    assert reopened.status_code == 200 and reopened.json()["status"] == "dispatched"
    record = hall.site.client("op").get(f"/api/cases/{case}").json()
    actions = [(e["action"], e["actor"]) for e in record["events"] if e["actor"] == "platform:city"]
    assert [a for a, _ in actions] == ["dispatch", "handled", "close", "reopen"]
    assert record["department"] == "一中队"
    rejected = hall.raise_case()
    res = hall.site.client("op").post(f"/api/cases/{rejected}/reject", json={"reason": "licensed_stall"},
                                      headers={"Origin": hall.site.origin})
    assert res.status_code == 200, res.text
    verify = call(hall.platform, "/verify", request_id="s-7", case=f"citywall-{rejected}")
    assert verify.status_code == 409 and "rejected" in verify.json()["detail"]
    for bad in ({"request_id": "s-8"}, {"request_id": "s-8", "camera": "car", "national_id": NATIONAL_ID},
                {"request_id": "s 8", "camera": "car"},
                {"request_id": "s-8", "camera": "car", "box": [0.5, 0, 0.4, 1]}):
        assert hall.platform.post("/api/platform/verify", json=bad).status_code == 422, bad
    assert call(hall.platform, "/verify", request_id="s-9", camera="nope").status_code == 404
    assert call(hall.platform, "/verify", request_id="s-10", national_id="9" * 20).status_code == 404
    audit = hall.site.client().get("/api/audit", params={"user": "platform:city", "action": "platform."}).json()
    done = {(r["action"], r["success"]) for r in audit["items"]}
    assert {("platform.dispatched", True), ("platform.dispatched", False), ("platform.verify", False)} <= done


def test_verify_by_national_id_returns_an_after_picture_by_a_signed_link(hall: Hall) -> None:
    res = call(hall.platform, "/verify", request_id="v-1", national_id=NATIONAL_ID, box=[0.1, 0.2, 0.5, 0.9])
    assert res.status_code == 200, res.text
    check = res.json()
    assert check["verdict"] == "picture_only" and check["status"] == "done" and check["case"] is None
    assert check["camera"] == {"id": "car", "name": "解放路口", "national_id": NATIONAL_ID}
    [after] = check["evidence"]
    assert after["kind"] == "after_picture"
    picture = httpx.get(hall.site.url + after["url"])  # no login, no token
    assert picture.status_code == 200 and jpeg_size(picture.content) is not None
    assert call(hall.platform, "/verify", request_id="v-1", national_id=NATIONAL_ID,
                box=[0.1, 0.2, 0.5, 0.9]).json()["check"] == check["check"]
    assert wait_until(lambda: [m for m in hall.messages("video_check") if m["check"] == check["check"]], 20)
    [message] = [m for m in hall.messages("video_check") if m["check"] == check["check"]]
    assert message["verdict"] == "picture_only" and message["box"] == [0.1, 0.2, 0.5, 0.9]
    assert httpx.get(hall.site.url + message["evidence"][0]["url"]).content == picture.content
    offline = call(hall.platform, "/verify", request_id="v-2", camera="dark").json()
    assert offline["verdict"] == "camera_offline" and offline["evidence"] == []

    url = after["url"]
    name = url.split("?")[0].rsplit("/", 1)[1]
    tampered = url.replace(name, "0" * 64 + ".jpg")
    assert httpx.get(hall.site.url + tampered).status_code == 403
    later = url.replace("expires=", "expires=9")
    assert httpx.get(hall.site.url + later).status_code == 403  # a longer life is a new signature
    hall.clock.advance(601)
    try:
        expired = httpx.get(hall.site.url + url)
        assert expired.status_code == 403 and "expired" in expired.json()["detail"]
        fresh = hall.platform.get(f"/api/platform/checks/{check['check']}").json()["evidence"][0]["url"]
        assert httpx.get(hall.site.url + fresh).status_code == 200
    finally:
        hall.clock.advance(-601)


def test_a_cases_messages_reach_the_platform_signed_with_fetchable_evidence(hall: Hall) -> None:
    case = hall.raise_case()
    hall.confirm(case)
    ref = f"citywall-{case}"
    assert wait_until(lambda: [m for m in hall.messages("case_confirmed") if m["id"] == ref], 20)
    [confirmed] = [m for m in hall.messages("case_confirmed") if m["id"] == ref]
    snapshot = confirmed["evidence"][0]
    assert snapshot["kind"] == "snapshot"
    assert httpx.get(hall.site.url + snapshot["url"]).status_code == 200  # the platform needs no login
    assert call(hall.platform, f"/cases/{ref}/dispatched", request_id=f"m-{case}-1", department="一中队"
                ).status_code == 200
    handled = call(hall.platform, f"/cases/{ref}/handled", request_id=f"m-{case}-2").json()
    # no rule of the camera covers the place: the check answers with the after-picture beside the before one
    assert wait_until(lambda: [m for m in hall.messages("video_check") if m["check"] == handled["check"]], 20)
    [result] = [m for m in hall.messages("video_check") if m["check"] == handled["check"]]
    assert result["case"] == ref and result["verdict"] == "picture_only" and result["trigger"] == "handled"
    kinds = {e["kind"]: e for e in result["evidence"]}
    assert set(kinds) == {"before_picture", "after_picture"}
    for item in kinds.values():
        assert httpx.get(hall.site.url + item["url"]).status_code == 200
    res = hall.site.client("op").post(f"/api/cases/{case}/close", json={"note": "现场已清理"},
                                      headers={"Origin": hall.site.origin})
    assert res.status_code == 200, res.text
    assert wait_until(lambda: [m for m in hall.messages("case_closed") if m["case"] == ref], 20)
    [closed] = [m for m in hall.messages("case_closed") if m["case"] == ref]
    assert closed["closed_by"] == "op" and closed["status"] == "closed"
    keys = [k for k in hall.receiver.keys() if k.endswith(f"-{case}") or f"-{case}-" in k]  # noqa: SIM118
    assert len(keys) == len(set(keys))  # each message once


def test_service_accounts_from_the_command_line(hall: Hall, capsys: pytest.CaptureFixture[str]) -> None:
    from wall.cli import main

    config = ["--config", str(Path(hall.site.app.state.services.site.directory))]
    assert main(["platform", "token", "create", "sim", "--scope", "verify", *config]) == 0
    first = capsys.readouterr().out.strip()
    ask = {"request_id": "cli-1", "camera": "dark"}
    assert httpx.post(f"{hall.site.url}/api/platform/verify", json=ask,
                      headers={"Authorization": f"Bearer {first}"}).status_code == 200
    assert main(["platform", "token", "rotate", "sim", *config]) == 0
    second = capsys.readouterr().out.strip()
    for token, status in ((first, 401), (second, 200)):
        res = httpx.post(f"{hall.site.url}/api/platform/verify", json={**ask, "request_id": f"cli-{status}"},
                         headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == status
    assert main(["platform", "token", "list", "--json", *config]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["sim"]["scopes"] == ["verify"] and listed["sim"]["last_used_at"] is not None
    assert second not in json.dumps(listed)
    assert main(["platform", "token", "revoke", "sim", *config]) == 0
    assert httpx.post(f"{hall.site.url}/api/platform/verify", json={**ask, "request_id": "cli-3"},
                      headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert main(["platform", "token", "create", "sim", *config]) == 1  # exists: rotate instead


def in_own_thread(check: Callable[[], None]) -> list[Exception]:
    """Run one operation's hypothesis run in a thread of its own: CPython 3.11's AST validator keeps a recursion
    count in the thread state that a deep negative body can leave wrong (gh-106905), after which any ast.parse in
    that thread — hypothesis' own — raises SystemError; a fresh thread starts with a fresh state."""
    raised: list[Exception] = []

    def run() -> None:
        try:
            check()
        except Unsatisfiable:
            pass
        except Exception as exc:
            raised.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return raised


def test_schemathesis_over_the_platform_tag_finds_no_server_error(hall: Hall) -> None:
    api = schemathesis.openapi.from_url(f"{hall.site.url}/openapi.json").include(tag="platform")
    calls, failures = 0, []
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=hall.site.url, headers={"Authorization": f"Bearer {hall.token}"},
                                       checks=[not_a_server_error])

            failures.extend(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
                            for exc in in_own_thread(check))
    assert not failures, "\n".join(failures)
    assert calls >= 40


def test_pictures_inline_when_the_site_sends_evidence_as_base64(tmp_path: Path) -> None:
    """platform.evidence: base64 — a check's pictures carry their bytes and no link (the verify answer and
    GET /api/platform/checks/{id} describe them with the same model as the messages)."""
    import base64
    import hashlib

    from wall.cases.links import EvidenceLinks
    from wall.platform.models import Picture

    jpeg = b"\xff\xd8 after \xff\xd9"
    name = hashlib.sha256(jpeg).hexdigest() + ".jpg"
    (tmp_path / name).write_bytes(jpeg)
    links = EvidenceLinks(secret=SECRET, public_base_url="http://citywall.example", ttl=60, mode="base64",
                          evidence_dir=tmp_path)
    picture = Picture.model_validate(links.item("after_picture", name))
    assert picture.url == "" and picture.data is not None and base64.b64decode(picture.data) == jpeg
    assert picture.size == len(jpeg) and picture.sha256 == name.removesuffix(".jpg")
