"""Case review API: the operators' desk. Every route filters by the principal's cameras; a case of a camera the
user may not see answers exactly like a case that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wall.access import audit_action, audit_refusal, current_principal, require
from wall.api.common import Closed
from wall.api.deps import services
from wall.api.viewing import audit_view, audit_view_async
from wall.auth.principal import Permission, Principal
from wall.cases.desk import CaseDesk
from wall.cases.filing import LOCATION, CaseFiler
from wall.cases.labelling import REASON_KINDS, REJECT_KINDS, DrawnBox, FrameBox, LabelDraft, RejectKind, TargetClass
from wall.cases.models import CaseDetail, CasePage, CaseSummary, FilingDefaults, OutboxEntry
from wall.cases.outbox import Outbox
from wall.errors import DomainError, Forbidden, NotFound
from wall.store.cases import STATES

router = APIRouter(prefix="/api", tags=["cases"])
Viewer = Annotated[Principal, Depends(current_principal)]
CASE_NOT_FOUND = "case not found"
MAX_ID = 2**53  # fits SQLite's INTEGER and a JavaScript number
CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
STATUS_PATTERN = "^(" + "|".join(STATES) + ")$"


class CaseBody(Closed):
    """A decision's fields are typed by hand at the desk: surrounding spaces are dropped (a grid code or a reason
    pasted with a space still matches)."""

    model_config = ConfigDict(str_strip_whitespace=True)


class ConfirmIn(CaseBody):
    code: str | None = Field(default=None, pattern=r"^\d{4}$", description="Event code, if the operator corrects it.")
    grid_code: str | None = Field(default=None, pattern=r"^\d{6,20}$")
    address: str | None = Field(default=None, max_length=240)
    note: str | None = Field(default=None, max_length=2000)
    object_class: str | None = Field(default=None, max_length=64, description="The object's class, one of GET "
                                     "/api/label-options (422 otherwise).")
    box: FrameBox | None = Field(default=None, description="The object's box corrected on the clean frame, in 0–1 "
                                 "(replaces the detector's in the training data).")
    extra_boxes: list[DrawnBox] = Field(default_factory=list, max_length=20,
                                        description="Objects the detector missed, drawn on the clean frame.")

    def label(self) -> LabelDraft | None:
        if self.object_class is None and self.box is None and not self.extra_boxes:
            return None
        return LabelDraft(object_class=self.object_class, box=self.box, extra_boxes=self.extra_boxes)


class RejectIn(CaseBody):
    reason: str = Field(max_length=64, description="One of GET /api/reject-reasons.")
    text: str | None = Field(default=None, max_length=2000)
    remember: bool = Field(default=False, description="Don't raise at this place again (误报抑制): only with a "
                           "reason of GET /api/suppressions/options (422 otherwise).")
    kind: RejectKind | None = Field(default=None, description="absent (误报/无目标), allowed (允许/合规) or "
                                    "wrong_class (类别错误); default: the reason's own (GET /api/label-options).")
    object_class: str | None = Field(default=None, max_length=64,
                                     description="With wrong_class: the class the object really is.")
    box: FrameBox | None = Field(default=None, description="With wrong_class: its box corrected, 0–1.")

    def label(self) -> LabelDraft:
        return LabelDraft(kind=self.kind, object_class=self.object_class, box=self.box)


class MergeIn(CaseBody):
    into: int = Field(ge=1, le=2**53, description="The open case this one duplicates.")


class CloseIn(CaseBody):
    note: str | None = Field(default=None, max_length=2000)


class FilingFields(CaseBody):
    """视频立案: what an operator says of a case they file from what a camera shows (live, the ring's last minutes,
    or a recording: ``POST /api/playback/cases``). The server takes the picture and the clip. A location field
    left out is the camera's (``GET /api/filing/{camera}``); one sent is taken as sent (null or "" clears it)."""

    camera: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{4}$", description="Event code from GET /api/event-codes.")
    box: tuple[float, float, float, float] = Field(
        description="The object on the picture: x0, y0, x1, y1 in 0–1 of its width and height.")
    description: str = Field(min_length=1, max_length=2000)
    grid_code: str | None = Field(default=None, pattern=r"^(\d{6,20})?$")
    street: str | None = Field(default=None, max_length=120)
    community: str | None = Field(default=None, max_length=120)
    address: str | None = Field(default=None, max_length=240)

    @model_validator(mode="after")
    def _box(self) -> Self:
        x0, y0, x1, y1 = self.box
        if not all(0.0 <= v <= 1.0 for v in self.box):
            raise ValueError("box: coordinates must be within 0 and 1 of the picture")
        if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
            raise ValueError(f"box: x1 > x0 and y1 > y0, at least {MIN_BOX} of the picture each way")
        return self


