"""Part 4 of ``bench/wall.py``: does a crowd of live viewers starve the API?

Why this exists: a hostile test (issue 16, finding 4) held 200 ``/ws/live`` sockets of one camera open as one
user and ``GET /api/cameras`` went from 0.03 s to 4-7 s. Here the same server answers the same request with
0 live viewers (the baseline, in the same run) and with N viewers of one camera, and the figures are:

- the API's latency (p50 / p95 / max) of ``GET /api/cameras``, asked every 100 ms by a process of its own (so
  the prober never competes with the server for its GIL), and how many requests failed;
- the server's CPU (the app process: uvicorn, the camera's thread, all) per viewer, over the same window;
- what the viewers received (MB/s; every viewer drains its socket as fast as it can: the "fast client").

The viewers run in worker processes of their own (``--fanout-worker``), split across sessions of one user so
that the per-session limit (``server.live.per_session``) is respected and the per-user limit is raised for the
run — what is measured is the fan-out itself, not the limit that refuses a crowd.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

LATENCY_PERIOD_S = 0.1


@dataclass
class FanoutReport:
    viewers: int = 0
    seconds: float = 0.0
    latency_ms: dict[int, list[float]] = field(default_factory=dict)  # viewers → latencies of GET /api/cameras
    failed: dict[int, int] = field(default_factory=dict)
    cpu_percent: dict[int, float] = field(default_factory=dict)
    received_mb_s: dict[int, float] = field(default_factory=dict)
    connected: int = 0  # viewer sockets that received video


# -- workers (their own processes) ----------------------------------------------------------------------------
async def _view(url: str, cookie: str, stop_at: float, totals: list[int]) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(url, additional_headers={"Cookie": cookie}, origin=None, max_size=None,
                           open_timeout=30) as ws:
            got = False
            while time.monotonic() < stop_at:
                try:
                    message = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    continue
                if isinstance(message, bytes):
                    totals[0] += len(message)
                    if not got:
                        got, totals[1] = True, totals[1] + 1
    except Exception as exc:  # a refused or dropped socket: counted by its absence from totals[1]
        print(f"viewer ended: {type(exc).__name__}: {exc}", file=sys.stderr)


def fanout_worker(argv: Sequence[str]) -> int:
    """``--fanout-worker WS_URL SECONDS COOKIE…``: one socket per cookie; prints received bytes and sockets."""
    url, seconds, *cookies = argv
    totals = [0, 0]
    stop_at = time.monotonic() + float(seconds)

    async def run() -> None:
        await asyncio.gather(*(_view(url, cookie, stop_at, totals) for cookie in cookies))

    asyncio.run(run())
    print(json.dumps({"bytes": totals[0], "sockets": totals[1]}))
    return 0


def latency_worker(argv: Sequence[str]) -> int:
    """``--latency-worker URL COOKIE SECONDS``: GET URL every 100 ms; prints the latencies (ms) and failures."""
    import httpx

    url, cookie, seconds = argv
    latencies, failed = [], 0
    stop_at = time.monotonic() + float(seconds)
    with httpx.Client(headers={"Cookie": cookie}, timeout=30.0) as client:
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                ok = client.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            elapsed = time.perf_counter() - t0
            if ok:
                latencies.append(elapsed * 1000)
            else:
                failed += 1
            time.sleep(max(0.0, LATENCY_PERIOD_S - elapsed))
    print(json.dumps({"latency_ms": latencies, "failed": failed}))
    return 0


# -- the run (in the server's process) ------------------------------------------------------------------------
def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.wall", *args], stdout=subprocess.PIPE, text=True)


def measure(url: str, ws_url: str, api_cookie: str, viewer_cookies: list[str], seconds: float, warmup: float,
            report: FanoutReport, workers: int = 2) -> None:
    """One window with ``len(viewer_cookies)`` viewers of ``ws_url`` (0: the baseline)."""
    n = len(viewer_cookies)
    viewers = [_spawn("--fanout-worker", ws_url, str(warmup + seconds + 2), *viewer_cookies[i::workers])
               for i in range(workers) if viewer_cookies[i::workers]]
    time.sleep(warmup if viewers else 1.0)
    prober = _spawn("--latency-worker", url + "/api/cameras", api_cookie, str(seconds))
    cpu0, t0 = time.process_time(), time.monotonic()
    out, _ = prober.communicate(timeout=seconds + 120)
    report.cpu_percent[n] = (time.process_time() - cpu0) / (time.monotonic() - t0) * 100
    probed = json.loads(out)
    report.latency_ms[n], report.failed[n] = probed["latency_ms"], probed["failed"]
    received = sockets = 0
    for viewer in viewers:
        done, _ = viewer.communicate(timeout=warmup + seconds + 120)
        got = json.loads(done.strip().splitlines()[-1])
        received, sockets = received + got["bytes"], sockets + got["sockets"]
    report.received_mb_s[n] = received / 1e6 / (warmup + seconds + 2) if viewers else 0.0
    if n:
        report.connected = sockets


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def format_fanout(report: FanoutReport) -> list[str]:
    lines = [f"live fan-out: GET /api/cameras every {LATENCY_PERIOD_S * 1000:.0f} ms with 0 and {report.viewers} "
             f"viewers of one camera (window {report.seconds:g} s; 100 % CPU = one core):"]
    base = report.cpu_percent.get(0, 0.0)
    for n, values in report.latency_ms.items():
        cpu = report.cpu_percent.get(n, 0.0)
        per = f", {(cpu - base) / n:.2f} % CPU per viewer" if n else " (baseline)"
        lines.append(f"  {n:>4} viewers: p50 {percentile(values, 0.5):6.1f} ms, p95 {percentile(values, 0.95):6.1f} "
                     f"ms, max {max(values, default=float('nan')):6.1f} ms, {report.failed.get(n, 0)} failed, "
                     f"n={len(values)}; server CPU {cpu:5.1f} %{per}; {report.received_mb_s.get(n, 0):.2f} MB/s out")
    if report.viewers in report.latency_ms and 0 in report.latency_ms:
        p0, pn = percentile(report.latency_ms[0], 0.95), percentile(report.latency_ms[report.viewers], 0.95)
        lines.append(f"  ratio p95 {report.viewers} viewers / baseline: ×{pn / p0:.1f}; sockets with video: "
                     f"{report.connected}/{report.viewers}")
        lines.append(f"  median latency with viewers: {statistics.median(report.latency_ms[report.viewers]):.1f} ms")
    return lines
