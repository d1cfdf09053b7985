"""The push channel's hub: notices of the case loop and the walls, fanned out to each connected user's queue.

The case desk and the wall service publish from their own threads *after* their commits; each connected user
gets only the notices about cameras they may see (checked at fan-out and again at send time, so a revoked grant
stops the flow at once). A wall change is published as a function of the user and rendered at send time, so each
user's copy leaves out the cameras they may not see. Notices stay models here; ``wall.api.pushes`` (the
``/ws/wall`` socket) turns them into JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from wall.auth.principal import Principal

QUEUE_LIMIT = 500  # a stuck client loses old notices, never the server's memory


class CameraNotice(BaseModel):
    """A notice about one camera's doings (a case): only users who may see that camera get it."""

    @property
    def camera(self) -> str:
        raise NotImplementedError


Render = Callable[[Principal], BaseModel | None]  # a wall change, rendered for each user (wall.walls.views)
Notice = BaseModel | Render


@dataclass(eq=False)
class Subscriber:
    """One connected user: their principal (refreshed by the socket every second) and their queue."""

    principal: Principal
    queue: asyncio.Queue[Notice] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def render(self, notice: Notice) -> BaseModel | None:
        """The notice as this user may see it now, or None (not for them)."""
        message = notice(self.principal) if callable(notice) else notice
        if message is None:
            return None
        camera = notice_camera(message)
        return message if camera is None or self.principal.may_view(camera) else None


class NoticeHub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Subscriber] = set()

    def publish(self, message: Notice) -> None:
        """Thread-safe: called by the case desk and the wall service after their commits."""
        if self.loop is None:
            return
        self.loop.call_soon_threadsafe(self._fan_out, message)

    def join(self, principal: Principal) -> Subscriber:
        """Called on the event loop by a socket that starts listening."""
        self.loop = asyncio.get_running_loop()
        client = Subscriber(principal)
        self.clients.add(client)
        return client

    def leave(self, client: Subscriber) -> None:
        self.clients.discard(client)

    def _fan_out(self, message: Notice) -> None:
        camera = notice_camera(message)
        for client in list(self.clients):
            if camera is not None and not client.principal.may_view(camera):
                continue
            if client.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    client.queue.get_nowait()
            client.queue.put_nowait(message)


def notice_camera(message: Notice) -> str | None:
    """The camera a notice is about, for the grant check; None for one rendered per user (already filtered)."""
    return message.camera if isinstance(message, CameraNotice) else None
