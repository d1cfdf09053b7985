"""Camera and rule changes made in one control-plane replica's editor reach every other replica — the supervising
one above all, which places the cameras on the workers.

The files stay the one source of truth: the editor writes cameras.yaml / analytics.yaml and tells its registry
(``wall.editing.apply``). In cluster mode the replicas share one configuration directory (a shared volume), so
this relay, subscribed to the registry, sends ``NOTIFY citywall_config`` (replica, camera, what changed, a
fingerprint) after the change; every other replica loads the directory again, as ``serve`` would, and puts the
camera (or its rules) into *its* registry where the file now differs from what it runs. Its registry's
subscribers do the rest: on the supervising replica ``RayRuntime.apply`` places, moves or updates the camera on
the workers; on every replica the desk, the walls and the groups follow, as after a local edit.

No URL travels: the notification names the camera, and the fingerprint covers everything but its URLs (a hash of
a URL with a password would be a guessable secret). A replica whose directory does not show the change (not
shared after all, or not yet synced) logs so, naming the file. A change this relay applied is not told again.
Nothing here imports Ray.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from settings.errors import ConfigError
from streams.config import CameraConfig
from vision.card import DEFAULT_CARD
from vision.rules_config import CameraRules
from wall.cluster.listen import PgListener, conninfo, notify
from wall.config import ANALYTICS_FILE, CAMERAS_FILE, SiteConfig, load_config
from wall.runtime.registry import CameraRegistry, ModelChanged, RegistryChange
from wall.store.db import Database

log = logging.getLogger(__name__)
CHANNEL = "citywall_config"


class ConfigTold(BaseModel):
    origin: str
    camera: str  # "" for a model change
    what: Literal["camera", "rules", "model"]
    fingerprint: str


def fingerprint(entry: CameraConfig | CameraRules | Path) -> str:
    """What a change made, without URLs: equal on two replicas when their files agree on it (a model card: its
    resolved path on the shared directory)."""
    if isinstance(entry, Path):
        data = str(entry.resolve())
    else:
        data = entry.model_dump_json(exclude={"url", "main_url"} if isinstance(entry, CameraConfig) else None)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


class ConfigRelay:
    def __init__(self, db: Database, site: SiteConfig, registry: CameraRegistry) -> None:
        if db.engine.dialect.name != "postgresql":
            raise ValueError("the configuration relay needs PostgreSQL (LISTEN/NOTIFY)")
        self.db, self.directory, self.registry = db, site.directory, registry
        self.origin = uuid.uuid4().hex[:12]
        self.applied = 0  # changes of other replicas put into this registry
        self._applying = threading.local()
        self.listener = PgListener(conninfo(db.engine.url), CHANNEL, self._told)
        registry.subscribe(self.tell)
        registry.subscribe_model(self.tell_model)

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()

    def wait_listening(self, timeout: float) -> bool:
        return self.listener.wait_listening(timeout)

    def tell(self, change: RegistryChange) -> None:
        """A registry listener: a change made here (the editor) is told to the other replicas."""
        if getattr(self._applying, "active", False):
            return  # came from another replica: it told everyone already
        rules = change.kind == "rules"
        told = ConfigTold(origin=self.origin, camera=change.camera.id, what="rules" if rules else "camera",
                          fingerprint=fingerprint(change.rules if rules else change.camera))
        with self.db.session() as s:
            notify(s, CHANNEL, told.model_dump_json())

    def tell_model(self, change: ModelChanged) -> None:
        """A promotion or rollback made here: the supervising replica switches the workers when it hears it."""
        if getattr(self._applying, "active", False):
            return
        told = ConfigTold(origin=self.origin, camera="", what="model", fingerprint=fingerprint(change.card))
        with self.db.session() as s:
            notify(s, CHANNEL, told.model_dump_json())

    def _model_told(self, site: SiteConfig, told: ConfigTold) -> None:
        """analytics.yaml's ``model:`` as it is now, into this registry (and so to this replica's runtime)."""
        card = site.model_card or DEFAULT_CARD
        if fingerprint(card) != told.fingerprint:
            log.warning("the model changed on another replica, but %s here does not name it: the replicas must "
                        "share one configuration directory", self.directory / ANALYTICS_FILE)
            return
        self._applying.active = True
        try:
            self.registry.put_model(card)
            self.applied += 1
        finally:
            self._applying.active = False

    def _told(self, payload: str) -> None:
        try:
            told = ConfigTold.model_validate_json(payload)
        except ValidationError:
            log.warning("a configuration notification that is not one of ours on %s: ignored", CHANNEL)
            return
        if told.origin == self.origin:
            return
        try:
            site = load_config(self.directory)
        except ConfigError as exc:
            log.warning("%s changed on another replica, but %s does not load here (%d problems): not applied",
                        f"camera {told.camera}" if told.camera else "the model", self.directory,
                        len(exc.problems), extra={"camera": told.camera})
            return
        if told.what == "model":
            self._model_told(site, told)
            return
        camera = next((c for c in site.cameras if c.id == told.camera), None)
        rules = site.analytics.cameras.get(told.camera, CameraRules()) if site.analytics is not None else None
        found = camera if told.what == "camera" else rules
        if found is None or fingerprint(found) != told.fingerprint:
            log.warning("camera %s changed on another replica, but %s here does not show that change: the "
                        "replicas must share one configuration directory", told.camera,
                        self.directory / (CAMERAS_FILE if told.what == "camera" else ANALYTICS_FILE),
                        extra={"camera": told.camera})
        if camera is not None:
            self._bring_in_line(camera, rules)

    def _bring_in_line(self, camera: CameraConfig, rules: CameraRules | None) -> None:
        """The camera (and its rules, where the site has analytics.yaml) as the file says, if they differ."""
        self._applying.active = True
        try:
            if self.registry.get(camera.id) != camera:
                self.registry.put_camera(camera)
                self.applied += 1
            if rules is not None and self.registry.rules(camera.id) != rules:
                self.registry.put_rules(camera.id, rules)
                self.applied += 1
        finally:
            self._applying.active = False
