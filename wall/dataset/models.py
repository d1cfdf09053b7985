"""What the dataset commands read and write: one example per decided case, the filters, the export's account.

An ``Example`` is a label row (an operator's confirm or reject, wall/store/cases.py) with what makes it usable
for training: the clean picture it was decided on (the raising look's frame, never the annotated snapshot), the
place box in that picture's pixels, and when and where the picture was taken (the split needs the scene).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Decision = Literal["confirmed", "rejected"]
ClassBy = Literal["family", "code"]
# Rejections that say "the detector saw something that is not the class": hard negatives. Not among them:
# "licensed_stall"/"abandoned_stall"/"vendor_walking" (the object *is* a stall: a rule or a permit said no),
# "duplicate" (a real event seen twice) and "other" (unknown).
NEGATIVE_REASONS = ("inside_shop", "potted_plants", "fixed_object", "bin_not_overflowing", "false_detection")


class ExportFilter(BaseModel):
    """Which decisions an export or a count takes (each list empty: all)."""

    since: datetime | None = Field(None, description="pictures taken at or after (UTC unless the value says)")
    until: datetime | None = Field(None, description="pictures taken before")
    cameras: list[str] = Field(default_factory=list)
    families: list[str] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    negative_reasons: list[str] = Field(default_factory=lambda: list(NEGATIVE_REASONS),
                                        description="rejection reasons exported as hard negatives")


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
    negatives: int
    groups: dict[str, list[str]] = Field(description="split → its (camera, day) groups as 'camera/YYYY-MM-DD'")
    skipped: list[Skipped]


class Stats(BaseModel):
    total: int
    per_class: dict[str, int]
    per_camera: dict[str, int]
    per_decision: dict[str, int]
    per_reason: dict[str, int]
    skipped: dict[str, int]
