"""The PTZ driver interface: what citywall asks of a camera's pan/tilt/zoom control, whatever the protocol.

Every operation is ``async`` (a camera answers over the network, often slowly) and takes or returns the typed
models below, never a protocol's own objects, so the service, the routes and the tests do not know whether ONVIF
(``wall.ptz.onvif``) or, later, GB/T 28181 answers. What the interface asks was chosen so that a GB/T 28181
driver can implement it from the platform's DeviceControl messages: ``PTZCmd`` carries a direction and speeds
(``move``/``stop``), preset commands set, call and delete by number (``set_preset``/``goto_preset``), and
``HomePosition`` covers ``home``; its presets have numbers where ONVIF has tokens, so a token is a string here.

A driver raises ``PtzDeviceError`` when the camera refuses or does not answer, with a message fit for the
operator: never a URL or a credential (the service passes it on to the page).
"""

from __future__ import annotations

import abc

from pydantic import BaseModel, Field


class Velocity(BaseModel):
    """A continuous move: pan (+ right), tilt (+ up), zoom (+ in), each −1 … 1 of the camera's full speed."""

    pan: float = Field(default=0.0, ge=-1, le=1)
    tilt: float = Field(default=0.0, ge=-1, le=1)
    zoom: float = Field(default=0.0, ge=-1, le=1)

    @property
    def still(self) -> bool:
        return self.pan == 0 and self.tilt == 0 and self.zoom == 0


class Preset(BaseModel):
    """A stored camera position: ``token`` names it to the camera (ONVIF token, GB/T 28181 preset number)."""

    token: str
    name: str


class Position(BaseModel):
    """Where the camera points, in the protocol's normalised space (ONVIF: pan/tilt −1 … 1, zoom 0 … 1)."""

    pan: float
    tilt: float
    zoom: float
    moving: bool = False


class PtzDeviceError(Exception):
    """The camera refused a command or did not answer; ``message`` says which, for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PtzDriver(abc.ABC):
    """One camera's PTZ control. Drivers connect lazily (the first command) and reconnect after a failure, so a
    camera that was off when citywall started is steerable once it is back."""

    @abc.abstractmethod
    async def move(self, velocity: Velocity, timeout_seconds: float) -> None:
        """Start (or change) a continuous move. The camera stops by itself after ``timeout_seconds`` unless
        told again: a page that dies mid-drag must not leave a camera turning."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop pan, tilt and zoom."""

    @abc.abstractmethod
    async def presets(self) -> list[Preset]:
        """The camera's stored positions."""

    @abc.abstractmethod
    async def goto_preset(self, token: str) -> None:
        """Move to a stored position."""

    @abc.abstractmethod
    async def set_preset(self, name: str, token: str | None = None) -> Preset:
        """Store the current position under ``name`` (a new preset, or over ``token``)."""

    @abc.abstractmethod
    async def home(self) -> None:
        """Move to the camera's home position."""

    @abc.abstractmethod
    async def position(self) -> Position | None:
        """Where the camera points now, if it says."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection (the service closes a driver whose camera's ``ptz:`` block changed)."""
