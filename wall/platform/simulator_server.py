"""The platform simulator as a service: a small FastAPI app (``POST /webhook``, ``GET /record``, ``GET /healthz``)
under its own uvicorn, and ``citywall platform-sim`` to run it.

A real HTTP service rather than a function citywall calls, so that the webhooks cross a socket with their
signatures and retries exactly as they would to a vendor's platform. :class:`SimulatorServer` runs it in a
thread of the caller's process on a socket bound before it starts (the port is known at once: the demo writes it
into ``platform.webhook_url`` before citywall starts, and a test the same); ``citywall platform-sim`` runs it in
the foreground. The token and the secret come from files or the environment, never the command line (``ps``
shows a command line to every user of the machine).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from wall.platform.simulator import PlatformSimulator, SimRecord, SimulatorSettings

log = logging.getLogger(__name__)
TOKEN_ENV, SECRET_ENV = "CITYWALL_PLATFORM_TOKEN", "CITYWALL_PLATFORM_SECRET"
WEBHOOK_PATH = "/webhook"


def create_app(simulator: PlatformSimulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await simulator.start()
        try:
            yield
        finally:
            await simulator.stop()

    app = FastAPI(title="citywall platform simulator", version="0.1.0", lifespan=lifespan)

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> JSONResponse:
        """citywall's outbox posts here (platform.webhook_url)."""
        body = await request.body()
        status, answer = simulator.receive({k.lower(): v for k, v in request.headers.items()}, body)
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    @app.get("/record")
    async def record() -> SimRecord:  # async: read on the loop that writes it, never halfway through a step
        """What the simulator received, fetched and called."""
        return simulator.record

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def quiet_httpx() -> None:
    """httpx logs every request's URL at INFO: for the evidence that is a signed link, a permission to the file
    until it expires. The simulator's own lines say each step without it."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


class SimulatorServer:
    """The simulator under uvicorn in a thread of this process (``with SimulatorServer(...) as sim:``)."""

    def __init__(self, settings: SimulatorSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.simulator = PlatformSimulator(settings)
        self.socket = socket.create_server((host, port))
        self.host, self.port = host, int(self.socket.getsockname()[1])
        # log_level None and access_log set after: uvicorn's Config applies both to the process-wide uvicorn
        # loggers, which would quieten the demo's own server running beside this one
        config = uvicorn.Config(create_app(self.simulator), log_level=None, log_config=None)
        config.access_log = False
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="platform-sim", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    @property
    def record(self) -> SimRecord:
        return self.simulator.record

    def start(self) -> SimulatorServer:
        quiet_httpx()
        self.thread.start()
        for _ in range(200):
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.05)
        if not self.server.started:
            self.stop()
            raise RuntimeError("the platform simulator did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(15)
        self.socket.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- citywall platform-sim -----------------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "platform-sim", help="play the city's case platform against a citywall (for the demo, tests, a vendor)",
        description="Receive citywall's webhooks (signatures checked, each key once), fetch their evidence by the "
        "signed links, and move each confirmed case on through citywall's platform API: dispatched, handled (a "
        "video check), closed when the check says cleared; still present: 返工 (handled again), then left open. "
        f"The service token: --token-file or ${TOKEN_ENV}; platform.secret: --secret-file or ${SECRET_ENV}.",
        epilog="exit codes: 0 stopped, 2 no token or secret, or a bad setting")
    p.add_argument("--citywall", default="http://127.0.0.1:8080", help="citywall's address (default %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8090,
                   help=f"port to listen on (default %(default)s); platform.webhook_url is then "
                   f"http://HOST:PORT{WEBHOOK_PATH}")
    p.add_argument("--token-file", type=Path, help="a file holding the token of `citywall platform token create`")
    p.add_argument("--secret-file", type=Path, help="a file holding platform.secret of citywall's server.yaml")
    defaults = SimulatorSettings.model_fields
    for flag, name in (("--dispatch-after", "dispatch_after"), ("--handled-after", "handled_after"),
                       ("--close-after", "close_after")):
        field = defaults[name]
        p.add_argument(flag, type=float, default=field.default, help=f"{field.description} (default %(default)s)")
    p.add_argument("--deadline-hours", type=float, default=None,
                   help=f"{defaults['deadline_hours'].description} (default: none)")
    p.add_argument("--max-rework", type=int, default=defaults["max_rework"].default,
                   help=f"{defaults['max_rework'].description} (default %(default)s)")
    p.add_argument("--department", default=defaults["department"].default, help="the department dispatched to")


def _read(path: Path | None, env: str) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    return os.environ.get(env, "").strip()


def run(args: argparse.Namespace) -> int | None:
    """``citywall platform-sim``; None when ``args`` is another command."""
    if args.command != "platform-sim":
        return None
    import uvicorn

    from wall.shutdown import Stopped, stop_on_signals

    try:
        token, secret = _read(args.token_file, TOKEN_ENV), _read(args.secret_file, SECRET_ENV)
    except OSError as exc:
        print(f"citywall platform-sim: {exc}", file=sys.stderr)
        return 2
    if not token or not secret:
        print(f"citywall platform-sim: needs the service token (--token-file or ${TOKEN_ENV}) and platform.secret "
              f"(--secret-file or ${SECRET_ENV})", file=sys.stderr)
        return 2
    try:
        settings = SimulatorSettings(
            citywall_url=args.citywall, token=SecretStr(token), secret=SecretStr(secret), department=args.department,
            deadline_hours=args.deadline_hours, dispatch_after=args.dispatch_after, handled_after=args.handled_after,
            close_after=args.close_after, max_rework=args.max_rework)
    except ValidationError as exc:
        for problem in exc.errors():
            print(f"citywall platform-sim: {'.'.join(map(str, problem['loc']))}: {problem['msg']}", file=sys.stderr)
        return 2
    with stop_on_signals():
        try:
            try:
                sock = socket.create_server((args.host, args.port))
            except OSError as exc:
                print(f"citywall platform-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
                return 2
            quiet_httpx()
            log.info("platform-sim: listening on http://%s:%d%s (citywall's platform.webhook_url); calling %s; "
                     "dispatched after %.0f s, handled %.0f s later, closed %.0f s after a cleared check",
                     args.host, args.port, WEBHOOK_PATH, args.citywall, settings.dispatch_after,
                     settings.handled_after, settings.close_after)
            server = uvicorn.Server(uvicorn.Config(create_app(PlatformSimulator(settings)), log_level="info",
                                                   access_log=False, log_config=None))
            try:
                server.run(sockets=[sock])
            finally:
                sock.close()
        except Stopped:
            pass
    return 0
