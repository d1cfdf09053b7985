"""``/ws/wall``: the pushes of the case loop and the walls, for the cameras the user may see."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from wall.access import refresh_principal, websocket_principal
from wall.api.deps import services

router = APIRouter()


@router.websocket("/ws/wall")
async def wall_channel(websocket: WebSocket) -> None:
    """Raised, decided and updated cases, and every change of the walls the user may watch."""
    principal = await websocket_principal(websocket)
    if principal is None:
        return
    await websocket.accept()
    await services(websocket).cases.broadcaster.serve(websocket, principal,
                                                      refresh=lambda p: refresh_principal(websocket.app, p))
