"""A bounded queue that a camera thread fills and a worker thread of its own drains (a rendition's encoder, a
recorder's writer): when the worker falls behind, the oldest entries go, never the newest and never a control
item (a new epoch, a close) — the camera thread must not wait, and a stale packet is worth less than the present.
"""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def put_making_room(bounded: queue.Queue[T], item: T) -> int:
    """Put ``item`` without blocking, dropping the oldest entries until it fits; returns how many were dropped."""
    dropped = 0
    while True:
        try:
            bounded.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                bounded.get_nowait()
                dropped += 1
            except queue.Empty:
                pass
