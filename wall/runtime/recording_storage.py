"""Is this node's recording storage the control plane's? A marker file answers it.

In cluster mode a camera's worker writes its segments to ``recording.storage_dir`` on its own node, while the
index is in the one database and playback reads the files on the control plane: the directory must be one
shared mount at the same path everywhere (docs/deployment.md). A node where the mount is missing would still
find (or create) the directory and record into its local disk — segments indexed, never playable, and lost with
the node. So the control plane leaves a marker in the storage root when it starts, and a worker records only
where it finds that marker; elsewhere every recording camera reports ``failing`` with kind ``not_shared`` and the
path, which the admin console and /metrics show, instead of recording quietly where no one can play it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

MARKER = ".citywall-storage"


def mark(root: Path) -> None:
    """The control plane: create the storage root and its marker (once; another replica's marker is kept)."""
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError), open(root / MARKER, "x", encoding="utf-8") as marker:
        marker.write(f"recording storage of a citywall site, marked by {socket.gethostname()} (pid {os.getpid()}) "
                     f"at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")


def problem(root: Path) -> str | None:
    """A worker: why it must not record into ``root`` (None when the control plane's marker is there)."""
    if (root / MARKER).is_file():
        return None
    return (f"recording storage {root} on this node is not the control plane's (no {MARKER} there): mount the "
            f"shared storage at this path on every worker node")
