"""Credentials never leave the server: one rule, used by every message that may quote a camera URL (settings
errors, stream and probe errors, log lines)."""

from __future__ import annotations

import re

# Up to the last '@' before whitespace or a quote: a password may itself hold '/', ':' or '@'.
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^\s'\"]*@", re.IGNORECASE)
# A query parameter that is itself a credential: a signed evidence link's signature (whoever holds the link holds
# the file until it expires), a token passed in a URL.
_SECRET_PARAM = re.compile(r"(?P<key>[?&](?:signature|token|access_token)=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace ``user:password@`` in every URL in ``text`` with ``***@`` (FFmpeg quotes full URLs in errors), and
    the value of a credential in a query string (``signature=``, ``token=``) with ``***`` (uvicorn's access log
    quotes each request's path with its query)."""
    return _SECRET_PARAM.sub(r"\g<key>***", _USERINFO.sub(r"\g<scheme>***@", text))


CAMERA_URL = "<camera url>"
# Any URL at all: what a client may see of a camera error has no address in it.
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]*", re.IGNORECASE)


def public_error(message: str | None) -> str | None:
    """A camera error as a client may see it: every URL in it replaced, because FFmpeg quotes the camera's
    URL in its messages and even with the password redacted (``rtsp://***@host:port/path``) the address of a
    camera on the police network is not for the browser."""
    return None if message is None else _URL.sub(CAMERA_URL, message)
