"""The running service's parts, built once by ``wall.app.create_app`` and handed to the routes.

One typed container instead of loose ``app.state`` attributes: a route asks for ``Services`` (``wall.api.deps``)
and gets every part with its type, so a type checker follows a request from the route down to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import FastAPI

from wall.auth.idle import IdleClock
from wall.case_loop import CaseService
from wall.config import SiteConfig
from wall.editing.probe_quota import ProbeQuota
from wall.editing.rule_try import RuleTrier
from wall.live_limits import LiveLimiter
from wall.ptz.service import PtzService
from wall.recording.service import RecordingService
from wall.runtime.interface import CameraRuntime
from wall.runtime.registry import CameraRegistry
from wall.security_settings import SecuritySettings
from wall.stats.keeper import RollupKeeper
from wall.store.accounts import utcnow
from wall.store.db import Database
from wall.view_audit import ViewAudit
from wall.walls.service import WallService


@dataclass
class Services:
    site: SiteConfig  # as loaded at start; the cameras and rules as they are now: ``registry``
    registry: CameraRegistry
    runtime: CameraRuntime
    db: Database
    cases: CaseService
    walls: WallService
    started: float = field(default=0.0)
    rule_trier: RuleTrier | None = None  # the zone editor's "try", built on first use (it loads a detector)
    probe_quota: ProbeQuota = field(default_factory=ProbeQuota)  # stream probes per admin and minute
    view_audit: ViewAudit = field(default_factory=ViewAudit)  # who opened cases, evidence, snapshots
    # UTC "now" of the session and login clocks (idle timeout, lockouts, delays): tests move it instead of waiting
    clock: Callable[[], datetime] = utcnow
    idle_clock: IdleClock = field(default_factory=IdleClock)  # sessions' idleness on the monotonic clock
    live_limits: LiveLimiter = field(init=False)  # open /ws/live sockets per session, user and in all
    recordings: RecordingService = field(init=False)  # 录像: the segment index, retention, timeline, playback plans
    ptz: PtzService = field(init=False)  # steering PTZ cameras: leases, audit, the return to the analysis preset
    stats_rollup: RollupKeeper = field(init=False)  # the statistics' daily rollup, built from the start

    def __post_init__(self) -> None:
        self.live_limits = LiveLimiter(self.site.server_file.server.live)
        self.recordings = RecordingService(self.site, self.db, self.runtime, self.registry, lambda: self.clock())
        self.ptz = PtzService(self.registry, self.runtime, self.db, self.cases.notices.publish)
        self.stats_rollup = RollupKeeper(self.db, lambda: self.clock(),
                                         time_zone=self.site.server_file.hall.time_zone)
        # the video checks' deadlines, the evidence links' expiry and whether a case is overdue read the service
        # clock (tests move it)
        self.cases.checks.clock = lambda: self.clock()
        self.cases.desk.clock = lambda: self.clock()
        self.cases.links.clock = lambda: self.clock().timestamp()

    @staticmethod
    def of(app: FastAPI) -> Services:
        """The parts an app was built with (``wall.app.create_app`` puts them on its state, once)."""
        found: Services = app.state.services
        return found

    @property
    def security(self) -> SecuritySettings:
        return self.site.server_file.security

    @property
    def allowed_origins(self) -> list[str]:
        return list(self.site.server_file.server.allowed_origins)
