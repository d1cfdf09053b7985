"""Labels from the desk (issue 15 item 2): what an operator says about the object with a decision, kept as data.

A decision is the cheapest training label a site gets, but only if it says what the detector needs to learn:
- confirming, the object's class (one of the classes that feed the case's rule family in the site's model card,
  or the family itself: 摊位, 垃圾堆, 堆物) and, where the detector's box is off, the corrected box, plus any
  further object the detector missed (drawn boxes);
- rejecting, which of three things is wrong: the object is not there (误报/无目标: a hard negative), it is there but
  allowed (允许/合规: a negative), or it is another class (类别错误: a positive of the class chosen).
The reasons stay the site's one list (``review.reject_reasons``); each known reason says which of the three it is
(``REASON_KINDS``), and ``wrong_class`` (类别错误) is added to every site's list. A site's own reason without a kind
takes the kind the operator chooses with it. Boxes are in 0–1 of the clean frame (the picture the detector saw),
so they survive any display size; ``citywall dataset export`` turns them into the frame's pixels.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vision.card import DEFAULT_CARD, FAMILIES, CardError, load_card
from wall.errors import Unprocessable
from wall.store.cases import Case, Evidence, Label

log = logging.getLogger(__name__)
RejectKind = Literal["absent", "allowed", "wrong_class"]
REJECT_KINDS: tuple[RejectKind, ...] = ("absent", "allowed", "wrong_class")
Origin = Literal["detector", "corrected", "drawn"]
WRONG_CLASS = "wrong_class"
# Which of the three each built-in reason (wall/hall_settings.py) is. Not here: "duplicate" (a real event seen
# twice: says nothing about the object) and "other" (unknown): they take the kind the operator gives, else none.
REASON_KINDS: dict[str, RejectKind] = {
    "licensed_stall": "allowed", "abandoned_stall": "allowed", "inside_shop": "allowed",
    "vendor_walking": "allowed", "potted_plants": "absent", "fixed_object": "absent",
    "bin_not_overflowing": "absent", "false_detection": "absent", WRONG_CLASS: "wrong_class",
}
MIN_BOX = 0.005  # 0–1 of the frame: a box narrower than this is a click, not a box
MAX_EXTRA_BOXES = 20
TARGET_FAMILIES = tuple(f for f in FAMILIES if f != "person")  # a person is the stall's context, not its object
# Chinese and English names of the family classes and of the COCO stand-ins the bundled cards feed them with;
# any other class of a site's card is shown by its own name.
NAMES_ZH = {
    "street_stall": "摊位", "garbage": "垃圾堆", "road_occupation": "堆物", "umbrella": "遮阳伞",
    "dining table": "桌子", "chair": "椅子", "bench": "长椅", "suitcase": "箱包", "car": "汽车", "truck": "货车",
    "bus": "公交车", "motorcycle": "摩托车", "bicycle": "自行车", "potted plant": "盆栽",
}
NAMES_EN = {"street_stall": "street stall", "garbage": "garbage pile", "road_occupation": "piled goods"}


def with_label_reasons(reasons: dict[str, str]) -> dict[str, str]:
    """The site's reasons plus 类别错误 (``wrong_class``), which every desk needs to say "another class"."""
    return reasons if WRONG_CLASS in reasons else {**reasons, WRONG_CLASS: "类别错误"}


