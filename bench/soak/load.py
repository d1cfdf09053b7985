"""The soak's load: wall viewers and the API prober in processes of their own, and the scripted operator.

- Viewers: ``bench.fanout``'s viewer (a ``/ws/live`` socket drained as fast as it comes), kept open for the whole
  run the way a tile is: when its socket ends (the camera failed, the server closed it) it connects again after
  a pause. One process per half of the sockets, so the clients never compete with the server for its GIL.
- Prober: ``GET /api/cameras`` every 100 ms (as bench.fanout's latency worker) from its own process, one line per
  answer on stdout as it comes, so the soak can cut the latencies into its 10 s samples.
- Operator: a person at the review desk, scripted: every few seconds it reads the queue and decides each pending
  case through the REST API (confirm and reject in turn), and remembers what it decided, so the end of the run
  can check that every decision stayed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from bench.fanout import LATENCY_PERIOD_S, _view
from bench.soak.site import REPO
from wall.cases.models import CasePage, CaseSummary

RETRY_S = 3.0  # a tile whose socket ended tries again after this long (tile.js waits a few seconds too)
MAX_DECISIONS_PER_STEP = 12


# -- workers (their own processes: ``python -m bench.soak --viewers-worker …`` / ``--probe-worker …``) ---------------
async def _keep_viewing(url: str, cookie: str, stop_at: float, totals: list[int]) -> None:
    while time.monotonic() < stop_at:
        await _view(url, cookie, stop_at, totals)
        if time.monotonic() < stop_at:
            totals[2] += 1
        await asyncio.sleep(min(RETRY_S, max(0.0, stop_at - time.monotonic())))


def viewers_worker(argv: Sequence[str]) -> int:
    """``--viewers-worker WS_BASE SECONDS CAMERA@COOKIE…``: one kept-open tile per spec; prints what it got."""
    base, seconds, *specs = argv
    totals = [0, 0, 0]  # bytes, sockets that received video, sockets that ended
    stop_at = time.monotonic() + float(seconds)

    async def run() -> None:
        tiles = [spec.split("@", 1) for spec in specs]
        await asyncio.gather(*(_keep_viewing(f"{base}/ws/live/{cam}", cookie, stop_at, totals)
                               for cam, cookie in tiles))

    asyncio.run(run())
    print(json.dumps({"bytes": totals[0], "sockets": totals[1], "ended": totals[2]}), flush=True)
    return 0


def probe_worker(argv: Sequence[str]) -> int:
    """``--probe-worker URL COOKIE``: GET URL every 100 ms until killed; one line per answer: ms, or 'failed'."""
    url, cookie = argv
    with httpx.Client(headers={"Cookie": cookie}, timeout=30.0) as client:
        while True:
            t0 = time.perf_counter()
            try:
                ok = client.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            elapsed = time.perf_counter() - t0
            print(f"{elapsed * 1000:.2f}" if ok else "failed", flush=True)
            time.sleep(max(0.0, LATENCY_PERIOD_S - elapsed))


def spawn(log: TextIO, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.soak", *args], stdout=subprocess.PIPE, stderr=log,
                            text=True, cwd=REPO)


# -- in the soak's process ------------------------------------------------------------------------------------
@dataclass
class ViewerTotals:
    bytes: int = 0
    sockets: int = 0
    ended: int = 0


def collect_viewers(workers: list[subprocess.Popen[str]], timeout: float) -> ViewerTotals:
    totals = ViewerTotals()
    for worker in workers:
        out, _ = worker.communicate(timeout=timeout)
        lines = out.strip().splitlines()
        if lines:
            got = json.loads(lines[-1])
            totals.bytes += got["bytes"]
            totals.sockets += got["sockets"]
            totals.ended += got["ended"]
    return totals


class Prober:
    """Reads the prober process's lines in a thread; ``take()`` hands over what came since the last call."""

    def __init__(self, url: str, cookie: str, log: TextIO) -> None:
        self.proc = spawn(log, "--probe-worker", url, cookie)
        self._latencies: list[float] = []
        self._failed = 0
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                if line.strip() == "failed":
                    self._failed += 1
                else:
                    self._latencies.append(float(line))

    def take(self) -> tuple[list[float], int]:
        with self._lock:
            latencies, failed = self._latencies, self._failed
            self._latencies, self._failed = [], 0
        return latencies, failed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)


@dataclass
class Operator:
    """The scripted operator at the desk: decides pending cases in turn, confirm then reject."""

    client: httpx.Client
    reason: str
    decisions: dict[int, str] = field(default_factory=dict)  # case id → the status it was decided into
    refused: list[str] = field(default_factory=list)  # decisions the API refused (should stay empty)
    opened: int = 0  # case details read (an operator opens a case before deciding it)

    @classmethod
    def log_in(cls, base: str, cookie: str) -> Operator:
        client = httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30.0)
        reasons = client.get("/api/reject-reasons").raise_for_status().json()
        return cls(client, next(iter(reasons)))

    def step(self) -> None:
        answer = self.client.get("/api/cases", params={"status": "pending_review", "limit": 200})
        page = CasePage.model_validate_json(answer.raise_for_status().content)
        for case in page.items[:MAX_DECISIONS_PER_STEP]:
            self.decide(case)

    def decide(self, case: CaseSummary) -> None:
        self.client.get(f"/api/cases/{case.id}").raise_for_status()
        self.opened += 1
        if len(self.decisions) % 2 == 0:
            action, body, status = "confirm", {"note": "soak: confirmed by the scripted operator"}, "confirmed"
        else:
            action, body, status = "reject", {"reason": self.reason, "text": "soak"}, "rejected"
        answer = self.client.post(f"/api/cases/{case.id}/{action}", json=body)
        if answer.status_code == 200 and CaseSummary.model_validate_json(answer.content).status == status:
            self.decisions[case.id] = status
        else:
            self.refused.append(f"case {case.id} {action}: HTTP {answer.status_code} {answer.text[:120]}")

    def close(self) -> None:
        self.client.close()


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
