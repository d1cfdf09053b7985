"""The PTZ service: who may steer which camera, the one-operator lease, every command audited, and the camera's
return to its analysis preset.

- **Rights.** A camera is steerable by a user when it has a ``ptz:`` block and ``Principal.may_control_ptz``
  says so (the role's permission, the ``ptz`` grant, the live view). Anything else answers exactly like a camera
  that does not exist (404), so the API tells nobody which cameras they could steer with more rights.
- **Lease** (``wall.ptz.leases``, in the one database: the same for every control-plane replica): a command
  takes the camera when nobody holds it and renews the holder's lease; another operator is refused (409, naming
  the holder); an admin may take over. Every change of holder is
  pushed over ``/ws/wall`` (``PtzNotice``) to everyone who may see the camera, so each of its tiles shows it.
- **Audit.** Every command — move, stop, preset, home, take, take-over, release — is a row of the audit log with
  its outcome, refusals and camera failures included; so is citywall's own return to the analysis preset.
- **Analytics.** The zones of a PTZ camera were drawn for its analysis preset (``ptz.analysis_preset``, or the
  home position). A command that turns it elsewhere holds its rules at once (``CameraRuntime.hold_rules``) —
  not after the scene guard would notice, two looks later. After ``return_after`` minutes without a command
  citywall sends the camera back there, and ``settle_seconds`` later the rules run again. Going to the analysis
  preset by hand resumes them the same way. When it goes back is in the database (``wall.ptz.returns``): every
  command on any replica renews it, and one replica — the one that claims the due row — sends it back, also
  when the commanding one has stopped; the others see the row gone and let the rules run again.

Everything runs on the event loop of the app (the drivers are asyncio clients); the database reads and writes
go to a worker thread. Two injectable clocks, so tests step over minutes instead of waiting for them: the
settling after a return counts on the monotonic clock, the leases and the returns on the wall clock (``wall``),
the only one the replicas share (a system clock stepped back never keeps a camera away longer than
``return_after``: wall.ptz.returns).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from anyio.to_thread import run_sync

from streams.ptz_config import PtzConfig
from wall.auth import audit
from wall.auth.principal import Permission, Principal
from wall.errors import Conflict, Forbidden, NotFound
from wall.notices import Notice
from wall.ptz.driver import Position, Preset, PtzDeviceError, PtzDriver, Velocity
from wall.ptz.drivers import open_driver
from wall.ptz.leases import Lease, LeaseBook
from wall.ptz.models import PtzNotice, PtzState
from wall.ptz.returns import ReturnBook
from wall.runtime.interface import CameraRuntime
from wall.runtime.registry import CameraRegistry
from wall.store.db import Database, unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
NOT_FOUND = "camera not found"  # the words of every other camera route (wall.access.NOT_FOUND)
MOVE_TIMEOUT_SECONDS = 6.0  # a continuous move stops by itself unless the page renews it (it does every 2 s)
TICK_SECONDS = 0.5
RETRY_RETURN_SECONDS = 30.0  # a camera that failed to go back is asked again this much later


class PtzUnavailable(Conflict):
    """The camera's PTZ refused or did not answer: the request was fine, the camera could not do it now."""


@dataclass
class _Away:
    """A camera off its analysis preset whose rules this replica holds: when it was last commanded here
    (monotonic), when it goes back (wall clock, the database's as last seen), and when its rules may run again."""

    last_command: float
    due: float
    resume_at: float | None = None  # set once it has been sent back to the analysis preset


