"""``citywall evaluate``: would a candidate card raise the cases the operators confirmed, and not those they rejected?

A detector's mAP does not say how many cases it raises; the operators' decisions do. So each held-out decided
case is replayed through the live pipeline (``vision.pipeline.AnalysisPipeline`` with the camera's own
``CameraAnalyzer``: tracker, zone, dwell, N-of-M, schedule) once per card, and counts as raised when the card's
looks open an event in the case's zone. Confirmed cases are the positives, rejected ones the negatives.

What is replayed is what the evidence store kept of the case: its raise clip (decoded at the camera's analysis
interval) or, without one, its clean frame. Either is played once whole and then looped, on virtual time up to
the case's raise, for as long as the zone needs to raise (dwell, grace and the confirm window): a clip of 10 s
cannot show a dwell of 3 minutes otherwise, and a looped scene that holds the object raises on it as the live
camera did. Whole first, because the clip starts before the object arrived. Schedules are
judged at the case's own time. The change gate works as live, so the detector's cost per look is what a camera
of that scene would cost.

Held out: cases that were not trained on — with ``--dataset``, those not in that export's train split.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import supervision as sv
from sqlalchemy import select
from sqlalchemy.orm import Session

from streams.sampler import SampledFrame
from vision.analyzer import CameraAnalyzer
from vision.detector import Detector
from vision.events import EventChange
from vision.pipeline import AnalysisPipeline
from vision.rules_config import CameraRules
from wall.config import SiteConfig
from wall.dataset.selection import taken_at
from wall.learning.models import CardScore, CaseOutcome, Evaluation, FamilyScore
from wall.store.cases import Case, Evidence, Label

SAMPLE_WIDTH = 640  # as the live analytics sample (wall.runtime.analytics.SAMPLE_WIDTH)
MAX_PICTURES = 30  # looks kept of one clip: the loop repeats them


@dataclass
class HeldOut:
    case_id: int
    camera: str
    zone: str
    family: str
    decision: str
    raised_at: datetime
    source: str  # clip | frame
    pictures: list[np.ndarray]


class TimedDetector:
    """A card's detector that counts its looks and the CPU time they cost (this thread's: the replay calls the
    pipeline on its own thread, so nothing else is counted)."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.looks = 0
        self.cpu_seconds = 0.0

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        start = time.thread_time()
        found = self.detector.detect(images)
        self.cpu_seconds += time.thread_time() - start
        self.looks += len(images)
        return found


def train_cases(dataset: Path) -> set[int]:
    """The case ids an export put in its train split (manifest.jsonl)."""
    manifest = dataset / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{dataset}: no manifest.jsonl (not a citywall dataset export)")
    ids = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("split") == "train":
            ids.add(int(entry["case_id"]))
    return ids


