"""What every benchmark reads about the machine and its own process: the machine's label, its load, this
process's CPU over a window and its memory figures.

A ratio travels between machines, an absolute figure does not; the label says which machine and decoder builds
a run's absolute figures belong to, so two runs' tables can be compared honestly.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import platform
import re
import time
from collections.abc import Mapping
from pathlib import Path

import av
import cv2


def machine_label() -> dict[str, object]:
    """Enough to tell two runs' machines and decoder builds apart when comparing their absolute figures."""
    uname = platform.uname()
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    # the vector units ONNX Runtime's kernels pick from: an INT8 model's speed depends on VNNI/AMX above all
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags.split()]
    cv_avcodec = re.search(r"avcodec:\s+YES \(([\d.]+)\)", cv2.getBuildInformation())
    return {
        "cpu_model": model or platform.processor() or uname.machine,
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "simd": "/".join(simd) or "no AVX2",
        "system": f"{uname.system} {uname.release} {uname.machine}",
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "opencv": cv2.__version__,
        "opencv_libavcodec": cv_avcodec.group(1) if cv_avcodec else "?",
    }


def describe(machine: Mapping[str, object]) -> str:
    """The first words of a report: which machine (a label of ``machine_label``) its absolute figures are of."""
    return (f"machine: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['system']}, "
            f"Python {machine['python']}")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: others' work on a shared machine, kept beside the figures."""
    return [round(x, 2) for x in os.getloadavg()]


def format_load(load: list[float]) -> str:
    return f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def process_cpu_window(seconds: float) -> tuple[float, float]:
    """Sleep ``seconds`` while the process's threads work; their CPU in % of one core (100 = one core busy),
    and the wall seconds the window took (to turn a thread's own counters read around it into rates)."""
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - wall0
    return 100 * (time.process_time() - cpu0) / wall, wall


def proc_status_mb(field_name: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MiB."""
    return proc_status_mb("VmRSS")


def trim_heap() -> None:
    """Return freed heap to the OS, so one scenario's garbage does not hide in the next one's 'RSS before'."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        # Not glibc: no malloc_trim, and the memory figures are merely a little less clean.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc).malloc_trim(0)
