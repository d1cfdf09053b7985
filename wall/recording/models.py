"""What the recording service hands the routes: typed values, never rows or paths the caller could mistake for
something it may open without the service's checks."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class RecordedRange(BaseModel):
    """A stretch of time with recorded video: segments that follow each other without a gap."""

    start: float = Field(description="Unix time of the first frame.")
    end: float = Field(description="Unix time just after the last frame.")
    segments: int


class CaseMark(BaseModel):
    """A case of the camera on the timeline: from its first sighting to its last."""

    case_id: int
    start: float
    end: float
    code: str
    code_name: str
    status: str


class Timeline(BaseModel):
    camera_id: str
    start: float
    end: float
    ranges: list[RecordedRange]
    marks: list[CaseMark]


class SegmentFile(BaseModel):
    """One indexed segment with its file on this box (playback and export read it)."""

    id: int
    path: Path
    start: float
    end: float
    codec: str
    params: str
    size: int


class PlaybackPlan(BaseModel):
    """The segments to read for a playback chunk or an export, in time order, all joinable by stream copy."""

    camera_id: str
    start: float = Field(description="The requested start (the video begins at the keyframe at or before it).")
    end: float
    segments: list[SegmentFile]
    left_out: int = Field(0, description="Segments in the range with other codec parameters (after a camera "
                          "changed its stream): an export covers those of the first segment only.")
