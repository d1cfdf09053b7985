"""The soak's site: 16 RTSP cameras (one GStreamer server each, so one can fail alone), the config files, the
accounts made with the product's own CLI, and the app itself under ``citywall serve`` in a process of its own.

The app runs as it runs at a site (``python -m wall.cli serve``, JSON logs), not in the benchmark's process:
its resident memory, threads and open files are then its own, read from /proc (psutil is not one of citywall's
dependencies), and nothing the load generators allocate is counted against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from bench.clips import DEFAULT_VIDEOS, prepare_clips
from streams.devserver.rtsp import RtspDevServer, RtspUnavailable, free_port
from wall.auth.sessions import COOKIE
from wall.demo import new_password

REPO = Path(__file__).resolve().parents[2]
GROUP = "soak"
# Cheap analysis (the soak is about stability, not throughput): the lobby clip has a 1 s GOP, a look every 3 s
# decodes keyframes only; the parking-lot clip's GOP is 4.8 s, so a look per GOP (5 s) does too.
LOBBY_INTERVAL_S, LOT_INTERVAL_S = 3, 5
LOBBY_RULES = """  {cam}:
    zones:
      - id: table
        family: street_stall
        code: "0501"
        require_object: false
        polygon: [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]]
        dwell_seconds: 8
        grace_seconds: 6
        clear_after_seconds: 9
        alarm_interval_seconds: 5
        confirm: {{hits: 2, looks: 3}}
"""
LOT_RULES = """  {cam}:
    class_map: {{cell phone: car}}
    zones:
      - id: fire-lane
        family: road_occupation
        code: "0505"
        classes: [car, truck]
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
        dwell_seconds: 20
"""


@dataclass
class Camera:
    id: str
    clip: Path
    server: RtspDevServer
    port: int

    def restart(self, tries: int = 5) -> None:
        """The camera comes back on the same address (a new server process: its stream starts over)."""
        for n in range(tries):
            try:
                self.server = RtspDevServer({"cam": self.clip}, port=self.port).start()
                return
            except RtspUnavailable:  # the old listener's port not free yet
                if n == tries - 1:
                    raise
                time.sleep(1.0)


def start_cameras(work: Path, count: int, seconds: float) -> list[Camera]:
    """``count`` cameras alternating the lobby and the parking-lot clip, each from its own RTSP server."""
    _, copies = prepare_clips(DEFAULT_VIDEOS, work, needed_s=seconds)
    clips = [copies[DEFAULT_VIDEOS[1]], copies[DEFAULT_VIDEOS[0]]]  # lobby (person) first, then the lot (car)
    cameras: list[Camera] = []
    try:
        for i in range(count):
            server = RtspDevServer({"cam": clips[i % 2]}).start()
            cameras.append(Camera(f"cam{i:02d}", clips[i % 2], server, server.port))
    except BaseException:
        stop_cameras(cameras)
        raise
    return cameras


def stop_cameras(cameras: list[Camera]) -> None:
    for camera in cameras:
        camera.server.stop()


def is_lobby(index: int) -> bool:
    return index % 2 == 0


def write_config(directory: Path, cameras: list[Camera], port: int) -> None:
    lines = ["cameras:"]
    for i, cam in enumerate(cameras):
        interval = LOBBY_INTERVAL_S if is_lobby(i) else LOT_INTERVAL_S
        lines.append(f'  - {{id: {cam.id}, name: "soak {cam.id}", url: "{cam.server.url("cam")}", group: {GROUP}, '
                     f"analysis_interval: {interval}, analysis_max_interval: {interval}}}")
    (directory / "cameras.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = [(LOBBY_RULES if is_lobby(i) else LOT_RULES).format(cam=cam.id) for i, cam in enumerate(cameras)]
    (directory / "analytics.yaml").write_text("cameras:\n" + "".join(rules), encoding="utf-8")
    (directory / "server.yaml").write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  data_dir: {directory / 'data'}\n", encoding="utf-8")


def site_env(config: Path) -> dict[str, str]:
    """The environment of the app and its CLI: this site's data directory, whatever the caller's says."""
    return {**os.environ, "CITYWALL_DATA_DIR": str(config / "data"), "PYTHONUNBUFFERED": "1"}


def citywall(config: Path, *args: str, stdin: str | None = None) -> None:
    """One command of the product's CLI (``citywall …``) against the site's config directory."""
    done = subprocess.run([sys.executable, "-m", "wall.cli", *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False, env=site_env(config))
    if done.returncode != 0:
        raise RuntimeError(f"citywall {args[0]} {args[1]} failed: {done.stderr.strip()[-400:]}")


@dataclass(frozen=True)
class Accounts:
    """Passwords of the run's accounts (generated, kept only in this process): an admin, the operator, seats."""

    admin: str
    operator: str
    seats: tuple[str, ...]


def make_accounts(config: Path, seats: int) -> Accounts:
    made = {name: new_password(20) for name in ("soak-admin", "soak-operator", *(f"soak-seat{i}" for i in
                                                                                range(1, seats + 1)))}
    for name, password in made.items():
        role = "admin" if name == "soak-admin" else "operator" if name == "soak-operator" else "viewer"
        citywall(config, "user", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
    citywall(config, "grant", "role:operator", f"group:{GROUP}")
    citywall(config, "grant", "role:viewer", f"group:{GROUP}")  # the seats are display accounts (kiosk role)
    return Accounts(made["soak-admin"], made["soak-operator"],
                    tuple(made[f"soak-seat{i}"] for i in range(1, seats + 1)))


def log_in(base: str, user: str, password: str) -> str:
    """A session of ``user`` through the login API, as a browser gets one; returns its cookie header value."""
    answer = httpx.post(base + "/api/session", json={"username": user, "password": password}, timeout=30)
    answer.raise_for_status()
    return f"{COOKIE}={answer.cookies[COOKIE]}"


class App:
    """``citywall serve`` on the site's config, its log (JSON lines) in ``log_path``."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config, self.log_path = config, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None

    def start(self, timeout: float = 120) -> None:
        self._log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wall.cli", "serve", "--config", str(self.config), "--port", str(self.port),
             "--log-format", "json"], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=site_env(self.config))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"citywall serve ended with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.base + "/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"citywall serve did not answer /healthz within {timeout:.0f} s")

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            proc.terminate()
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
        if self._log is not None:
            self._log.close()
        return code

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@dataclass(frozen=True)
class ProcStats:
    rss_mb: float
    threads: int
    fds: int


def proc_stats(pid: int) -> ProcStats:
    """Resident memory, threads and open file descriptors of ``pid``, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return ProcStats(int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"]), len(os.listdir(f"/proc/{pid}/fd")))


def log_events(log_path: Path) -> list[str]:
    """Ids of the events the analytics opened, from the app's own log lines (``event opened <id> …``)."""
    opened: list[str] = []
    with log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            try:
                message = json.loads(line).get("message", "")
            except (ValueError, AttributeError):
                continue
            if isinstance(message, str) and message.startswith("event opened "):
                opened.append(message.split()[2])
    return opened


def log_problems(log_path: Path) -> list[str]:
    """The app's warning and error lines (level and message), for the report."""
    found: list[str] = []
    with log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                if "Traceback" in line:
                    found.append("traceback: " + line.strip()[:200])
                continue
            if isinstance(record, dict) and record.get("level") in ("warning", "error", "critical"):
                found.append(f"{record.get('level')} {record.get('logger')}: {str(record.get('message'))[:200]}")
    return found
