"""A one-line progress indicator for long commands, drawn on stderr only when it is a terminal.

Piped output (``--json`` into a file, CI logs) stays clean: nothing is drawn there.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, unit: str = "", stream=None) -> None:
        self.label, self.unit = label, unit
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: float, total: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.2 and (not total or done < total):
            return
        self._last_draw = now
        elapsed = now - self.started
        if total:
            width = 30
            filled = int(width * min(1.0, done / total))
            bar = "█" * filled + "·" * (width - filled)
            text = f"\r{self.label} [{bar}] {done:.0f}/{total:.0f}{self.unit} {elapsed:.0f}s"
        else:
            text = f"\r{self.label} {done:.0f}{self.unit} {elapsed:.0f}s"
        self.stream.write(text)
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def done(self, message: str = "") -> None:
        self.clear()
        if self.enabled and message:
            self.stream.write(f"{self.label}: {message} in {time.monotonic() - self.started:.1f}s\n")
            self.stream.flush()
