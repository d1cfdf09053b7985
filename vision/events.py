"""What the vision layer hands to the case desk: one EventChange per opened / updated / cleared place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["opened", "updated", "cleared", "still_present"]


@dataclass(frozen=True)
class Box:
    label: str
    score: float
    xyxy: tuple[float, float, float, float]
    track_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(self.score, 3), "xyxy": [round(v, 1) for v in self.xyxy],
                "track_id": self.track_id}


@dataclass
class EventChange:
    """An event candidate's change. ``event_id`` is stable from opened to cleared: one case per place and problem."""

    kind: EventKind
    event_id: str
    camera_id: str
    zone_id: str
    family: str
    code: str
    code_name: str
    catalogue_version: str
    place: str
    place_box: tuple[float, float, float, float]
    frame_size: tuple[int, int]
    first_seen: float  # wall clock
    t: float  # wall clock of this change
    t_stream: float  # stream seconds (clip seconds in a replay)
    dwell: float
    boxes: list[Box] = field(default_factory=list)
    snapshot_jpeg: bytes | None = field(default=None, repr=False)  # annotated: for the operator's eyes only
    frame_jpeg: bytes | None = field(default=None, repr=False)  # the same look, clean: for training
    clip_window: tuple[float, float] | None = None  # wall-clock start/end for the evidence clip
    evidence: dict[str, str] = field(default_factory=dict)  # kind → file path, once written
    # kind → why it could not be written (a full or read-only evidence disk): the case is raised all the same
    missing_evidence: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "event_id": self.event_id, "camera": self.camera_id, "zone": self.zone_id,
            "family": self.family, "code": self.code, "code_name": self.code_name,
            "catalogue_version": self.catalogue_version, "place": self.place,
            "place_box": [round(v, 1) for v in self.place_box], "frame_size": list(self.frame_size),
            "first_seen": round(self.first_seen, 3), "t_wall": round(self.t, 3), "t": round(self.t_stream, 2),
            "dwell": round(self.dwell, 1), "boxes": [b.as_dict() for b in self.boxes], "evidence": self.evidence,
        }
