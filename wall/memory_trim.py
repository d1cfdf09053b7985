"""Give the memory that the C allocator holds free back to the system, once a minute.

Why: a hall runs the service for months with ~100 threads (one or two per camera, the request pool, the
analytics). glibc gives each thread that allocates an arena of its own (up to 8 per core), and decoders, the
detector's buffers and request bodies are freed there in an order that leaves free pages between live chunks:
an arena does not hand those back by itself, so the process' resident memory creeps up although nothing
leaks. The soak of 2026-12-06 showed it: every one of the 16 thread arenas grew by about 1 MiB in 12 minutes
(read from /proc/PID/smaps) while Python's own objects stayed flat. ``malloc_trim(0)`` returns every free page
of every arena (``madvise``), which is what long-running Python services such as Dask's workers do too.

A trim takes a few milliseconds and holds the allocator's locks meanwhile; once a minute is far below anything a
camera thread notices. Where the C library is not glibc (musl, macOS) there is nothing to call and nothing runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
TRIM_SECONDS = 60.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def resident_bytes() -> int:
    """This process' resident memory now (0 where /proc is not there)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemoryTrimmer:
    """A daemon thread that calls ``malloc_trim(0)`` every ``interval`` seconds; ``released`` adds up what each
    trim took off the resident memory (for the log and the soak's figures)."""

    def __init__(self, interval: float = TRIM_SECONDS) -> None:
        self.interval = interval
        self.trims, self.released = 0, 0
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim(self) -> int:
        """One trim now; the bytes of resident memory it gave back (0 without glibc)."""
        if self._trim is None:
            return 0
        before = resident_bytes()
        self._trim(0)
        freed = max(0, before - resident_bytes())
        self.trims += 1
        self.released += freed
        return freed

    def start(self) -> None:
        if self._trim is None or self._thread is not None or self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="memory-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            freed = self.trim()
            if freed >= 16 * 1024**2:
                log.info("gave %.0f MiB of free allocator memory back to the system", freed / 1024**2)
