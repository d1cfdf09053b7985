"""Camera ingest: one robust PyAV session per camera, packet fan-out to the ring, the live remux and samplers.

This package knows nothing of detection or HTTP; ``vision`` and ``wall`` build on it, never the reverse.
"""

from streams.config import CameraConfig, StreamSettings
from streams.hub import CameraHub
from streams.session import CameraSession

__all__ = ["CameraConfig", "CameraHub", "CameraSession", "StreamSettings"]
