"""What the dataset commands read and write: one example per decided case, the filters, the export's account.

An ``Example`` is a label row (an operator's confirm or reject, wall/store/cases.py) with what makes it usable
for training: the clean picture it was decided on (the raising look's frame, never the annotated snapshot), the
place box in that picture's pixels, what the operator said of the object (its class, a corrected box, drawn boxes:
wall/cases/labelling.py), its role, and when and where the picture was taken (the split needs the scene).

Roles: a confirmation is a positive, and so is a rejection as another class (类别错误: a positive of the class
the operator chose, never a negative of the one the detector guessed); "not there" (误报/无目标) is a hard
negative, "there but allowed" (允许/合规) a negative; a rejection that says neither (a duplicate, "other") is not
training data unless its reason is among ``negative_reasons``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from wall.cases.labelling import LabelObject, RejectKind

Decision = Literal["confirmed", "rejected"]
ClassBy = Literal["family", "code"]
Role = Literal["positive", "hard_negative"]
Origin = Literal["detector", "corrected", "drawn"]
# Rejections without a kind (labels of a site's own reason) that are taken as hard negatives: the built-in reasons
# that say "the detector saw something that is not the class" (labels since migration 0016 say so in their kind).
NEGATIVE_REASONS = ("inside_shop", "potted_plants", "fixed_object", "bin_not_overflowing", "false_detection")


class ExportFilter(BaseModel):
    """Which decisions an export or a count takes (each list empty: all)."""

    since: datetime | None = Field(None, description="pictures taken at or after (UTC unless the value says)")
    until: datetime | None = Field(None, description="pictures taken before")
    cameras: list[str] = Field(default_factory=list)
    families: list[str] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    negative_reasons: list[str] = Field(default_factory=lambda: list(NEGATIVE_REASONS),
                                        description="reasons of rejections without a kind exported as hard "
                                                    "negatives")


class Frame(BaseModel):
    """The picture a label was decided on: an evidence file (named by its SHA-256)."""

    name: str
    sha256: str
    kind: str  # evidence kind: "frame" (the analytics' clean look) or "snapshot" (a filed case's still)
    taken_at: datetime


class Example(BaseModel):
    label_id: int
    case_id: int
    decision: Decision
    reason: str | None
    by: str
    decided_at: datetime
    camera: str
    zone: str
    family: str
    code: str
    source: str  # ai | patrol
    frame: Frame
    place_box: tuple[float, float, float, float]  # pixels of the frame
    boxes: list[dict[str, object]] = Field(default_factory=list, description="the case's detector boxes (data)")
    role: Role
    kind: RejectKind | None = None
    objects: list[LabelObject] = Field(default_factory=list, description="what the operator labelled")


class Skipped(BaseModel):
    """A label that is not in the dataset, and why (so the count is never silently short)."""

    label_id: int
    case_id: int
    why: str


class Selection(BaseModel):
    examples: list[Example]
    skipped: list[Skipped]


class ManifestBox(BaseModel):
    class_name: str
    class_id: int
    xyxy: tuple[float, float, float, float]
    origin: Origin = Field(default="detector", description="detector: the detector's place box; corrected: the "
                           "operator's box in its place; drawn: an object the operator added, or the box drawn "
                           "when filing the case from video")
    object_class: str | None = Field(default=None, description="the class the operator chose (a card class)")


class ManifestEntry(BaseModel):
    """One line of manifest.jsonl: an image of the dataset and where its label came from."""

    image: str
    label: str
    split: Literal["train", "val"]
    width: int
    height: int
    case_id: int
    label_id: int
    decision: Decision
    role: Role = Field(description="positive (confirmed; rejected as another class, or as there but allowed: "
                       "the object is there), hard_negative (rejected: not there)")
    kind: RejectKind | None
    reason: str | None
    by: str
    decided_at: datetime
    camera: str
    zone: str
    family: str
    code: str
    source: str
    frame: Frame
    labels: list[ManifestBox]
    detector_boxes: list[dict[str, object]]


class ExportSummary(BaseModel):
    out: str
    classes: list[str]
    train: int
    val: int
    positives: int
    allowed: int = Field(description="of the positives, rejections as there but allowed (the object is there)")
    hard_negatives: int
    groups: dict[str, list[str]] = Field(description="split → its (camera, day) groups as 'camera/YYYY-MM-DD'")
    skipped: list[Skipped]


class Stats(BaseModel):
    total: int
    per_class: dict[str, int]
    per_camera: dict[str, int]
    per_decision: dict[str, int]
    per_role: dict[str, int]
    per_reason: dict[str, int]
    skipped: dict[str, int]
