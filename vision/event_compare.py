"""Do two detectors raise the same events on the same clip? Replay it with each and match the raises.

Why this exists: a cheaper model (``citywall model quantize``, the analytics benchmark's card table) is only
worth keeping when the operators would see the same cases. Boxes and scores always move a little under INT8;
what matters is the events the rules raise from them: the same family, in the same zone, at about the same
time. This is the small clip-based check, reusable by any tool that compares cards on footage. It is not the
case-based evaluation (``citywall evaluate``: precision and recall against the operators' decisions); it needs
no decisions, only clips and the camera's rules, and says whether two cards *agree*, not which one is right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vision.card import Family
from vision.catalogue import Catalogue
from vision.pipeline import Detects
from vision.replay import Replay
from vision.rules_config import CameraRules


@dataclass(frozen=True)
class Raised:
    """One raise (an ``opened`` change) on a clip: what the comparison looks at."""

    clip: str
    family: str
    zone: str
    t: float  # clip seconds of the raise
    first_seen: float  # clip seconds the candidate was first seen

    def shown(self) -> str:
        return f"{self.clip} {self.family}/{self.zone} @{self.t:.1f}s"


@dataclass(frozen=True)
class ReplaySetup:
    """How a clip is judged: the camera's rules, families, catalogue and look timing, as ``citywall replay``."""

    rules: CameraRules
    families: Mapping[Family, list[str]]
    catalogue: Catalogue
    interval: float = 2.0
    max_interval: float | None = None
    start_wall: float = 0.0  # fixed, so both runs judge schedules at the same (recorded) time


@dataclass(frozen=True)
class EventDiff:
    """The result of :func:`compare_events`: pairs within the tolerance, and the raises only one side has."""

    matched: list[tuple[Raised, Raised]] = field(default_factory=list)
    only_a: list[Raised] = field(default_factory=list)
    only_b: list[Raised] = field(default_factory=list)
    tolerance_s: float = 0.0

    @property
    def same(self) -> bool:
        return not self.only_a and not self.only_b

    @property
    def max_shift_s(self) -> float:
        """The largest time difference among the matched raises (0 with none)."""
        return max((abs(a.t - b.t) for a, b in self.matched), default=0.0)

    def why(self, a: str = "a", b: str = "b") -> list[str]:
        """One line per raise without a partner, naming the side that has it."""
        return ([f"only {a}: {r.shown()}" for r in self.only_a] +
                [f"only {b}: {r.shown()}" for r in self.only_b])


def replay_raises(clip: Path, detector: Detects, setup: ReplaySetup) -> list[Raised]:
    """Run ``clip`` through the live pipeline (vision/replay.py) with ``detector``; its raises in time order."""
    run = Replay(clip, setup.rules, detector, setup.families, setup.catalogue, interval=setup.interval,
                 max_interval=setup.max_interval, start_wall=setup.start_wall)
    return [Raised(clip=clip.name, family=c.family, zone=c.zone_id, t=c.t_stream,
                   first_seen=c.t_stream - (c.t - c.first_seen))
            for c in run.run() if c.kind == "opened"]


def compare_events(a: Sequence[Raised], b: Sequence[Raised], tolerance_s: float) -> EventDiff:
    """Match each raise of ``a`` with the nearest unmatched raise of ``b`` on the same clip, family and zone
    whose time is within ``tolerance_s``; closest pairs first, so one early mismatch cannot shift the rest."""
    candidates = sorted(
        (abs(x.t - y.t), i, j)
        for i, x in enumerate(a) for j, y in enumerate(b)
        if (x.clip, x.family, x.zone) == (y.clip, y.family, y.zone) and abs(x.t - y.t) <= tolerance_s
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    pairs.sort()
    return EventDiff(matched=[(a[i], b[j]) for i, j in pairs],
                     only_a=[x for i, x in enumerate(a) if i not in used_a],
                     only_b=[y for j, y in enumerate(b) if j not in used_b], tolerance_s=tolerance_s)
