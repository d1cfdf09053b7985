"""What several control-plane replicas of one hall tell each other through PostgreSQL: case notices
(``wall.cluster.notices``), wall state (``wall.cluster.walls``) and camera/rule changes (``wall.cluster.config_relay``).

``create_app`` builds these in cluster mode only (the replicas share the one PostgreSQL there); one box has one
process and none of them. Each is a ``LISTEN`` connection of its own (``wall.cluster.listen``), and the walls'
relay holds a second one for its advisory lock. They start after the case loop and before the walls (so the
walls' first writes are told and their first ticks know whether this replica ticks), and stop in reverse.
"""

from __future__ import annotations

from wall.case_loop import CaseService
from wall.cluster.config_relay import ConfigRelay
from wall.cluster.notices import CaseNoticeBridge
from wall.cluster.walls import WallRelay
from wall.config import SiteConfig
from wall.runtime.registry import CameraRegistry
from wall.store.db import Database
from wall.walls.service import WallService


class ReplicaBridges:
    def __init__(self, site: SiteConfig, db: Database, registry: CameraRegistry, cases: CaseService,
                 walls: WallService, namespace: str) -> None:
        self.notices = CaseNoticeBridge(db, cases.desk, cases.notices)
        self.walls = WallRelay(db, walls, namespace)
        self.config = ConfigRelay(db, site, registry)

    def start(self) -> None:
        self.notices.start()
        self.config.start()
        self.walls.start()

    def stop(self) -> None:
        self.walls.stop()
        self.config.stop()
        self.notices.stop()

    def wait_listening(self, timeout: float) -> bool:
        return all(part.wait_listening(timeout) for part in (self.notices, self.walls, self.config))
