"""The platform API (OpenAPI tag ``platform``): for the city's case platform, a machine, never a browser.

Authenticated by a service account's bearer token (``Authorization: Bearer cwp_…``; ``citywall platform token``)
and nothing else: a browser's session cookie, a user's session token or a wrong token is 401, a token without
the call's scope 403. Every call is audited (``platform.<action>``, refusals too). The signed evidence links of
the messages (``/api/platform/evidence/…``) need no token: the signature is the permission.
docs/platform.md is the integration guide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from wall.access import client_address
from wall.api.common import Answers, error
from wall.api.deps import Parts, services
from wall.errors import DomainError
from wall.platform import accounts
from wall.platform.models import (
    CASE_REF,
    CaseAnswer,
    CheckOut,
    ClosedIn,
    DispatchedIn,
    HandledIn,
    ReopenedIn,
    Scope,
    VerifyIn,
)
from wall.platform.service import Caller, CaseBody

router = APIRouter(prefix="/api/platform", tags=["platform"])
BEARER = "Bearer "
NOT_A_TOKEN = ("the platform API takes a service account's token (Authorization: Bearer cwp_…), not a browser "
               "session or a user's token")
CaseRef = Annotated[str, PathParam(pattern=CASE_REF, description="citywall-42, as citywall sent it (or 42).")]
CALLS: Answers = {401: error("no service token, or a wrong, rotated or revoked one"),
                  403: error("the token lacks the call's scope"),
                  404: error("no such case, camera or check"),
                  409: error("the case's state does not allow the call, or the request_id was used for another "
                             "call")}  # 422 (an invalid body): FastAPI's own validation answer, documented by it


def _caller(scope: Scope) -> Callable[[Request], Caller]:
    def dependency(request: Request) -> Caller:
        parts = services(request)
        address = client_address(request)
        header = request.headers.get("authorization", "")
        token = header[len(BEARER):].strip() if header.startswith(BEARER) else ""
        found = None
        if token:
            with parts.db.session() as s:
                account = accounts.authenticate(s, token)
                found = None if account is None else (account.name, list(account.scopes))
        if found is None:
            parts.cases.platform.refused(Caller("?", address), "refused", request.url.path,
                                         "no service token" if not token else "wrong token")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_A_TOKEN, headers={"WWW-Authenticate": "Bearer"})
        caller = Caller(found[0], address)
        if scope not in found[1]:
            parts.cases.platform.refused(caller, "refused", request.url.path, f"scope {scope} not granted")
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token may not call the {scope} part of the API")
        return caller

    return dependency


CasesCaller = Annotated[Caller, Depends(_caller(Scope.CASES))]
VerifyCaller = Annotated[Caller, Depends(_caller(Scope.VERIFY))]


def _step(parts: Parts, caller: Caller, case: str, body: CaseBody, name: str) -> CaseAnswer:
    try:
        return parts.cases.platform.step(caller, case, body)
    except DomainError as exc:
        parts.cases.platform.refused(caller, name, f"case:{case}", exc.message)
        raise


@router.post("/cases/{case}/dispatched", responses=CALLS)
async def dispatched(case: CaseRef, body: DispatchedIn, caller: CasesCaller, parts: Parts) -> CaseAnswer:
    """The platform dispatched a confirmed case to a department (派遣): citywall starts watching its place."""
    return await run_in_threadpool(_step, parts, caller, case, body, "dispatched")


@router.post("/cases/{case}/handled", responses=CALLS)
async def handled(case: CaseRef, body: HandledIn, caller: CasesCaller, parts: Parts) -> CaseAnswer:
    """The department reports it handled (反馈): please verify. A fresh video check starts (its result is posted)."""
    return await run_in_threadpool(_step, parts, caller, case, body, "handled")


@router.post("/cases/{case}/closed", responses=CALLS)
async def closed(case: CaseRef, body: ClosedIn, caller: CasesCaller, parts: Parts) -> CaseAnswer:
    """The platform closed the case (结案); a check still watching it stops."""
    return await run_in_threadpool(_step, parts, caller, case, body, "closed")


@router.post("/cases/{case}/reopened", responses=CALLS)
async def reopened(case: CaseRef, body: ReopenedIn, caller: CasesCaller, parts: Parts) -> CaseAnswer:
    """The platform sent the case back (返工): dispatched again, watched again."""
    return await run_in_threadpool(_step, parts, caller, case, body, "reopened")


@router.post("/verify", responses=CALLS)
async def verify(body: VerifyIn, caller: VerifyCaller, parts: Parts) -> CheckOut:
    """A video check on request: the after-picture now; for citywall's own case the place is watched for the
    code's time and the verdict posted (``video_check``); for a camera the picture is the answer."""
    try:
        return await parts.cases.platform.verify(caller, body)
    except DomainError as exc:
        target = body.case or body.camera or body.national_id or "?"
        await run_in_threadpool(parts.cases.platform.refused, caller, "verify", target, exc.message)
        raise


@router.get("/checks/{check}", responses=CALLS)
def check(check: Annotated[int, PathParam(ge=1, le=2**53)], caller: VerifyCaller, parts: Parts) -> CheckOut:
    """A video check as it stands (watching, or done with its verdict)."""
    return parts.cases.platform.check(check)


@router.get("/evidence/{name}", response_class=FileResponse,
            responses={403: error("the signature does not match, or the link expired"), 404: error("not found")})
def evidence(name: Annotated[str, PathParam(max_length=120)], parts: Parts,
             expires: Annotated[int, Query(ge=0, le=2**53)],
             signature: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-fA-F]+$")]) -> FileResponse:
    """An evidence file by a signed link from a message (no login, no token: the link is the permission)."""
    path = parts.cases.links.open(name, expires, signature)
    media = "image/jpeg" if path.suffix == ".jpg" else "video/mp4"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})
