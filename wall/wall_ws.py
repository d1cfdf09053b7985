"""``/ws/wall``: the push channel of the wall and the review desk — "case raised", decisions, updates, and
every change of a shared wall (``{"type": "wall", "wall": …}``).

The case desk and the wall service tell the broadcaster from their own threads *after* the commit; each
connected user gets only the messages about cameras they may see (checked at send time, so a revoked grant stops
the flow at once). A wall change is published as a function of the user and rendered at send time, so each
user's copy leaves out the cameras they may not see. Notices travel as models and become JSON only here, at
the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from wall.auth.principal import Principal
from wall.cases.models import CaseNotice

log = logging.getLogger(__name__)
QUEUE_LIMIT = 500  # a stuck client loses old notices, never the server's memory
Render = Callable[[Principal], BaseModel | None]  # a wall change, rendered for each user (wall.walls.views)
Notice = BaseModel | Render


@dataclass(eq=False)
class _Client:
    principal: Principal
    queue: asyncio.Queue[Notice] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class WallBroadcaster:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[_Client] = set()

    def publish(self, message: Notice) -> None:
        """Thread-safe: called by the case desk and the wall service after their commits."""
        if self.loop is None:
            return
        self.loop.call_soon_threadsafe(self._fan_out, message)

    def _fan_out(self, message: Notice) -> None:
        camera = _camera(message)
        for client in list(self.clients):
            if camera is not None and not client.principal.may_view(camera):
                continue
            if client.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    client.queue.get_nowait()
            client.queue.put_nowait(message)

    async def serve(self, websocket: WebSocket, principal: Principal,
                    refresh: Callable[[Principal], Principal | None] | None = None) -> None:
        """Send this client its notices until it leaves; ``refresh`` re-reads the session and grants every second
        (a logout or lock closes the socket with 4401; a revoked grant stops that camera's notices at once)."""
        self.loop = asyncio.get_running_loop()
        client = _Client(principal)
        self.clients.add(client)
        await websocket.send_json({"type": "hello", "user": principal.name})
        reader = asyncio.create_task(_drain(websocket))
        getter: asyncio.Task[Notice] | None = None
        try:
            while not reader.done():
                getter = getter or asyncio.create_task(client.queue.get())
                done, _ = await asyncio.wait({getter, reader}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if refresh is not None:
                    current = await asyncio.to_thread(refresh, client.principal)
                    if current is None:
                        await websocket.close(code=4401, reason="session ended")
                        break
                    client.principal = current
                if reader in done:
                    break
                if getter not in done:
                    continue
                notice, getter = getter.result(), None
                message = notice(client.principal) if callable(notice) else notice
                if message is None:
                    continue
                camera = _camera(message)
                if camera is None or client.principal.may_view(camera):
                    await websocket.send_json(message.model_dump(mode="json"))
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        finally:
            reader.cancel()
            if getter is not None:
                getter.cancel()
            self.clients.discard(client)


def _camera(message: Notice) -> str | None:
    """The camera a notice is about, for the grant check; None for one rendered per user (already filtered)."""
    return message.case.camera if isinstance(message, CaseNotice) else None


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
