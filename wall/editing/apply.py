"""A saved change, applied to the running service without a restart: one call to the camera registry.

The files were written (and loaded back) first; this only tells the registry, whose subscribers bring the
running parts in line (``wall.app`` wires them): the runtime starts, restarts or updates the camera's session
(only a new URL or switching it on or off cuts the video) and its analytics; the case desk, the walls and the
camera groups of cameras.yaml follow. A site that started without analytics.yaml runs no detector at all, so
there saved rules wait for the next start — and the console says so.

Called from the editor's (sync) routes, on a worker thread: the runtime's answer is awaited on the event loop.
"""

from __future__ import annotations

from anyio import from_thread

from streams.config import CameraConfig
from vision.rules_config import CameraRules
from wall.runtime.interface import CameraRuntime
from wall.runtime.models import Applied
from wall.runtime.registry import CameraRegistry

NO_ANALYTICS = ("this site started without analytics.yaml, so no detector runs: the rules are saved in "
                "analytics.yaml and take effect when citywall serve is restarted")


def _applied(runtime: CameraRuntime, camera_id: str, restarted: bool, message: str = "") -> Applied:
    status = from_thread.run(runtime.status, camera_id)
    return Applied(running=status is not None, restarted=restarted, analysed=bool(status and status.analysed),
                   message=message)


def apply_camera(registry: CameraRegistry, runtime: CameraRuntime, camera: CameraConfig) -> Applied:
    change = registry.put_camera(camera)
    return _applied(runtime, camera.id, change.restart)


def apply_rules(registry: CameraRegistry, runtime: CameraRuntime, camera_id: str, rules: CameraRules) -> Applied:
    registry.put_rules(camera_id, rules)
    if not runtime.analytics_enabled:
        return _applied(runtime, camera_id, False, NO_ANALYTICS).model_copy(update={"analysed": False})
    applied = _applied(runtime, camera_id, False)
    if not applied.analysed and rules.zones:
        applied.message = "the camera is disabled: its rules run once it is enabled"
    return applied
