"""The soak itself: the site up, the load on, a sample every 10 s and a camera fault every few minutes.

One loop in this process drives the clock (samples, the operator's rounds, the faults' steps); the viewers and
the prober are processes of their own, the app another, each camera's RTSP server another.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import TypeAdapter

from bench.soak.ledger import CaseAccount, account, polled_events
from bench.soak.load import Operator, Prober, ViewerTotals, collect_viewers, spawn
from bench.soak.report import Fault, Sample, percentile
from bench.soak.site import (
    App,
    Camera,
    log_events,
    log_in,
    make_accounts,
    proc_stats,
    start_cameras,
    stop_cameras,
    write_config,
)
from wall.api.cameras import CameraOut
from wall.cases.models import CasePage

CAMERAS = TypeAdapter(list[CameraOut])
SAMPLE_S, OPERATOR_S = 10.0, 15.0
FAULT_KINDS = ("kill", "freeze", "stop")
LIVE_TIMEOUT_S = 180
JUDGED_S = 60.0  # the samples a fault is judged on: the minute before it, and this long from settle_s after it


@dataclass
class Options:
    minutes: float
    cameras: int
    tiles: int
    seats: int
    fault_every_s: float
    fault_down_s: float
    settle_s: float
    warm_s: float
    out: Path


@dataclass
class Outcome:
    samples: list[Sample] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    cases: CaseAccount = field(default_factory=CaseAccount)
    viewers: ViewerTotals = field(default_factory=ViewerTotals)
    operator_refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # API calls of the soak's own that failed (it went on)
    ran_s: float = 0.0
    exit_code: int | None = None


def cameras_now(client: httpx.Client) -> list[CameraOut]:
    return CAMERAS.validate_json(client.get("/api/cameras").raise_for_status().content)


def wait_live(client: httpx.Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.state == "live" for c in cameras_now(client)):
            return
        time.sleep(1.0)
    raise RuntimeError(f"not every camera went live within {timeout:.0f} s")


class Faults:
    """One fault at a time: a camera's server killed, stopped or frozen for ``down_s``, then back on its address;
    the next one only after the minute of samples that judges this one (``settle_s`` after it is back)."""

    def __init__(self, cameras: list[Camera], opts: Options) -> None:
        self.cameras, self.opts = cameras, opts
        self.done: list[Fault] = []
        self.current: Fault | None = None
        self.next_at = opts.fault_every_s

    def tick(self, t: float, end: float) -> None:
        f, o = self.current, self.opts
        if f is None:
            if t >= self.next_at and t + o.fault_down_s + o.settle_s + JUDGED_S + SAMPLE_S < end:
                n = len(self.done)
                camera = self.cameras[(n * 5) % len(self.cameras)]  # stride 5: lobby and lot cameras in turn
                f = Fault(camera.id, FAULT_KINDS[n % len(FAULT_KINDS)], t)
                {"kill": camera.server.kill, "stop": camera.server.stop, "freeze": camera.server.freeze}[f.kind]()
                self.current = f
                print(f"  {t / 60:5.1f} min: fault {f.kind} of {f.camera}", flush=True)
        elif not f.back_s and t >= f.start_s + o.fault_down_s:
            camera = next(c for c in self.cameras if c.id == f.camera)
            if f.kind == "freeze":
                camera.server.thaw()
            else:
                camera.restart()
            f.back_s = t
        elif f.back_s and t >= f.back_s + o.settle_s + JUDGED_S:
            again = f"live again {f.live_again_s - f.back_s:.0f} s after" if f.live_again_s else "NOT live again"
            print(f"  {t / 60:5.1f} min: {f.camera} {again} its server came back", flush=True)
            self.done.append(f)
            self.current = None
            self.next_at = max(t, f.start_s + o.fault_every_s)

    def seen(self, t: float, cameras: list[CameraOut]) -> str:
        """Note when the faulted camera is live again; the sample's fault column."""
        f = self.current
        if f is None:
            return ""
        if f.back_s and f.live_again_s is None and any(c.id == f.camera and c.state == "live" for c in cameras):
            f.live_again_s = t
        return f"{f.kind}:{f.camera}"


def soak(opts: Options) -> Outcome:
    outcome = Outcome()
    seconds = opts.minutes * 60
    with tempfile.TemporaryDirectory(prefix="citywall-soak-") as tmp:
        work = Path(tmp)
        config = work / "site"
        config.mkdir()
        print(f"starting {opts.cameras} RTSP cameras (looped clips for {opts.minutes:g} min) …", flush=True)
        cameras = start_cameras(work, opts.cameras, seconds + 900)
        app = App(config, opts.out / "server.log")
        try:
            write_config(config, cameras, app.port)
            accounts = make_accounts(config, opts.seats)
            app.start()
            try:
                _drive(app, cameras, accounts.admin, accounts.operator, accounts.seats, opts, outcome)
            finally:
                outcome.exit_code = app.stop()
        finally:
            stop_cameras(cameras)
    return outcome