class PtzService:
    def __init__(self, registry: CameraRegistry, runtime: CameraRuntime, db: Database,
                 publish: Callable[[Notice], None], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.runtime = runtime
        self.db = db
        self.publish = publish
        self.clock, self.wall = clock, wall
        self.leases = LeaseBook(db)
        self.returns = ReturnBook(db)
        self._drivers: dict[str, tuple[PtzConfig, PtzDriver]] = {}
        self._away: dict[str, _Away] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._db_down = False

    # -- rights and state ---------------------------------------------------------------------------------------
    def _config(self, camera_id: str) -> PtzConfig | None:
        camera = self.registry.get(camera_id)
        return camera.ptz if camera is not None and camera.enabled else None

    def _steerable(self, principal: Principal, camera_id: str) -> PtzConfig:
        config = self._config(camera_id)
        if config is None or not principal.may_control_ptz(camera_id):
            raise NotFound(NOT_FOUND)
        return config

    async def state(self, principal: Principal, camera_id: str) -> PtzState:
        config = self._config(camera_id)
        if config is None or not (principal.may_view(camera_id) or principal.may_control_ptz(camera_id)):
            raise NotFound(NOT_FOUND)
        lease = await run_sync(self.leases.current, camera_id, self.wall())
        pending = await run_sync(self.returns.pending, self.wall())
        return self._state(principal, camera_id, config, lease, pending.get(camera_id))

    def _state(self, principal: Principal, camera_id: str, config: PtzConfig, lease: Lease | None,
               due: float | None) -> PtzState:
        """``due``: when the camera goes back, as the database says (it may be away through another replica)."""
        away = self._away.get(camera_id)
        returns_in = None
        if due is not None and (away is None or away.resume_at is None):
            returns_in = max(0.0, due - self.wall())
        admin = principal.may(Permission.ADMINISTER)
        control = principal.may_control_ptz(camera_id)
        return PtzState(camera_id=camera_id, holder=lease.holder if lease else None,
                        lease_seconds_left=max(0.0, lease.until - self.wall()) if lease else None,
                        mine=lease is not None and lease.holder == principal.name, may_control=control,
                        may_take_over=control and admin, may_set_presets=control and admin,
                        away=away is not None or due is not None,
                        returns_in=returns_in, analysis_preset=config.analysis_preset)

    async def states(self, principal: Principal) -> list[PtzState]:
        """Every PTZ camera the user may see (the wall draws who steers each) or steer."""
        held = await run_sync(self.leases.held, self.wall())
        pending = await run_sync(self.returns.pending, self.wall())
        return [self._state(principal, cam.id, cam.ptz, held.get(cam.id), pending.get(cam.id))
                for cam in self.registry.cameras()
                if cam.enabled and cam.ptz is not None
                and (principal.may_view(cam.id) or principal.may_control_ptz(cam.id))]

    # -- commands -----------------------------------------------------------------------------------------------
    async def take(self, principal: Principal, camera_id: str, take_over: bool = False) -> PtzState:
        config = self._steerable(principal, camera_id)
        if await self._lease(principal, camera_id, config, "ptz.lease.take", take_over=take_over):
            await self._notify(camera_id)
        return await self.state(principal, camera_id)

    async def release(self, principal: Principal, camera_id: str) -> PtzState:
        self._steerable(principal, camera_id)
        released = await run_sync(self.leases.release, camera_id, principal.name, self.wall())
        if released is not None:
            await self._audit(principal, "ptz.lease.release", camera_id, True)
            await self._notify(camera_id)
        return await self.state(principal, camera_id)

    async def move(self, principal: Principal, camera_id: str, velocity: Velocity) -> PtzState:
        if velocity.still:
            return await self.stop(principal, camera_id)
        detail = velocity.model_dump()
        await self._command(principal, camera_id, "ptz.move", detail,
                            lambda d: d.move(velocity, MOVE_TIMEOUT_SECONDS), leaves=True)
        return await self.state(principal, camera_id)

    async def stop(self, principal: Principal, camera_id: str) -> PtzState:
        await self._command(principal, camera_id, "ptz.stop", None, lambda d: d.stop(), leaves=False)
        return await self.state(principal, camera_id)

    async def goto_preset(self, principal: Principal, camera_id: str, token: str) -> PtzState:
        config = self._steerable(principal, camera_id)
        home = token == config.analysis_preset
        await self._command(principal, camera_id, "ptz.preset.goto", {"preset": token},
                            lambda d: d.goto_preset(token), leaves=not home, arrives=home)
        return await self.state(principal, camera_id)

    async def home(self, principal: Principal, camera_id: str) -> PtzState:
        config = self._steerable(principal, camera_id)
        home = config.analysis_preset is None
        await self._command(principal, camera_id, "ptz.home", None, lambda d: d.home(), leaves=not home,
                            arrives=home)
        return await self.state(principal, camera_id)

    async def set_preset(self, principal: Principal, camera_id: str, name: str, token: str | None) -> Preset:
        self._steerable(principal, camera_id)
        detail = {"name": name, "preset": token}
        if not principal.may(Permission.ADMINISTER):
            await self._audit(principal, "ptz.preset.set", camera_id, False, {**detail, "reason": "not an admin"})
            raise Forbidden("only an admin may store presets")
        return await self._command(principal, camera_id, "ptz.preset.set", detail,
                                   lambda d: d.set_preset(name, token), leaves=False)

    async def presets(self, principal: Principal, camera_id: str) -> list[Preset]:
        config = self._steerable(principal, camera_id)
        return await self._device(camera_id, config, lambda d: d.presets())

    async def position(self, principal: Principal, camera_id: str) -> Position | None:
        config = self._steerable(principal, camera_id)
        return await self._device(camera_id, config, lambda d: d.position())

    async def _command(self, principal: Principal, camera_id: str, action: str, detail: dict[str, Any] | None,
                       call: Callable[[PtzDriver], Awaitable[T]], *, leaves: bool, arrives: bool = False) -> T:
        """One command: the lease (taken or renewed), the camera, the audit row, and the rules' hold."""
        config = self._steerable(principal, camera_id)
        try:
            changed = await self._lease(principal, camera_id, config, None)
        except Conflict as exc:
            await self._audit(principal, action, camera_id, False, {**(detail or {}), "reason": exc.message})
            raise
        if leaves:  # before the camera turns: no look may see the new view under the old zones
            await run_sync(self.returns.away, camera_id, self.wall(), config.return_after * 60)  # before _leave
            changed = self._leave(camera_id, config) or changed
        if changed:  # one push for both: who controls it, and that its rules paused
            await self._notify(camera_id)
        try:
            result = await self._device(camera_id, config, call)
        except PtzUnavailable as exc:
            await self._audit(principal, action, camera_id, False, {**(detail or {}), "reason": exc.message})
            raise
        away = self._away.get(camera_id)
        if arrives:  # at its analysis preset by hand: nothing to return, on any replica
            await run_sync(self.returns.back, camera_id)
        elif not leaves:  # a stop or a stored preset keeps the camera where it is: its return is renewed
            await run_sync(functools.partial(self.returns.away, camera_id, self.wall(), config.return_after * 60,
                                             create=away is not None))
        if away is not None:
            away.last_command, away.due = self.clock(), self.wall() + config.return_after * 60
            if leaves or arrives:
                away.resume_at = self.clock() + config.settle_seconds if arrives else None
        await self._audit(principal, action, camera_id, True, detail)
        return result

    async def _lease(self, principal: Principal, camera_id: str, config: PtzConfig, action: str | None, *,
                     take_over: bool = False) -> bool:
        """Take or renew the user's lease; returns whether the holder changed (the caller tells the tiles).
        ``action``: audit the take itself (an explicit take or take-over); a command's implicit take is audited
        as the command."""
        now = self.wall()
        before = await run_sync(self.leases.current, camera_id, now)
        try:
            lease, displaced = await run_sync(functools.partial(
                self.leases.take, camera_id, principal.name, now, config.lease_seconds, take_over=take_over,
                may_take_over=principal.may(Permission.ADMINISTER)))
        except (Conflict, Forbidden) as exc:
            if action is not None:
                await self._audit(principal, action, camera_id, False, {"reason": exc.message})
            raise
        if displaced is not None:
            await self._audit(principal, "ptz.lease.takeover", camera_id, True, {"from": displaced.holder})
        elif action is not None:
            await self._audit(principal, action, camera_id, True)
        return before is None or before.holder != lease.holder

    async def _device(self, camera_id: str, config: PtzConfig, call: Callable[[PtzDriver], Awaitable[T]]) -> T:
        driver = await self._driver(camera_id, config)
        try:
            return await call(driver)
        except PtzDeviceError as exc:
            raise PtzUnavailable(f"camera '{camera_id}': {exc.message}") from None

    async def _driver(self, camera_id: str, config: PtzConfig) -> PtzDriver:
        """The camera's driver for its current ``ptz:`` block (a changed block gets a new one)."""
        known = self._drivers.get(camera_id)
        if known is not None and known[0] == config:
            return known[1]
        if known is not None:
            await known[1].close()
        try:
            driver = open_driver(camera_id, config)
        except PtzDeviceError as exc:
            raise PtzUnavailable(f"camera '{camera_id}': {exc.message}") from None
        self._drivers[camera_id] = (config, driver)
        return driver

    # -- the analysis preset ------------------------------------------------------------------------------------
    def _leave(self, camera_id: str, config: PtzConfig) -> bool:
        """The camera is turning off its analysis preset: hold its rules. Returns whether it just left."""
        self._ensure_ticker()
        if camera_id in self._away:
            return False
        self._away[camera_id] = _Away(last_command=self.clock(), due=self.wall() + config.return_after * 60)
        self.runtime.hold_rules(camera_id, True)
        log.info("camera %s left its analysis preset: rules paused", camera_id, extra={"camera": camera_id})
        return True

    def start(self) -> None:
        """Check for due returns from the start (on the app's loop): a camera another replica — or this one
        before a restart — left off its preset goes back on time."""
        self._ensure_ticker()

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="ptz-return")

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if not self._away and not any(c.enabled and c.ptz is not None for c in self.registry.cameras()):
                continue
            try:
                await self.tick()
            except Exception as exc:  # the next tick tries again; a bug here must not end the returns for good
                if not unavailable(exc):
                    log.exception("PTZ return check failed")
                elif not self._db_down:  # one line per outage, not two a second
                    log.warning("PTZ return checks wait for the database (%s)", type(exc).__name__)
                self._db_down = unavailable(exc)
            else:
                self._db_down = False

    async def tick(self) -> None:
        """Send the cameras this replica claims back to their analysis preset (each due camera is claimed by one
        replica), and resume the rules of those that are back — here or through another replica."""
        for camera_id in await run_sync(self.returns.claim, self.wall()):
            config = self._config(camera_id)
            if config is None:
                continue
            away = self._away.get(camera_id)
            if away is None:  # steered through another replica, or this one before it restarted
                away = self._away[camera_id] = _Away(last_command=self.clock(), due=self.wall())
                self.runtime.hold_rules(camera_id, True)
            await self._return(camera_id, config, away)
        held = list(self._away.items())  # before the read: each of these wrote its row before it was held here
        pending = await run_sync(self.returns.pending, self.wall()) if held else {}
        for camera_id, away in held:
            now = self.clock()
            config = self._config(camera_id)
            if self._away.get(camera_id) is not away:
                continue
            if config is None:  # the camera or its ptz: block is gone: nothing to return, the rules run again
                await self._resume(camera_id)
                continue
            if away.resume_at is not None:
                if now >= away.resume_at:
                    await self._resume(camera_id)
                continue
            due = pending.get(camera_id)
            if due is None:  # sent back (or home by hand) through another replica: the rules here follow it
                away.resume_at = now + config.settle_seconds
            else:
                away.due = due

    async def _return(self, camera_id: str, config: PtzConfig, away: _Away) -> None:
        target = config.analysis_preset
        detail = {"preset": target, "idle_minutes": config.return_after}
        commanded = away.last_command
        try:
            driver = await self._driver(camera_id, config)
            if target is None:
                await driver.home()
            else:
                await driver.goto_preset(target)
        except (PtzDeviceError, PtzUnavailable) as exc:  # claimed and not done: anyone may try again soon
            await run_sync(self.returns.away, camera_id, self.wall(), RETRY_RETURN_SECONDS)
            away.due = self.wall() + RETRY_RETURN_SECONDS
            reason = exc.message
            log.warning("camera %s could not be returned to its analysis preset: %s", camera_id, reason,
                        extra={"camera": camera_id})
            await self._audit(None, "ptz.return", camera_id, False, {**detail, "reason": reason})
            return
        if self._away.get(camera_id) is not away or away.last_command != commanded:
            await self._audit(None, "ptz.return", camera_id, True, {**detail, "then": "an operator's command"})
            return  # a command came while it went back: it was sent after the return, and wins
        away.resume_at = self.clock() + config.settle_seconds
        lease = await run_sync(self.leases.current, camera_id, self.wall())
        if lease is not None:  # the idle operator's control goes with the camera's return
            await run_sync(self.leases.release, camera_id, lease.holder, self.wall())
        log.info("camera %s returned to its analysis preset after %g min without commands", camera_id,
                 config.return_after, extra={"camera": camera_id})
        await self._notify(camera_id)
        await self._audit(None, "ptz.return", camera_id, True, detail)

    async def _resume(self, camera_id: str) -> None:
        self._away.pop(camera_id, None)
        self.runtime.hold_rules(camera_id, False)
        log.info("camera %s is at its analysis preset: rules run again", camera_id, extra={"camera": camera_id})
        await self._notify(camera_id)

    # -- telling ------------------------------------------------------------------------------------------------
    async def _notify(self, camera_id: str) -> None:
        lease = await run_sync(self.leases.current, camera_id, self.wall())
        self.publish(PtzNotice(camera_id=camera_id, holder=lease.holder if lease else None,
                               away=camera_id in self._away))

    async def _audit(self, principal: Principal | None, action: str, camera_id: str, success: bool,
                     detail: dict[str, Any] | None = None) -> None:
        def write() -> None:
            with self.db.session() as unit:
                audit.record(unit, user=principal.name if principal else None, action=action,
                             target=f"camera:{camera_id}", success=success,
                             address=principal.address if principal else None, detail=detail)

        await run_sync(write)

    async def close(self) -> None:
        """Stop the return checks and close every driver (the app is stopping)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for _config, driver in self._drivers.values():
            await driver.close()
        self._drivers.clear()
