"""The detector cards side by side: ms CPU per look, and whether each raises the FP32 card's events.

Why: issue 15 asks for cheaper detection on the CPU, but only where the events stay the same. Three cards are
compared in one run, on the same frames, interleaved look by look (``vision.quantize_check.measure_costs``): the
bundled FP32 YOLOX-Nano (416 px), the dynamic-INT8 YOLO11n (320 px, AGPL weights from $CITYWALL_MODEL_PATH;
left out with the reason when absent) and the static-INT8 (QDQ) YOLOX-Nano that ``citywall model quantize``
makes, quantised in this run from the demo clips unless ``--quantized CARD`` names one. A look is the whole
``Detector.detect`` call (letterbox, inference, decode, NMS) on a frame at the service's sampling width (640 px),
with one ONNX Runtime thread, the service's default. Then the demo's lobby camera (its zones and look interval,
wall/demo_site) is replayed with each card through the live pipeline and its raises are matched against the
FP32 card's (``vision.event_compare``): family, zone, time within two look intervals.

Run from the repository root: ``python -m bench.analytics --cards [--looks 200] [--json PATH]``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.analytics.harness import SHARED_MODELS
from bench.analytics.result import CARD as DYNAMIC_INT8_CARD
from bench.analytics.result import SAMPLE_WIDTH
from bench.machine import machine_label
from vision.card import DEFAULT_CARD, MODEL_PATH_ENV, CardError, load_card
from vision.detector import Detector
from vision.event_compare import ReplaySetup, compare_events, replay_raises
from vision.quantize import Calibration, OnnxMissing, clip_frames, gather
from vision.quantize_check import measure_costs, prepare_candidate
from wall.demo import MEDIA, SITE

LOBBY = MEDIA / "one-by-one-person-detection.mp4"
CLIPS = (LOBBY, MEDIA / "car-detection.mp4", MEDIA / "bottle-detection.mp4")
FRAMES_PER_CLIP = 20
CALIBRATION_FRAMES = 48


@dataclass(frozen=True)
class CardRow:
    """One card's figures in the table."""

    card: str
    kind: str  # "FP32", "dynamic INT8", "static INT8 (QDQ)"
    input_px: int
    looks: int
    ms_cpu_median: float
    ms_cpu_mean: float
    ratio: float  # ms CPU per look ÷ the FP32 card's
    raises: int
    same_events: bool  # the same raises as the FP32 card on the lobby clip
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CardsReport:
    date: str
    machine: str
    clip: str
    tolerance_s: float
    rows: list[CardRow]
    left_out: list[str]  # cards not run, with the reason
    quantized_from: str  # the calibration of the static-INT8 card


def _looks_frames() -> list[np.ndarray]:
    """Frames as the sampler hands them to the detector: scaled to 640 px wide (``clip_frames``' default)."""
    return [frame for clip in CLIPS for frame in clip_frames(clip, FRAMES_PER_CLIP, SAMPLE_WIDTH)]


def _lobby_setup() -> ReplaySetup:
    from vision.catalogue import load_catalogue
    from wall.config import load_config_or_report

    site = load_config_or_report(SITE)
    if site is None or site.analytics is None:
        raise RuntimeError(f"{SITE}: the demo site's configuration cannot be read")
    camera = next(c for c in site.cameras if c.id == "lobby")
    return ReplaySetup(rules=site.analytics.cameras["lobby"], families=load_card(DEFAULT_CARD).families,
                       catalogue=site.catalogue or load_catalogue(), interval=camera.analysis_interval,
                       max_interval=max(camera.analysis_interval,
                                        camera.analysis_max_interval or camera.analysis_interval))


def machine_line() -> str:
    """The report's one line about the machine (bench.machine's label): the SIMD units matter most for INT8."""
    m = machine_label()
    return f"{m['cpu_model']} · {m['usable_cores']} cores · {m['simd']} · no GPU used"


def run_cards(looks: int, quantized: Path | None = None) -> CardsReport:
    """Measure the cards (see the module docstring); the static-INT8 one is made here unless given."""
    os.environ.setdefault(MODEL_PATH_ENV, str(SHARED_MODELS))
    left_out: list[str] = []
    cards: list[tuple[str, Detector]] = [("FP32", Detector(DEFAULT_CARD))]
    try:
        cards.append(("dynamic INT8", Detector(DYNAMIC_INT8_CARD)))
    except CardError as exc:
        left_out.append(f"{DYNAMIC_INT8_CARD.name}: {exc}")
    setup = _lobby_setup()
    with tempfile.TemporaryDirectory(prefix="citywall-bench-cards-") as tmp:
        calibrated = "given: " + str(quantized) if quantized else ""
        if quantized is None:
            calibration: Calibration = gather(list(CLIPS), [], CALIBRATION_FRAMES)
            fp32 = cards[0][1]
            try:
                quantized = prepare_candidate(fp32, calibration, Path(tmp), "yolox_int8qdq")
                calibrated = calibration.described()
            except OnnxMissing as exc:
                left_out.append(f"static INT8: {exc}")
        if quantized is not None:
            cards.append(("static INT8 (QDQ)", Detector(quantized)))
        frames = _looks_frames()
        costs = measure_costs([d for _, d in cards], frames, looks)
        tolerance = 2 * setup.interval
        raised = [replay_raises(LOBBY, d, dataclasses.replace(setup, families=d.card.families)) for _, d in cards]
    rows = []
    for (kind, det), cost, events in zip(cards, costs, raised, strict=True):
        diff = compare_events(raised[0], events, tolerance)
        rows.append(CardRow(card=det.card.display_name, kind=kind, input_px=det.input_hw[1], looks=cost.looks,
                            ms_cpu_median=cost.ms_cpu_median, ms_cpu_mean=cost.ms_cpu_mean,
                            ratio=cost.ms_cpu_median / costs[0].ms_cpu_median, raises=len(events),
                            same_events=diff.same, differences=diff.why("FP32", kind)))
    return CardsReport(date=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine_line(),
                       clip=LOBBY.name, tolerance_s=tolerance, rows=rows, left_out=left_out,
                       quantized_from=calibrated)


def format_cards(report: CardsReport) -> str:
    head = ("card", "weights", "input", "looks", "ms CPU/look", "mean", "vs FP32", "raises", "events")
    table: list[Sequence[str]] = [head]
    for r in report.rows:
        table.append((r.card, r.kind, f"{r.input_px}", f"{r.looks}", f"{r.ms_cpu_median:.1f}",
                      f"{r.ms_cpu_mean:.1f}", f"×{r.ratio:.2f}", f"{r.raises}",
                      "reference" if r.kind == "FP32" else ("identical" if r.same_events else "DIFFERENT")))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"citywall detector cards · {report.date}", f"machine: {report.machine}",
             f"looks: one frame per Detector.detect call, 640 px wide, one ONNX Runtime thread; events: "
             f"{report.clip} replayed with the demo lobby camera's rules, tolerance {report.tolerance_s:g} s", ""]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table]
    if report.quantized_from:
        lines.append(f"static INT8 calibrated on {report.quantized_from}")
    lines += [f"  {r.card}: {d}" for r in report.rows for d in r.differences]
    lines += [f"left out: {why}" for why in report.left_out]
    return "\n".join(lines)
