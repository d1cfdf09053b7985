"""``/ws/live/{camera_id}``: a browser tile's live video (fMP4 for MediaSource), see ``wall.live``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from wall.access import NOT_FOUND, LiveAccess, websocket_principal
from wall.api.deps import services
from wall.live import stream_live
from wall.live_limits import LIVE_LIMITED

router = APIRouter()
log = logging.getLogger(__name__)


@router.websocket("/ws/live/{camera_id}")
async def live(websocket: WebSocket, camera_id: str, start: str = "cache", stream: str = "sub",
               rendition: str = "", width: int = 0) -> None:
    """``start=keyframe`` waits for the camera's next keyframe instead of sending the cached GOP;
    ``stream=main`` sends the camera's main stream (a maximised tile), when it has one, else the sub stream;
    ``rendition=h264`` (a browser that cannot decode the camera's codec) sends a camera that is not H.264 as the
    server's shared H.264 rendition about ``width`` pixels wide (4430 and stills past the box's cap).
    Over a limit of ``server.live`` (per session, per user, in all) the socket is closed with 4429 and why."""
    principal = await websocket_principal(websocket)  # foreign Origin: 403; no session: closed with 4401
    if principal is None:
        return
    parts = services(websocket)
    # Accept first: a close before the handshake reaches the client only as HTTP 403, and a client must be able
    # to tell "no such camera" (4404) and "over a limit" (4429) from a refused or dropped socket.
    await websocket.accept()
    with parts.live_limits.hold(principal.name, principal.session_id) as refusal:
        if refusal is not None:  # per session, per user, or the whole server (wall.live_limits)
            log.warning("live view of camera %s refused for user %s: %s", camera_id, principal.name, refusal,
                        extra={"camera": camera_id})
            await websocket.close(code=LIVE_LIMITED, reason=refusal)
            return
        async with parts.runtime.live(camera_id, main=stream == "main", from_cache=start != "keyframe",
                                      buffer_seconds=parts.site.server_file.streams.viewer_buffer_seconds,
                                      rendition_width=max(1, min(width, 4096)) if rendition == "h264" else None,
                                      ) as feed:
            if feed is None or not principal.may_view(camera_id):
                await websocket.close(code=4404, reason=NOT_FOUND)
                return
            await stream_live(websocket, feed, camera_id, LiveAccess(websocket.app, principal, camera_id))
