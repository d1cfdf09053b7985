"""Reading the decisions out of the database: the newest label of each case, with its clean picture.

Why the picture is looked up by kind: until the analytics kept a clean frame (``frame`` evidence), a label named
the annotated snapshot, whose drawn boxes and caption a detector would learn as part of the object. Such labels,
and those whose file is gone from the evidence disk, are skipped with the reason, never exported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wall.cases.labelling import REJECT_KINDS, LabelObject, RejectKind
from wall.dataset.models import Example, ExportFilter, Frame, Role, Selection, Skipped
from wall.store.cases import Case, CaseEvent, Evidence, Label

CLEAN_KINDS = {"ai": "frame", "patrol": "snapshot"}  # a filed case's still is a clean keyframe


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def taken_at(session: Session, case: Case, row: Evidence) -> datetime:
    """When the picture was taken: the raising look (its time is in the "raised" history entry), a filed case's
    moment, else (cases from before the look's time was kept) when the file was stored."""
    if case.source == "patrol":
        return _utc(case.first_seen)
    detail = session.scalar(select(CaseEvent.detail).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.action == "raised").limit(1))
    seen = detail.get("seen_at") if detail else None
    return datetime.fromtimestamp(float(seen), UTC) if isinstance(seen, int | float) else _utc(row.created_at)


def role_of(label: Label, flt: ExportFilter) -> Role | None:
    """What a decision is for training (wall/dataset/models.py), or None: not training data. A rejection "there
    but allowed" (a licensed stall) is a positive: the detector saw the object right, and whether it is a case is
    the rules' business (zones, schedules, suppressions) — taught as "nothing here" it would unlearn stalls."""
    if label.decision == "confirmed" or label.kind in ("wrong_class", "allowed"):
        return "positive"
    if label.kind == "absent":
        return "hard_negative"
    return "hard_negative" if label.reason in flt.negative_reasons else None


def select_examples(session: Session, evidence_dir: Path, flt: ExportFilter) -> Selection:
    """The examples the filter takes, oldest picture first, and the labels it would take but cannot use."""
    query = select(Label, Case).join(Case, Case.id == Label.case_id).order_by(Label.id)
    if flt.cameras:
        query = query.where(Case.camera_id.in_(flt.cameras))
    if flt.families:
        query = query.where(Case.family.in_(flt.families))
    if flt.decisions:
        query = query.where(Label.decision.in_(flt.decisions))
    newest: dict[int, tuple[Label, Case]] = {}
    for label, case in session.execute(query).tuples():
        newest[case.id] = (label, case)  # ordered by label id: a later decision on the same case wins
    examples: list[Example] = []
    skipped: list[Skipped] = []
    for label, case in newest.values():
        kind = CLEAN_KINDS.get(case.source, "frame")
        row = session.scalar(select(Evidence).where(Evidence.case_id == case.id, Evidence.name == label.image,
                                                    Evidence.kind == kind)) if label.image else None
        if row is None:
            skipped.append(Skipped(label_id=label.id, case_id=case.id, why="no clean picture (only an annotated "
                                   "snapshot, from before clean frames were kept)"))
            continue
        taken = taken_at(session, case, row)
        if (flt.since and taken < _utc(flt.since)) or (flt.until and taken >= _utc(flt.until)):
            continue
        role = role_of(label, flt)
        if role is None:
            skipped.append(Skipped(label_id=label.id, case_id=case.id, why=f"rejected as '{label.reason}', which "
                                   "says neither 'not there', 'allowed' nor 'another class'"))
            continue
        if not (evidence_dir / row.name).is_file():
            skipped.append(Skipped(label_id=label.id, case_id=case.id, why="its picture is not on the evidence disk"))
            continue
        x1, y1, x2, y2 = (float(v) for v in label.place_box)
        examples.append(Example(
            label_id=label.id, case_id=case.id, decision="confirmed" if label.decision == "confirmed" else "rejected",
            reason=label.reason, by=label.by, decided_at=_utc(label.created_at), camera=case.camera_id,
            zone=case.zone_id, family=case.family, code=label.code, source=case.source,
            frame=Frame(name=row.name, sha256=row.sha256, kind=row.kind, taken_at=taken),
            place_box=(x1, y1, x2, y2), boxes=list(label.boxes or []), role=role, kind=_kind(label.kind),
            objects=[LabelObject.model_validate(o) for o in label.objects or []]))
    examples.sort(key=lambda e: (e.frame.taken_at, e.case_id))
    return Selection(examples=examples, skipped=skipped)


KINDS: dict[str, RejectKind] = {kind: kind for kind in REJECT_KINDS}


def _kind(value: str | None) -> RejectKind | None:
    return KINDS.get(value or "")
