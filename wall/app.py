"""The FastAPI application: camera API, live WebSockets and the wall page. It wires ``streams`` to HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, status
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from streams.hub import CameraHub, MainStreams
from streams.session import CameraSession
from wall.access import (
    NOT_FOUND,
    LiveAccess,
    OriginGuard,
    Principal,
    camera_or_404,
    current_principal,
    public_error,
    refresh_principal,
    visible_sessions,
    websocket_principal,
)
from wall.analytics import SiteAnalytics
from wall.api import admin_routes, auth_routes, editor_routes
from wall.api import cases as case_routes
from wall.api import walls as wall_routes
from wall.api.common import UNAUTHENTICATED, document_common_answers, error
from wall.auth.grants import seed_groups
from wall.cases.service import CaseService
from wall.config import SiteConfig
from wall.live import stream_live
from wall.metrics import install_metrics
from wall.store.db import Database, open_database
from wall.walls.service import WallService

STATIC = Path(__file__).with_name("static")
Viewer = Annotated[Principal, Depends(current_principal)]
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # the pages load only their own scripts, styles and media; nothing may frame them (clickjacking)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}


PAGES = {"/login": "login.html", "/desk": "desk.html", "/admin": "admin.html"}


def _page(name: str) -> Any:
    def serve() -> FileResponse:
        return FileResponse(STATIC / name, headers=PAGE_HEADERS)

    return serve


class CameraOut(BaseModel):
    """What a client may know of a camera: never its URLs (they carry credentials of the police network)."""

    id: str
    name: str
    national_id: str | None
    group: str | None
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    lon: float | None
    lat: float | None
    has_main_stream: bool
    state: str
    since: float
    last_error: str | None
    last_error_kind: str | None
    fps: float | None
    bitrate_kbps: float | None
    gop_seconds: float | None
    reconnects: int
    codec: str | None
    profile: str | None
    width: int | None
    height: int | None
    viewers: int
    analysed: bool
    scene_moved: bool  # PTZ guard: the view left its preset, rules paused


def camera_out(session: CameraSession, analytics: SiteAnalytics | None = None) -> CameraOut:
    cam = session.camera
    health = session.health.snapshot()
    analyzer = analytics.analyzers.get(cam.id) if analytics is not None else None
    return CameraOut(
        id=cam.id, name=cam.name, national_id=cam.national_id, group=cam.group, grid_code=cam.grid_code,
        street=cam.street, community=cam.community, address=cam.address, lon=cam.lon, lat=cam.lat,
        has_main_stream=cam.main_url is not None, viewers=session.remux.viewer_count,
        analysed=analyzer is not None, scene_moved=bool(analyzer and analyzer.scene_moved),
        last_error=public_error(health["last_error"]),  # type: ignore[arg-type]
        **{k: health[k] for k in ("state", "since", "last_error_kind", "fps", "bitrate_kbps",
                                  "gop_seconds", "reconnects", "codec", "profile", "width", "height")},
    )


def create_app(site: SiteConfig, hub: CameraHub | None = None, db: Database | None = None) -> FastAPI:
    # The database first: one written by a newer citywall is refused before any camera is opened.
    own_db = db is None
    db = db or open_database(site.data_dir, site.server.database_url)
    hub = hub or CameraHub(site.cameras, site.streams)
    main_streams = MainStreams(hub)  # a maximised tile's high-resolution stream, opened on demand
    with db.session() as unit:
        seed_groups(unit, [(cam.id, cam.group) for cam in site.cameras])
    analytics = SiteAnalytics(site, hub) if site.analytics is not None else None
    cases = CaseService(site, db, analytics)
    walls = WallService(db, site.layouts, [c.id for c in site.cameras], site.walls, publish=cases.broadcaster.publish)
    cases.desk.listeners.append(walls.on_case)  # a raised case pops up on the walls, a decided one leaves them

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        cases.start()
        walls.start()
        if analytics is not None:
            analytics.start()
        try:
            yield
        finally:
            if analytics is not None:
                analytics.stop()
            walls.stop()
            main_streams.stop()
            cases.stop()
            hub.stop()
            if own_db:
                db.dispose()

    app = FastAPI(title="citywall", version="0.1.0", lifespan=lifespan)
    app.state.hub = hub
    app.state.site = site
    app.state.allowed_origins = list(site.server.allowed_origins)
    app.state.started = time.time()
    app.state.analytics = analytics
    app.state.db = db  # wall.store.db.Database: `with app.state.db.session() as s:` is one unit of work
    app.state.security = site.security
    app.state.walls = walls
    app.add_middleware(OriginGuard, allowed=app.state.allowed_origins)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    cases.install(app)
    install_metrics(app, site.server.metrics, hub, db, analytics, cases)  # GET /metrics (wall/metrics.py)
    app.include_router(auth_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(editor_routes.router)  # cameras.yaml / analytics.yaml from the console
    app.include_router(case_routes.router)
    app.include_router(wall_routes.router)
    document_common_answers(app, public={("POST", "/api/session")})

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness for load balancers and Docker: the process serves and knows its cameras."""
        states: dict[str, int] = {}
        for session in hub:
            state = session.health.current_state().value
            states[state] = states.get(state, 0) + 1
        uptime = round(time.time() - app.state.started)
        return {"status": "ok", "cameras": len(hub), "states": states, "uptime_s": uptime}

    @app.get("/api/cameras", responses=UNAUTHENTICATED)
    def list_cameras(principal: Viewer) -> list[CameraOut]:
        return [camera_out(s, analytics) for s in visible_sessions(principal, list(hub))]

    @app.get("/api/cameras/{camera_id}", responses={**UNAUTHENTICATED, 404: error(NOT_FOUND)})
    def get_camera(camera_id: str, principal: Viewer) -> CameraOut:
        return camera_out(camera_or_404(principal, hub.get(camera_id)), analytics)

    @app.get(
        "/api/cameras/{camera_id}/snapshot.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: error(NOT_FOUND), **UNAUTHENTICATED,
                   204: {"description": "no picture from this camera yet"}},
    )
    def snapshot(camera_id: str, principal: Viewer,
                 width: Annotated[int | None, Query(ge=16, le=3840)] = None) -> Response:
        """Newest keyframe as JPEG: the tile's fallback when the browser cannot play the camera's codec."""
        session = camera_or_404(principal, hub.get(camera_id))
        data = session.snapshot_jpeg(width)
        if data is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/cameras/{camera_id}/overlay", responses={**UNAUTHENTICATED, 404: error(NOT_FOUND)})
    def overlay(camera_id: str, principal: Viewer) -> dict[str, Any]:
        """The camera's zones and latest detections in 0–1 of the picture, for the wall's optional overlay."""
        camera_or_404(principal, hub.get(camera_id))
        analyzer = analytics.analyzers.get(camera_id) if analytics is not None else None
        if analyzer is None:
            return {"zones": [], "boxes": [], "looks": 0, "at": None}
        return analyzer.overlay()

    @app.get("/api/events", responses=UNAUTHENTICATED)
    def list_events(principal: Viewer, camera: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        """Latest state of each recent event (newest first), for cameras the user may see."""
        if analytics is None:
            return []
        latest: dict[str, dict[str, Any]] = {}
        for change in list(analytics.recent):
            if principal.may_view(change.camera_id) and (camera is None or change.camera_id == camera):
                earlier = latest.get(change.event_id, {}).get("evidence", {})
                latest[change.event_id] = change.as_dict()
                latest[change.event_id]["evidence"] = {**earlier, **change.evidence}  # snapshot, clip, after
        events = sorted(latest.values(), key=lambda e: e["t_wall"], reverse=True)[:limit]
        for event in events:
            event["evidence"] = {k: f"/api/evidence/{Path(v).name}" for k, v in event["evidence"].items()}
        return events

    @app.get("/api/evidence/{name}", response_class=FileResponse,
             responses={404: error("not found"), **UNAUTHENTICATED})
    def evidence(name: str, principal: Viewer) -> FileResponse:
        """An evidence file (snapshot JPEG, clip MP4), only through a case or event of a camera the user may see."""
        owner = cases.desk.evidence_owner(name)
        path = cases.desk.evidence_dir / name if owner is not None else None
        if owner is None and analytics is not None and (found := analytics.evidence(name)) is not None:
            path, owner = found
        if path is None or owner is None or not principal.may_view(owner) or not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
        media = "image/jpeg" if path.suffix == ".jpg" else "video/mp4"
        return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=86400"})

    @app.websocket("/ws/wall")
    async def wall_channel(websocket: WebSocket) -> None:
        """Pushes of the case loop (raised, decided, updated) for the cameras the user may see."""
        principal = await websocket_principal(websocket)
        if principal is None:
            return
        await websocket.accept()
        await cases.broadcaster.serve(websocket, principal, refresh=lambda p: refresh_principal(app, p))

    @app.websocket("/ws/live/{camera_id}")
    async def live(websocket: WebSocket, camera_id: str, start: str = "cache", stream: str = "sub") -> None:
        """``start=keyframe`` waits for the camera's next keyframe instead of sending the cached GOP;
        ``stream=main`` sends the camera's main stream (a maximised tile), when it has one, else the sub stream."""
        principal = await websocket_principal(websocket)  # foreign Origin: 403; no session: closed with 4401
        if principal is None:
            return
        session = hub.get(camera_id)
        await websocket.accept()
        if session is None or not principal.may_view(camera_id):
            # Accept first: a close before the handshake reaches the client only as HTTP 403, and a
            # client must be able to tell "no such camera" (4404) from a refused or dropped socket.
            await websocket.close(code=4404, reason=NOT_FOUND)
            return
        main = main_streams.acquire(camera_id) if stream == "main" else None
        try:
            await stream_live(websocket, main or session, site.streams.viewer_buffer_seconds,
                              LiveAccess(app, principal, camera_id), from_cache=start != "keyframe")
        finally:
            if main is not None:
                main_streams.release(camera_id)

    # The pages are static; their scripts ask /api/me first and go to /login without a session, and every
    # datum they show comes from the API, which checks the session and grants itself.
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The seat page: the user's own wall, or control of a shared wall."""
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/wall/{name}", include_in_schema=False)
    def shared_wall(name: str) -> FileResponse:
        """A shared wall (``?kiosk=1`` on the hall's displays: full screen, no controls)."""
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    for path, page in PAGES.items():
        app.add_api_route(path, _page(page), include_in_schema=False)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
