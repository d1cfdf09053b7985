"""``citywall probe``: measured stream facts, and one exit code + one-line reason per kind of failure.

The first probe runs as a real ``python -m wall.cli`` process; the others in one interpreter (tests/cli_shell.py),
which gives the same exit status, stdout and stderr without paying an interpreter start per probe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.cli_shell import CliShell

pytestmark = pytest.mark.slow


def probe_process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wall.cli", "probe", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


Probe = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """``probe(*args, timeout=60)``: ``citywall probe ARGS`` in the module's one interpreter."""
    shell = CliShell(tmp_path_factory.mktemp("probe") / "shell.log")
    yield lambda *args, timeout=60: shell("probe", *args, timeout=timeout)
    shell.close()


def test_probe_measures_a_live_camera(rtsp: RtspDevServer) -> None:
    result = probe_process(rtsp.url("hd"), "--json", "--seconds", "5")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["ok"] and facts["codec"] == "h264" and facts["profile"] == "Constrained Baseline"
    assert (facts["width"], facts["height"]) == (1920, 1080)
    assert facts["fps"] == pytest.approx(25, rel=0.05)
    assert facts["gop_frames"] == 50 and facts["gop_seconds"] == pytest.approx(2.0, abs=0.05)
    assert 500 < facts["bitrate_kbps"] < 8000


def test_probe_plain_line(rtsp: RtspDevServer, probe: Probe) -> None:
    result = probe(rtsp.url("car"), "--seconds", "3")
    assert result.returncode == 0
    assert result.stdout.startswith("h264 Baseline 768x432, 12.50 fps") or "768x432" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("make_url", "code", "kind"),
    [
        (lambda rtsp: f"rtsp://127.0.0.1:{free_port()}/x", 2, "refused"),
        (lambda rtsp: rtsp.url("no-such-mount"), 4, "not_found"),
    ],
)
def test_probe_failures(rtsp: RtspDevServer, make_url, code: int, kind: str, probe: Probe) -> None:
    result = probe(make_url(rtsp), "--json")
    assert result.returncode == code
    facts = json.loads(result.stdout)
    assert facts["error_kind"] == kind and not facts["ok"]


def test_probe_unauthorized_hides_the_password(media_dir: Path, probe: Probe) -> None:
    with RtspDevServer({}, auth={"secure": ("viewer", "right-pw", media_dir / "car.mp4")}) as server:
        result = probe(server.url("secure", ("viewer", "wrong-pw")))
        assert result.returncode == 5
        assert result.stdout.startswith("unauthorized:")
        assert "wrong-pw" not in result.stdout + result.stderr
        ok = probe(server.url("secure", ("viewer", "right-pw")), "--seconds", "2")
        assert ok.returncode == 0, ok.stdout


def test_probe_timeout_on_a_frozen_camera(own_rtsp, probe: Probe) -> None:
    server = own_rtsp()
    server.freeze()
    result = probe(server.url("cam"), "--open-timeout", "2", "--read-timeout", "2", timeout=30)
    assert result.returncode == 3, result.stdout
    assert result.stdout.startswith("timeout:")


def test_probe_not_a_video(tmp_path: Path, probe: Probe) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("这不是视频\n" * 100, encoding="utf-8")
    result = probe(f"file:{text}")
    assert result.returncode == 6
    assert result.stdout.split(":")[0] in ("not_a_video", "invalid_data")


def test_probe_missing_file(probe: Probe) -> None:
    result = probe("file:/nonexistent/clip.mp4")
    assert result.returncode == 4 and result.stdout.startswith("not_found:")
