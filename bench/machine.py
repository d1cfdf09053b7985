"""What every benchmark reads about the machine and its own process: the machine's label and memory figures.

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
from pathlib import Path

import av
import cv2


def machine_label() -> dict[str, object]:
    """Enough to tell two runs' machines and decoder builds apart when comparing their absolute figures."""
    uname = platform.uname()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cv_avcodec = re.search(r"avcodec:\s+YES \(([\d.]+)\)", cv2.getBuildInformation())
    return {
        "cpu_model": model or platform.processor() or uname.machine,
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "system": f"{uname.system} {uname.release} {uname.machine}",
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "opencv": cv2.__version__,
        "opencv_libavcodec": cv_avcodec.group(1) if cv_avcodec else "?",
    }


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
