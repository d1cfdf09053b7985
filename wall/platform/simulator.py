"""The city's case platform, played: what ``citywall platform-sim`` (and ``citywall demo``) runs against citywall.

A real platform is a vendor's system a newcomer does not have, so without this the loop stops at "confirmed".
The simulator does what docs/platform.md asks of a platform, over real HTTP both ways:

- every webhook's ``X-Citywall-Signature`` is checked (a bad one is 401, counted, and changes nothing);
- a message is processed once per ``Idempotency-Key``: the outbox retries, so a redelivery is answered 2xx with
  the first answer and starts nothing;
- the evidence of each message is fetched by its signed link (no citywall login) and its SHA-256 compared;
- a confirmed case is ``dispatched`` (department, deadline) after ``dispatch_after`` seconds, reported
  ``handled`` (反馈, which starts a video check in citywall) ``handled_after`` seconds later, and ``closed``
  ``close_after`` seconds after a check says ``cleared_on_video`` (any check: citywall's automatic watch after
  the dispatch may see the place cleared before the department reports);
- ``still_present`` after a report is what a real platform answers with 返工: the department is sent back and
  reports ``handled`` again, at most ``max_rework`` times; then the case is left open for the platform's
  supervisors (it shows as overdue in citywall's statistics, which is what happens to such a case in a hall);
- ``picture_only`` (a place no rule of citywall watches, e.g. an operator's filing) is closed on the
  after-picture, as the platform's reviewer would after looking at it; ``camera_offline`` is left open.

Its own calls carry request ids made from the case and the step (``sim-citywall-42-dispatched``), so a restarted
simulator that gets a message again repeats a call harmlessly: citywall answers the first answer (idempotent on
``request_id``). What it did is kept in memory (:class:`SimRecord`, ``GET /record``) and each step is one log line;
the token never appears in either.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, Field, SecretStr, TypeAdapter, ValidationError

from wall.cases.models import PlatformRecord
from wall.cases.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from wall.platform.models import CheckOut, ClosedMessage, MessageKind, Verdict

log = logging.getLogger(__name__)
API = "/api/platform"


class EvidenceItem(BaseModel):
    """One entry of a message's ``evidence``: a signed link, or the bytes inline (``platform.evidence: base64``)."""

    kind: str
    sha256: str
    size: int
    url: str | None = None
    data: str | None = None


class ConfirmedMessage(PlatformRecord):
    """``case_confirmed``: the case record (wall.cases.models.PlatformRecord) as the outbox posts it."""

    message: Literal[MessageKind.CASE_CONFIRMED]
    evidence: list[EvidenceItem]
    idempotency_key: str


class CheckMessage(CheckOut):
    """``video_check``: the check (wall.platform.models.CheckOut) as the outbox posts it. Its evidence may be
    inline (base64), which CheckOut's pictures, always links when read through the API, do not allow for."""

    message: Literal[MessageKind.VIDEO_CHECK]
    evidence: list[EvidenceItem]  # type: ignore[assignment]
    idempotency_key: str


class ClosedNotice(ClosedMessage):
    """``case_closed``: an operator closed the case in citywall."""

    message: Literal[MessageKind.CASE_CLOSED]
    evidence: list[EvidenceItem] = Field(default_factory=list)
    idempotency_key: str


Message = Annotated[ConfirmedMessage | CheckMessage | ClosedNotice, Field(discriminator="message")]
MESSAGE: TypeAdapter[ConfirmedMessage | CheckMessage | ClosedNotice] = TypeAdapter(Message)


