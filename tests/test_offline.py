"""Nothing leaves the machine and nothing is fetched: running a detection writes no telemetry id and opens no
network connection from the inference library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SCRIPT = """
import numpy as np
import vision.detector as d
assert __import__("os").environ["ORT_DISABLE_TELEMETRY"] == "1"
det = d.Detector(__import__("vision.card").card.DEFAULT_CARD)
det.detect([np.zeros((360, 640, 3), np.uint8)])
print("ok")
"""


def test_a_detection_writes_nothing_to_home_and_needs_no_network(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "ORT_DISABLE_TELEMETRY": "0",  # the service overrides a "0"
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert not any(home.rglob("*")), f"files written under $HOME: {list(home.rglob('*'))}"
    assert "telemetry" not in out.stderr.lower(), out.stderr
