"""The camera registry: the live set of cameras and their rules, and the one place that announces a change.

cameras.yaml and analytics.yaml stay the source of truth; the registry is what the running service believes
they say. It starts from the loaded site and changes only through ``put_camera`` and ``put_rules`` (the
editor calls them after the file was written and loaded back) and ``put_model`` (a promotion). Everyone who
keeps something per camera — the runtime's sessions and analytics, the case desk's names and addresses, the
walls' camera list, the groups of cameras.yaml — subscribes, instead of an editor that reaches into each of
them by hand.

Listeners run in subscription order, on the caller's thread, with the registry's change lock held: two
changes never interleave, and a listener sees the registry as it is after the change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from streams.config import CameraConfig
from vision.rules_config import CameraRules

log = logging.getLogger(__name__)


class CameraAdded(BaseModel):
    kind: Literal["added"] = "added"
    camera: CameraConfig
    rules: CameraRules

    @property
    def restart(self) -> bool:
        """A session starts (the camera is enabled)."""
        return self.camera.enabled


class CameraChanged(BaseModel):
    """A camera's entry changed; only a new stream (``restart``) cuts its video."""

    kind: Literal["changed"] = "changed"
    before: CameraConfig
    camera: CameraConfig
    rules: CameraRules

    @property
    def restart(self) -> bool:
        """A session starts, restarts or stops: a new URL of an enabled camera, or switched on or off."""
        if not (self.before.enabled or self.camera.enabled):
            return False
        return self.before.url != self.camera.url or self.before.enabled != self.camera.enabled


class RulesChanged(BaseModel):
    kind: Literal["rules"] = "rules"
    camera: CameraConfig
    rules: CameraRules


RegistryChange = CameraAdded | CameraChanged | RulesChanged
Listener = Callable[[RegistryChange], None]


class ModelChanged(BaseModel):
    """analytics.yaml's ``model:`` now names ``card`` (a promotion or a rollback): the site's one detector for
    every camera, so it is told apart from the per-camera changes."""

    kind: Literal["model"] = "model"
    card: Path


ModelListener = Callable[[ModelChanged], object]


class CameraRegistry:
    def __init__(self, cameras: Iterable[CameraConfig], rules: Mapping[str, CameraRules] | None = None) -> None:
        self._cameras: dict[str, CameraConfig] = {c.id: c for c in cameras}
        self._rules: dict[str, CameraRules] = dict(rules or {})
        self._listeners: list[Listener] = []
        self._model_listeners: list[ModelListener] = []
        self._change = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def subscribe_model(self, listener: ModelListener) -> None:
        """Be told when the site's detector card changes (the runtime switches its analytics; the replicas of a
        cluster tell each other)."""
        self._model_listeners.append(listener)

    def cameras(self) -> list[CameraConfig]:
        """Every configured camera, disabled ones too, in the file's order."""
        return list(self._cameras.values())

    def ids(self) -> list[str]:
        return list(self._cameras)

    def get(self, camera_id: str) -> CameraConfig | None:
        return self._cameras.get(camera_id)

    def rules(self, camera_id: str) -> CameraRules:
        """The camera's rules as analytics.yaml has them (no entry: no zones)."""
        return self._rules.get(camera_id) or CameraRules()

    def put_camera(self, camera: CameraConfig) -> CameraAdded | CameraChanged:
        """A camera added or changed in cameras.yaml; its rules stay as they are."""
        with self._change:
            before = self._cameras.get(camera.id)
            rules = self.rules(camera.id)
            change: CameraAdded | CameraChanged = (CameraAdded(camera=camera, rules=rules) if before is None
                                                   else CameraChanged(before=before, camera=camera, rules=rules))
            cameras = dict(self._cameras)
            cameras[camera.id] = camera
            self._cameras = cameras  # replaced, never changed in place: readers on other threads see one or other
            self._publish(change)
        return change

    def put_rules(self, camera_id: str, rules: CameraRules) -> RulesChanged:
        """A camera's rules saved in analytics.yaml. Raises KeyError for a camera the registry does not have."""
        with self._change:
            camera = self._cameras[camera_id]
            self._rules = {**self._rules, camera_id: rules}
            change = RulesChanged(camera=camera, rules=rules)
            self._publish(change)
        return change

    def put_model(self, card: Path) -> ModelChanged:
        """analytics.yaml's ``model:`` was changed to ``card`` (written and recorded by the caller)."""
        with self._change:
            change = ModelChanged(card=card)
            for listener in list(self._model_listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("a listener of the model change to %s failed", card)
        return change

    def _publish(self, change: RegistryChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("a listener of camera %s's %s change failed", change.camera.id, change.kind,
                              extra={"camera": change.camera.id})
