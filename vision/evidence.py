"""Evidence files on disk, and whether the disk still takes them.

Evidence is named by its content hash, so identical evidence is stored once and cannot be swapped. The disk it
lives on can fill up or be remounted read-only under a running service; a case must still be raised then (the
database is elsewhere and the operator still sees the camera), so a write that fails is *not* an exception for
the caller to die of: ``EvidenceStore.put`` records the failure and raises ``EvidenceUnavailable`` with a reason
a case can carry ("No space left on device"), and ``health()`` says the store is failing until a write (or a
``probe``) succeeds again. A half-written temporary file is removed, so a full disk does not stay full of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

PROBE_EVERY_SECONDS = 5.0  # while failing, how often the store tries a tiny write to notice a recovered disk


def store_evidence(out_dir: Path, data: bytes, suffix: str) -> Path:
    """Write ``data`` as ``<sha256><suffix>`` in ``out_dir`` (fsynced, then its directory) unless it is there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # on disk before the case row that names it is committed
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(out_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def reason(exc: OSError) -> str:
    """What a case and the health page say about a failed write: the OS's words, never a path."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return type(exc).__name__


class EvidenceUnavailable(Exception):
    """The evidence could not be written; ``reason`` says why (e.g. "Read-only file system")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EvidenceHealth(BaseModel):
    """The evidence store as the health endpoint and the metrics show it."""

    state: Literal["ok", "failing"] = Field(description="failing from a failed write until one succeeds again")
    written: int = Field(description="Evidence files written since the start")
    failures: int = Field(description="Evidence writes that failed since the start")
    last_error: str | None = Field(None, description="Why the last write failed (the OS's reason, no path)")
    failing_since: float | None = Field(None, description="When the store started failing (Unix time)")
    last_written_at: float | None = Field(None, description="When the last file was written (Unix time)")


class EvidenceStore:
    """One evidence directory with the health of its writes (thread-safe: the analytics and clip threads both
    write)."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock  # for the probe's pacing only; the times shown are Unix times
        self._lock = threading.Lock()
        self._written = 0
        self._failures = 0
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self._last_written_at: float | None = None
        self._probed_at: float | None = None

    def put(self, data: bytes, suffix: str) -> Path:
        """Store ``data``; raises EvidenceUnavailable (recorded in ``health``) when the disk refuses it."""
        try:
            path = store_evidence(self.directory, data, suffix)
        except OSError as exc:
            self._failed(exc)
            raise EvidenceUnavailable(reason(exc)) from exc
        self._succeeded()
        return path

    def write_with(self, name: str, write: Callable[[Path], object]) -> Path:
        """Let ``write`` produce a temporary file in the directory (a clip cut by stream copy), then store its
        bytes under their hash; the temporary file never stays. Errors other than the disk's propagate."""
        tmp = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write(tmp)
            data = tmp.read_bytes()
        except OSError as exc:
            self._failed(exc)
            raise EvidenceUnavailable(reason(exc)) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return self.put(data, tmp.suffix)

    def probe(self) -> bool:
        """While failing, at most every few seconds, try a tiny write to see whether the disk is back; True when
        the store is healthy (now or already)."""
        with self._lock:
            if self._failing_since is None:
                return True
            now = self._clock()
            if self._probed_at is not None and now - self._probed_at < PROBE_EVERY_SECONDS:
                return False
            self._probed_at = now
        probe = self.directory / f".probe.{os.getpid()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"citywall evidence probe\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            self._failed(exc, counted=False)
            return False
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        with self._lock:
            self._failing_since, self._probed_at = None, None
        return True

    def health(self) -> EvidenceHealth:
        with self._lock:
            return EvidenceHealth(state="ok" if self._failing_since is None else "failing", written=self._written,
                                  failures=self._failures, last_error=self._last_error,
                                  failing_since=self._failing_since, last_written_at=self._last_written_at)

    def _failed(self, exc: OSError, counted: bool = True) -> None:
        with self._lock:
            if counted:
                self._failures += 1
            self._last_error = reason(exc)
            if self._failing_since is None:
                self._failing_since = time.time()
                self._probed_at = self._clock()

    def _succeeded(self) -> None:
        with self._lock:
            self._written += 1
            self._last_written_at = time.time()
            self._failing_since, self._probed_at = None, None

