"""CPU accounting inside an analytics worker: the process, each thread group and the RTSP server over a window.

``time.process_time`` gives the whole process; /proc's per-thread figures say where that CPU went (FFmpeg's
decoder threads, camera threads, the analysis thread, LoadStreams' readers), which is what explains a ratio.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.machine import proc_status_mb


def _cpu_of(stat_path: Path) -> float:
    """utime + stime of one /proc stat file, in seconds (the comm field may contain spaces: split after it)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float:
    """CPU seconds of another process (the RTSP server), all its threads; 0 when there is none."""
    if pid is None:
        return 0.0
    try:
        return _cpu_of(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of this process, by native id, with its kernel name (FFmpeg names its own)."""
    out: dict[int, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        task = Path("/proc/self/task") / tid
        try:
            out[int(tid)] = (task.joinpath("comm").read_text().strip(), _cpu_of(task / "stat"))
        except OSError:
            continue  # the thread ended while we looked
    return out


def thread_group(tid: int, comm: str, python_names: dict[int, str]) -> str:
    """Where a thread's CPU goes, in the words of the report: decode, camera I/O, detector, predictor."""
    name = python_names.get(tid, "")
    if comm.startswith("av:"):
        return "FFmpeg decoder worker threads"
    if name.startswith("camera-"):
        return "camera threads (RTSP, demux, sampler decode + scale)"
    if name == "analysis":
        return "analysis thread (detector pre/post + ORT caller, tracker, rules)"
    if name.endswith("(update)"):
        return "LoadStreams reader threads (grab every frame)"
    if tid == threading.main_thread().native_id:
        return "main thread"
    return "other threads (ONNX Runtime pool, …)"


def group_deltas(first: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU per thread group over the window (a thread that ended inside the window falls out of the breakdown)."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    groups: dict[str, float] = {}
    for tid, (comm, cpu) in last.items():
        group = thread_group(tid, comm, names)
        groups[group] = groups.get(group, 0.0) + cpu - first.get(tid, (comm, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}


class Window:
    """Process CPU, wall time, thread CPU and the RTSP server's CPU at the start and end of the window."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.cpu0 = self.wall0 = self.server0 = 0.0
        self.threads0: dict[int, tuple[str, float]] = {}

    def begin(self) -> None:
        self.threads0, self.server0 = thread_cpu(), process_cpu(self.server_pid)
        self.cpu0, self.wall0 = time.process_time(), time.monotonic()

    def end(self) -> dict[str, Any]:
        cpu, wall = time.process_time() - self.cpu0, time.monotonic() - self.wall0
        return {
            "window_s": wall,
            "cpu_s": cpu,
            "server_cpu_s": process_cpu(self.server_pid) - self.server0,
            "thread_cpu_s": group_deltas(self.threads0, thread_cpu()),
            "rss_mb": proc_status_mb("VmRSS"),
            "rss_peak_mb": proc_status_mb("VmHWM"),
        }

