"""Wiring of the case loop into the running service: analytics events → desk → /ws/wall, outbox, video check;
operators' filings (视频立案) → desk.

Kept out of ``wall/app.py`` so the app factory only composes parts: this module decides who listens to whom.
"""

from __future__ import annotations

import logging

from vision.catalogue import load_catalogue
from vision.evidence import EvidenceStore
from wall.cases.backlog import EventBacklog
from wall.cases.desk import CaseDesk
from wall.cases.filing import CaseFiler
from wall.cases.models import CaseNotice
from wall.cases.outbox import Outbox
from wall.config import SiteConfig
from wall.notices import NoticeHub
from wall.runtime.interface import CameraRuntime
from wall.runtime.models import PlaceCheck
from wall.runtime.registry import CameraRegistry, RegistryChange
from wall.store.db import Database

log = logging.getLogger(__name__)
# 视频核查: after dispatch, how long the place must be empty, and how long to keep looking.
CLEAR_AFTER_SECONDS = 60.0
VERIFY_WITHIN_SECONDS = 4 * 3600.0


class CaseService:
    def __init__(self, site: SiteConfig, db: Database, runtime: CameraRuntime, registry: CameraRegistry) -> None:
        self.runtime = runtime
        evidence_dir = site.data_dir / "evidence"  # where the analytics write evidence, named by content hash
        reasons = site.server_file.review.reject_reasons
        self.desk = CaseDesk(db, registry.cameras(), site.catalogue or load_catalogue(), evidence_dir,
                             reject_reasons=list(reasons), reason_names=reasons)
        self.notices = NoticeHub()  # /ws/wall
        self.desk.listeners.append(self.notices.publish)
        self.desk.listeners.append(self._watch_dispatched)
        platform = site.server_file.platform
        self.outbox = Outbox(db, self.desk, url=platform.webhook_url, secret=platform.secret,
                             evidence_dir=evidence_dir, evidence_mode=platform.evidence,
                             public_base_url=platform.public_base_url, max_attempts=platform.max_attempts,
                             backoff_initial=platform.backoff_initial, backoff_max=platform.backoff_max) \
            if platform.webhook_url else None
        self.filer = CaseFiler(self.desk, runtime, EvidenceStore(evidence_dir),
                               ring_seconds=site.server_file.streams.ring_seconds, webhook=self.outbox is not None)
        # the runtime's changes go through the backlog: one the database cannot take now waits, never vanishes
        self.backlog = EventBacklog(self.desk)
        runtime.subscribe_events(self.backlog.offer)
        registry.subscribe(self._camera_changed)

    def start(self) -> None:
        self.backlog.start()
        if self.outbox is not None:
            self.outbox.start()

    def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.stop()
        self.backlog.stop()

    def _watch_dispatched(self, notice: CaseNotice) -> None:
        """A case handed to a department: ask the camera's analyzer to verify the place on video."""
        case = notice.case
        if case.status != "dispatched":
            return
        check = PlaceCheck(camera_id=case.camera, event_id=case.event_id, zone_id=case.zone,
                           place_box=case.place_box, absent_seconds=CLEAR_AFTER_SECONDS,
                           within_seconds=VERIFY_WITHIN_SECONDS)
        if not self.runtime.check_place(check):
            return
        log.info("video check of case %s started on camera %s", case.id, case.camera)

    def _camera_changed(self, change: RegistryChange) -> None:
        """Cases raised from now on carry the camera's new name, national id, grid code and address."""
        self.desk.cameras[change.camera.id] = change.camera
