"""Video checks (视频核查) that outlive a restart: each one is a ``video_checks`` row first and an analyzer's
clearance watch second.

A check starts when a case is dispatched or reopened (the automatic watch), when the platform reports it
handled, or when the platform asks (``verify``). Its times come from ``platform.verification`` for the case's
event code. The row is written in the transaction of the step that starts it (a desk transition hook), so a
crash cannot leave a dispatched case unwatched; a ticker on the service's event loop then arms every
``watching`` row this process has not armed yet in the camera runtime (at start: all of them, with the time
left), and gives the verdict at the deadline by the service clock when the analyzer has not (camera offline,
or the place never empty long enough: still present).

A verdict is written once: a conditional update from ``watching`` in one transaction with the case's step, its
after-picture as evidence and the outbox message (key ``citywall-check-<id>``), so two replicas, or the analyzer
and the deadline, cannot both report it. A place no rule of the camera covers (a case filed by an operator, a
camera without analytics) is not watched: a check the platform asked for is answered with the after-picture
alone (``picture_only``); an automatic one ends without a message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vision.events import EventChange
from vision.evidence import EvidenceStore, EvidenceUnavailable
from wall.cases.desk import CaseDesk
from wall.cases.links import EvidenceLinks
from wall.cases.models import PlatformCamera
from wall.config import VerificationSettings
from wall.platform.models import PLATFORM_ACTOR, CheckOut, ClosedMessage, MessageKind, Picture, Verdict
from wall.runtime.interface import CameraRuntime
from wall.runtime.models import PlaceCheck
from wall.store.accounts import utcnow
from wall.store.cases import Case, Evidence, OutboxMessage
from wall.store.db import unavailable
from wall.store.platform import VideoCheck
from wall.time_limits import missed_deadline

log = logging.getLogger(__name__)
ACTOR = "video-check"
WATCH_PREFIX = "check-"  # the analyzer's event id of a check's watch: check-<id>
TRIGGERS = {"dispatch": "dispatched", "reopen": "reopened", "handled": "handled"}  # desk action → trigger
ENDS = ("close", "reject", "merge")  # a case that leaves the loop stops being watched
VERDICT_STEPS = {Verdict.CLEARED: "cleared_on_video", Verdict.STILL_PRESENT: "still_present"}
ANSWERS = {step: verdict for verdict, step in VERDICT_STEPS.items()}  # a step that answers a check by itself
TICK_SECONDS = 1.0


class AlreadyDone(Exception):
    """The check had its verdict already (another replica, or the analyzer and the deadline at once)."""


class VideoChecks:
    def __init__(self, desk: CaseDesk, runtime: CameraRuntime, evidence: EvidenceStore, links: EvidenceLinks,
                 verification: VerificationSettings, *, webhook: bool) -> None:
        self.desk, self.db, self.runtime = desk, desk.db, runtime
        self.evidence, self.links, self.verification = evidence, links, verification
        self.webhook = webhook
        self.clock: Callable[[], datetime] = utcnow  # the service clock (tests move it: wall.services.Services)
        self.armed: set[int] = set()  # checks armed in this process's runtime
        self._task: asyncio.Task[None] | None = None
        desk.transition_hooks.append(self._on_transition)

    # -- starting --------------------------------------------------------------------------------
    def _on_transition(self, s: Session, case: Case, actor: str, action: str) -> None:
        """Inside every case transition's transaction: start or stop watching; tell the platform of a close
        that was not its own (an operator's) — it committed with the close or not at all."""
        if action in TRIGGERS:
            self.start_in(s, case, TRIGGERS[action])
        elif action in ENDS:
            self._supersede(s, case.id)
        elif action in ANSWERS and actor != ACTOR:
            self._answered_by_case(s, case, ANSWERS[action])
        if action == "close" and not actor.startswith(PLATFORM_ACTOR) and self.webhook and self._known(s, case.id):
            at = utcnow()
            closed = ClosedMessage(case=f"citywall-{case.id}", status=case.status, closed_at=at, closed_by=actor,
                                   note=case.note, deadline_at=case.deadline_at,
                                   overdue=missed_deadline(case.deadline_at, case.cleared_at, at))
            s.add(OutboxMessage(case_id=case.id, kind=MessageKind.CASE_CLOSED,
                                idempotency_key=f"citywall-close-{case.id}-{uuid.uuid4().hex[:8]}",
                                payload=closed.model_dump(mode="json", exclude={"message"}), status="pending",
                                attempts=0, next_attempt_at=utcnow(), created_at=utcnow()))

    def start_in(self, s: Session, case: Case, trigger: str, request_id: str | None = None,
                 after_picture: str | None = None) -> VideoCheck:
        """A check of a case's place, in the caller's transaction; an earlier one still watching gives way."""
        self._supersede(s, case.id)
        times = self.verification.times(case.code)
        before = s.scalar(select(Evidence.name).where(Evidence.case_id == case.id, Evidence.kind == "snapshot")
                          .order_by(Evidence.id).limit(1))
        now = self.clock()
        check = VideoCheck(case_id=case.id, camera_id=case.camera_id, trigger=trigger, request_id=request_id,
                           status="watching", zone_id=case.zone_id, box=list(case.place_box),
                           clear_after=times.clear_after, within=times.within, started_at=now,
                           deadline_at=now + timedelta(seconds=times.within), before_picture=before,
                           after_picture=after_picture)
        s.add(check)
        s.flush()
        return check

    def camera_check(self, s: Session, camera_id: str, box: list[float] | None, request_id: str,
                     after_picture: str | None) -> VideoCheck:
        """A check of any camera (no case): nothing to watch, the after-picture is the answer, reported now."""
        now = self.clock()
        check = VideoCheck(case_id=None, camera_id=camera_id, trigger="verify", request_id=request_id,
                           status="done", zone_id="", box=box, clear_after=0.0, within=0.0, started_at=now,
                           deadline_at=now, finished_at=now, after_picture=after_picture)
        check.verdict = Verdict.PICTURE_ONLY if after_picture else Verdict.CAMERA_OFFLINE
        check.note = ("an after-picture for the platform to judge: citywall watches only its own cases' places"
                      if after_picture else "the camera gave no picture (connecting or offline)")
        s.add(check)
        s.flush()
        if self.webhook:
            self._message(s, check)
        return check

    def _answered_by_case(self, s: Session, case: Case, verdict: Verdict) -> None:
        """The case's own event was seen cleared (or still there) while a check watched it: that is the check's
        verdict, written in the same transaction so the platform hears it once and no later verdict follows."""
        check_id = s.scalar(select(VideoCheck.id).where(VideoCheck.case_id == case.id,
                                                        VideoCheck.status == "watching"))
        if check_id is None:
            return
        after = s.scalar(select(Evidence.name).where(Evidence.case_id == case.id, Evidence.kind == "after_snapshot")
                         .order_by(Evidence.id.desc()).limit(1))
        try:
            row = self._conclude(s, check_id, verdict, after, "the case's own event answered it: the place was "
                                 + ("empty again" if verdict is Verdict.CLEARED else "still occupied"))
        except AlreadyDone:  # another replica's verdict came first; it changed nothing here
            return
        self.armed.discard(check_id)
        if self.webhook and self._known(s, case.id):
            self._message(s, row)

    def _supersede(self, s: Session, case_id: int) -> None:
        s.execute(update(VideoCheck).where(VideoCheck.case_id == case_id, VideoCheck.status == "watching")
                  .values(status="superseded", finished_at=self.clock()))

    def store_picture(self, jpeg: bytes | None) -> str | None:
        """An after-picture into the evidence store (by content hash); None when there is none or no disk."""
        if jpeg is None:
            return None
        try:
            return self.evidence.put(jpeg, ".jpg").name
        except EvidenceUnavailable as exc:
            log.error("after-picture of a video check not written: %s", exc.reason)
            return None

    # -- the ticker: arming and deadlines --------------------------------------------------------
    def start(self) -> None:
        """Run the ticker on the service's event loop (called from the app's lifespan)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a desk without a service around it (a benchmark): checks stay in their table
            return
        if self._task is None:
            self._task = loop.create_task(self._run(), name="video-checks")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        away = False  # the database restarting is expected: one warning, one line when it is back
        while True:
            try:
                await self.tick()
                if away:
                    log.info("video checks: database back, deadlines and arming resume")
                away = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not unavailable(exc):
                    log.exception("video checks: tick failed")
                elif not away:
                    away = True
                    log.warning("video checks: database unavailable (%s); deadlines wait", type(exc).__name__)
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> None:
        """Arm what this process has not armed; give the verdict of what is past its deadline."""
        now = self.clock()
        rows = await asyncio.to_thread(self._watching)
        for check in rows:
            if check.deadline_at <= now:
                jpeg = await self.runtime.snapshot(check.camera_id, None)
                picture = await asyncio.to_thread(self.store_picture, jpeg)
                verdict = Verdict.STILL_PRESENT if picture else Verdict.CAMERA_OFFLINE
                why = ("the place was not seen empty long enough in time" if picture
                       else "the camera gave no picture at the deadline")
                await asyncio.to_thread(self.finish, check.id, verdict, picture, why)
            elif check.id not in self.armed:
                await self._arm(check, now)

    def _watching(self) -> list[VideoCheck]:
        with self.db.session() as s:
            return list(s.scalars(select(VideoCheck).where(VideoCheck.status == "watching")
                                  .order_by(VideoCheck.id)))

    async def _arm(self, check: VideoCheck, now: datetime) -> None:
        left = (check.deadline_at - now).total_seconds()
        watch = PlaceCheck(camera_id=check.camera_id, event_id=f"{WATCH_PREFIX}{check.id}", zone_id=check.zone_id,
                           place_box=check.box or [0.0, 0.0, 0.0, 0.0], absent_seconds=check.clear_after,
                           within_seconds=max(left, 0.0))
        if check.zone_id and check.box and self.runtime.check_place(watch):
            self.armed.add(check.id)
            log.info("video check %s watching case %s on camera %s (%.0f s left)", check.id, check.case_id,
                     check.camera_id, left, extra={"camera": check.camera_id})
            return
        if check.trigger in ("dispatched", "reopened"):  # nobody asked: no message about a place not watched
            await asyncio.to_thread(self.finish, check.id, None, None, "no rule of the camera covers the place")
            return
        jpeg = await self.runtime.snapshot(check.camera_id, None)
        picture = await asyncio.to_thread(self.store_picture, jpeg) or check.after_picture
        verdict = Verdict.PICTURE_ONLY if picture else Verdict.CAMERA_OFFLINE
        await asyncio.to_thread(self.finish, check.id, verdict, picture,
                                "no rule of the camera covers the place: the after-picture is for the platform "
                                "to judge" if picture else "the camera gave no picture (connecting or offline)")

    # -- verdicts --------------------------------------------------------------------------------
    def on_change(self, change: EventChange) -> None:
        """The runtime's event changes: a watch's verdict (its event id is check-<id>); the rest is the desk's."""
        if not change.event_id.startswith(WATCH_PREFIX) or change.kind not in ("cleared", "still_present"):
            return
        try:
            check_id = int(change.event_id.removeprefix(WATCH_PREFIX))
        except ValueError:
            return
        jpeg = next((p for k, p in change.evidence.items() if k in ("after_snapshot", "snapshot")), None)
        verdict = Verdict.CLEARED if change.kind == "cleared" else Verdict.STILL_PRESENT
        why = (f"the place was empty for {change.dwell:.0f} s or more" if verdict is Verdict.CLEARED
               else "the place was still occupied at the deadline")
        self.finish(check_id, verdict, Path(jpeg).name if jpeg else None, why)

    def finish(self, check_id: int, verdict: Verdict | None, after_picture: str | None, note: str) -> bool:
        """Write the verdict once (False: it was written already, or the check gave way)."""
        with self.db.session() as s:
            check = s.get(VideoCheck, check_id)
            if check is None or check.status != "watching":
                return False
            case_id = check.case_id
        self.armed.discard(check_id)

        def write(s: Session, case: Case | None) -> None:
            row = self._conclude(s, check_id, verdict, after_picture, note)
            if case is not None and verdict in VERDICT_STEPS:
                case.verified_at = utcnow()
            if case is not None and row.after_picture:
                self._add_after_picture(s, case.id, row.after_picture)
            if verdict is not None and self.webhook and (case is None or self._known(s, case.id)):
                self._message(s, row)

        try:
            if case_id is None:
                with self.db.session() as s:
                    write(s, None)
            else:
                detail: dict[str, Any] = {"check": check_id, "verdict": verdict.value if verdict else None,
                                          "note": note}
                step = VERDICT_STEPS.get(verdict) if verdict else None
                self.desk.advance(case_id, ACTOR, step or "video_check", detail, otherwise="video_check",
                                  also=lambda s, case: write(s, case))
        except AlreadyDone:
            return False
        log.info("video check %s: %s", check_id, verdict.value if verdict else "ended without a verdict")
        return True

    def _conclude(self, s: Session, check_id: int, verdict: Verdict | None, after_picture: str | None,
                  note: str) -> VideoCheck:
        """``watching`` → ``done`` as a conditional update (AlreadyDone: another writer was first)."""
        done = s.execute(update(VideoCheck).where(VideoCheck.id == check_id, VideoCheck.status == "watching")
                         .values(status="done", verdict=verdict.value if verdict else None, note=note,
                                 finished_at=self.clock(), after_picture=after_picture or VideoCheck.after_picture))
        if not getattr(done, "rowcount", 0):
            raise AlreadyDone
        row = s.get(VideoCheck, check_id)
        assert row is not None
        s.refresh(row)
        return row

    def _add_after_picture(self, s: Session, case_id: int, name: str) -> None:
        path = self.evidence.directory / name
        sha = path.stem
        if not path.is_file() or s.scalar(select(Evidence.id).where(
                Evidence.case_id == case_id, Evidence.sha256 == sha, Evidence.kind == "after_snapshot")):
            return
        s.add(Evidence(case_id=case_id, kind="after_snapshot", sha256=sha, name=name, size=path.stat().st_size,
                       created_at=utcnow()))

    @staticmethod
    def _known(s: Session, case_id: int) -> bool:
        """Whether the platform was told of the case (only such cases get messages)."""
        return s.scalar(select(OutboxMessage.id).where(OutboxMessage.case_id == case_id,
                                                      OutboxMessage.kind == MessageKind.CASE_CONFIRMED)
                        .limit(1)) is not None

    def _message(self, s: Session, check: VideoCheck) -> None:
        out = self.describe(check, with_links=False, s=s)
        payload = out.model_dump(mode="json", exclude={"evidence"})
        payload["evidence_files"] = [{"kind": kind, "name": name} for kind, name in self._pictures(check)]
        s.add(OutboxMessage(case_id=check.case_id, kind=MessageKind.VIDEO_CHECK,
                            idempotency_key=f"citywall-check-{check.id}", payload=payload, status="pending",
                            attempts=0, next_attempt_at=utcnow(), created_at=utcnow()))

    # -- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _pictures(check: VideoCheck) -> list[tuple[str, str]]:
        return [(kind, name) for kind, name in (("before_picture", check.before_picture),
                                                ("after_picture", check.after_picture)) if name]

    def describe(self, check: VideoCheck, *, with_links: bool = True, s: Session | None = None) -> CheckOut:
        """The check as the platform sees it, with its case's deadline (read in ``s``, else a session of its
        own) and whether the check ended past it."""
        cam = self.desk.cameras.get(check.camera_id)
        deadline: datetime | None = None
        if check.case_id is not None:
            if s is None:
                with self.db.session() as own:
                    deadline = own.scalar(select(Case.deadline_at).where(Case.id == check.case_id))
            else:
                deadline = s.scalar(select(Case.deadline_at).where(Case.id == check.case_id))
        pictures = [Picture.model_validate(self.links.item(kind, name)) for kind, name in self._pictures(check)] \
            if with_links else []
        return CheckOut(
            check=check.id, case=f"citywall-{check.case_id}" if check.case_id else None,
            camera=PlatformCamera(id=check.camera_id, name=cam.name if cam else check.camera_id,
                                  national_id=cam.national_id if cam else None),
            trigger=check.trigger, status=check.status,
            verdict=Verdict(check.verdict) if check.verdict else None, box=check.box,
            clear_after=check.clear_after, within=check.within, started_at=check.started_at,
            deadline_at=check.deadline_at, finished_at=check.finished_at, note=check.note, case_deadline_at=deadline,
            case_overdue=None if check.case_id is None else missed_deadline(
                deadline, None, check.finished_at or self.clock()),
            evidence=pictures)

    def get(self, check_id: int) -> VideoCheck | None:
        with self.db.session() as s:
            return s.get(VideoCheck, check_id)
