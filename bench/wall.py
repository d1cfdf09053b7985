"""Wall benchmark: how fast a tile shows a camera, and what many viewers cost the server.

Why this exists: a command hall switches cameras all day (tours, alarms, operators) and a tile that stays black
for a second or two after each switch is what operators complain about first. citywall answers a new viewer
from the camera's cached GOP (the remux keeps the newest GOP of every watched camera and the packet ring primes
it for a camera nobody watched yet); the usual alternative (go2rtc, Frigate's live view) sends nothing until
the camera's next keyframe. Both run here against the same cameras in the same run:

1. **Switch → first painted frame** in Debian chromium (the real ``tile.js`` feeding MediaSource, timed from
   creating the tile to ``requestVideoFrameCallback``), for a *hot* camera (ingested, served from the GOP
   cache), the same camera with ``?start=keyframe`` (wait for the next keyframe) and a *cold* open (the camera's
   session restarted just before: RTSP connect, first keyframe, then the same path).
2. **Server CPU for 18 tiles × 1, 2, 4 viewers**: WebSocket clients in another process drain 18 cameras each;
   the server's CPU (this process: the app under uvicorn, all threads) over a fixed window, against the same
   server with no viewer. One remux per camera is shared by all its viewers, so the cost per viewer should fall.
3. **Display lag**: in chromium, how far the play head runs behind the newest buffered frame on a 2×2 wall
   (the tile jumps back to live beyond 3 s); the server adds no buffering (one fragment per frame).
4. **Live fan-out vs the API** (``bench/fanout.py``): ``GET /api/cameras`` latency with 0 and 200 viewers of
   one camera, and the server's CPU per viewer (``--part fanout`` runs only this part).

A real GStreamer RTSP server (streams/devserver) serves looped copies of the shared demo clips at real time.
Run from the repository root:  ``python -m bench.wall [--cameras 18] [--seconds 15] [--part all|fanout]
[--viewers 200] [--json PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.clips import DEFAULT_VIDEOS, prepare_clips
from bench.fanout import FanoutReport, fanout_worker, format_fanout, latency_worker, measure
from bench.machine import machine_label, rss_mb
from streams.devserver.rtsp import RtspDevServer, free_port, why_unavailable

CHROMIUM = "/usr/bin/chromium"
SWITCH_ROUNDS = 6
VIEWER_COUNTS = (0, 1, 2, 4)
FIRST_FRAME_JS = """async ({id, start}) => {
  const { LiveTile } = await import("/static/tile.js");
  const el = document.createElement("section");
  el.innerHTML = '<video muted playsinline autoplay></video><img alt=""><div class="caption">'
    + '<span class="name"></span><span class="state"></span></div>';
  el.style.cssText = "position:fixed;left:0;top:0;width:320px;height:180px";
  document.body.appendChild(el);
  const video = el.querySelector("video");
  const t0 = performance.now();
  const tile = new LiveTile(el, { id, state: "live" }, { start });
  const painted = await new Promise((resolve) => {
    video.requestVideoFrameCallback((now) => resolve(now));
    setTimeout(() => resolve(null), 30000);
  });
  tile.close();
  el.remove();
  return painted === null ? null : painted - t0;
}"""
LAG_JS = """async (ids) => {
  const { LiveTile } = await import("/static/tile.js");
  const tiles = ids.map((id, i) => {
    const el = document.createElement("section");
    el.innerHTML = '<video muted playsinline autoplay></video><img alt=""><div class="caption">'
      + '<span class="name"></span><span class="state"></span></div>';
    const [x, y] = [(i % 2) * 330, Math.floor(i / 2) * 190];
    el.style.cssText = `position:fixed;left:${x}px;top:${y}px;width:320px;height:180px`;
    document.body.appendChild(el);
    return new LiveTile(el, { id, state: "live" });
  });
  await new Promise((r) => setTimeout(r, 6000));
  const lags = [];
  for (let n = 0; n < 40; n += 1) {
    for (const tile of tiles) {
      const v = tile.video;
      if (v.buffered.length) lags.push(v.buffered.end(v.buffered.length - 1) - v.currentTime);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  tiles.forEach((t) => t.close());
  return lags;
}"""


@dataclass
class Report:
    machine: dict[str, object]
    cameras: int
    clips: list[str]
    switch_ms: dict[str, list[float]] = field(default_factory=dict)
    cpu_percent: dict[int, float] = field(default_factory=dict)
    bytes_per_s: dict[int, float] = field(default_factory=dict)
    rss_mb: dict[int, float] = field(default_factory=dict)
    lag_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    fanout: FanoutReport | None = None


# -- the server, in this process --------------------------------------------------------------------------------
class Site:
    """citywall serving ``cameras`` on a loopback port (uvicorn in a thread of this process), with one admin."""

    def __init__(self, directory: Path, cameras: dict[str, str], server_yaml: str = "") -> None:
        import uvicorn

        from wall.app import create_app
        from wall.auth import sessions, users
        from wall.config import load_config

        lines = ["cameras:"] + [f'  - {{id: {cid}, name: "{cid}", url: "{url}"}}' for cid, url in cameras.items()]
        (directory / "cameras.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (directory / "server.yaml").write_text(f"server:\n  data_dir: {directory / 'data'}\n{server_yaml}",
                                               encoding="utf-8")
        self.app = create_app(load_config(directory))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    proxy_headers=False, ws_per_message_deflate=False))  # as serve
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.app.state.services.db.session() as s:
            user = users.create_user(s, "bench", "admin", "Wall-Passw0rd-" + os.urandom(4).hex(),
                                     self.app.state.services.security)
            self.token, _ = sessions.start(s, user, self.app.state.services.security, "127.0.0.1", "bench")
        self.user = "bench"

    def new_session(self) -> str:
        """Another session of the bench user (a seat of its own)."""
        from sqlalchemy import select

        from wall.auth import sessions
        from wall.store.accounts import User

        with self.app.state.services.db.session() as s:
            user = s.scalar(select(User).where(User.name == self.user))
            assert user is not None
            token, _ = sessions.start(s, user, self.app.state.services.security, "127.0.0.1", "bench")
        return token

    def wait_live(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.health.keyframes >= 2 for s in self.app.state.services.runtime.hub):
                return
            time.sleep(0.2)
        raise RuntimeError("cameras did not go live")

    def restart_camera(self, camera_id: str) -> None:
        """A cold camera: stop its session and start a new one (RTSP connect, first keyframe, as at startup)."""
        from streams.session import CameraSession

        hub = self.app.state.services.runtime.hub
        old = hub.sessions[camera_id]
        old.stop()
        fresh = CameraSession(old.camera, old.settings)
        hub.sessions[camera_id] = fresh
        fresh.start()

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


# -- 1 and 3: chromium ------------------------------------------------------------------------------------------
def browser_part(site: Site, camera_ids: list[str], report: Report) -> None:
    from playwright.sync_api import sync_playwright

    from wall.auth.sessions import COOKIE

    with sync_playwright() as p:
        args = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context()
        context.add_cookies([{"name": COOKIE, "value": site.token, "url": site.url}])
        page = context.new_page()
        page.goto(site.url + "/healthz")  # a document of the site's origin (no page script of its own)
        page.evaluate(FIRST_FRAME_JS, {"id": camera_ids[0], "start": "cache"})  # warm the page's modules
        hot, keyframe, cold = [], [], []
        for n in range(SWITCH_ROUNDS):
            cam = camera_ids[n % len(camera_ids)]
            hot.append(page.evaluate(FIRST_FRAME_JS, {"id": cam, "start": "cache"}))
            keyframe.append(page.evaluate(FIRST_FRAME_JS, {"id": cam, "start": "keyframe"}))
            site.restart_camera(cam)
            cold.append(page.evaluate(FIRST_FRAME_JS, {"id": cam, "start": "cache"}))
            site.wait_live()
        report.switch_ms = {"hot (GOP cache)": [v for v in hot if v is not None],
                            "next keyframe": [v for v in keyframe if v is not None],
                            "cold open": [v for v in cold if v is not None]}
        report.lag_s = page.evaluate(LAG_JS, camera_ids[:4])
        browser.close()


# -- 2: viewers in another process ------------------------------------------------------------------------------
async def _drain(url: str, cookie: str, stop_at: float, counter: list[int]) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers={"Cookie": cookie}, origin=None, max_size=None) as ws:
        while time.monotonic() < stop_at:
            try:
                message = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            counter[0] += len(message)


def viewers_worker(argv: Sequence[str]) -> int:
    """``--viewers-worker BASE COOKIE SECONDS ID…``: one WebSocket per camera id, drained; prints bytes."""
    base, cookie, seconds, *ids = argv
    counter = [0]
    stop_at = time.monotonic() + float(seconds)

    async def run() -> None:
        await asyncio.gather(*(_drain(f"{base}/ws/live/{cid}", cookie, stop_at, counter) for cid in ids))

    asyncio.run(run())
    print(counter[0])
    return 0


def server_cpu(site: Site, camera_ids: list[str], viewers: int, seconds: float, warmup: float) -> tuple[float, float]:
    """CPU % of this process (the server) with ``viewers`` × every camera watched; and bytes/s sent."""
    from wall.auth.sessions import COOKIE

    ws_base = site.url.replace("http://", "ws://")
    workers = [subprocess.Popen(
        [sys.executable, "-m", "bench.wall", "--viewers-worker", ws_base, f"{COOKIE}={site.token}",
         str(warmup + seconds + 1), *camera_ids], stdout=subprocess.PIPE, text=True)
        for _ in range(viewers)]
    time.sleep(warmup)
    cpu0, t0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu = (time.process_time() - cpu0) / (time.monotonic() - t0) * 100
    sent = 0
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        sent += int(out.strip() or 0)
    return cpu, sent / (warmup + seconds) if workers else 0.0


# -- the run ---------------------------------------------------------------------------------------------------
def run(cameras_n: int, seconds: float, warmup: float, viewers: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="citywall-bench-wall-") as tmp:
        work = Path(tmp)
        clips, mounts = prepare_clips(DEFAULT_VIDEOS, work, needed_s=600)
        names = list(mounts)
        server = RtspDevServer({f"m{i}": mounts[names[i % len(names)]] for i in range(cameras_n)}).start()
        report = Report(machine_label(), cameras_n, [c.label for c in clips])
        try:
            site = Site(work, {f"cam{i:02d}": server.url(f"m{i}") for i in range(cameras_n)})
            try:
                site.wait_live()
                ids = [s.id for s in site.app.state.services.runtime.hub]
                for viewers in VIEWER_COUNTS:
                    cpu, rate = server_cpu(site, ids, viewers, seconds, warmup)
                    report.cpu_percent[viewers], report.bytes_per_s[viewers] = cpu, rate
                    report.rss_mb[viewers] = rss_mb()
                    print(f"  {viewers} viewer(s) × {len(ids)} tiles: server CPU {cpu:.1f} %", flush=True)
                browser_part(site, ids, report)
                report.seconds = seconds
            finally:
                site.close()
        finally:
            server.stop()
    report.fanout = run_fanout(viewers, seconds, warmup).fanout
    return report


def run_fanout(viewers: int, seconds: float, warmup: float) -> Report:
    """Part 4 alone: one camera, 0 then ``viewers`` live sockets, the API probed in both windows."""
    from wall.auth.sessions import COOKIE

    with tempfile.TemporaryDirectory(prefix="citywall-bench-fanout-") as tmp:
        work = Path(tmp)
        clips, mounts = prepare_clips(DEFAULT_VIDEOS, work, needed_s=600)
        server = RtspDevServer({"m0": next(iter(mounts.values()))}).start()
        report = Report(machine_label(), 1, [clips[0].label])
        per_session = 24
        # the bench user may hold them all; sessions keep to the default per-session limit
        limits = f"  live: {{per_session: {per_session}, per_user: {viewers + 10}, total: {viewers + 10}}}\n"
        try:
            site = Site(work, {"cam00": server.url("m0")}, limits)
            try:
                site.wait_live()
                tokens = [site.new_session() for _ in range((viewers + per_session - 1) // per_session)]
                cookies = [f"{COOKIE}={tokens[i // per_session]}" for i in range(viewers)]
                ws_url = site.url.replace("http://", "ws://") + "/ws/live/cam00"
                fan = FanoutReport(viewers=viewers, seconds=seconds)
                for crowd in ([], cookies):
                    measure(site.url, ws_url, f"{COOKIE}={site.token}", crowd, seconds, warmup, fan)
                    print(f"  {len(crowd)} viewers: p95 {sorted(fan.latency_ms[len(crowd)] or [0])[-1]:.0f} ms max",
                          flush=True)
                report.fanout = fan
                report.seconds = seconds
            finally:
                site.close()
        finally:
            server.stop()
    return report


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f}, n={len(values)})"


def format_report(report: Report) -> str:
    m = report.machine
    lines = [f"machine: {m['cpu_model']}, {m['usable_cores']} usable cores, {m['system']}, Python {m['python']}",
             f"cameras: {report.cameras} × RTSP ({'; '.join(report.clips)})"]
    if not report.switch_ms and report.fanout is not None:  # --part fanout
        return "\n".join([*lines, "", *format_fanout(report.fanout)])
    lines += ["", "switch → first painted frame (chromium, MediaSource):"]
    for name, values in report.switch_ms.items():
        lines.append(f"  {name:<16} {_ms(values)}")
    hot = report.switch_ms.get("hot (GOP cache)") or [float("nan")]
    key = report.switch_ms.get("next keyframe") or [float("nan")]
    lines.append(f"  ratio next-keyframe / hot: ×{statistics.median(key) / statistics.median(hot):.1f}")
    lines += ["", f"server CPU with {report.cameras} tiles per viewer (window {report.seconds:g} s; 100 % = one core):"]
    base = report.cpu_percent.get(0, 0.0)
    for viewers, cpu in report.cpu_percent.items():
        extra = cpu - base
        per = f", {extra / viewers:.1f} % per viewer" if viewers else " (ingest only)"
        lines.append(f"  {viewers} viewer(s): {cpu:5.1f} %{per}, {report.bytes_per_s.get(viewers, 0) / 1e6:.2f} MB/s "
                     f"sent, RSS {report.rss_mb.get(viewers, 0):.0f} MiB")
    if report.cpu_percent.get(1) and report.cpu_percent.get(4):
        one, four = report.cpu_percent[1] - base, report.cpu_percent[4] - base
        lines.append(f"  growth 1 → 4 viewers: ×{four / one:.2f} (linear would be ×4)" if one > 0 else "")
    if report.fanout is not None:
        lines += ["", *format_fanout(report.fanout)]
    if report.lag_s:
        lag = sorted(report.lag_s)
        lines += ["", f"display lag (buffered end − play head, 2×2 wall): median {statistics.median(lag):.2f} s, "
                      f"p95 {lag[int(len(lag) * 0.95) - 1]:.2f} s"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--viewers-worker"]:
        return viewers_worker(argv[1:])
    if argv[:1] == ["--fanout-worker"]:
        return fanout_worker(argv[1:])
    if argv[:1] == ["--latency-worker"]:
        return latency_worker(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.wall", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=18, help="tiles of the wall (default 18: a 3x6 wall)")
    parser.add_argument("--seconds", type=float, default=15.0, help="CPU window per viewer count")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--part", choices=("all", "fanout"), default="all",
                        help="fanout: only part 4 (the API's latency with many live viewers)")
    parser.add_argument("--viewers", type=int, default=200, help="live viewers of one camera in part 4")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.part == "fanout":
        if why_unavailable():
            print(f"bench.wall needs {why_unavailable()}", file=sys.stderr)
            return 2
        report = run_fanout(args.viewers, args.seconds, args.warmup)
        print(format_report(report))
        if args.json:
            args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
        return 0
    missing = why_unavailable()
    if missing or not Path(CHROMIUM).exists():
        print(f"bench.wall needs {missing or CHROMIUM}", file=sys.stderr)
        return 2
    report = run(args.cameras, args.seconds, args.warmup, args.viewers)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
