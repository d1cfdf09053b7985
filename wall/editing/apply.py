"""A saved change, applied to the running service without a restart.

The files were written (and loaded back) first; this only brings the running parts in line with them:

- a camera: the hub starts, restarts or updates its session (``CameraHub.put``: only a new URL or switching it
  on or off cuts the video); the app's view of the site, the case desk (names and addresses of new cases), the
  walls (which cameras exist) and the camera groups of cameras.yaml follow; its analytics restart on the new
  session when the session or the analysis interval changed.
- a camera's rules: ``SiteAnalytics.update_rules`` swaps its analyzer and sampler. A site that started without
  analytics.yaml runs no detector at all, so there the saved rules wait for the next start — and the console
  says so.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from fastapi import FastAPI

from streams.config import CameraConfig
from streams.yaml_config import ConfigError
from vision.rules_config import CameraRules
from wall.auth.grants import seed_groups
from wall.editing.rules_file import read_rules

log = logging.getLogger(__name__)
NO_ANALYTICS = ("this site started without analytics.yaml, so no detector runs: the rules are saved in "
                "analytics.yaml and take effect when citywall serve is restarted")


@dataclass
class Applied:
    running: bool  # the camera has a session (it is enabled)
    restarted: bool  # its session was started, restarted or stopped (the video was cut)
    analysed: bool  # its rules run now
    message: str = ""


def apply_camera(app: FastAPI, camera: CameraConfig) -> Applied:
    site = app.state.site
    cameras = [camera if c.id == camera.id else c for c in site.cameras]
    if all(c.id != camera.id for c in site.cameras):
        cameras.append(camera)
    app.state.site = dataclasses.replace(site, cameras=cameras)
    hub = app.state.hub
    before = hub.get(camera.id)
    old_interval = before.camera.analysis_interval if before is not None else None
    session, restarted = hub.put(camera)
    desk = getattr(app.state, "desk", None)
    if desk is not None:
        desk.cameras[camera.id] = camera  # name, national id, grid code, address of the cases it raises next
    walls = getattr(app.state, "walls", None)
    if walls is not None and camera.id not in walls.camera_ids:
        walls.camera_ids.append(camera.id)
    with app.state.db.session() as s:
        seed_groups(s, [(c.id, c.group) for c in cameras])  # the groups of cameras.yaml follow the file
    analytics = app.state.analytics
    analysed = False
    if analytics is not None:
        analysed = camera.id in analytics.analyzers
        if restarted or old_interval != camera.analysis_interval:
            try:
                rules = read_rules(site.directory, camera.id)
            except ConfigError as exc:
                log.warning("analytics.yaml does not load; camera %s keeps its rules: %s", camera.id,
                            "; ".join(exc.problems), extra={"camera": camera.id})
                current = analytics.analyzers.get(camera.id)
                rules = current.rules if current is not None else CameraRules()
            analysed = analytics.update_rules(camera.id, rules)
    return Applied(running=session is not None, restarted=restarted, analysed=analysed)


def apply_rules(app: FastAPI, camera_id: str, rules: CameraRules) -> Applied:
    analytics = app.state.analytics
    running = app.state.hub.get(camera_id) is not None
    if analytics is None:
        return Applied(running=running, restarted=False, analysed=False, message=NO_ANALYTICS)
    analysed = analytics.update_rules(camera_id, rules)
    message = "" if analysed or not rules.zones else "the camera is disabled: its rules run once it is enabled"
    return Applied(running=running, restarted=False, analysed=analysed, message=message)