class FileCaseIn(FilingFields):
    """视频立案 from the live view, now or from the camera's memory (``seconds_ago``)."""

    seconds_ago: float = Field(default=0.0, ge=0, le=3600,
                               description="Take the picture this long ago (at most the camera's ring: "
                                           "max_seconds_ago of GET /api/filing/{camera}).")


MIN_BOX = 0.005  # a box narrower than this is a click, not a box


class EventCodeOut(BaseModel):
    code: str
    name: str
    name_en: str
    major: str
    families: list[str]


class EventCodesOut(BaseModel):
    version: str
    codes: list[EventCodeOut]


class ReasonOut(BaseModel):
    key: str
    name: str
    kind: RejectKind | None = Field(description="What the reason says is wrong; null: the operator says it.")


class LabelOptionsOut(BaseModel):
    """What the desk's labelling offers: the model card's target classes and the reasons with their kinds."""

    classes: list[TargetClass]
    reasons: list[ReasonOut]
    kinds: list[RejectKind]


def desk_of(request: Request) -> CaseDesk:
    return services(request).cases.desk


Desk = Annotated[CaseDesk, Depends(desk_of)]


def filer_of(request: Request) -> CaseFiler:
    return services(request).cases.filer


Filer = Annotated[CaseFiler, Depends(filer_of)]


def visible_cameras(principal: Principal) -> set[str] | None:
    return None if principal.all_cameras else set(principal.cameras)


def require_decider(principal: Principal) -> None:
    if not principal.may(Permission.REVIEW_CASES):
        raise Forbidden("only operators and admins decide cases")


def _visible_case(desk: CaseDesk, principal: Principal, case_id: int) -> CaseDetail:
    record = desk.get(case_id)  # NotFound(CASE_NOT_FOUND) if there is none
    if not principal.may_view(record.camera):
        raise NotFound(CASE_NOT_FOUND)
    return record


def _error(exc: DomainError) -> dict[str, Any]:
    """How a refused case decision or outbox retry is audited (its own form since the first case routes)."""
    return {"error": exc.message}


def _decide(request: Request, desk: CaseDesk, principal: Principal, case_id: int, action: str,
            call: Callable[[], CaseSummary]) -> CaseSummary:
    require_decider(principal)
    _visible_case(desk, principal, case_id)
    target = f"case:{case_id}"
    with audit_refusal(request, principal, f"case_{action}", target, _error):
        result = call()
    audit_action(request, principal, f"case_{action}", target, True)
    outbox = services(request).cases.outbox
    if outbox is not None and action == "confirm":
        outbox.kick()
    return result


