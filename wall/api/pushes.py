"""``/ws/wall``: the push channel of the wall and the review desk — "case raised", decisions, updates, and
every change of a shared wall (``{"type": "wall", "wall": …}``), for the cameras the user may see.

The fan-out is ``wall.notices.NoticeHub``'s; this socket only sends a user's queue, as JSON, and re-reads the
session and grants every second (a logout or lock closes it with 4401; a revoked grant stops that camera's
notices at once).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from wall.access import refresh_principal, websocket_principal
from wall.api.deps import services
from wall.notices import Notice

router = APIRouter()


@router.websocket("/ws/wall")
async def wall_channel(websocket: WebSocket) -> None:
    """Raised, decided and updated cases, and every change of the walls the user may watch."""
    principal = await websocket_principal(websocket)
    if principal is None:
        return
    await websocket.accept()
    hub = services(websocket).cases.notices
    client = hub.join(principal)
    await websocket.send_json({"type": "hello", "user": principal.name})
    reader = asyncio.create_task(_drain(websocket))
    getter: asyncio.Task[Notice] | None = None
    try:
        while not reader.done():
            getter = getter or asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, reader}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            current = await asyncio.to_thread(refresh_principal, websocket.app, client.principal)
            if current is None:
                await websocket.close(code=4401, reason="session ended")
                break
            client.principal = current
            if reader in done:
                break
            if getter not in done:
                continue
            notice, getter = getter.result(), None
            message = client.render(notice)
            if message is not None:
                await websocket.send_json(message.model_dump(mode="json"))
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        reader.cancel()
        if getter is not None:
            getter.cancel()
        hub.leave(client)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed even while nothing is pushed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