def _drive(app: App, cameras: list[Camera], admin_pw: str, operator_pw: str, seat_pws: tuple[str, ...],
           opts: Options, outcome: Outcome) -> None:
    admin = httpx.Client(base_url=app.base, headers={"Cookie": log_in(app.base, "soak-admin", admin_pw)}, timeout=60)
    wait_live(admin, LIVE_TIMEOUT_S)
    operator = Operator.log_in(app.base, log_in(app.base, "soak-operator", operator_pw))
    seats = [log_in(app.base, f"soak-seat{i + 1}", pw) for i, pw in enumerate(seat_pws)]
    specs = [f"{cameras[t % len(cameras)].id}@{cookie}" for cookie in seats for t in range(opts.tiles)]
    seconds = opts.minutes * 60
    ws_base = app.base.replace("http://", "ws://")
    clients_log = (opts.out / "clients.log").open("w", encoding="utf-8")
    viewers = [spawn(clients_log, "--viewers-worker", ws_base, str(seconds), *specs[i::2]) for i in range(2)]
    prober = Prober(app.base + "/api/cameras", log_in(app.base, "soak-admin", admin_pw), clients_log)
    faults = Faults(cameras, opts)
    opened: set[str] = set()
    print(f"soaking {opts.minutes:g} min: {len(cameras)} cameras, {len(specs)} live viewers, a fault every "
          f"{opts.fault_every_s / 60:g} min", flush=True)
    t0 = time.monotonic()
    next_sample, next_round = 0.0, 5.0
    try:
        while (t := time.monotonic() - t0) < seconds:
            if t >= next_sample:
                next_sample += SAMPLE_S
                outcome.samples.append(_sample(t, app.pid, admin, prober, faults, operator, opened, outcome.errors))
            if t >= next_round:
                next_round += OPERATOR_S
                try:
                    operator.step()
                except httpx.HTTPError as exc:
                    outcome.errors.append(f"{t / 60:.1f} min: operator: {type(exc).__name__}: {exc}"[:300])
            faults.tick(t, seconds)
            time.sleep(0.25)
        outcome.ran_s = time.monotonic() - t0
        outcome.viewers = collect_viewers(viewers, 120)
        time.sleep(5.0)  # the last events reach the desk
        opened |= polled_events(admin) | set(log_events(app.log_path))
        outcome.cases = account(admin, opened, operator.decisions)
    finally:
        outcome.faults = faults.done
        outcome.operator_refused = operator.refused
        prober.stop()
        for worker in viewers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        clients_log.close()
        operator.close()
        admin.close()


def _sample(t: float, pid: int, admin: httpx.Client, prober: Prober, faults: Faults, operator: Operator,
            opened: set[str], errors: list[str]) -> Sample:
    stats = proc_stats(pid)
    latencies, failed = prober.take()
    cams: list[CameraOut] = []
    total = -1
    try:
        cams = cameras_now(admin)
        opened |= polled_events(admin)
        total = CasePage.model_validate_json(
            admin.get("/api/cases", params={"limit": 1}).raise_for_status().content).total
    except httpx.HTTPError as exc:  # noted, and the soak goes on: a slow answer is a figure, not the end
        errors.append(f"{t / 60:.1f} min: sampling: {type(exc).__name__}: {exc}"[:300])
    request_threads = 0
    try:
        scraped = admin.get("/metrics").raise_for_status().text
        found = re.search(r"^citywall_request_threads (\d+)", scraped, re.M)
        request_threads = int(found.group(1)) if found else 0
    except httpx.HTTPError as exc:
        errors.append(f"{t / 60:.1f} min: /metrics: {type(exc).__name__}: {exc}"[:300])
    sample = Sample(t_s=t, rss_mb=stats.rss_mb, threads=stats.threads, fds=stats.fds, request_threads=request_threads,
                    api_p50_ms=percentile(latencies, 0.5), api_p95_ms=percentile(latencies, 0.95),
                    api_n=len(latencies), api_failed=failed,
                    cameras_live=sum(c.state == "live" for c in cams) if cams else -1,
                    live_viewers=sum(c.viewers for c in cams) if cams else -1, cases=total,
                    decided=len(operator.decisions), fault=faults.seen(t, cams))
    if int(t) % 60 < SAMPLE_S:  # a line a minute on the terminal
        print(f"  {t / 60:5.1f} min: RSS {stats.rss_mb:.0f} MiB, {stats.threads} threads ({request_threads} of the "
              f"request pool), {stats.fds} fds, API p95 "
              f"{sample.api_p95_ms:.0f} ms, {sample.cameras_live} cameras live, {sample.live_viewers} viewers, "
              f"{total} cases ({sample.decided} decided)", flush=True)
    return sample
