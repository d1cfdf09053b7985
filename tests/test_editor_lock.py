"""The editor's lock spans processes: control-plane replicas (and ``citywall`` commands) share one configuration
directory, so a save in one process waits for a save in another, and refuses after its timeout rather than
interleave two read-modify-writes of one file. Real processes, a real ``flock`` on the directory's lock file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from wall.editing.roundtrip import LOCK_FILE, edit_lock
from wall.errors import Conflict

HOLD = """
import fcntl, sys, time
with open(sys.argv[1], "a+b") as handle:
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_elsewhere(directory: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process (as another replica's save would) holding the directory's edit lock for ``seconds``."""
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(directory / LOCK_FILE), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    return other


def test_a_save_waits_for_another_process_and_refuses_after_its_timeout(tmp_path: Path) -> None:
    other = hold_elsewhere(tmp_path, 30)
    try:
        began = time.monotonic()
        with pytest.raises(Conflict, match="another save of this configuration is in progress"), \
                edit_lock(tmp_path, timeout=0.5):
            pass
        assert time.monotonic() - began >= 0.5
    finally:
        other.kill()
        other.wait()
    with edit_lock(tmp_path, timeout=0.5):  # the holder is gone: its lock went with it
        pass

    other = hold_elsewhere(tmp_path, 1.0)
    began = time.monotonic()
    with edit_lock(tmp_path, timeout=10):
        waited = time.monotonic() - began
        assert other.poll() is not None or waited >= 0.5, "entered only once the other process let go"
    other.wait()
    assert 0.5 <= waited < 10
