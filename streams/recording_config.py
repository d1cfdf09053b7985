"""What a camera's recording (录像) is told to do: its mode, the event pre/post roll and a weekly schedule.

The schema lives here, beside ``CameraConfig``, because the recorder that obeys it is a stream consumer
(``streams.recorder``); ``cameras.yaml`` carries it as a camera's ``recording:`` block and ``server.yaml`` as the
site's and each camera group's defaults (``wall.recording_settings``). Every key of a camera's or a group's
block is optional: an unset key falls back to the group's, then to the site's, so a site says "record
everything for 30 days" once and a camera only says how it differs. ``resolve`` turns that chain into the one
``RecordingPlan`` a recorder runs with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from settings.model import Strict

RecordingMode = Literal["off", "continuous", "events", "schedule"]
RecordingStream = Literal["sub", "main"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


def _minutes(value: str) -> int:
    hh, mm = value.split(":")
    return int(hh) * 60 + int(mm)


class RecordingWindow(Strict):
    """Weekdays and a daily window of local time; ``end`` before ``start`` spans midnight (a night shift)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), max_length=7)
    start: str = Field(default="00:00", pattern=HHMM, description="HH:MM, local time of the recording box.")
    end: str = Field(default="24:00", pattern=HHMM, description="HH:MM, local time; 24:00 = end of day.")

    def contains(self, when: datetime) -> bool:
        start, end = _minutes(self.start), _minutes(self.end)
        minute = when.hour * 60 + when.minute
        day = WEEKDAYS[when.weekday()]
        if start < end:
            return day in self.days and start <= minute < end
        # Overnight (or all day when start == end): the part after midnight belongs to the previous day.
        if minute >= start:
            return day in self.days
        return minute < end and WEEKDAYS[(when.weekday() - 1) % 7] in self.days


class RecordingPolicy(Strict):
    """A recording block: of a camera in cameras.yaml, or a site's or camera group's default in server.yaml."""

    mode: RecordingMode | None = Field(
        default=None, description="off; continuous; events (only around the camera's events, pre_seconds before "
        "and post_seconds after); schedule (during the windows of `schedule`). Unset: the group's, else the "
        "site's (off unless server.yaml says otherwise).")
    pre_seconds: float | None = Field(
        default=None, ge=0, le=300, description="Events mode: seconds before an event kept (from the camera's "
        "packet ring, so at most streams.ring_seconds). Unset: inherited; 10 at the end of the chain.")
    post_seconds: float | None = Field(
        default=None, ge=0, le=3600, description="Events mode: seconds recorded after the event's last change. "
        "Unset: inherited; 30 at the end of the chain.")
    schedule: list[RecordingWindow] | None = Field(
        default=None, max_length=50, description="Schedule mode: when to record. Unset: inherited; an empty list "
        "records nothing.")
    retention_days: float | None = Field(
        default=None, gt=0, le=3650, description="Segments older than this are deleted (unless an open case's "
        "evidence needs them). Unset: inherited; recording.retention_days of server.yaml at the end.")
    stream: RecordingStream | None = Field(
        default=None, description="sub: the stream the wall and the analytics use; main: the camera's main "
        "(full-resolution) stream, held open while it records (several times the bitrate and disk; a camera "
        "without main_url records its one stream). Unset: inherited; sub at the end of the chain.")


@dataclass(frozen=True)
class RecordingPlan:
    """The resolved recording of one camera: what its recorder runs with (no unset values left)."""

    mode: RecordingMode = "off"
    pre_seconds: float = 10.0
    post_seconds: float = 30.0
    schedule: tuple[RecordingWindow, ...] = ()
    segment_seconds: float = 60.0
    retention_days: float = 30.0
    stream: RecordingStream = "sub"

    def wants(self, wall: float, armed_until: float | None) -> bool:
        """Whether a packet received at ``wall`` is to be recorded (``armed_until``: the event mode's end)."""
        if self.mode == "continuous":
            return True
        if self.mode == "events":
            return armed_until is not None and wall <= armed_until
        if self.mode == "schedule":
            when = datetime.fromtimestamp(wall)
            return any(window.contains(when) for window in self.schedule)
        return False


def resolve(*policies: RecordingPolicy | None, segment_seconds: float = 60.0,
            retention_days: float = 30.0) -> RecordingPlan:
    """The first set value of each key, from the most specific block (the camera's) to the least (the site's)."""
    chain = [p for p in policies if p is not None]
    off: RecordingMode = "off"
    mode = next((p.mode for p in chain if p.mode is not None), off)
    pre = next((p.pre_seconds for p in chain if p.pre_seconds is not None), 10.0)
    post = next((p.post_seconds for p in chain if p.post_seconds is not None), 30.0)
    schedule = next((p.schedule for p in chain if p.schedule is not None), [])
    days = next((p.retention_days for p in chain if p.retention_days is not None), retention_days)
    sub: RecordingStream = "sub"
    stream = next((p.stream for p in chain if p.stream is not None), sub)
    return RecordingPlan(mode=mode, pre_seconds=pre, post_seconds=post, schedule=tuple(schedule),
                         segment_seconds=segment_seconds, retention_days=days, stream=stream)
