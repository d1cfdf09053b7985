"""What the learning loop hands between its steps: a training's account, an evaluation, the model history.

Typed so that the evaluation a person attaches to a promotion is the same document ``citywall evaluate --json``
wrote: the promotion refuses a file that does not parse as :class:`Evaluation`, and stores it with the switch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class TrainResult(BaseModel):
    """``citywall train --json``: where the model and its card are, and what they were made from."""

    card: str = Field(description="the model card written next to the ONNX file")
    onnx: str
    onnx_sha256: str
    classes: list[str]
    families: dict[str, list[str]]
    input_size: int
    base: str
    epochs: int
    dataset: str
    manifest_sha256: str | None
    seconds: float
    evaluation: str | None = Field(None, description="the evaluation JSON, when held-out data was given")


class FamilyScore(BaseModel):
    """One card's events on the held-out cases of one family, against the operators' decisions."""

    family: str
    cases: int = Field(description="held-out decided cases of this family")
    positives: int = Field(description="of them confirmed by an operator")
    negatives: int = Field(description="of them rejected by an operator")
    raised_confirmed: int = Field(description="confirmed cases the card raised again (true positives)")
    raised_rejected: int = Field(description="rejected cases the card raised again (false alarms)")
    precision: float | None = Field(description="raised_confirmed / all raised; None when it raised nothing")
    recall: float | None = Field(description="raised_confirmed / positives; None without positives")
    false_alarms_per_camera_day: float = Field(description="false alarms / (camera, day) scenes held out")


class CardScore(BaseModel):
    card: str
    name: str
    families: list[FamilyScore]
    looks: int = Field(description="looks replayed through the pipeline")
    detector_looks: int = Field(description="looks that ran the detector (the change gate passed the others)")
    ms_cpu_per_look: float = Field(description="detector CPU time per look that ran it, in ms")


class CaseOutcome(BaseModel):
    """One held-out case: what the operators said and whether each card raised it again."""

    case_id: int
    camera: str
    zone: str
    family: str
    decision: Literal["confirmed", "rejected"]
    source: Literal["clip", "frame"]
    raised: dict[str, bool] = Field(description="card role (candidate, current) → raised in the case's zone")


class Evaluation(BaseModel):
    """``citywall evaluate --json``: the candidate and the current card side by side on the same cases."""

    created_at: datetime
    site: str
    held_out: int = Field(description="decided cases replayed")
    camera_days: int
    skipped: dict[int, str] = Field(default_factory=dict, description="case id → why it could not be replayed")
    candidate: CardScore
    current: CardScore | None
    cases: list[CaseOutcome]


class PromotionOut(BaseModel):
    """One row of the model history (``model_promotions``), as the console and ``citywall model`` show it."""

    id: int
    at: datetime
    by: str
    action: Literal["promote", "rollback"]
    card: str
    card_name: str
    onnx_sha256: str
    previous_card: str | None
    evaluation: Evaluation | None


class ModelsOut(BaseModel):
    """``GET /api/models``: the card in service, the one a rollback goes back to, and the history."""

    current: str = Field(description="analytics.yaml's model: (or the bundled default when it names none)")
    current_name: str
    previous: str | None = Field(description="where a rollback goes")
    applied: bool = Field(description="the running analytics detect with the current card")
    history: list[PromotionOut]