def as_utc(value: datetime | None) -> datetime | None:
    """Times are stored in UTC and SQLite compares them as text: a bound in another offset (a desk in China sends
    +08:00) must be moved to UTC first, or the filter is off by the offset. A naive time is taken as UTC."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:  # year 1 at +14:00, year 9999 at -14:00: no such instant in UTC
        raise HTTPException(422, "time out of range") from None


@router.get("/event-codes")
def event_codes(principal: Viewer, desk: Desk) -> EventCodesOut:
    """The site's event catalogue (version and codes): what an operator may correct a case's code to."""
    catalogue = desk.catalogue
    return EventCodesOut(version=catalogue.version, codes=[
        EventCodeOut(code=code, name=entry.name, name_en=entry.name_en, major=entry.major,
                     families=entry.families()) for code, entry in sorted(catalogue.codes.items())])


@router.get("/reject-reasons")
def reject_reasons(principal: Viewer, desk: Desk) -> dict[str, str]:
    """Reasons an operator may give for a rejection (the site's list; keys are what the API takes)."""
    return {key: desk.reason_names.get(key, key) for key in desk.reject_reasons}


@router.get("/label-options")
def label_options(principal: Viewer, desk: Desk) -> LabelOptionsOut:
    """Classes an object may be given (by rule family, from the site's model card) and what each rejection
    reason says: not there (absent), there but allowed (allowed) or another class (wrong_class)."""
    return LabelOptionsOut(classes=desk.labels.all(), kinds=list(REJECT_KINDS), reasons=[
        ReasonOut(key=key, name=desk.reason_names.get(key, key), kind=REASON_KINDS.get(key))
        for key in desk.reject_reasons])


@router.get("/cases")
def list_cases(
    principal: Viewer, desk: Desk,
    status_: Annotated[str | None, Query(alias="status", pattern=STATUS_PATTERN)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    code: Annotated[str | None, Query(pattern=r"^\d{4}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in description, address, note, names")] = None,
    overdue: Annotated[bool | None, Query(description="true: only cases past their deadline (处置时限) and still "
                                                      "with the department; false: only the others")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage:
    total, items = desk.list(visible_cameras(principal), status=status_, camera=camera, code=code,
                             since=as_utc(since), until=as_utc(until), text=q, overdue=overdue, limit=limit,
                             offset=offset)
    return CasePage(total=total, items=items)


@router.get("/cases/{case_id}", responses={404: {"description": CASE_NOT_FOUND}})
def get_case(case_id: CaseId, principal: Viewer, desk: Desk, request: Request) -> CaseDetail:
    """A case with its append-only history and evidence links. Opening it is audited (``case.view``, once per
    user and case per few minutes: wall/view_audit.py)."""
    record = _visible_case(desk, principal, case_id)
    audit_view(request, principal, "case.view", f"case:{case_id}", {"camera": record.camera})
    return record


def _filing_camera(principal: Principal, camera_id: str) -> None:
    require_decider(principal)
    if not principal.may_view(camera_id):
        raise NotFound("camera not found")  # a camera not granted answers like a missing one


@router.get("/filing/{camera_id}", responses={403: {}, 404: {}})
def filing_defaults(camera_id: Annotated[str, PathParam(max_length=64)], principal: Viewer,
                    filer: Filer) -> FilingDefaults:
    """What the filing dialog starts from: the camera's grid code, street, community and address, and how far
    back (``max_seconds_ago``) a case may be filed from its memory."""
    _filing_camera(principal, camera_id)
    return filer.defaults(camera_id)


@router.get("/filing/{camera_id}/still.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 403: {}, 404: {}, 409: {}, 422: {}})
async def filing_still(camera_id: Annotated[str, PathParam(max_length=64)], principal: Viewer, filer: Filer,
                       request: Request, seconds_ago: Annotated[float, Query(ge=0, le=3600)] = 0.0) -> Response:
    """The full-resolution picture a filing at ``seconds_ago`` keeps (the keyframe at or before that moment):
    the operator draws the box on it. 409 while the camera has no picture. Audited like a snapshot."""
    _filing_camera(principal, camera_id)
    still = await filer.still(camera_id, seconds_ago)
    await audit_view_async(request, principal, "camera.snapshot", f"camera:{camera_id}")
    return Response(still.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/cases", status_code=status.HTTP_201_CREATED, responses={403: {}, 404: {}, 409: {}, 422: {}})
async def file_case(body: FileCaseIn, request: Request, principal: Viewer, filer: Filer) -> CaseSummary:
    """视频立案: file a case from a camera the operator may see. The server takes the camera's picture at the
    moment (now, or ``seconds_ago``) and the clip around it from its memory as evidence, and records the case
    with source ``patrol``, raised and confirmed by the operator; with a platform configured it goes out
    through the outbox like any confirmed case. A camera not granted answers 404 like a missing one, an
    unknown code or a bad box 422, a camera without a picture 409. Audited (``case_file``)."""
    _filing_camera(principal, body.camera)
    with audit_refusal(request, principal, "case_file", f"camera:{body.camera}", _error):
        given = {k: getattr(body, k) or None for k in LOCATION if k in body.model_fields_set}
        case = await filer.file(camera_id=body.camera, user=principal.name, code=body.code, box=body.box,
                                description=body.description, location=given, seconds_ago=body.seconds_ago)
    await run_in_threadpool(audit_action, request, principal, "case_file", f"case:{case.id}", True,
                            {"camera": case.camera, "code": case.code, "source": case.source,
                             "seconds_ago": body.seconds_ago})
    outbox = services(request).cases.outbox
    if outbox is not None:
        outbox.kick()
    return case


@router.post("/cases/{case_id}/confirm", responses={404: {}, 409: {}, 422: {}})
def confirm(case_id: CaseId, body: ConfirmIn, request: Request, principal: Viewer,
            desk: Desk) -> CaseSummary:
    webhook = services(request).cases.outbox is not None
    return _decide(request, desk, principal, case_id, "confirm", lambda: desk.confirm(
        case_id, principal.name, code=body.code, grid_code=body.grid_code, address=body.address, note=body.note,
        webhook=webhook, label=body.label()))


@router.post("/cases/{case_id}/reject", responses={404: {}, 409: {}, 422: {}})
def reject(case_id: CaseId, body: RejectIn, request: Request, principal: Viewer,
           desk: Desk) -> CaseSummary:
    result = _decide(request, desk, principal, case_id, "reject", lambda: desk.reject(
        case_id, principal.name, reason=body.reason, text=body.text, remember=body.remember, label=body.label()))
    if body.remember:  # the suppression committed with the rejection; audited like the decision, after it
        for row in desk.get(case_id).suppressions:
            if row.case_id == case_id:
                audit_action(request, principal, "suppression.create", f"suppression:{row.id}", True,
                             {"case": case_id, "camera": row.camera, "zone": row.zone, "place": row.place,
                              "reason": row.reason, "expires_at": row.expires_at.isoformat()
                              if row.expires_at else None})
    return result


@router.post("/cases/{case_id}/merge", responses={404: {}, 409: {}, 422: {}})
def merge(case_id: CaseId, body: MergeIn, request: Request, principal: Viewer,
          desk: Desk) -> CaseSummary:
    _visible_case(desk, principal, body.into)
    return _decide(request, desk, principal, case_id, "merge", lambda: desk.merge(case_id, body.into, principal.name))


@router.post("/cases/{case_id}/close", responses={404: {}, 409: {}})
def close(case_id: CaseId, body: CloseIn, request: Request, principal: Viewer,
          desk: Desk) -> CaseSummary:
    return _decide(request, desk, principal, case_id, "close", lambda: desk.close(case_id, principal.name, body.note))


Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]


def outbox_of(request: Request) -> Outbox:
    outbox = services(request).cases.outbox
    if outbox is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case platform is configured (server.yaml platform:)")
    return outbox


@router.get("/outbox", responses={403: {}, 404: {}})
def list_outbox(admin: Admin, request: Request,
                status_: Annotated[str | None, Query(alias="status", pattern="^(pending|sent|dead)$")] = None,
                ) -> list[OutboxEntry]:
    """Deliveries to the case platform; ``status=dead`` lists the dead letters with their last error."""
    return outbox_of(request).list(status_)


@router.post("/outbox/{message_id}/retry", responses={403: {}, 404: {}, 409: {}})
def retry_outbox(message_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], admin: Admin,
                 request: Request) -> dict[str, str]:
    """Send a dead letter again (attempts reset)."""
    with audit_refusal(request, admin, "outbox_retry", f"outbox:{message_id}", _error):
        outbox_of(request).retry(message_id)
    audit_action(request, admin, "outbox_retry", f"outbox:{message_id}", True)
    return {"status": "pending"}
