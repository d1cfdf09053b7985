"""The platform link's values at its boundaries: what the platform sends (requests), what it is answered, and
the messages citywall posts to it through the outbox (docs/platform.md shows each with an example).

The platform names a case as citywall sent it (``citywall-42``, PlatformRecord.id) and a camera by citywall's
id or its 20-digit national id (GB/T 28181). Every call carries the platform's own ``request_id``: the same id
again gets the first answer and changes nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wall.cases.models import PlatformCamera, UtcTime

REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
CASE_REF = r"^(citywall-)?[1-9][0-9]{0,14}$"
NATIONAL_ID = r"^[0-9]{20}$"
PLATFORM_ACTOR = "platform:"  # prefix of the history's actor for the platform's calls (platform:<account>)


class Scope(StrEnum):
    """What a service account may call."""

    CASES = "cases"  # dispatched, handled, closed, reopened
    VERIFY = "verify"  # video checks on request, and reading them


class Verdict(StrEnum):
    CLEARED = "cleared_on_video"  # the place was empty for clear_after seconds in a row
    STILL_PRESENT = "still_present"  # not empty that long within the check's time
    CAMERA_OFFLINE = "camera_offline"  # no picture from the camera at the end
    PICTURE_ONLY = "picture_only"  # an after-picture, nothing watched: no rule of citywall's covers the place


class MessageKind(StrEnum):
    """``outbox.kind`` and the ``message`` field of every post to the platform."""

    CASE_CONFIRMED = "case_confirmed"
    VIDEO_CHECK = "video_check"
    CASE_CLOSED = "case_closed"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    request_id: str = Field(pattern=REQUEST_ID, description="The platform's own id of this call (idempotency).")


class DispatchedIn(_Request):
    department: str = Field(min_length=1, max_length=120, description="The department the case went to.")
    deadline: UtcTime | None = Field(default=None, description="When the department must have handled it.")
    ref: str | None = Field(default=None, max_length=120, description="The platform's own case number.")


class HandledIn(_Request):
    note: str | None = Field(default=None, max_length=2000, description="The department's report (反馈).")


class ClosedIn(_Request):
    note: str | None = Field(default=None, max_length=2000)


class ReopenedIn(_Request):
    reason: str | None = Field(default=None, max_length=2000, description="Why it goes back (返工).")


class VerifyIn(_Request):
    """A video check: of one of citywall's cases (``case``), or of any camera by ``camera`` or ``national_id``
    (a case from a field inspector or the 12345 hotline), with an optional box on the picture (0–1)."""

    case: str | None = Field(default=None, pattern=CASE_REF, description="citywall-42, as citywall sent it.")
    camera: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    national_id: str | None = Field(default=None, pattern=NATIONAL_ID)
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x0, y0, x1, y1 in 0–1 of the picture: where to look.")

    @model_validator(mode="after")
    def _one_target(self) -> VerifyIn:
        named = [n for n in (self.case, self.camera, self.national_id) if n is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of case, camera, national_id")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError("box: 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        return self


class CaseAnswer(BaseModel):
    """The case after the platform's call."""

    case: str = Field(description="citywall-42")
    status: str
    department: str | None
    check: int | None = Field(default=None, description="The video check this call started, if any.")
    deadline_at: UtcTime | None = Field(default=None, description="The case's deadline (处置时限): the one "
                                        "dispatched sent, else the event code's time limit from the dispatch; "
                                        "null before a dispatch or without a limit.")
    overdue: bool = Field(default=False, description="Whether the case missed that deadline: handled (cleared "
                          "on video or closed) after it, or not handled and past it now.")


class Picture(BaseModel):
    """A picture of a check, as every message carries evidence: a signed link, or the bytes inline."""

    kind: Literal["before_picture", "after_picture"]
    url: str = Field(default="", description="Signed, expiring link (no citywall login), or empty with inline "
                     "data.")
    sha256: str
    size: int
    data: str | None = Field(default=None, description="base64, when platform.evidence is base64.")


class CheckOut(BaseModel):
    """A video check as the platform sees it (the verify answer, GET /api/platform/checks/{id})."""

    check: int
    case: str | None
    camera: PlatformCamera
    trigger: str
    status: Literal["watching", "done", "superseded"]
    verdict: Verdict | None
    box: list[float] | None = Field(description="Where citywall looks: in the picture's pixels for a case, "
                                    "0–1 as sent for a camera.")
    clear_after: float
    within: float
    started_at: UtcTime
    deadline_at: UtcTime
    finished_at: UtcTime | None
    note: str | None = Field(description="Why the verdict is what it is, in a sentence.")
    case_deadline_at: UtcTime | None = Field(default=None, description="The case's deadline (处置时限); null for "
                                             "a camera, or a case without one. Not the check's own deadline_at.")
    case_overdue: bool | None = Field(default=None, description="Whether the case's deadline had passed when the "
                                      "check ended (while it watches: now); null for a camera.")
    evidence: list[Picture] = Field(description="The before picture (a case's snapshot) and the after picture.")


class ClosedMessage(BaseModel):
    """Posted when citywall (an operator) closes a case the platform knows."""

    message: Literal[MessageKind.CASE_CLOSED] = MessageKind.CASE_CLOSED
    case: str
    status: str
    closed_at: UtcTime
    closed_by: str
    note: str | None
    deadline_at: UtcTime | None = Field(default=None, description="The case's deadline (处置时限), if it had one.")
    overdue: bool = Field(default=False, description="Whether it missed it: cleared on video (or, never "
                          "cleared, closed) after it.")
