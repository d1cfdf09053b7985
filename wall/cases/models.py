"""The case loop's values as they leave the desk: the queue row, the full record with its history and evidence,
a page of rows, and the notices pushed over ``/ws/wall``.

Models rather than dicts so that the routes declare them (``/openapi.json`` documents the desk's central entity)
and the walls, the video check and the broadcaster read fields a type checker follows. The field names and
formats are the wire format the pages (``desk*.js``, ``wall-alarm.js``) read, so they keep the names the API has
always had (``camera``, ``zone``, not the columns' ``camera_id``, ``zone_id``). Times go out as ISO 8601 with an
explicit ``+00:00``: a browser reads a bare time as local, and SQLite hands back naive datetimes of what was
stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, PlainSerializer, WithJsonSchema

from vision.events import Box
from wall.notices import CameraNotice


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # we only ever store UTC


UtcTime = Annotated[
    datetime, AfterValidator(_utc),
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),  # "+00:00", as the pages have it
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class _Record(BaseModel):
    """Read from the ORM rows by attribute; a name that differs from its column says so in ``validation_alias``."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True, validate_by_alias=True)


class CaseSummary(_Record):
    """A case as the queue, the wall's alarm pop-up and the decision answers show it."""

    id: int
    event_id: str = Field(description="The vision event the case follows: the one that raised it, or the newest "
                          "seen at its place since (seen_again).")
    status: str
    source: str
    camera: str = Field(validation_alias="camera_id")
    camera_name: str
    zone: str = Field(validation_alias="zone_id")
    family: str
    place: str
    place_box: list[float]
    code: str
    code_name: str
    catalogue_version: str
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    lon: float | None
    lat: float | None
    description: str
    boxes: list[Box] = Field(description="What the detector saw at the last change of the event.")
    first_seen: UtcTime
    last_seen: UtcTime
    raised_at: UtcTime
    updated_at: UtcTime
    decided_by: str | None
    decided_at: UtcTime | None
    note: str | None
    reject_reason: str | None
    merged_into: int | None
    department: str | None
    dispatched_at: UtcTime | None
    verified_at: UtcTime | None
    closed_at: UtcTime | None
    deadline_at: UtcTime | None = Field(description="When the department must have handled it (处置时限), set at "
                                        "dispatch: the platform's deadline, else the event code's time limit.")
    overdue: bool = Field(default=False, description="Past deadline_at by the service clock and still with the "
                          "department (dispatched or still present on video).")


class CaseHistoryEntry(_Record):
    """One row of a case's append-only history: who did what, when, from which state to which."""

    at: UtcTime
    actor: str
    action: str
    before: str | None
    after: str | None
    detail: dict[str, JsonValue] = Field(description="What the action recorded (its fields depend on the action).")


class EvidenceLink(BaseModel):
    kind: str = Field(description="snapshot, clip or after_snapshot")
    url: str
    size: int
    at: UtcTime


class MissingEvidence(BaseModel):
    """Evidence the case should have and has not: the disk refused it (full, read-only) or the clip could not be
    cut. The case was raised all the same; this says what the operator will not find, and why."""

    kind: str = Field(description="snapshot, clip or after_snapshot")
    reason: str = Field(description="e.g. 'No space left on device', 'Read-only file system'")
    at: UtcTime


class SuppressionOut(_Record):
    """误报抑制: a place an operator said not to raise again (from a rejected case), and what it has kept back."""

    id: int
    case_id: int = Field(description="The rejected case it was made from.")
    camera: str = Field(validation_alias="camera_id")
    zone: str = Field(validation_alias="zone_id")
    family: str
    code: str
    place: str
    place_box: list[float]
    reason: str
    created_by: str
    created_at: UtcTime
    expires_at: UtcTime | None = Field(description="When it stops matching; null: until lifted.")
    lifted_by: str | None
    lifted_at: UtcTime | None
    hits: int = Field(description="Candidates at the place it kept from raising a case.")
    last_hit_at: UtcTime | None
    state: Literal["active", "lifted", "expired"] = "active"


class CaseDetail(CaseSummary):
    """A case with its history and evidence: what the desk's detail pane shows."""

    events: list[CaseHistoryEntry]
    evidence: list[EvidenceLink]
    missing_evidence: list[MissingEvidence] = Field(
        description="Evidence that could not be stored (a full or read-only evidence disk), kind and reason.")
    suppressions: list[SuppressionOut] = Field(
        default_factory=list, description="Suppressions made from this case or covering its place (误报抑制).")


class CasePage(BaseModel):
    total: int
    items: list[CaseSummary]


class CaseNotice(CameraNotice):
    """Told to the desk's listeners after the commit, and pushed over ``/ws/wall`` to those who may see the camera:
    a case raised or seen again (``case_updated``), decided by an operator, or moved on by the platform or a
    close."""

    type: Literal["case_raised", "case_updated", "case_decided"]
    case: CaseSummary

    @property
    def camera(self) -> str:
        return self.case.camera


class PlatformCamera(BaseModel):
    id: str
    name: str
    national_id: str | None


class PlatformRecord(BaseModel):
    """What the city's case platform receives for a confirmed case (domain.md §3's minimum record); the outbox
    stores it with the message and adds the evidence when it sends."""

    id: str
    source: str
    major_code: str
    minor_code: str
    code: str
    code_name: str
    major_name: str
    catalogue_version: str
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    lon: float | None
    lat: float | None
    camera: PlatformCamera
    description: str
    discovered_at: UtcTime
    confirmed_at: UtcTime | None
    confirmed_by: str | None
    note: str | None
    status: str
    time_limit_s: float | None = Field(default=None, description="The time limit (处置时限, seconds) citywall "
                                       "applies from dispatch when the platform sends no deadline; null: none.")
    deadline_at: UtcTime | None = Field(default=None, description="The case's deadline once it is dispatched "
                                        "(a delivery after the dispatch carries it); null before.")


class OutboxEntry(_Record):
    """A delivery to the case platform as the admins' outbox page lists it (``status=dead``: the dead letters)."""

    id: int
    case_id: int | None = Field(description="None for a video check of a camera, not of a case.")
    kind: str = Field(description="case_confirmed, video_check or case_closed")
    status: Literal["pending", "sent", "dead"]
    attempts: int
    idempotency_key: str
    last_error: str | None
    next_attempt_at: UtcTime
    sent_at: UtcTime | None


SOURCE_LABELS = {"ai": "视频智能发现", "patrol": "视频巡查"}  # cases.source → what the platform is told


class FiledCase(BaseModel):
    """A case an operator files from video (视频巡查), with the evidence the server took for it: what
    ``CaseDesk.file`` records. The box is in the still's pixels, like the analytics' boxes."""

    camera_id: str
    user: str
    code: str
    box: tuple[float, float, float, float]
    description: str
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    seen_at: datetime = Field(description="When the still was taken (now, or seconds_ago before).")
    seconds_ago: float
    evidence: dict[str, str] = Field(description="kind → file in the evidence directory")
    missing_evidence: dict[str, str] = Field(description="kind → why it could not be stored")
    webhook: bool


class FilingDefaults(BaseModel):
    """What the filing dialog starts from for a camera: its location (editable) and how far back it may go."""

    camera: str
    camera_name: str
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    max_seconds_ago: float = Field(description="The camera's packet ring, less the clip after the moment.")
    clip_seconds: float = Field(description="Seconds of video kept as the case's clip.")
