"""The ONVIF PTZ driver, on ``onvif-zeep-async`` (the ONVIF client Home Assistant uses: asyncio, kept up to date).

Why that library: it ships the ONVIF WSDLs and schemas inside its package and loads them from disk only (its
zeep transport refuses any remote document), so nothing is downloaded at run time — a hall network reaches no
internet. It signs requests with a WS-Security UsernameToken digest, as ONVIF cameras expect.

Two of its habits are contained here, because they would change the whole process rather than this driver:

- ``onvif.client`` calls ``logging.basicConfig(level=INFO)`` when imported, which puts a handler on the root
  logger when none is there yet (and so prints INFO lines of every library). It is imported once, with the root
  logger's handlers and level put back afterwards (``wall.logs`` owns the root logger).
- ``ONVIFCamera()`` deletes ``http_proxy``/``https_proxy`` from ``os.environ`` (aiohttp ignores them anyway).
  The outbox's HTTP client may need them, so they are put back after the camera object is made.

The connection is made on the first command and made again after a failure (a camera that was off at start, or
rebooted, is steerable once it answers). The profile is the ``ptz:`` block's ``profile`` token, or the first
media profile that has a PTZ configuration. Every call is bounded by the block's ``timeout``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from settings.secrets import public_error
from streams.ptz_config import PtzConfig
from wall.ptz.driver import Position, Preset, PtzDeviceError, PtzDriver, Velocity

log = logging.getLogger(__name__)
T = TypeVar("T")
_PROXY_VARIABLES = ("http_proxy", "https_proxy")
# The first contact also parses the ONVIF schemas shipped with the library (large: seconds on a busy box), so it
# gets longer than one command; each command after it has the ptz: block's timeout.
CONNECT_SECONDS = 15.0
_camera_class: Any = None


def _onvif_camera_class() -> Any:
    """``onvif.ONVIFCamera``, imported without letting the import configure the root logger."""
    global _camera_class
    if _camera_class is None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            from onvif import ONVIFCamera
        finally:
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        _camera_class = ONVIFCamera
    return _camera_class


def _errors() -> tuple[type[BaseException], ...]:
    """What the library and its transport raise when a camera refuses or cannot be reached."""
    import aiohttp
    import zeep.exceptions
    from onvif.exceptions import ONVIFError

    return ONVIFError, zeep.exceptions.Error, aiohttp.ClientError, OSError


def _public_failure(exc: BaseException, what: str) -> str:
    """What the operator is told of a failure: the camera's own fault text, or the kind of failure — never the
    address (the library quotes host and port in connection errors; the log line keeps them)."""
    import aiohttp
    import zeep.exceptions

    if isinstance(exc, zeep.exceptions.Fault):
        fault = public_error(str(exc.message or "").strip()) or "a SOAP fault"
        return f"the camera refused {what}: {fault[:200]}"
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return "the camera cannot be reached"
    if isinstance(exc, zeep.exceptions.TransportError):
        return f"the camera answered {what} with HTTP {exc.status_code}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"the camera answered {what} with HTTP {exc.status}"
    cause = exc.__cause__  # ONVIFError wraps what went wrong
    if cause is not None and cause is not exc:
        return _public_failure(cause, what)
    return f"{what} failed ({type(exc).__name__})"


class _Connection:
    """One connected camera: the library's camera object, its PTZ service and the profile steered."""

    def __init__(self, camera: Any, ptz: Any, profile: str) -> None:
        self.camera, self.ptz, self.profile = camera, ptz, profile