def _resized(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if w == SAMPLE_WIDTH:
        return image
    return cv2.resize(image, (SAMPLE_WIDTH, max(2, round(h * SAMPLE_WIDTH / w / 2) * 2)),
                      interpolation=cv2.INTER_AREA)


def clip_pictures(path: Path, interval: float) -> list[np.ndarray]:
    """The clip's frames one analysis interval apart, at the analytics' width."""
    pictures: list[np.ndarray] = []
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None and stream.time_base else next_t
            if not pictures:
                next_t = t
            if t + 1e-6 < next_t:
                continue
            pictures.append(_resized(frame.to_ndarray(format="bgr24")))
            next_t = t + interval
            if len(pictures) >= MAX_PICTURES:
                break
    return pictures


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def held_out_cases(session: Session, site: SiteConfig, exclude: set[int], cameras: Sequence[str] = (),
                   since: datetime | None = None, until: datetime | None = None
                   ) -> tuple[list[HeldOut], dict[int, str]]:
    """The decided cases to replay (newest decision of each), with their pictures; and those that cannot be."""
    intervals = {c.id: c.analysis_interval for c in site.cameras}
    newest: dict[int, tuple[Label, Case]] = {}
    query = select(Label, Case).join(Case, Case.id == Label.case_id).order_by(Label.id)
    if cameras:
        query = query.where(Case.camera_id.in_(list(cameras)))
    for label, case in session.execute(query).tuples():
        newest[case.id] = (label, case)
    cases: list[HeldOut] = []
    skipped: dict[int, str] = {}
    for label, case in newest.values():
        frame_row = session.scalar(select(Evidence).where(Evidence.case_id == case.id, Evidence.kind == "frame")
                                   .limit(1))
        # when the raising look was (the desk's raised_at is when the case was written: an import, a backlog)
        raised = taken_at(session, case, frame_row) if frame_row is not None else _utc(case.raised_at)
        if case.id in exclude or label.decision not in ("confirmed", "rejected") or case.source != "ai":
            continue
        if (since and raised < _utc(since)) or (until and raised >= _utc(until)):
            continue
        files = {row.kind: site.evidence_dir / row.name
                 for row in session.scalars(select(Evidence).where(Evidence.case_id == case.id))}
        pictures: list[np.ndarray] = []
        source = "clip"
        if (clip := files.get("clip")) is not None and clip.is_file():
            try:
                pictures = clip_pictures(clip, intervals.get(case.camera_id, 2.0))
            except (av.FFmpegError, IndexError):
                pictures = []
        if not pictures and (frame := files.get("frame")) is not None and frame.is_file():
            source = "frame"
            image = cv2.imread(str(frame), cv2.IMREAD_COLOR)
            pictures = [_resized(image)] if image is not None else []
        if not pictures:
            skipped[case.id] = "neither its clip nor its clean frame is on the evidence disk"
            continue
        cases.append(HeldOut(case.id, case.camera_id, case.zone_id, case.family, label.decision, raised, source,
                             pictures))
    return cases, skipped


def replay_case(case: HeldOut, rules: CameraRules, interval: float, detector: TimedDetector, site: SiteConfig
                ) -> tuple[bool, int]:
    """Loop the case's pictures through the live pipeline under its zone; (raised, looks)."""
    assert site.catalogue is not None
    zone = next(z for z in rules.zones if z.id == case.zone)
    one_zone = rules.model_copy(update={"zones": [zone]})
    analyzer = CameraAnalyzer(case.camera, one_zone, detector.detector.card.families, site.catalogue)
    opened: list[EventChange] = []
    pipeline = AnalysisPipeline(detector, {case.camera: analyzer}, opened.append)
    span = zone.dwell_seconds + zone.grace_seconds + interval * (zone.confirm.looks + 2)
    # all of the clip once (it starts before the arrival: a short dwell would otherwise end the replay before the
    # object came), then round again for as long as the zone needs to raise
    looks = max(len(case.pictures) + int(span / interval) + 1, 2)
    start = case.raised_at.timestamp() - looks * interval
    for i in range(looks):
        image = case.pictures[i % len(case.pictures)]
        h, w = image.shape[:2]
        pipeline.process([SampledFrame(case.camera, image, pts_s=i * interval, wall=start + i * interval,
                                       mono=i * interval, source_size=(w, h), keyframe=True)])
        if any(c.kind == "opened" and c.zone_id == case.zone for c in opened):
            return True, i + 1
    return False, looks


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score(card: Path, role: str, cases: list[HeldOut], site: SiteConfig, outcomes: dict[int, CaseOutcome],
          skipped: dict[int, str], progress: Callable[[str], None]) -> CardScore:
    assert site.analytics is not None
    detector = TimedDetector(Detector(card, providers="cpu"))
    cameras = {c.id: c for c in site.cameras}
    looks = 0
    for case in cases:
        rules = site.analytics.cameras.get(case.camera)
        if case.camera not in cameras or rules is None or all(z.id != case.zone for z in rules.zones):
            skipped[case.case_id] = f"zone {case.camera}/{case.zone} is no longer in analytics.yaml"
            continue
        raised, n = replay_case(case, rules, cameras[case.camera].analysis_interval, detector, site)
        looks += n
        outcome = outcomes.setdefault(case.case_id, CaseOutcome(
            case_id=case.case_id, camera=case.camera, zone=case.zone, family=case.family,
            decision="confirmed" if case.decision == "confirmed" else "rejected",
            source="clip" if case.source == "clip" else "frame", raised={}))
        outcome.raised[role] = raised
    progress(f"{role} {detector.detector.card.display_name}: {looks} looks, {detector.looks} through the detector")
    families = []
    replayed = [c for c in cases if c.case_id in outcomes]
    for family in sorted({c.family for c in replayed}):
        mine = [c for c in replayed if c.family == family]
        pos = [c for c in mine if c.decision == "confirmed"]
        neg = [c for c in mine if c.decision != "confirmed"]
        tp = sum(outcomes[c.case_id].raised.get(role, False) for c in pos)
        fp = sum(outcomes[c.case_id].raised.get(role, False) for c in neg)
        days = len({(c.camera, c.raised_at.date()) for c in mine})
        families.append(FamilyScore(family=family, cases=len(mine), positives=len(pos), negatives=len(neg),
                                    raised_confirmed=tp, raised_rejected=fp, precision=_ratio(tp, tp + fp),
                                    recall=_ratio(tp, len(pos)),
                                    false_alarms_per_camera_day=round(fp / days, 4) if days else 0.0))
    cost = 1000 * detector.cpu_seconds / detector.looks if detector.looks else 0.0
    return CardScore(card=str(card), name=detector.detector.card.display_name, families=families, looks=looks,
                     detector_looks=detector.looks, ms_cpu_per_look=round(cost, 2))


def evaluate(site: SiteConfig, session: Session, candidate: Path, current: Path | None, *,
             exclude: Collection[int] = (), cameras: Sequence[str] = (), since: datetime | None = None,
             until: datetime | None = None, progress: Callable[[str], None] = lambda line: None) -> Evaluation:
    """Replay the held-out cases with ``candidate`` and (when given) ``current``; ``exclude``: trained on."""
    cases, skipped = held_out_cases(session, site, set(exclude), cameras, since, until)
    outcomes: dict[int, CaseOutcome] = {}
    cand = score(candidate, "candidate", cases, site, outcomes, skipped, progress)
    curr = score(current, "current", cases, site, outcomes, skipped, progress) if current is not None else None
    replayed = [c for c in cases if c.case_id in outcomes]
    return Evaluation(created_at=datetime.now(UTC), site=str(site.directory.resolve()), held_out=len(replayed),
                      camera_days=len({(c.camera, c.raised_at.date()) for c in replayed}), skipped=skipped,
                      candidate=cand, current=curr, cases=[outcomes[c.case_id] for c in replayed])


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def table(evaluation: Evaluation) -> str:
    """The side-by-side table ``citywall evaluate`` prints."""
    cards = [("candidate", evaluation.candidate)] + ([("current", evaluation.current)] if evaluation.current else [])
    head = f"{'family':<16} {'cases':>5} {'+':>4} {'-':>4}"
    for role, card in cards:
        head += f" | {(role + ': ' + card.name)[:40]:<40}"
    lines = [f"{evaluation.held_out} held-out cases on {evaluation.camera_days} camera-days; precision / recall / "
             "false alarms per camera-day", head]
    for family in sorted({f.family for _, c in cards for f in c.families}):
        rows = [next((f for f in c.families if f.family == family), None) for _, c in cards]
        first = next(r for r in rows if r is not None)
        line = f"{family[:16]:<16} {first.cases:>5} {first.positives:>4} {first.negatives:>4}"
        for row in rows:
            cell = "" if row is None else (f"{_pct(row.precision):>5} {_pct(row.recall):>5} "
                                           f"{row.false_alarms_per_camera_day:>6.2f}")
            line += f" | {cell:<40}"
        lines.append(line)
    cost = f"{'detector ms CPU per look':<32}"
    for _, card in cards:
        cost += f" | {f'{card.ms_cpu_per_look:>5.1f} ({card.detector_looks} of {card.looks} looks)':<40}"
    lines.append(cost)
    if evaluation.skipped:
        lines.append(f"{len(evaluation.skipped)} cases not replayed (see --json: skipped)")
    return "\n".join(line.rstrip() for line in lines)
