"""``/api/events`` (the analytics' recent event changes) and ``/api/evidence/{name}`` (their files).

Evidence is named by its content hash and served only through a case or a recent event of a camera the user
may see; anything else is a 404 like a file that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import Field

from streams.clip_h264 import h264_copy
from vision.events import EventChange
from wall.access import current_principal
from wall.api.common import UNAUTHENTICATED, error
from wall.api.deps import Parts
from wall.api.viewing import audit_view
from wall.auth.principal import Principal
from wall.runtime.models import EventView

router = APIRouter(prefix="/api", tags=["events"])
Viewer = Annotated[Principal, Depends(current_principal)]


class EventOut(EventView):
    """The latest state of one event, with links to its evidence."""

    evidence: dict[str, str] = Field(description="snapshot, clip, after_snapshot → /api/evidence/… links.")


@router.get("/events", responses=UNAUTHENTICATED)
def list_events(principal: Viewer, parts: Parts, camera: str | None = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[EventOut]:
    """Latest state of each recent event (newest first), for cameras the user may see."""
    latest: dict[str, EventChange] = {}
    evidence: dict[str, dict[str, str]] = {}
    for change in parts.runtime.recent_events():
        if principal.may_view(change.camera_id) and (camera is None or change.camera_id == camera):
            latest[change.event_id] = change
            evidence[change.event_id] = {**evidence.get(change.event_id, {}), **change.evidence}  # + clip, after
    events = sorted(latest.values(), key=lambda e: e.t, reverse=True)[:limit]
    return [EventOut.model_validate({**e.as_dict(), "evidence": {k: f"/api/evidence/{Path(v).name}"
                                                                 for k, v in evidence[e.event_id].items()}})
            for e in events]


@router.get("/evidence/{name}", response_class=FileResponse, responses={404: error("not found"), **UNAUTHENTICATED})
def evidence(name: str, principal: Viewer, parts: Parts, request: Request,
             codec: Annotated[Literal["h264"] | None, Query(description=(
                 "h264: a clip of an H.265 camera as an H.264 copy (made on first demand and kept), for a "
                 "browser that cannot play H.265; an H.264 clip is sent as it is."))] = None) -> FileResponse:
    """An evidence file (snapshot JPEG, clip MP4), only through a case or event of a camera the user may see.
    Opening it is audited (``evidence.view``, once per user and file per few minutes: wall/view_audit.py)."""
    desk = parts.cases.desk
    owner = desk.evidence_owner(name) or parts.runtime.evidence_owner(name)
    path = desk.evidence_dir / name
    if owner is None or not principal.may_view(owner) or path.name != name or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    media = "image/jpeg" if path.suffix == ".jpg" else "video/mp4"
    if codec == "h264" and path.suffix == ".mp4":  # the evidence file stays as it is; the copy is a cache
        path = h264_copy(path, parts.site.data_dir / "clip-h264")  # a sync route: in the thread pool
    audit_view(request, principal, "evidence.view", f"evidence:{name}", {"camera": owner})
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=86400"})
