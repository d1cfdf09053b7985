"""A camera's ``ptz:`` block (遥控): how citywall reaches the camera's pan/tilt/zoom control, and where the camera's
analytics rules belong.

It lives beside ``CameraConfig`` because it is part of what a camera *is* in cameras.yaml, read and checked with
the rest of the file (``${ENV}`` references resolved, ``file: key.path: reason`` lines); the control itself is
``wall.ptz``'s. The password is a ``SecretStr``: the value read from the environment prints as ``**********`` in
every repr, log line and JSON dump, so it cannot reach a log or a browser by accident (``wall.ptz`` reads it with
``get_secret_value()`` only where it signs a request).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from settings.model import Strict
from streams.addresses import check_host_and_port

PTZ_SCHEMES = ("http", "https")


def check_device_address(address: str) -> str:
    """An ONVIF device's address as ``http(s)://host[:port]``: the device service path is ONVIF's fixed
    ``/onvif/device_service``, and credentials belong in ``user``/``password`` (never in the address, which a
    log line or an error may quote)."""
    if any(c.isspace() or not c.isprintable() for c in address):
        raise ValueError("contains a space or a control character")
    parts = urlsplit(address)
    if parts.scheme.lower() not in PTZ_SCHEMES:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in PTZ_SCHEMES)}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not hold credentials (use user: and password:)")
    check_host_and_port(parts)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be http(s)://host[:port] only (the device service path is ONVIF's own)")
    return address.rstrip("/")


class PtzConfig(Strict):
    """A camera's PTZ control (ONVIF PTZ today; a GB/T 28181 DeviceControl driver can be added as another
    protocol). The camera's analytics rules belong to its analysis preset: they pause while an operator has
    turned the camera away and resume once citywall has returned it there."""

    protocol: Literal["onvif"] = Field(default="onvif", description="How the camera is controlled: `onvif` "
                                       "(ONVIF PTZ service over SOAP).")
    address: str = Field(description="The camera's ONVIF address, `http(s)://host[:port]`, without credentials.")
    user: str | None = Field(default=None, max_length=128, description="ONVIF user name.")
    password: SecretStr | None = Field(
        default=None, description="ONVIF password; write a `${CITYWALL_CAM_…}` reference, never the password. "
                                  "It never reaches a browser or a log line.")
    profile: str | None = Field(default=None, max_length=64, description="The media profile token to steer; "
                                "default: the first profile with a PTZ configuration.")
    analysis_preset: str | None = Field(
        default=None, max_length=64, description="The preset token the camera's zones were drawn for; default: "
                                                 "the camera's home position.")
    return_after: float = Field(
        default=5.0, gt=0, le=1440, description="Minutes without a PTZ command after which citywall returns the "
                                                "camera to its analysis preset and resumes its rules.")
    settle_seconds: float = Field(
        default=3.0, ge=0, le=60, description="Seconds the camera is given to reach its analysis preset before "
                                              "its rules run again.")
    lease_seconds: float = Field(
        default=60.0, ge=5, le=3600, description="One operator controls the camera at a time: their control "
                                                 "lapses after this many seconds without a command.")
    timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds to wait for the camera to answer.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_device_address(value)
