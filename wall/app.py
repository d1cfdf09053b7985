"""The FastAPI application factory: it builds the service's parts, says who listens to whom, and mounts the
routers. No route lives here (each resource has its router in ``wall/api/``).

The parts, bottom up: the database; the camera registry (the live set of cameras and rules); the camera
runtime (``wall.runtime``: in this process, ``LocalRuntime``); the case loop (desk, outbox, pushes); the walls.
A registry change reaches the runtime first (so a new session exists), then the desk and the walls, then the
camera groups of cameras.yaml.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from streams.hub import CameraHub
from wall.access import OriginGuard
from wall.api import (
    admin_routes,
    audit_routes,
    auth_routes,
    cameras,
    editor_routes,
    events,
    health,
    live,
    model_routes,
    pages,
    platform_routes,
    playback,
    ptz_routes,
    pushes,
    stats_routes,
)
from wall.api import cases as case_routes
from wall.api import suppressions as suppression_routes
from wall.api import walls as wall_routes
from wall.api.common import document_common_answers
from wall.api.errors import install_error_handlers
from wall.api.guards import RequestGuard
from wall.auth.grants import seed_groups
from wall.case_loop import CaseService
from wall.config import SiteConfig
from wall.memory_trim import MemoryTrimmer
from wall.metrics import install_metrics
from wall.runtime.interface import CameraRuntime
from wall.runtime.local import LocalRuntime
from wall.runtime.registry import CameraRegistry, RegistryChange
from wall.services import Services
from wall.store.db import Database, open_database
from wall.walls.service import WallService


def _runtime(site: SiteConfig, registry: CameraRegistry, hub: CameraHub | None) -> CameraRuntime:
    """In this process, or with ``cluster:`` on a Ray cluster (``wall.cluster``: only then is Ray imported)."""
    if site.server_file.cluster is None:
        return LocalRuntime(site, registry, hub)
    from wall.cluster.runtime import RayRuntime

    return RayRuntime(site, registry, site.server_file.cluster)


def create_app(site: SiteConfig, hub: CameraHub | None = None, db: Database | None = None) -> FastAPI:
    """``hub``: cameras already built by the caller (tests and benchmarks that own their sessions)."""
    # The database first: one written by a newer citywall is refused before any camera is opened.
    own_db = db is None
    db = db or open_database(site.data_dir, site.server_file.server.database_url)
    registry = CameraRegistry(site.cameras, site.analytics.cameras if site.analytics is not None else None)

    def seed(change: RegistryChange | None = None) -> None:
        with db.session() as unit:  # the groups of cameras.yaml follow the file
            seed_groups(unit, [(cam.id, cam.group) for cam in registry.cameras()])

    seed()
    runtime = _runtime(site, registry, hub)
    registry.subscribe(runtime.apply)
    registry.subscribe_model(lambda change: runtime.use_model(change.card))  # a promotion, here or on a replica
    cases = CaseService(site, db, runtime, registry)
    walls = WallService(db, site.layouts, registry.ids(), site.server_file.walls, publish=cases.notices.publish)
    registry.subscribe(lambda change: walls.cameras_changed(registry.ids()))
    registry.subscribe(seed)
    cases.desk.listeners.append(walls.on_case)  # a raised case pops up on the walls, a decided one leaves them
    bridges = None
    if site.server_file.cluster is not None:  # replicas share the hall: notices, walls, camera changes cross them
        from wall.cluster.replicas import ReplicaBridges

        bridges = ReplicaBridges(site, db, registry, cases, walls, site.server_file.cluster.namespace)
    parts = Services(site=site, registry=registry, runtime=runtime, db=db, cases=cases, walls=walls,
                     started=time.time())

    trimmer = MemoryTrimmer()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        cases.start()
        if bridges is not None:
            bridges.start()
        walls.start()
        parts.recordings.start()  # retention passes (the index is written as segments close)
        parts.stats_rollup.start()  # the statistics' past days, built before a report asks for them
        parts.ptz.start()  # due returns to the analysis preset, whichever replica (or run) steered the camera
        trimmer.start()  # free allocator pages back to the system once a minute (wall/memory_trim.py)
        try:
            yield
        finally:
            trimmer.stop()
            await parts.ptz.close()  # its drivers' connections, on the loop that made them
            parts.stats_rollup.stop()
            parts.recordings.stop()
            walls.stop()
            if bridges is not None:
                bridges.stop()
            cases.stop()
            runtime.stop()
            if own_db:
                db.dispose()

    app = FastAPI(title="citywall", version="0.1.0", lifespan=lifespan)
    app.state.services = parts  # the one thing on the app's state: routes get it through wall.api.deps
    # innermost: a body bounded and JSON before any route reads it; a crash answered 500 without its message
    app.add_middleware(RequestGuard, max_body_bytes=site.server_file.server.max_body_bytes)
    app.add_middleware(OriginGuard, allowed=parts.allowed_origins)
    install_error_handlers(app)  # domain errors → their HTTP answers (wall/api/errors.py)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    install_metrics(app, site.server_file.server.metrics, runtime, db, cases,  # GET /metrics (wall/metrics.py)
                    transcodes=parts.recordings.transcodes, rendition_cap=site.server_file.server.live.renditions)
    for module in (health, auth_routes, admin_routes, audit_routes, editor_routes, cameras, events, case_routes,
                   suppression_routes, wall_routes, live, pushes, stats_routes, platform_routes, ptz_routes, playback,
                   model_routes, pages):
        app.include_router(module.router)
    document_common_answers(app, public={("POST", "/api/session")})
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    if site.server_file.server.trusted_proxies:  # outermost: every part sees the client the proxy names
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(site.server_file.server.trusted_proxies))
    return app
