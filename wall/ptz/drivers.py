"""Which driver a camera's ``ptz:`` block gets, by its ``protocol``: the one place that knows every driver, so
the interface (wall/ptz/driver.py) knows none of them and a GB/T 28181 driver is one more branch here."""

from __future__ import annotations

from streams.ptz_config import PtzConfig
from wall.ptz.driver import PtzDeviceError, PtzDriver


def open_driver(camera_id: str, config: PtzConfig) -> PtzDriver:
    """The driver for a camera's ``ptz:`` block (by its ``protocol``). Imported here, on first use, so that a site
    without PTZ cameras never loads a SOAP stack."""
    if config.protocol == "onvif":
        from wall.ptz.onvif import OnvifDriver

        return OnvifDriver(camera_id, config)
    raise PtzDeviceError(f"PTZ protocol '{config.protocol}' is not supported")
