"""``/ws/live/{camera}``: fMP4 from the camera's shared LiveRemux to one browser tile.

Protocol (server → client): a JSON text ``{"type": "init", "mime": …, "codec": …}`` followed by the binary init
segment; then binary fragments; ``{"type": "state", …}`` texts when the camera's health changes. A new init
(after the camera reconnected) means "rebuild your MediaSource". An init with ``"rendition": "h264"`` is the
server's H.264 rendition of a camera in another codec (asked for with ``?rendition=h264``, by a browser that
cannot decode the camera's own); past the box's cap of renditions the socket is closed with 4430 and why, and
the tile shows stills. The sender drains the viewer's bounded outbox;
if the browser is slow the outbox skips to the next keyframe instead of growing.

Access is re-checked every ``RECHECK_SECONDS`` while the socket is open (``wall.access.LiveAccess``): a grant
revoked, or the session ended (logout, lock, password change, timeout), closes the socket with 4403 or 4401.
The sockets of one session share one database look a second (a 3×6 wall is 18 sockets), done in a worker
thread only when the shared one is stale. Each view's start and stop is audited.

Many viewers must not starve the API (issue 16): each socket has its own sender (this coroutine), so a slow
browser only fills its own bounded outbox (which skips to the next keyframe), and fragments that queued up
while the loop was busy leave as one message instead of one send each — the busier the loop, the fewer sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from wall.runtime.interface import LiveFeed
from wall.runtime.models import LiveFragment, LiveInit, LiveRefused, LiveState

if TYPE_CHECKING:
    from wall.access import LiveAccess

log = logging.getLogger(__name__)

STATE_POLL_SECONDS = 1.0
RECHECK_SECONDS = 1.0
CLOSE_REASONS = {4401: "not authenticated", 4403: "forbidden"}
RENDITIONS_FULL = 4430  # no rendition to be had (server.live.renditions): the tile shows stills, tries later
WS_RESTARTED = 1012  # the camera's session was replaced (a new URL from the camera editor) or the service stops


async def stream_live(websocket: WebSocket, feed: LiveFeed, camera_id: str, access: LiveAccess | None = None) -> None:
    """Send ``feed`` to one browser tile until it closes, the feed ends or the viewer loses the right to it."""
    user = access.principal.name if access else "-"
    started = time.monotonic()
    closed_by: int | None = None
    if access is not None:
        await run_in_threadpool(access.record, "live.start")
    log.info("live view start camera=%s user=%s", camera_id, user, extra={"camera": camera_id})
    receiver = asyncio.create_task(_wait_for_close(websocket))
    checked = time.monotonic()
    try:
        while not receiver.done():
            if access is not None and time.monotonic() - checked >= RECHECK_SECONDS:
                checked = time.monotonic()
                fresh, closed_by = access.recent()  # sockets of one session share one look a second
                if not fresh:
                    closed_by = await run_in_threadpool(access.check)
                if closed_by is not None:
                    await websocket.close(code=closed_by, reason=CLOSE_REASONS.get(closed_by, ""))
                    break
            items = await feed.next(STATE_POLL_SECONDS)
            if items is None:  # no more video from this session: the client reconnects to its successor
                closed_by = WS_RESTARTED
                await websocket.close(code=WS_RESTARTED, reason="camera restarted")
                break
            video: list[bytes] = []  # fragments in a row go out as one message (MSE parses any chunking)
            for item in items:
                if isinstance(item, LiveFragment):
                    video.append(item.data)
                    continue
                if video:
                    await websocket.send_bytes(b"".join(video))
                    video = []
                if isinstance(item, LiveRefused):
                    closed_by = RENDITIONS_FULL
                    await websocket.close(code=RENDITIONS_FULL, reason=item.reason[:120])
                    return
                if isinstance(item, LiveState):
                    await websocket.send_json({"type": "state", "camera": item.camera_id, "state": item.state,
                                               "last_error": item.last_error, "fps": item.fps,
                                               "bitrate_kbps": item.bitrate_kbps})
                elif isinstance(item, LiveInit):
                    await websocket.send_json({"type": "init", "camera": item.camera_id, "mime": item.mime,
                                               "codec": item.codec, "width": item.width, "height": item.height,
                                               "rendition": item.rendition})
                    await websocket.send_bytes(item.data)
            if video:
                await websocket.send_bytes(b"".join(video) if len(video) > 1 else video[0])
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass  # the browser went away; the runtime stops feeding it when the caller leaves the feed
    finally:
        receiver.cancel()
        log.info("live view stop camera=%s user=%s", camera_id, user, extra={"camera": camera_id})
        if access is not None:
            detail: dict[str, object] = {"seconds": round(time.monotonic() - started, 1)}
            if closed_by is not None:
                detail["closed"] = closed_by
            try:
                await run_in_threadpool(access.record, "live.stop", detail)
            except Exception:
                log.exception("auditing the end of a live view of camera %s failed", camera_id)


async def _wait_for_close(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed even while no video flows."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
