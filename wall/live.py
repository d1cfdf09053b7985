"""``/ws/live/{camera}``: fMP4 from the camera's shared LiveRemux to one browser tile.

Protocol (server → client): a JSON text ``{"type": "init", "mime": …, "codec": …}`` followed by the binary init
segment; then binary fragments; ``{"type": "state", …}`` texts when the camera's health changes. A new init
(after the camera reconnected) means "rebuild your MediaSource". The sender drains the viewer's bounded outbox;
if the browser is slow the outbox skips to the next keyframe instead of growing.

Access is re-checked every ``RECHECK_SECONDS`` while the socket is open (``wall.access.LiveAccess``): a grant
revoked, or the session ended (logout, lock, password change, timeout), closes the socket with 4403 or 4401.
Each view's start and stop is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from streams.remux import Fragment, InitSegment, LiveViewer
from streams.session import CameraSession
from wall.access import public_error

if TYPE_CHECKING:
    from wall.access import LiveAccess

log = logging.getLogger(__name__)

STATE_POLL_SECONDS = 1.0
RECHECK_SECONDS = 1.0
CLOSE_REASONS = {4401: "not authenticated", 4403: "forbidden"}
WS_RESTARTED = 1012  # the camera's session was replaced (a new URL from the camera editor) or the service stops


def state_message(session: CameraSession) -> dict[str, object]:
    snap = session.health.snapshot()
    return {"type": "state", "camera": session.id, "state": snap["state"],
            "last_error": public_error(snap["last_error"]),  # type: ignore[arg-type]
            "fps": snap["fps"], "bitrate_kbps": snap["bitrate_kbps"]}


async def stream_live(websocket: WebSocket, session: CameraSession, buffer_seconds: float,
                      access: LiveAccess | None = None, from_cache: bool = True) -> None:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    viewer = LiveViewer(buffer_seconds, notify=lambda: loop.call_soon_threadsafe(wake.set), from_cache=from_cache)
    last_state: object = None
    user = access.principal.name if access else "-"
    started = time.monotonic()
    closed_by: int | None = None
    if access is not None:
        await run_in_threadpool(access.record, "live.start")
    session.watch(viewer)
    log.info("live view start camera=%s user=%s", session.id, user, extra={"camera": session.id})
    receiver = asyncio.create_task(_wait_for_close(websocket))
    checked = time.monotonic()
    try:
        while not receiver.done():
            if access is not None and time.monotonic() - checked >= RECHECK_SECONDS:
                checked = time.monotonic()
                closed_by = await run_in_threadpool(access.check)
                if closed_by is not None:
                    await websocket.close(code=closed_by, reason=CLOSE_REASONS.get(closed_by, ""))
                    break
            if session.stopped:  # no more video from this session: the client reconnects to its successor
                closed_by = WS_RESTARTED
                await websocket.close(code=WS_RESTARTED, reason="camera restarted")
                break
            message = state_message(session)
            if message["state"] != last_state:
                last_state = message["state"]
                await websocket.send_json(message)
            for item in viewer.drain():
                if isinstance(item, InitSegment):
                    await websocket.send_json({"type": "init", "camera": session.id, "mime": item.mime,
                                               "codec": item.codec, "width": item.width, "height": item.height})
                    await websocket.send_bytes(item.data)
                elif isinstance(item, Fragment):
                    await websocket.send_bytes(item.data)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), STATE_POLL_SECONDS)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass  # the browser went away; nothing to clean up beyond unwatch
    finally:
        receiver.cancel()
        session.unwatch(viewer)
        log.info("live view stop camera=%s user=%s skips=%d", session.id, user, viewer.skips,
                 extra={"camera": session.id})
        if access is not None:
            detail: dict[str, object] = {"seconds": round(time.monotonic() - started, 1)}
            if closed_by is not None:
                detail["closed"] = closed_by
            try:
                await run_in_threadpool(access.record, "live.stop", detail)
            except Exception:
                log.exception("auditing the end of a live view of camera %s failed", session.id)


async def _wait_for_close(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed even while no video flows."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
