"""A clean stop on SIGINT and SIGTERM for ``citywall serve`` and ``citywall demo``, whenever the signal comes.

Before the web server listens uvicorn's own handlers are not installed (and a process started in the background
by a shell inherits an *ignored* SIGINT); while it serves uvicorn shuts down gracefully and then re-raises the
signal; during shutdown a second signal must not leave a camera thread or a child process behind. Within
:func:`stop_on_signals` both signals raise :class:`Stopped`, which unwinds through every ``finally`` to the
command, which exits 0 — what Docker, systemd and a person pressing Ctrl-C expect.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class Stopped(BaseException):
    """SIGINT or SIGTERM arrived: unwind and exit 0. A BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`Stopped` (uvicorn swaps in its own handlers while it
    serves and, after its graceful shutdown, restores these and re-raises the signal into them)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