class SimulatorSettings(BaseModel):
    """What ``citywall platform-sim`` is told (its flags); the demo fills it in itself."""

    citywall_url: str = Field(description="Where citywall's platform API is, e.g. http://127.0.0.1:8080.")
    token: SecretStr = Field(description="A service account's token (citywall platform token create).")
    secret: SecretStr = Field(description="platform.secret of citywall's server.yaml: the webhooks' HMAC key.")
    department: str = "城管执法一中队"
    deadline_hours: float | None = Field(default=None, gt=0, description="A deadline sent with the dispatch, in "
                                         "hours from now; none: citywall's time limit of the code applies.")
    dispatch_after: float = Field(default=5.0, ge=0, description="Seconds from a confirmed case to dispatched.")
    handled_after: float = Field(default=15.0, ge=0, description="Seconds from dispatched (or 返工) to handled.")
    close_after: float = Field(default=3.0, ge=0, description="Seconds from a cleared verdict to closed.")
    max_rework: int = Field(default=1, ge=0, le=20, description="返工 rounds after still_present; then left open.")
    timeout: float = Field(default=20.0, gt=0, description="Seconds a call or evidence fetch may take.")


class Delivery(BaseModel):
    """A message received (once per idempotency key; ``times`` counts the redeliveries too)."""

    key: str
    message: MessageKind
    case: str | None
    check: int | None = None
    verdict: Verdict | None = None
    trigger: str | None = None
    at: datetime
    times: int = 1


class Fetch(BaseModel):
    """An evidence file fetched by its signed link (status 0: inline bytes, nothing fetched)."""

    key: str
    kind: str
    status: int
    size: int
    sha256_ok: bool


class Call(BaseModel):
    """A call of citywall's platform API and its answer."""

    case: str
    call: Literal["dispatched", "handled", "closed"]
    request_id: str
    status: int
    answer: str = Field(description="The case's status after the call, or citywall's refusal.")
    check: int | None = None


class CaseTrack(BaseModel):
    """A case as the platform holds it."""

    case: str
    state: Literal["received", "dispatched", "handled", "rework", "cleared", "closed", "left_open"] = "received"
    department: str | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    rework: int = 0


class SimRecord(BaseModel):
    """Everything the simulator saw and did, for ``GET /record`` (tests, a curious newcomer)."""

    deliveries: list[Delivery] = Field(default_factory=list)
    redelivered: int = 0
    bad_signatures: int = 0
    fetches: list[Fetch] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    cases: dict[str, CaseTrack] = Field(default_factory=dict)


class Answer(BaseModel):
    """What a webhook is answered (2xx: delivered). Never ``department``: dispatching is a call of its own."""

    ok: bool
    key: str | None = None
    duplicate: bool = False
    detail: str | None = None