class OnvifDriver(PtzDriver):
    def __init__(self, camera_id: str, config: PtzConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        parts = urlsplit(config.address)
        self._host = f"{parts.scheme}://{parts.hostname}"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._connection: _Connection | None = None
        self._lock = asyncio.Lock()  # one command at a time, in order: a stop never overtakes its move

    # -- connection ---------------------------------------------------------------------------------------------
    async def _connect(self) -> _Connection:
        if self._connection is not None:
            return self._connection
        camera_class = await asyncio.to_thread(_onvif_camera_class)  # zeep and lxml: not on the event loop
        saved = {name: os.environ[name] for name in _PROXY_VARIABLES if name in os.environ}
        try:
            # no credentials: an empty UsernameToken, which a camera without authentication ignores (the
            # library cannot sign without one)
            camera = camera_class(self._host, self._port, self.config.user or "",
                                  self.config.password.get_secret_value() if self.config.password else "",
                                  no_cache=True)
        finally:
            os.environ.update(saved)
        try:
            await camera.update_xaddrs()
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            profile = self._profile(profiles or [])
            ptz = await camera.create_ptz_service()
        except BaseException:
            await camera.close()
            raise
        self._connection = _Connection(camera, ptz, profile)
        log.info("PTZ of camera %s connected (profile %s)", self.camera_id, profile, extra={"camera": self.camera_id})
        return self._connection

    def _profile(self, profiles: list[Any]) -> str:
        tokens = [str(p.token) for p in profiles]
        if self.config.profile is not None:
            if self.config.profile not in tokens:
                raise PtzDeviceError(f"the camera has no media profile '{self.config.profile}'")
            return self.config.profile
        for profile in profiles:
            if getattr(profile, "PTZConfiguration", None) is not None:
                return str(profile.token)
        raise PtzDeviceError("the camera has no media profile with PTZ")

    async def _run(self, what: str, call: Callable[[_Connection], Awaitable[T]]) -> T:
        """Run ``call(connection)`` under the lock and the timeout; a failure drops the connection (the next
        command connects again) and becomes a ``PtzDeviceError`` that names no address."""
        async with self._lock:
            try:
                connection = self._connection
                if connection is None:
                    async with asyncio.timeout(max(self.config.timeout, CONNECT_SECONDS)):
                        connection = await self._connect()
                async with asyncio.timeout(self.config.timeout):
                    result: T = await call(connection)
                    return result
            except PtzDeviceError:
                await self._drop()
                raise
            except TimeoutError:
                await self._drop()
                raise PtzDeviceError(f"the camera did not answer {what} in time ({self.config.timeout:g} s a "
                                     "command)") from None
            except _errors() as exc:
                await self._drop()
                log.warning("PTZ %s of camera %s failed: %s", what, self.camera_id, str(exc).strip() or
                            type(exc).__name__, extra={"camera": self.camera_id})
                raise PtzDeviceError(_public_failure(exc, what)) from None
            except Exception:  # an answer the library (or this driver) could not read: the camera's doing
                await self._drop()
                log.warning("PTZ %s of camera %s: unreadable answer", what, self.camera_id, exc_info=True,
                            extra={"camera": self.camera_id})
                raise PtzDeviceError(f"the camera's answer to {what} could not be read") from None

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.camera.close()
            except Exception:  # closing a broken connection: nothing more to do
                log.debug("closing the PTZ connection of camera %s failed", self.camera_id, exc_info=True)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    # -- commands -----------------------------------------------------------------------------------------------
    async def move(self, velocity: Velocity, timeout_seconds: float) -> None:
        async def call(c: _Connection) -> None:
            await c.ptz.ContinuousMove({
                "ProfileToken": c.profile,
                "Velocity": {"PanTilt": {"x": velocity.pan, "y": velocity.tilt}, "Zoom": {"x": velocity.zoom}},
                "Timeout": dt.timedelta(seconds=timeout_seconds),
            })

        await self._run("the move", call)

    async def stop(self) -> None:
        async def call(c: _Connection) -> None:
            await c.ptz.Stop({"ProfileToken": c.profile, "PanTilt": True, "Zoom": True})

        await self._run("the stop", call)

    async def presets(self) -> list[Preset]:
        async def call(c: _Connection) -> list[Preset]:
            found = await c.ptz.GetPresets({"ProfileToken": c.profile})
            return [Preset(token=str(p.token), name=str(p.Name or p.token)) for p in found or [] if p.token]

        return await self._run("the preset list", call)

    async def goto_preset(self, token: str) -> None:
        async def call(c: _Connection) -> None:
            await c.ptz.GotoPreset({"ProfileToken": c.profile, "PresetToken": token})

        await self._run("the preset", call)

    async def set_preset(self, name: str, token: str | None = None) -> Preset:
        async def call(c: _Connection) -> Preset:
            request: dict[str, str] = {"ProfileToken": c.profile, "PresetName": name}
            if token is not None:
                request["PresetToken"] = token
            answer = await c.ptz.SetPreset(request)
            return Preset(token=str(getattr(answer, "PresetToken", answer)), name=name)

        return await self._run("storing the preset", call)

    async def home(self) -> None:
        async def call(c: _Connection) -> None:
            await c.ptz.GotoHomePosition({"ProfileToken": c.profile})

        await self._run("the home position", call)

    async def position(self) -> Position | None:
        async def call(c: _Connection) -> Position | None:
            status = await c.ptz.GetStatus({"ProfileToken": c.profile})
            where = getattr(status, "Position", None)
            if where is None or where.PanTilt is None or where.Zoom is None:
                return None
            moves = getattr(status, "MoveStatus", None)
            moving = moves is not None and "MOVING" in (str(moves.PanTilt).upper(), str(moves.Zoom).upper())
            return Position(pan=float(where.PanTilt.x), tilt=float(where.PanTilt.y), zoom=float(where.Zoom.x),
                            moving=moving)

        return await self._run("its position", call)
