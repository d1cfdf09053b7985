"""The platform API's operations: the city's case platform moves citywall's cases on (dispatched, handled,
closed, reopened) and asks for video checks (verify). Everything here is idempotent on the platform's
``request_id`` and audited as ``platform.<action>`` by ``platform:<account>``.

Each call is one transaction: the case's step (through ``CaseDesk.advance``, so the history, the walls and the
desk hear of it like of an operator's decision), what the step starts (a video check: wall/platform/checks.py),
the audit row and the remembered answer. The same request id again returns that answer without acting; the same
id with another call is a 409 (a platform bug worth seeing, not a retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wall.auth import audit
from wall.cases.desk import CaseDesk
from wall.errors import Conflict, NotFound
from wall.platform.checks import VideoChecks
from wall.platform.models import (
    PLATFORM_ACTOR,
    CaseAnswer,
    CheckOut,
    ClosedIn,
    DispatchedIn,
    HandledIn,
    ReopenedIn,
    VerifyIn,
)
from wall.runtime.interface import CameraRuntime
from wall.store.accounts import utcnow
from wall.store.cases import Case
from wall.store.platform import PlatformRequest, VideoCheck
from wall.time_limits import missed_deadline

VERIFIABLE = ("confirmed", "dispatched", "still_present", "cleared_on_video", "closed")
CaseBody = DispatchedIn | HandledIn | ClosedIn | ReopenedIn
STEPS: dict[type[CaseBody], tuple[str, str]] = {  # body → (the platform's name of the call, the desk's action)
    DispatchedIn: ("dispatched", "dispatch"), HandledIn: ("handled", "handled"), ClosedIn: ("closed", "close"),
    ReopenedIn: ("reopened", "reopen")}


@dataclass(frozen=True)
class Caller:
    """The service account calling, and from where (for the audit)."""

    account: str
    address: str | None

    @property
    def actor(self) -> str:
        return f"{PLATFORM_ACTOR}{self.account}"


def case_number(ref: str) -> int:
    """``citywall-42`` (as sent) or ``42`` → 42."""
    return int(ref.removeprefix("citywall-"))


def fingerprint(action: str, target: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([action, target, body], sort_keys=True, default=str).encode()).hexdigest()


class PlatformService:
    def __init__(self, desk: CaseDesk, runtime: CameraRuntime, checks: VideoChecks) -> None:
        self.desk, self.db, self.runtime, self.checks = desk, desk.db, runtime, checks

    # -- idempotency and audit -------------------------------------------------------------------
    def _replayed(self, caller: Caller, request_id: str, print_: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.scalar(select(PlatformRequest).where(PlatformRequest.request_id == request_id))
            if row is None:
                return None
            if row.fingerprint != print_ or row.account != caller.account:
                raise Conflict(f"request_id '{request_id}' was used for another call; use a new id per call")
            return dict(row.answer)

    def _remember(self, s: Session, caller: Caller, request_id: str, action: str, print_: str,
                  answer: dict[str, Any], target: str) -> None:
        s.add(PlatformRequest(request_id=request_id, account=caller.account, action=action, fingerprint=print_,
                              answer=answer, at=utcnow()))
        audit.record(s, user=caller.actor, action=f"platform.{action}", target=target, success=True,
                     address=caller.address, detail={"request_id": request_id})

    def refused(self, caller: Caller | None, action: str, target: str, reason: str) -> None:
        """A refused call, audited in its own transaction (a bad token too: who tried, from where)."""
        with self.db.session() as s:
            audit.record(s, user=caller.actor if caller else None, action=f"platform.{action}", target=target[:200],
                         success=False, address=caller.address if caller else None, detail={"reason": reason[:300]})

    @staticmethod
    def _in_flight(request_id: str) -> Conflict:
        return Conflict(f"request_id '{request_id}' is being handled by another call; retry it shortly")

    # -- case steps ------------------------------------------------------------------------------
    def step(self, caller: Caller, ref: str, body: CaseBody) -> CaseAnswer:
        """dispatched | handled | closed | reopened, for a case citywall sent."""
        name, action = STEPS[type(body)]
        case_id = case_number(ref)
        fields = body.model_dump(mode="json", exclude={"request_id"})
        print_ = fingerprint(name, str(case_id), fields)
        replay = self._replayed(caller, body.request_id, print_)
        if replay is not None:
            return CaseAnswer.model_validate(replay)
        answer: dict[str, Any] = {}

        def also(s: Session, case: Case) -> None:
            if isinstance(body, DispatchedIn):
                case.department, case.platform_ref, case.dispatched_at = body.department, body.ref, utcnow()
            elif isinstance(body, ClosedIn):
                case.closed_at = utcnow()
            elif isinstance(body, ReopenedIn):
                case.closed_at = None
            check = s.scalar(select(VideoCheck.id).where(VideoCheck.case_id == case.id,
                                                         VideoCheck.status == "watching"))
            done = case.cleared_at or case.closed_at  # cleared_at: as committed before this call (a trigger's)
            out = CaseAnswer(case=f"citywall-{case.id}", status=case.status, department=case.department,
                             check=check if name != "closed" else None, deadline_at=case.deadline_at,
                             overdue=missed_deadline(case.deadline_at, done, self.desk.clock()))
            answer.update(out.model_dump(mode="json"))
            self._remember(s, caller, body.request_id, name, print_, answer, f"case:{case.id}")

        try:
            self.desk.advance(case_id, caller.actor, action, {**fields, "request_id": body.request_id}, also=also)
        except IntegrityError:
            raise self._in_flight(body.request_id) from None
        return CaseAnswer.model_validate(answer)

    # -- video checks ----------------------------------------------------------------------------
    def camera_of(self, body: VerifyIn) -> str:
        if body.camera is not None:
            if body.camera in self.desk.cameras:
                return body.camera
        else:
            found = [c.id for c in self.desk.cameras.values() if c.national_id == body.national_id]
            if found:
                return found[0]
        raise NotFound("camera not found")

    async def verify(self, caller: Caller, body: VerifyIn) -> CheckOut:
        """A video check now: of a case (the after-picture now, the place watched for the code's time) or of a
        camera (the after-picture is the answer). The database work runs off the event loop."""
        target = f"case:{case_number(body.case)}" if body.case else f"camera:{body.camera or body.national_id}"
        print_ = fingerprint("verify", target, body.model_dump(mode="json", exclude={"request_id"}))
        replay, camera = await asyncio.to_thread(self._verify_target, caller, body, print_)
        if replay is not None:
            return await asyncio.to_thread(self._described, replay)
        jpeg = await self.runtime.snapshot(camera, None)
        check_id = await asyncio.to_thread(self._verify_record, caller, body, print_, target, camera, jpeg)
        return await asyncio.to_thread(self._described, check_id)

    def _verify_target(self, caller: Caller, body: VerifyIn, print_: str) -> tuple[int | None, str]:
        """(the check of an earlier call with this request id, or None; the camera to look through)."""
        replay = self._replayed(caller, body.request_id, print_)
        if replay is not None:
            return int(replay["check"]), ""
        if body.case is None:
            return None, self.camera_of(body)
        case = self.desk.get(case_number(body.case))  # NotFound for an unknown case
        if case.status not in VERIFIABLE or case.merged_into is not None:
            raise Conflict(f"case {body.case} is {case.status}: a video check needs a case the platform has "
                           f"({', '.join(VERIFIABLE)})")
        return None, case.camera

    def _verify_record(self, caller: Caller, body: VerifyIn, print_: str, target: str, camera: str,
                       jpeg: bytes | None) -> int:
        picture = self.checks.store_picture(jpeg)
        made: list[int] = []

        def remember(s: Session, check: VideoCheck) -> None:
            made.append(check.id)
            self._remember(s, caller, body.request_id, "verify", print_, {"check": check.id}, target)

        def also(s: Session, row: Case) -> None:
            remember(s, self.checks.start_in(s, row, "verify", body.request_id, picture))

        try:
            if body.case is not None:
                self.desk.advance(case_number(body.case), caller.actor, "verify", {"request_id": body.request_id},
                                  otherwise="verify_requested", also=also)
            else:
                with self.db.session() as s:
                    box = list(body.box) if body.box else None
                    remember(s, self.checks.camera_check(s, camera, box, body.request_id, picture))
        except IntegrityError:
            raise self._in_flight(body.request_id) from None
        return made[0]

    def _described(self, check_id: int) -> CheckOut:
        check = self.checks.get(check_id)
        if check is None:
            raise NotFound("check not found")
        return self.checks.describe(check)

    def check(self, check_id: int) -> CheckOut:
        """A check as it is now (the platform may poll instead of waiting for the message)."""
        return self._described(check_id)
