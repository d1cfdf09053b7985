"""Fault campaign: the evidence disk fills up or turns read-only under a running site (issue 16).

Real parts only: the GStreamer RTSP server, the real app on a socket, the bundled detector raising a real case
on the lobby camera. The evidence directory is its own small filesystem (a tmpfs mounted there when the tests
run as root, which they do in CI's container), so "disk full" is a real ENOSPC and "read-only" a real EROFS;
without root, read-only is a directory without write permission and disk full is skipped.

What must hold: the case is still raised and committed; its detail says which evidence is missing and why
(not a 500); ``/healthz`` and ``/metrics`` show the evidence store failing; the other camera's live view keeps
playing; and once the disk takes files again the store says so and new evidence is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import LiveServer, wait_until
from tests.test_live_analytics import ANALYTICS  # the lobby's stall zone: a real case within seconds

pytestmark = pytest.mark.slow

REASONS = {"read-only": os.strerror(errno.EROFS), "disk full": os.strerror(errno.ENOSPC)}


class EvidenceDisk:
    """The evidence directory on a filesystem of its own that a test can break and mend."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mounted = False
        self.filler = directory / "filler.bin"

    def mount(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and shutil.which("mount"):
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(self.directory)],
                                  capture_output=True, text=True)
            self.mounted = done.returncode == 0

    def break_(self, fault: str) -> None:
        if fault == "read-only":
            if self.mounted:
                subprocess.run(["mount", "-o", "remount,ro", str(self.directory)], check=True, timeout=10)
            else:
                self.directory.chmod(0o555)
        else:
            assert self.mounted
            with open(self.filler, "wb", buffering=0) as f:  # fill it to the last page: ENOSPC from then on
                for size in (1 << 20, 4096):
                    try:
                        while True:
                            f.write(b"\0" * size)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC, exc

    def mend(self, fault: str) -> None:
        if fault == "read-only":
            if self.mounted:
                subprocess.run(["mount", "-o", "remount,rw", str(self.directory)], check=True, timeout=10)
            else:
                self.directory.chmod(0o755)
        else:
            self.filler.unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.directory)], capture_output=True, timeout=10)
        else:
            with contextlib.suppress(OSError):
                self.directory.chmod(0o755)


@pytest.fixture
def evidence_disk(tmp_path: Path) -> Iterator[EvidenceDisk]:
    disk = EvidenceDisk(tmp_path / "data" / "evidence")
    disk.mount()
    yield disk
    disk.unmount()


def _cameras(rtsp: RtspDevServer) -> str:
    return f"""
cameras:
  - {{id: lobby, name: 大厅, url: "{rtsp.url('person')}", analysis_interval: 2}}
  - {{id: lot, name: 停车场, url: "{rtsp.url('car')}"}}
"""


def _live_fragments(site: LiveServer, camera: str, wanted: int = 3, timeout: float = 20.0) -> int:
    """Binary messages received on ``/ws/live/{camera}`` within ``timeout`` (stops at ``wanted``)."""
    got = 0
    with connect(f"ws://127.0.0.1:{site.port}/ws/live/{camera}", open_timeout=10, close_timeout=5, max_size=None,
                 max_queue=None, additional_headers={"Cookie": site.cookie()}) as ws:
        deadline = time.monotonic() + timeout
        while got < wanted and time.monotonic() < deadline:
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(message, bytes):
                got += 1
    return got


def _metric(site: LiveServer, name: str) -> float | None:
    for line in httpx.get(f"{site.url}/metrics", timeout=20).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@pytest.mark.parametrize("fault", ["read-only", "disk full"])
def test_cases_are_raised_without_evidence_while_the_disk_refuses_it(
        fault: str, evidence_disk: EvidenceDisk, rtsp: RtspDevServer, serve_site, tmp_path: Path) -> None:
    if fault == "disk full" and not evidence_disk.mounted:
        pytest.skip("disk full needs a tmpfs of its own (mount as root); chmod cannot fill a disk")
    if fault == "read-only" and not evidence_disk.mounted and os.geteuid() == 0:
        pytest.skip("root writes through chmod 0555 and mount(8) failed: no way to make the directory read-only")
    evidence_disk.break_(fault)
    site = serve_site(_cameras(rtsp), f"server:\n  data_dir: {tmp_path / 'data'}\n", ANALYTICS)
    admin = site.client(timeout=10)

    cases: list[dict] = []

    def raised() -> bool:
        cases[:] = admin.get("/api/cases").json()["items"]
        return bool(cases)

    # The lobby's visitors sit at the table: a case opens after 8 s of dwell, with or without its snapshot.
    assert wait_until(raised, 90, 0.25), "no case raised while the evidence disk refused files"
    case_id = cases[0]["id"]
    health = httpx.get(f"{site.url}/healthz", timeout=10).json()
    detail = admin.get(f"/api/cases/{case_id}")
    assert detail.status_code == 200, detail.text
    record = detail.json()
    assert record["status"] == "pending_review" and record["camera"] == "lobby"
    assert record["evidence"] == []
    missing = {m["kind"]: m["reason"] for m in record["missing_evidence"]}
    assert missing.get("snapshot") == REASONS[fault], record["missing_evidence"]
    assert any(e["action"] == "evidence_missing" and e["detail"]["kind"] == "snapshot" for e in record["events"])
    assert health["status"] == "degraded", health
    assert health["evidence"]["state"] == "failing" and health["evidence"]["last_error"] == REASONS[fault]
    assert health["evidence"]["failures"] >= 1
    assert _metric(site, "citywall_evidence_store_up") == 0.0
    # Nothing else stops: both cameras live, the other camera's live view plays, the queue answers.
    states = {c["id"]: c["state"] for c in admin.get("/api/cameras").json()}
    assert states == {"lobby": "live", "lot": "live"}, states
    assert _live_fragments(site, "lot") >= 3
    assert admin.get("/api/cases", params={"status": "pending_review"}).json()["total"] >= 1

    # The disk takes files again: the store notices (a probe, or the next write) and the case's next evidence
    # (its clip, cut 5 s after the event, or the after-snapshot when the place clears) is written and served.
    evidence_disk.mend(fault)
    assert wait_until(lambda: httpx.get(f"{site.url}/healthz", timeout=10).json()["status"] == "ok", 30, 0.5)
    written: list[dict] = []

    def evidence_back() -> bool:
        written[:] = admin.get(f"/api/cases/{case_id}").json()["evidence"]
        return bool(written)

    assert wait_until(evidence_back, 60, 0.5), admin.get(f"/api/cases/{case_id}").json()["missing_evidence"]
    served = admin.get(written[0]["url"])
    assert served.status_code == 200 and len(served.content) == written[0]["size"]
    assert (evidence_disk.directory / Path(written[0]["url"]).name).is_file()
    assert _metric(site, "citywall_evidence_store_up") == 1.0
    leftovers = [p.name for p in evidence_disk.directory.iterdir() if p.name.endswith(".tmp") or
                 p.name.startswith((".probe", "clip-"))]
    assert leftovers == [], leftovers
    still_missing = {m["kind"] for m in admin.get(f"/api/cases/{case_id}").json()["missing_evidence"]}
    assert "snapshot" in still_missing and written[0]["kind"] not in still_missing
