"""What the PTZ service tells the routes and the push channel: typed models, never the driver's objects."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from wall.notices import CameraNotice
from wall.ptz.driver import Position


class PtzState(BaseModel):
    """One PTZ camera as a user sees it: who steers it, whether its rules are paused, what this user may do."""

    camera_id: str
    holder: str | None = Field(description="Who controls the camera now (the lease's holder), if anyone.")
    lease_seconds_left: float | None = Field(description="Seconds until that control lapses without a command.")
    mine: bool = Field(description="The asking user holds the lease.")
    may_control: bool = Field(description="The asking user may steer the camera (the ptz right).")
    may_take_over: bool = Field(description="The asking user may take the camera from another operator (admin).")
    may_set_presets: bool = Field(description="The asking user may store presets (admin).")
    away: bool = Field(description="The camera is off its analysis preset: its rules are paused.")
    returns_in: float | None = Field(description="Seconds until citywall returns it to the analysis preset.")
    analysis_preset: str | None = Field(description="The preset the rules belong to (null: the home position).")


class PtzNotice(CameraNotice):
    """Pushed over ``/ws/wall`` to everyone who may see the camera when its control or its rules change, so every
    tile of that camera shows who steers it."""

    type: Literal["ptz"] = "ptz"
    camera_id: str
    holder: str | None
    away: bool

    @property
    def camera(self) -> str:
        return self.camera_id


class PtzPositionOut(BaseModel):
    camera_id: str
    position: Position | None = Field(description="Where the camera points (null when it does not say).")
