"""Files that ship inside citywall's packages (the demo site, the default model card and its weights, the
event-code catalogue, the web pages, the migrations), found through :mod:`importlib.resources`.

Found by package, not by ``Path(__file__).parents[…]``: the same lookup works in a checkout, in an editable
install and in a plain ``pip install .``, whatever the working directory. What reads these files (ONNX Runtime,
alembic, Starlette's ``StaticFiles``, FFmpeg, the RTSP development server's child process) needs a path on disk,
and pip always installs a wheel unpacked, so a resource that is not a file on disk is an installation error and is
reported as one instead of being copied out to a temporary file.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(package: str, *parts: str) -> Path:
    """The file or folder ``parts`` inside ``package`` (e.g. ``packaged("vision", "models")``), as a path."""
    resource = files(package).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(f"{package}/{'/'.join(parts)} is not a file on disk ({resource!r}): install citywall "
                           "unpacked (pip install .)")
    return resource
