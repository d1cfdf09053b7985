"""wall/memory_trim.py: free allocator pages go back to the system (the soak's slow RSS creep, issue 16)."""

from __future__ import annotations

import threading

import pytest

from wall.memory_trim import MemoryTrimmer, resident_bytes


def test_a_trim_gives_back_what_a_thread_freed_between_live_chunks() -> None:
    trimmer = MemoryTrimmer(interval=0.05)
    if not trimmer.available:
        pytest.skip("not glibc: nothing to trim")
    kept: list[bytes] = []

    def churn() -> None:  # in a thread of its own: its own arena, as a camera thread has
        chunks = [bytes(1000) + bytes([i % 256]) for i in range(150_000)]  # ~150 MB in malloc'd chunks
        kept.extend(chunks[::100])  # one chunk in a hundred stays: the free ones sit between live ones
        del chunks

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    before = resident_bytes()
    freed = trimmer.trim()
    assert freed > 60 * 1024**2, f"gave back {freed / 1024**2:.0f} MiB of {before / 1024**2:.0f} MiB"
    assert trimmer.trims == 1 and trimmer.released == freed
    assert len(kept) == 1500  # what is alive stays


def test_the_trimmer_runs_on_its_own_and_stops() -> None:
    trimmer = MemoryTrimmer(interval=0.05)
    if not trimmer.available:
        pytest.skip("not glibc: nothing to trim")
    trimmer.start()
    try:
        deadline = threading.Event()
        for _ in range(100):
            if trimmer.trims >= 2:
                break
            deadline.wait(0.05)
        assert trimmer.trims >= 2
    finally:
        trimmer.stop()
    done = trimmer.trims
    threading.Event().wait(0.2)
    assert trimmer.trims == done, "no trim after stop"
