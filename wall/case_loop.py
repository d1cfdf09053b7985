"""Wiring of the case loop into the running service: analytics events → desk → /ws/wall, outbox, video checks
(wall/platform/checks.py: persistent, started in the desk's transitions); operators' filings (视频立案) → desk;
the platform's calls (wall/platform/service.py) → desk.

Kept out of ``wall/app.py`` so the app factory only composes parts: this module decides who listens to whom.
It sits above both ``wall/cases/`` and ``wall/platform/`` (the platform's calls and checks use the desk), so the
case folder never imports the platform's.
"""

from __future__ import annotations

import logging

from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.evidence import EvidenceStore
from wall.cases.backlog import EventBacklog
from wall.cases.desk import CaseDesk
from wall.cases.filing import CaseFiler
from wall.cases.labelling import TargetClasses, with_label_reasons
from wall.cases.links import EvidenceLinks
from wall.cases.outbox import Outbox
from wall.cases.suppressions import SuppressionBook
from wall.config import SiteConfig
from wall.notices import NoticeHub
from wall.platform.checks import VideoChecks
from wall.platform.service import PlatformService
from wall.runtime.interface import CameraRuntime
from wall.runtime.registry import CameraRegistry, RegistryChange
from wall.store.db import Database

log = logging.getLogger(__name__)


class CaseService:
    def __init__(self, site: SiteConfig, db: Database, runtime: CameraRuntime, registry: CameraRegistry) -> None:
        self.runtime = runtime
        evidence_dir = site.evidence_dir  # where the analytics write evidence, named by content hash
        reasons = with_label_reasons(site.server_file.review.reject_reasons)  # + 类别错误 (wall/cases/labelling.py)
        review = site.server_file.review
        self.suppressions = SuppressionBook(db, reasons=[r for r in review.suppressible_reasons if r in reasons],
                                            days=review.suppression_days)  # 误报抑制
        self.desk = CaseDesk(db, registry.cameras(), site.catalogue or load_catalogue(), evidence_dir,
                             reject_reasons=list(reasons), reason_names=reasons,
                             time_limits=site.server_file.platform.time_limits.in_zone(site.server_file.hall.time_zone),
                             suppressions=self.suppressions)
        self.desk.labels = TargetClasses(site.model_card or DEFAULT_CARD)  # the classes a label may give
        self.notices = NoticeHub()  # /ws/wall
        self.desk.listeners.append(self.notices.publish)
        platform = site.server_file.platform
        self.links = EvidenceLinks(secret=platform.secret, public_base_url=platform.public_base_url,
                                   ttl=platform.evidence_url_ttl, mode=platform.evidence, evidence_dir=evidence_dir)
        self.outbox = Outbox(db, self.desk, url=platform.webhook_url, secret=platform.secret,
                             evidence_dir=evidence_dir, links=self.links, max_attempts=platform.max_attempts,
                             backoff_initial=platform.backoff_initial, backoff_max=platform.backoff_max) \
            if platform.webhook_url else None
        self.checks = VideoChecks(self.desk, runtime, EvidenceStore(evidence_dir), self.links,
                                  platform.verification, webhook=self.outbox is not None)
        runtime.subscribe_events(self.checks.on_change)  # the watches' verdicts (check-<id>), before the desk's
        self.platform = PlatformService(self.desk, runtime, self.checks)
        self.filer = CaseFiler(self.desk, runtime, EvidenceStore(evidence_dir),
                               ring_seconds=site.server_file.streams.ring_seconds, webhook=self.outbox is not None)
        # the runtime's changes go through the backlog: one the database cannot take now waits, never vanishes
        self.backlog = EventBacklog(self.desk)
        runtime.subscribe_events(self.backlog.offer)
        registry.subscribe(self._camera_changed)

    def start(self) -> None:
        """From the app's lifespan, on the service's event loop (the video checks' ticker runs on it)."""
        self.backlog.start()
        self.checks.start()
        if self.outbox is not None:
            self.outbox.start()

    def stop(self) -> None:
        self.checks.stop()
        if self.outbox is not None:
            self.outbox.stop()
        self.backlog.stop()

    def _camera_changed(self, change: RegistryChange) -> None:
        """Cases raised from now on carry the camera's new name, national id, grid code and address."""
        self.desk.cameras[change.camera.id] = change.camera