def _frame_box(value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = value
    if not all(0.0 <= v <= 1.0 for v in value):
        raise ValueError("box: coordinates must be within 0 and 1 of the picture")
    if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
        raise ValueError(f"box: x1 > x0 and y1 > y0, at least {MIN_BOX} of the picture each way")
    return value


FrameBox = Annotated[tuple[float, float, float, float], AfterValidator(_frame_box), Field(
    description="x0, y0, x1, y1 in 0–1 of the clean frame's width and height")]


class TargetClass(BaseModel):
    """A class an operator may give an object: one the model card feeds a rule family with, or the family."""

    name: str = Field(description="The class name as the card (or the family) has it; what the API takes.")
    family: str = Field(description="The rule family it feeds.")
    name_zh: str
    name_en: str


class DrawnBox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_class: str | None = Field(default=None, max_length=64,
                                     description="Its class; default: the case's object's class.")
    box: FrameBox


class LabelDraft(BaseModel):
    """What the operator said about the object with a decision, as the API took it (shapes checked)."""

    model_config = ConfigDict(extra="forbid")

    kind: RejectKind | None = None
    object_class: str | None = Field(default=None, max_length=64)
    box: FrameBox | None = None
    extra_boxes: list[DrawnBox] = Field(default_factory=list, max_length=MAX_EXTRA_BOXES)


class LabelObject(BaseModel):
    """One object of a stored label. ``box`` None: the detector's place box, with the class the operator chose."""

    object_class: str | None = Field(description="None: not chosen (the case's family stands).")
    family: str
    box: tuple[float, float, float, float] | None
    origin: Origin = Field(description="detector: its box kept; corrected: replaces it; drawn: one more object.")


class TargetClasses:
    """The classes of the site's model card, read again when the card file changes (a promoted model)."""

    def __init__(self, card: Path = DEFAULT_CARD) -> None:
        self.card = card
        self._stamp: tuple[Path, float] | None = None
        self._classes: list[TargetClass] = []

    def all(self) -> list[TargetClass]:
        try:
            stamp = (self.card, self.card.stat().st_mtime)
        except OSError:
            stamp = (self.card, -1.0)
        if stamp != self._stamp:
            self._classes, self._stamp = self._read(), stamp
        return list(self._classes)

    def use(self, card: Path) -> None:
        """Another card in service (a promotion): its classes from the next request on."""
        self.card, self._stamp = card, None

    def get(self, name: str) -> TargetClass | None:
        return next((c for c in self.all() if c.name == name), None)

    def _read(self) -> list[TargetClass]:
        families: dict[str, list[str]] = {}
        try:
            families = {str(k): list(v) for k, v in load_card(self.card).families.items()}
        except CardError as exc:  # the analytics report the card; the desk still offers the families
            log.warning("model card %s unreadable for the desk's classes: %s", self.card, exc)
        seen: set[str] = set()
        out: list[TargetClass] = []
        for family in TARGET_FAMILIES:
            for name in [family, *families.get(family, [])]:
                if name not in seen:
                    seen.add(name)
                    out.append(TargetClass(name=name, family=family, name_zh=NAMES_ZH.get(name, name),
                                           name_en=NAMES_EN.get(name, name)))
        return out

    # -- a decision's label ----------------------------------------------------------------------
    def _target(self, name: str) -> TargetClass:
        found = self.get(name)
        if found is None:
            raise Unprocessable(f"object_class '{name}' is not a target class of the model card "
                                f"(GET /api/label-options)")
        return found

    def for_confirm(self, draft: LabelDraft | None, family: str) -> list[LabelObject]:
        """The objects of a confirmation: the case's object (its class, its corrected box) and drawn ones."""
        if draft is None:
            return []
        if draft.kind is not None:
            raise Unprocessable("kind says why a case is rejected; a confirmation has none")
        main = self._target(draft.object_class) if draft.object_class else None
        objects: list[LabelObject] = []
        if main is not None or draft.box is not None:
            objects.append(LabelObject(object_class=main.name if main else None, family=main.family if main
                                       else family, box=draft.box, origin="corrected" if draft.box else "detector"))
        for drawn in draft.extra_boxes:
            target = self._target(drawn.object_class) if drawn.object_class else main
            objects.append(LabelObject(object_class=target.name if target else None,
                                       family=target.family if target else family, box=drawn.box, origin="drawn"))
        return objects

    def for_reject(self, draft: LabelDraft | None, reason: str) -> tuple[RejectKind | None, list[LabelObject]]:
        """The kind of a rejection (the reason's own, else the operator's) and, for 类别错误, the object as the
        class it really is."""
        draft = draft or LabelDraft()
        known = REASON_KINDS.get(reason)
        if draft.kind is not None and known is not None and draft.kind != known:
            raise Unprocessable(f"reason '{reason}' says '{known}', not '{draft.kind}'")
        kind = draft.kind or known
        if draft.extra_boxes:
            raise Unprocessable("extra_boxes go with a confirmation: a rejected case has no object to add to")
        if kind != "wrong_class":
            if draft.object_class is not None or draft.box is not None:
                raise Unprocessable("object_class and box go with a rejection only as another class "
                                    "(kind wrong_class, 类别错误)")
            return kind, []
        if draft.object_class is None:
            raise Unprocessable("another class (wrong_class, 类别错误): give the object_class it really is")
        target = self._target(draft.object_class)
        return kind, [LabelObject(object_class=target.name, family=target.family, box=draft.box,
                                  origin="corrected" if draft.box else "detector")]


def write_label(s: Session, case: Case, decision: str, reason: str | None, text: str | None, by: str, *,
                kind: RejectKind | None = None, objects: list[LabelObject] | None = None) -> None:
    """The decision as a training example, in the decision's own transaction: the clean picture (the raising
    look's frame; a filing's still, whose place box is the operator's drawn box), the detector's boxes as they
    were, and what the operator said about the object."""
    image_kind = "snapshot" if case.source == "patrol" else "frame"
    image = s.scalar(select(Evidence.name).where(Evidence.case_id == case.id, Evidence.kind == image_kind)
                     .order_by(Evidence.id).limit(1))
    s.add(Label(case_id=case.id, decision=decision, reason=reason, text=text, code=case.code, image=image,
                boxes=case.boxes, place_box=case.place_box, created_at=datetime.now(UTC), by=by, kind=kind,
                objects=[o.model_dump(mode="json") for o in objects or []]))


def label_detail(kind: RejectKind | None, objects: list[LabelObject]) -> dict[str, object]:
    """What a decision's history entry says of its label (kept short: the label row has the rest)."""
    detail: dict[str, object] = {}
    if kind is not None:
        detail["kind"] = kind
    if objects:
        detail["classes"] = [o.object_class or o.family for o in objects]
    boxes = {origin: n for origin in ("corrected", "drawn") if (n := sum(o.origin == origin for o in objects))}
    if boxes:
        detail["boxes"] = boxes
    return detail
