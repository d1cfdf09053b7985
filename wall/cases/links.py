"""Evidence the platform can fetch without a citywall login: links signed with HMAC-SHA256 that expire, or the
bytes inline (``platform.evidence``: url | base64).

A link is ``{public_base_url}/api/platform/evidence/{name}?expires=UNIX&signature=HEX`` with the signature over
the file name and the expiry, keyed with ``platform.secret``: changing either (another file, a later expiry)
breaks it, and after ``expires`` it is refused even with a good signature. Files are named by content hash, so
a link can only ever open the picture it was made for. Without a secret nothing is signed and every link is
refused: an empty key would let anyone sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path

from wall.errors import Forbidden, NotFound

LINK_PATH = "/api/platform/evidence/"


class EvidenceLinks:
    def __init__(self, *, secret: str, public_base_url: str, ttl: float, mode: str, evidence_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.secret = secret.encode()
        self.base = public_base_url.rstrip("/")
        self.ttl, self.mode = ttl, mode
        self.evidence_dir = evidence_dir
        self.clock = clock  # seconds since the epoch; tests move it past the expiry

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self.secret, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, name: str) -> str:
        expires = int(self.clock() + self.ttl)
        return f"{self.base}{LINK_PATH}{name}?expires={expires}&signature={self._signature(name, expires)}"

    def item(self, kind: str, name: str, sha256: str | None = None) -> dict[str, str | int]:
        """One entry of a message's ``evidence`` list: kind, sha256, size and a link or the bytes inline."""
        path = self.evidence_dir / name
        item: dict[str, str | int] = {"kind": kind, "sha256": sha256 or path.stem,
                                      "size": path.stat().st_size if path.is_file() else 0}
        if self.mode == "base64":
            item["data"] = base64.b64encode(path.read_bytes()).decode() if path.is_file() else ""
        else:
            item["url"] = self.url(name)
        return item

    def open(self, name: str, expires: int, signature: str) -> Path:
        """The file a link names, or why it is refused: a bad or outdated signature is Forbidden (403), a file
        that is not there NotFound (404, after the signature: an unsigned probe learns nothing)."""
        if not self.secret:
            raise Forbidden("evidence links are not signed on this site (platform.secret is empty)")
        good = self._signature(name, expires)
        if not hmac.compare_digest(good, signature.lower()):
            raise Forbidden("the link's signature does not match (changed or not made by this site)")
        if self.clock() > expires:
            raise Forbidden("the link has expired; the next message carries a fresh one")
        path = self.evidence_dir / name
        if path.name != name or not path.is_file():
            raise NotFound("not found")
        return path
