"""Credentials never leave the server: one rule, used by every message that may quote a camera URL."""

from __future__ import annotations

import re

# Up to the last '@' before whitespace or a quote: a password may itself hold '/', ':' or '@'.
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^\s'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace ``user:password@`` in every URL in ``text`` with ``***@`` (FFmpeg quotes full URLs in errors)."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
