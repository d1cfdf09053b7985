"""Wiring of the case loop into the running service: analytics events → desk → /ws/wall, outbox, video check.

Kept out of ``wall/app.py`` so the app factory only composes parts: this module decides who listens to whom.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from vision.catalogue import load_catalogue
from wall.access import Principal, audit_action
from wall.analytics import SiteAnalytics
from wall.cases.desk import CaseDesk
from wall.cases.outbox import Outbox
from wall.config import SiteConfig
from wall.store.db import Database
from wall.wall_ws import WallBroadcaster

log = logging.getLogger(__name__)
# 视频核查: after dispatch, how long the place must be empty, and how long to keep looking.
CLEAR_AFTER_SECONDS = 60.0
VERIFY_WITHIN_SECONDS = 4 * 3600.0


class CaseService:
    def __init__(self, site: SiteConfig, db: Database, analytics: SiteAnalytics | None) -> None:
        self.analytics = analytics
        evidence_dir = analytics.evidence_dir if analytics is not None else site.data_dir / "evidence"
        reasons = site.server_file.review.reject_reasons
        self.desk = CaseDesk(db, site.cameras, site.catalogue or load_catalogue(), evidence_dir,
                             reject_reasons=list(reasons), reason_names=reasons)
        self.broadcaster = WallBroadcaster()
        self.desk.listeners.append(self.broadcaster.publish)
        self.desk.listeners.append(self._watch_dispatched)
        platform = site.server_file.platform
        self.outbox = Outbox(db, self.desk, url=platform.webhook_url, secret=platform.secret,
                             evidence_dir=evidence_dir, evidence_mode=platform.evidence,
                             public_base_url=platform.public_base_url, max_attempts=platform.max_attempts,
                             backoff_initial=platform.backoff_initial, backoff_max=platform.backoff_max) \
            if platform.webhook_url else None
        if analytics is not None:
            analytics.listeners.append(self.desk.on_event)

    def install(self, app: FastAPI) -> None:
        app.state.desk = self.desk
        app.state.outbox = self.outbox
        app.state.broadcaster = self.broadcaster
        app.state.audit_case = self._audit

    def start(self) -> None:
        if self.outbox is not None:
            self.outbox.start()

    def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.stop()

    @staticmethod
    def _audit(request: HTTPConnection, principal: Principal, action: str, case_id: int, success: bool,
               detail: dict[str, Any] | None) -> None:
        audit_action(request, principal, action, f"case:{case_id}", success, detail)

    def _watch_dispatched(self, message: dict[str, Any]) -> None:
        """A case handed to a department: ask the camera's analyzer to verify the place on video."""
        case = message.get("case") or {}
        if case.get("status") != "dispatched" or self.analytics is None:
            return
        analyzer = self.analytics.analyzers.get(case["camera"])
        if analyzer is None:
            return
        analyzer.watch_place(case["event_id"], case["zone"], case["place_box"], CLEAR_AFTER_SECONDS,
                             VERIFY_WITHIN_SECONDS, time.monotonic())
        log.info("video check of case %s started on camera %s", case["id"], case["camera"])
