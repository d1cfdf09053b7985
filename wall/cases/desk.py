"""CaseDesk: event changes from the vision layer become cases; operators decide; every change is recorded.

Order matters for a command hall: a case and its evidence rows are committed (SQLite WAL, synchronous=FULL)
*before* anyone is told, so a crash after the push can never lose a case someone saw. One case per place and
problem: a new event at a place that already has an open case (same camera, zone, family and place) updates
that case instead of raising another, and one at a place an operator said not to raise again is counted on that
suppression instead (误报抑制, wall/cases/suppressions.py). Every state change appends a case event (who, when,
before → after).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streams.config import CameraConfig
from vision.catalogue import Catalogue
from vision.events import Box, EventChange
from wall.cases.labelling import LabelDraft, LabelObject, TargetClasses, label_detail, write_label
from wall.cases.listing import CaseFilter
from wall.cases.models import (
    CaseDetail,
    CaseHistoryEntry,
    CaseNotice,
    CaseSummary,
    EvidenceLink,
    FiledCase,
    MissingEvidence,
    PlatformRecord,
)
from wall.cases.records import platform_record
from wall.cases.suppressions import SuppressionBook
from wall.errors import Conflict, NotFound, Unprocessable
from wall.store.cases import OPEN_STATES, Case, CaseEvent, Evidence, OutboxMessage
from wall.store.db import Database
from wall.time_limits import TimeLimits, is_overdue, parse_deadline

log = logging.getLogger(__name__)
SYSTEM = "vision"

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "confirm": (("pending_review",), "confirmed"),
    "reject": (("pending_review",), "rejected"),
    "merge": (("pending_review",), "closed"),
    "dispatch": (("confirmed",), "dispatched"),
    "handled": (("dispatched", "still_present"), "dispatched"),  # 反馈: back with the department until verified
    "reopen": (("cleared_on_video", "closed"), "dispatched"),  # 返工: the platform sends it back
    "cleared_on_video": (("dispatched", "still_present"), "cleared_on_video"),
    "still_present": (("dispatched",), "still_present"),
    "close": (("cleared_on_video", "still_present", "dispatched"), "closed"),
}


def now() -> datetime:
    return datetime.now(UTC)


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class CaseDesk:
    def __init__(self, db: Database, cameras: Iterable[CameraConfig], catalogue: Catalogue, evidence_dir: Path,
                 *, reject_reasons: list[str], reason_names: dict[str, str] | None = None,
                 time_limits: TimeLimits | None = None, suppressions: SuppressionBook | None = None) -> None:
        self.db = db
        self.cameras = {c.id: c for c in cameras}
        self.catalogue = catalogue
        self.evidence_dir = evidence_dir
        self.reject_reasons = reject_reasons
        self.reason_names = reason_names or {}
        self.time_limits = time_limits or TimeLimits()  # 处置时限: a case's deadline, set at its dispatch
        # "now" that overdue is judged by: the service clock (wall.services.Services sets it; tests move it)
        self.clock: Callable[[], datetime] = lambda: now()
        self.suppressions = suppressions or SuppressionBook(db, reasons=[], days=None)  # 误报抑制
        self.labels = TargetClasses()  # the classes a label may give (the service names the site's card)
        self.listeners: list[Callable[[CaseNotice], None]] = []
        # told of every transition inside its transaction (session, case, actor, action): what must commit with
        # it — the platform link's video checks and outbox messages (wall/platform/hooks.py)
        self.transition_hooks: list[Callable[[Session, Case, str, str], None]] = []
        self._lock = threading.Lock()  # one writer at a time: dedupe must see the previous raise

    # -- from the vision layer -------------------------------------------------------------------
    def on_event(self, change: EventChange) -> int | None:
        """Record an event change; returns the case id. Listeners are told only after the commit."""
        with self._lock, self.db.session() as s:
            case = s.scalar(select(Case).where(Case.event_id == change.event_id))
            raised = False
            if case is None and change.kind == "opened":
                case = self._open_case_at_place(s, change)
                if case is None and self.suppressions.hit(s, change, self.clock()) is not None:
                    return None  # 误报抑制: counted on the suppression, no case (its updates find none either)
                if case is None:
                    case = self._new_case(s, change)
                    raised = True
                else:  # a new event at the case's place: the case follows it (its updates and clear reach the
                    # case; its opened again with the clip finds the case above instead of a second seen_again)
                    self._append(s, case, SYSTEM, "seen_again", None, None, {"event_id": change.event_id})
                    case.event_id = change.event_id
            if case is None:
                return None  # an update/clear for an event that never became a case (e.g. before a restart)
            self._add_evidence(s, case, change.evidence, change.missing_evidence, change.event_id)
            self._apply_change(s, case, change)
            s.flush()
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_raised" if raised else "case_updated", case=summary))
        return summary.id

    def _open_case_at_place(self, s: Session, change: EventChange) -> Case | None:
        return s.scalar(select(Case).where(
            Case.camera_id == change.camera_id, Case.zone_id == change.zone_id, Case.family == change.family,
            Case.place == change.place, Case.status.in_(OPEN_STATES)).order_by(Case.id.desc()).limit(1))

    def _new_case(self, s: Session, change: EventChange) -> Case:
        cam = self.cameras.get(change.camera_id)
        t = now()
        case = Case(
            event_id=change.event_id, status="pending_review", camera_id=change.camera_id,
            camera_name=cam.name if cam else change.camera_id, national_id=cam.national_id if cam else None,
            zone_id=change.zone_id, family=change.family, place=change.place, place_box=list(change.place_box),
            code=change.code, code_name=change.code_name, catalogue_version=change.catalogue_version,
            grid_code=cam.grid_code if cam else None, street=cam.street if cam else None,
            community=cam.community if cam else None, address=cam.address if cam else None,
            lon=cam.lon if cam else None, lat=cam.lat if cam else None,
            description=f"{change.code_name}（{change.zone_id}），持续 {change.dwell:.0f} 秒",
            boxes=[b.as_dict() for b in change.boxes], first_seen=_ts(change.first_seen), last_seen=_ts(change.t),
            raised_at=t, updated_at=t,
        )
        s.add(case)
        s.flush()
        self._append(s, case, SYSTEM, "raised", None, "pending_review", {"event_id": change.event_id, "zone":
                     change.zone_id, "dwell": round(change.dwell, 1), "seen_at": round(change.t, 3)})  # the look
        return case

    def _apply_change(self, s: Session, case: Case, change: EventChange) -> None:
        case.last_seen = _ts(change.t)
        case.updated_at = now()
        if change.kind in ("opened", "updated") and change.boxes:
            case.boxes = [b.as_dict() for b in change.boxes]
        if change.kind == "cleared":
            if case.status in ("dispatched", "still_present"):
                self._transition(s, case, SYSTEM, "cleared_on_video", {"event_id": change.event_id})
                case.verified_at = now()
            else:
                self._append(s, case, SYSTEM, "gone_from_video", case.status, case.status, {})
        elif change.kind == "still_present" and case.status == "dispatched":
            self._transition(s, case, SYSTEM, "still_present", {})
            case.verified_at = now()

    def _add_evidence(self, s: Session, case: Case, evidence: dict[str, str], missing_evidence: dict[str, str],
                      event_id: str) -> None:
        """Rows for the evidence files a change (or a filing) names; a file the disk refused (or that is gone)
        becomes an ``evidence_missing`` entry of the history instead, once per kind, so the case still commits
        and its detail says which evidence is missing and why."""
        present = set(s.scalars(select(Evidence.kind).where(Evidence.case_id == case.id)))
        missing = dict(missing_evidence)
        for kind, path in evidence.items():
            p = Path(path)
            sha = p.stem
            exists = s.scalar(select(Evidence.id).where(Evidence.case_id == case.id, Evidence.sha256 == sha,
                                                        Evidence.kind == kind))
            if exists is not None:
                continue
            if p.is_file():
                s.add(Evidence(case_id=case.id, kind=kind, sha256=sha, name=p.name, size=p.stat().st_size,
                               created_at=now()))
                present.add(kind)
            else:
                missing.setdefault(kind, "the file is not on the evidence disk")
        if not set(missing) - present:
            return
        noted = {d.get("kind") for d in s.scalars(select(CaseEvent.detail).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "evidence_missing"))}
        for kind, why in missing.items():
            if kind not in present and kind not in noted:
                self._append(s, case, SYSTEM, "evidence_missing", case.status, case.status,
                             {"kind": kind, "reason": why, "event_id": event_id})

    # -- operators -------------------------------------------------------------------------------
    def confirm(self, case_id: int, user: str, *, code: str | None = None, grid_code: str | None = None,
                address: str | None = None, note: str | None = None, webhook: bool = True,
                label: LabelDraft | None = None) -> CaseSummary:
        with self._lock, self.db.session() as s:
            case = self._get(s, case_id)
            objects = self.labels.for_confirm(label, case.family)
            if code is not None and code != case.code:
                entry = self.catalogue.get(code)
                if entry is None:
                    raise Unprocessable(f"code '{code}' is not in catalogue {self.catalogue.version}")
                case.code, case.code_name, case.catalogue_version = code, entry.name, self.catalogue.version
            if grid_code is not None:
                case.grid_code = grid_code
            if address is not None:
                case.address = address
            self._confirm(s, case, user, note, webhook, objects)
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_decided", case=summary))
        return summary

    def _confirm(self, s: Session, case: Case, user: str, note: str | None, webhook: bool,
                 objects: list[LabelObject]) -> None:
        """Confirm in the caller's unit of work: history, decision, label and (with a platform) the outbox row."""
        case.note = note
        self._transition(s, case, user, "confirm", {"code": case.code, "grid_code": case.grid_code, "address":
                                                   case.address, "note": note, **label_detail(None, objects)})
        case.decided_by, case.decided_at = user, now()
        write_label(s, case, "confirmed", None, note, user, objects=objects)
        if webhook:
            s.add(OutboxMessage(case_id=case.id, idempotency_key=f"citywall-case-{case.id}",
                                payload=self.platform_record(case).model_dump(mode="json"), status="pending",
                                attempts=0, next_attempt_at=now(), created_at=now()))

    def file(self, filed: FiledCase) -> CaseSummary:
        """A case an operator files from video (视频巡查): raised by them and confirmed by them at once, in one
        transaction with its evidence rows and (with a platform) its outbox row. Listeners are told after the
        commit, as of a decision: the walls' alarm is for cases waiting for review, and this one waits for none."""
        entry = self.catalogue.get(filed.code)
        if entry is None:
            raise Unprocessable(f"code '{filed.code}' is not in catalogue {self.catalogue.version}")
        cam = self.cameras.get(filed.camera_id)
        if cam is None:
            raise NotFound("camera not found")
        families = entry.families()
        with self._lock, self.db.session() as s:
            t = now()
            case = Case(
                event_id=f"patrol-{uuid.uuid4().hex}", status="pending_review", source="patrol", camera_id=cam.id,
                camera_name=cam.name, national_id=cam.national_id, zone_id="", family=families[0] if families
                else "patrol", place="", place_box=list(filed.box), code=filed.code, code_name=entry.name,
                catalogue_version=self.catalogue.version, grid_code=filed.grid_code, street=filed.street,
                community=filed.community, address=filed.address, lon=cam.lon, lat=cam.lat,
                description=filed.description, boxes=[Box("operator", 1.0, filed.box).as_dict()],
                first_seen=filed.seen_at, last_seen=filed.seen_at, raised_at=t, updated_at=t)
            s.add(case)
            s.flush()
            self._append(s, case, filed.user, "raised", None, "pending_review",
                         {"source": "patrol", "seconds_ago": round(filed.seconds_ago, 1)})
            self._add_evidence(s, case, filed.evidence, filed.missing_evidence, case.event_id)
            s.flush()
            self._confirm(s, case, filed.user, None, filed.webhook, [])  # its place box is the drawn box
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_decided", case=summary))  # decided: no review alarm on the walls
        return summary

    def reject(self, case_id: int, user: str, *, reason: str, text: str | None = None,
               remember: bool = False, label: LabelDraft | None = None) -> CaseSummary:
        """``remember``: don't raise at this place again (误报抑制), for the reasons that allow it. ``label``: its
        kind where the reason does not say it, the class it really is (wall/cases/labelling.py)."""
        if reason not in self.reject_reasons:
            raise Unprocessable(f"reason must be one of: {', '.join(self.reject_reasons)}")
        kind, objects = self.labels.for_reject(label, reason)
        with self._lock, self.db.session() as s:
            case = self._get(s, case_id)
            case.reject_reason, case.note = reason, text
            self._transition(s, case, user, "reject", {"reason": reason, "text": text, **label_detail(kind, objects)})
            case.decided_by, case.decided_at = user, now()
            write_label(s, case, "rejected", reason, text, user, kind=kind, objects=objects)
            if remember:
                row = self.suppressions.create(s, case, reason, user, self.clock())
                self._append(s, case, user, "suppressed_place", case.status, case.status, {"suppression": row.id})
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_decided", case=summary))
        return summary

    def merge(self, case_id: int, into: int, user: str) -> CaseSummary:
        if case_id == into:
            raise Unprocessable("a case cannot be merged into itself")
        with self._lock, self.db.session() as s:
            case, target = self._get(s, case_id), self._get(s, into)
            if target.status == "rejected" or target.merged_into is not None:
                raise Conflict(f"case {into} is {target.status}; merge into an open case")
            case.merged_into = target.id
            self._transition(s, case, user, "merge", {"into": target.id})
            self._append(s, target, user, "merged_from", target.status, target.status, {"case": case.id})
            case.closed_at = now()
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_decided", case=summary))
        return summary

    def dispatched(self, case_id: int, actor: str, *, department: str | None, ref: str | None,
                   deadline: datetime | None = None) -> CaseSummary:
        """Dispatched as the webhook's reply says (the platform API's call goes through ``advance``); ``deadline``
        the platform's own, else the code's time limit applies."""
        with self._lock, self.db.session() as s:
            case = self._get(s, case_id)
            self._transition(s, case, actor, "dispatch", {"department": department, "ref": ref,
                                                          "deadline": deadline.isoformat() if deadline else None})
            case.department, case.platform_ref, case.dispatched_at = department, ref, now()
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_updated", case=summary))
        return summary

    def close(self, case_id: int, user: str, note: str | None = None) -> CaseSummary:
        with self._lock, self.db.session() as s:
            case = self._get(s, case_id)
            self._transition(s, case, user, "close", {"note": note})
            case.closed_at = now()
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_updated", case=summary))
        return summary

    def advance(self, case_id: int, actor: str, action: str, detail: dict[str, Any], *,
                otherwise: str | None = None, also: Callable[[Session, Case], None] | None = None) -> CaseSummary:
        """One step of the loop from outside the desk (the platform's calls, a video check's verdict), with
        ``also`` done in the same transaction. A state the action cannot start from is a Conflict, or, with
        ``otherwise``, a history entry of that name (a verdict on a case the platform closed meanwhile)."""
        with self._lock, self.db.session() as s:
            case = self._get(s, case_id)
            if otherwise is None or case.status in TRANSITIONS.get(action, ((), ))[0]:
                self._transition(s, case, actor, action, detail)
            else:
                self._append(s, case, actor, otherwise, case.status, case.status, detail)
            if also is not None:
                also(s, case)
            summary = self.summary(case)
        self._tell(CaseNotice(type="case_updated", case=summary))
        return summary

    # -- reading ---------------------------------------------------------------------------------
    def list(self, cameras: set[str] | None, *, status: str | None = None, camera: str | None = None,
             code: str | None = None, since: datetime | None = None, until: datetime | None = None,
             text: str | None = None, overdue: bool | None = None, limit: int = 50,
             offset: int = 0) -> tuple[int, list[CaseSummary]]:
        """Cases visible to a principal (``cameras`` None = all), newest first, with the total for paging;
        ``overdue`` True/False: only those past their deadline by the service clock, or only the others."""
        query = CaseFilter(cameras, status, camera, code, since, until, text, overdue, self.clock()).query()
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(query.order_by(Case.raised_at.desc(), Case.id.desc()).limit(limit).offset(offset))
            return total, [self.summary(c) for c in rows]

    def get(self, case_id: int) -> CaseDetail:
        """The full record with history and evidence; the caller checks the grant of its ``camera``."""
        with self.db.session() as s:
            case = self._get(s, case_id)
            have = {e.kind for e in case.evidence}
            missing = [MissingEvidence(kind=str(e.detail.get("kind")), reason=str(e.detail.get("reason")), at=e.at)
                       for e in case.events if e.action == "evidence_missing" and e.detail.get("kind") not in have]
            return CaseDetail(
                **dict(self.summary(case)), events=[CaseHistoryEntry.model_validate(e) for e in case.events],
                evidence=[EvidenceLink(kind=e.kind, url=f"/api/evidence/{e.name}", size=e.size, at=e.created_at)
                          for e in case.evidence], missing_evidence=missing,
                suppressions=self.suppressions.for_case(s, case, self.clock()))

    def evidence_owner(self, name: str) -> str | None:
        """The camera of the case an evidence file belongs to (for the grant check), or None."""
        with self.db.session() as s:
            return s.scalar(select(Case.camera_id).join(Evidence, Evidence.case_id == Case.id)
                            .where(Evidence.name == name).limit(1))

    def summary(self, case: Case) -> CaseSummary:
        summary = CaseSummary.model_validate(case)
        summary.overdue = is_overdue(case.status, case.deadline_at, self.clock())
        return summary

    def platform_record(self, case: Case) -> PlatformRecord:
        return platform_record(case, self.catalogue, self.time_limits)

    # -- internals -------------------------------------------------------------------------------
    def _get(self, s: Session, case_id: int) -> Case:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound("case not found")
        return case

    def _transition(self, s: Session, case: Case, actor: str, action: str, detail: dict[str, Any]) -> None:
        sources, target = TRANSITIONS[action]
        if case.status not in sources:
            raise Conflict(f"case {case.id} is {case.status}; '{action}' needs {' or '.join(sources)}")
        before = case.status
        case.status, case.updated_at = target, now()
        if action == "dispatch":  # 处置时限: the platform's deadline (its call's or reply's), else the code's
            case.deadline_at = self.time_limits.deadline(case.code, now(), parse_deadline(detail.get("deadline")))
            detail = {**detail, "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None}
        self._append(s, case, actor, action, before, target, detail)
        for hook in self.transition_hooks:
            hook(s, case, actor, action)

    @staticmethod
    def _append(s: Session, case: Case, actor: str, action: str, before: str | None, after: str | None,
                detail: dict[str, Any]) -> None:
        s.add(CaseEvent(case_id=case.id, at=now(), actor=actor, action=action, before=before, after=after,
                        detail=detail))

    def _tell(self, message: CaseNotice) -> None:
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:
                log.exception("case listener failed")

