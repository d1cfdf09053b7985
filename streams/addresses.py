"""What every network address a camera is reached at must have, whatever its scheme (a stream's ``rtsp://``, a
PTZ service's ``http://``): a host, and a port that is a port. One check, so that a camera's two addresses are
refused in the same words."""

from __future__ import annotations

from urllib.parse import SplitResult


def check_host_and_port(parts: SplitResult) -> None:
    """Raise ValueError (a validator's message) for an address without a host or with a port out of range."""
    if not parts.hostname:
        raise ValueError("has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if port == 0:
        raise ValueError("has an invalid port")