class PlatformSimulator:
    """The platform's behaviour; the HTTP receiver (wall/platform/simulator_server.py) hands it each webhook.
    Everything runs on the receiver's event loop: one task per scheduled step, no locks."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.record = SimRecord()
        self._answers: dict[str, Answer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._api: httpx.AsyncClient | None = None
        self._links: httpx.AsyncClient | None = None

    async def start(self) -> None:
        s = self.settings
        self._api = httpx.AsyncClient(base_url=s.citywall_url.rstrip("/"), timeout=s.timeout,
                                      headers={"Authorization": f"Bearer {s.token.get_secret_value()}"})
        self._links = httpx.AsyncClient(timeout=s.timeout)  # no token: a signed link is its own permission

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in (self._api, self._links):
            if client is not None:
                await client.aclose()

    # -- receiving -------------------------------------------------------------------------------
    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, Answer]:
        """One webhook: (HTTP status, answer). Checks the signature first, then the key, then the body."""
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        expected = sign(self.settings.secret.get_secret_value(), body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
            self.record.bad_signatures += 1
            log.warning("platform-sim: webhook refused: %s (401; %d refused so far)",
                        "bad signature" if signature else "no signature", self.record.bad_signatures)
            return 401, Answer(ok=False, detail="bad or missing X-Citywall-Signature")
        key = headers.get(IDEMPOTENCY_HEADER.lower(), "")
        if key in self._answers:
            self.record.redelivered += 1
            for seen in self.record.deliveries:
                if seen.key == key:
                    seen.times += 1
            log.info("platform-sim: %s received again (a retry): answered as before, nothing done", key)
            return 200, self._answers[key].model_copy(update={"duplicate": True})
        try:
            message = MESSAGE.validate_json(body)
        except ValidationError as exc:
            log.warning("platform-sim: webhook %s refused: not a message of docs/platform.md (%d errors)",
                        key or "without a key", exc.error_count())
            return 422, Answer(ok=False, key=key, detail=str(exc.errors()[0]["msg"]))
        if not key or key != message.idempotency_key:
            return 400, Answer(ok=False, key=key, detail="Idempotency-Key missing or not the body's")
        answer = Answer(ok=True, key=key)
        self._answers[key] = answer
        self._take(message)
        return 200, answer

    def _take(self, message: ConfirmedMessage | CheckMessage | ClosedNotice) -> None:
        now = datetime.now(UTC)
        if isinstance(message, ConfirmedMessage):
            self.record.deliveries.append(Delivery(key=message.idempotency_key, message=message.message,
                                                   case=message.id, at=now))
            self.record.cases.setdefault(message.id, CaseTrack(case=message.id))
            log.info("platform-sim: %s received (case_confirmed, %s %s %s, %d evidence; signature ok)", message.id,
                     message.source, message.code, message.code_name, len(message.evidence))
            self._spawn(self._confirmed(message))
        elif isinstance(message, CheckMessage):
            self.record.deliveries.append(Delivery(
                key=message.idempotency_key, message=message.message, case=message.case, check=message.check,
                verdict=message.verdict, trigger=message.trigger, at=now))
            log.info("platform-sim: %s video check %s received (%s after %s; signature ok)", message.case or
                     f"camera {message.camera.id}", message.check, message.verdict, message.trigger)
            self._spawn(self._checked(message))
        else:
            self.record.deliveries.append(Delivery(key=message.idempotency_key, message=message.message,
                                                   case=message.case, at=now))
            track = self.record.cases.setdefault(message.case, CaseTrack(case=message.case))
            track.state = "closed"
            log.info("platform-sim: %s closed in citywall by %s: closed here too", message.case, message.closed_by)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("platform-sim: a step failed: %r", task.exception())

    # -- the platform's steps --------------------------------------------------------------------
    async def _confirmed(self, message: ConfirmedMessage) -> None:
        await self._fetch_all(message.idempotency_key, message.evidence)
        await asyncio.sleep(self.settings.dispatch_after)
        track = self.record.cases[message.id]
        if track.state != "received":
            return
        body = {"department": self.settings.department, "ref": f"SIM-{message.id.removeprefix('citywall-')}"}
        if self.settings.deadline_hours is not None:  # else citywall's own time limit of the code
            body["deadline"] = (datetime.now(UTC) + timedelta(hours=self.settings.deadline_hours)).isoformat()
        if await self._call(message.id, "dispatched", f"sim-{message.id}-dispatched", body):
            track.state, track.department = "dispatched", self.settings.department
            self._spawn(self._handled(message.id, 0))

    async def _handled(self, case: str, round_: int) -> None:
        await asyncio.sleep(self.settings.handled_after)
        track = self.record.cases[case]
        if track.state not in ("dispatched", "rework"):  # cleared meanwhile, or closed
            return
        note = "已处置，请核查" if round_ == 0 else f"返工后再次处置（第 {round_} 次），请核查"
        request_id = f"sim-{case}-handled" + (f"-{round_}" if round_ else "")
        if await self._call(case, "handled", request_id, {"note": note}):
            track.state = "handled"

    async def _checked(self, message: CheckMessage) -> None:
        await self._fetch_all(message.idempotency_key, message.evidence)
        if message.case is None or message.verdict is None:
            return  # a camera's picture for a case of the platform's own: nothing to move here
        track = self.record.cases.setdefault(message.case, CaseTrack(case=message.case))
        track.verdicts.append(message.verdict)
        if track.state in ("closed", "left_open"):
            return
        if message.verdict in (Verdict.CLEARED, Verdict.PICTURE_ONLY):
            if message.verdict is Verdict.PICTURE_ONLY and message.trigger in ("dispatched", "reopened"):
                return  # nobody asked for that picture; the department's report comes
            track.state = "cleared"  # a report still due is not sent: the case is closed next
            await asyncio.sleep(self.settings.close_after)
            note = "视频核查已消除，结案" if message.verdict is Verdict.CLEARED else "核查照片已审阅，结案"
            if track.state == "cleared" and \
                    await self._call(message.case, "closed", f"sim-{message.case}-closed", {"note": note}):
                track.state = "closed"
        elif message.verdict is Verdict.STILL_PRESENT and message.trigger == "handled" and track.state == "handled":
            if track.rework < self.settings.max_rework:
                track.rework += 1
                track.state = "rework"
                log.info("platform-sim: %s still present on video: sent back to %s (返工 %d of %d)", message.case,
                         track.department, track.rework, self.settings.max_rework)
                self._spawn(self._handled(message.case, track.rework))
            else:
                track.state = "left_open"
                log.info("platform-sim: %s still present after %d 返工: left open for the supervisors",
                         message.case, track.rework)
        elif message.verdict is Verdict.CAMERA_OFFLINE:
            log.info("platform-sim: %s: camera offline, no verdict: left open (an inspector would go)", message.case)

    # -- HTTP both ways --------------------------------------------------------------------------
    async def _call(self, case: str, call: Literal["dispatched", "handled", "closed"], request_id: str,
                    fields: dict[str, str]) -> bool:
        """POST one step to citywall; True when it took it (2xx)."""
        assert self._api is not None, "start() first"
        try:
            res = await self._api.post(f"{API}/cases/{case}/{call}", json={"request_id": request_id, **fields})
        except httpx.HTTPError as exc:
            self.record.calls.append(Call(case=case, call=call, request_id=request_id, status=0,
                                          answer=type(exc).__name__))
            log.warning("platform-sim: %s %s failed: %s", case, call, type(exc).__name__)
            return False
        answer, check, deadline = "", None, None
        try:
            document = res.json()
            answer = str(document.get("status") if res.is_success else document.get("detail"))
            check = document.get("check") if res.is_success else None
            deadline = document.get("deadline_at") if res.is_success else None
        except ValueError:
            answer = res.text[:200]
        self.record.calls.append(Call(case=case, call=call, request_id=request_id, status=res.status_code,
                                      answer=answer, check=check))
        extra = (f" to {fields['department']} (deadline {str(deadline)[:16] if deadline else 'none'})"
                 if call == "dispatched"
                 else f" ({fields['note']})" if "note" in fields else "")
        log.info("platform-sim: %s %s%s -> %d %s%s", case, call, extra, res.status_code, answer,
                 f", video check {check}" if check else "")
        return res.is_success

    async def _fetch_all(self, key: str, items: list[EvidenceItem]) -> None:
        for item in items:
            await self._fetch(key, item)

    async def _fetch(self, key: str, item: EvidenceItem) -> None:
        """One evidence file by its signed link (or decoded inline), checked against its SHA-256."""
        assert self._links is not None, "start() first"
        status, data = 0, b""
        if item.url:
            try:
                res = await self._links.get(urljoin(self.settings.citywall_url.rstrip("/") + "/", item.url))
                status, data = res.status_code, res.content if res.is_success else b""
            except httpx.HTTPError as exc:
                log.warning("platform-sim: %s: evidence %s not fetched: %s", key, item.kind, type(exc).__name__)
        elif item.data is not None:
            data = base64.b64decode(item.data)
        ok = bool(data) and hashlib.sha256(data).hexdigest() == item.sha256
        self.record.fetches.append(Fetch(key=key, kind=item.kind, status=status, size=len(data), sha256_ok=ok))
        # the link itself is not logged: it is a permission to the file until it expires
        log.info("platform-sim: %s: evidence %s %s (%d bytes, sha256 %s)", key, item.kind,
                 f"fetched by its signed link -> {status}" if item.url else "inline", len(data),
                 "ok" if ok else "MISMATCH")
