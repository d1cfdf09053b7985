"""Keep a quantised card only where it is measured cheaper here AND raises the same events on the site's clips.

Why both, measured in one run: INT8 is not faster everywhere (no VNNI, depthwise convolutions, Q/DQ pairs left
around unfused ops), and a quantised head may lose a low score that a rule needed. A figure from another machine
or another day proves neither, so the source and the candidate are timed here, interleaved look by look on the
same frames (the machine's other load falls on both alike), as CPU time of the whole look (letterbox, inference,
decode, NMS). Then every clip is replayed through the live pipeline with each card and their raises are matched
(``vision.event_compare``). The verdict names each reason it refuses; nothing is written on a refusal.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from vision.card import ModelCard, load_card
from vision.detector import Detector
from vision.event_compare import EventDiff, Raised, ReplaySetup, compare_events, replay_raises
from vision.quantize import Calibration, Method, QuantizeError, quantize_model, quantized_card_data, write_card

WARMUP_LOOKS = 3
DEFAULT_MIN_GAIN = 0.05  # cheaper means at least 5 % less CPU per look: less is within the noise of a busy machine


@dataclass(frozen=True)
class Cost:
    """What one card's looks cost in CPU time (all threads of this process), over ``looks`` timed looks."""

    card: str
    looks: int
    ms_cpu_median: float
    ms_cpu_mean: float


@dataclass(frozen=True)
class ClipResult:
    clip: str
    source: list[Raised]
    candidate: list[Raised]
    diff: EventDiff


@dataclass(frozen=True)
class Verdict:
    """Keep or refuse, with the figures the decision was made on and one line per reason to refuse."""

    keep: bool
    reasons: list[str]
    source: Cost
    candidate: Cost
    ratio: float  # candidate ÷ source, median CPU per look
    min_gain: float
    clips: list[ClipResult] = field(default_factory=list)
    calibration: str = ""  # what the INT8 model was calibrated on (Calibration.described)
    card_path: Path | None = None  # the written card, when kept
    model_path: Path | None = None


def measure_costs(detectors: Sequence[Detector], frames: Sequence[np.ndarray], looks: int) -> list[Cost]:
    """Time ``looks`` looks per detector, interleaved (A B, B A, …) on the same frames: CPU seconds per look
    as ``time.process_time`` counts them (every thread of this process, so ONNX Runtime's own too)."""
    if not frames or looks < 1:
        raise ValueError("measure_costs needs frames and looks ≥ 1")
    for det in detectors:
        for frame in frames[:WARMUP_LOOKS]:
            det.detect([frame])
    spent: list[list[float]] = [[] for _ in detectors]
    order = list(range(len(detectors)))
    for k in range(looks):
        frame = frames[k % len(frames)]
        for i in order if k % 2 == 0 else reversed(order):
            t0 = time.process_time()
            detectors[i].detect([frame])
            spent[i].append(time.process_time() - t0)
    return [Cost(card=det.card.display_name, looks=looks, ms_cpu_median=statistics.median(s) * 1e3,
                 ms_cpu_mean=statistics.fmean(s) * 1e3) for det, s in zip(detectors, spent, strict=True)]


def compare_on_clips(source: Detector, candidate: Detector, clips: Sequence[Path], setup: ReplaySetup,
                     tolerance_s: float) -> list[ClipResult]:
    """Replay every clip with each detector and match the raises (family, zone, time within ``tolerance_s``)."""
    out = []
    for clip in clips:
        a, b = replay_raises(clip, source, setup), replay_raises(clip, candidate, setup)
        out.append(ClipResult(clip=clip.name, source=a, candidate=b, diff=compare_events(a, b, tolerance_s)))
    return out


def decide(source: Cost, candidate: Cost, clips: Sequence[ClipResult], min_gain: float = DEFAULT_MIN_GAIN) -> Verdict:
    """Keep only when the candidate costs at most ``1 - min_gain`` of the source per look and every clip's raises
    match; otherwise refuse, one reason per failed condition."""
    ratio = candidate.ms_cpu_median / source.ms_cpu_median if source.ms_cpu_median > 0 else float("inf")
    reasons = []
    if ratio > 1 - min_gain:
        reasons.append(f"not cheaper: {candidate.ms_cpu_median:.1f} ms CPU per look against "
                       f"{source.ms_cpu_median:.1f} ms (×{ratio:.2f}; keeping needs ×{1 - min_gain:.2f} or less)")
    if not clips:
        reasons.append("no clip to compare the events on")
    for c in clips:
        reasons += [f"events differ: {line}" for line in c.diff.why("source", "quantised")]
    return Verdict(keep=not reasons, reasons=reasons, source=source, candidate=candidate, ratio=ratio,
                   min_gain=min_gain, clips=list(clips))


def format_table(verdict: Verdict) -> str:
    """The decision as a small text table: cost per look, ratio, raises per clip, then keep or the reasons."""
    rows = [("card", "looks", "ms CPU/look (median)", "mean", "ratio", "raises")]
    raised_a = sum(len(c.source) for c in verdict.clips)
    raised_b = sum(len(c.candidate) for c in verdict.clips)
    matched = sum(len(c.diff.matched) for c in verdict.clips)
    shift = max((c.diff.max_shift_s for c in verdict.clips), default=0.0)
    for cost, ratio, events in (
        (verdict.source, 1.0, f"{raised_a}"),
        (verdict.candidate, verdict.ratio, f"{raised_b}, {matched} matched (largest shift {shift:.1f} s)"),
    ):
        rows.append((cost.card, str(cost.looks), f"{cost.ms_cpu_median:.1f}", f"{cost.ms_cpu_mean:.1f}",
                     f"{ratio:.2f}", events))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for c in verdict.clips:
        lines.append(f"  {c.clip}: {len(c.source)} raised by the source, {len(c.candidate)} by the quantised card, "
                     f"{'same' if c.diff.same else 'DIFFERENT'} (tolerance {c.diff.tolerance_s:g} s)")
    if verdict.keep:
        lines.append(f"kept: {verdict.card_path} ({verdict.model_path})")
    else:
        lines.append("refused, nothing written:")
        lines += [f"  - {r}" for r in verdict.reasons]
    return "\n".join(lines)


def prepare_candidate(source: Detector, calibration: Calibration, work: Path, stem: str, *,
                      per_channel: bool = True, method: Method = "minmax", when: datetime | None = None) -> Path:
    """Quantise ``source``'s model into ``work`` (``<stem>.onnx``) with a card beside it (``<stem>.yaml``)."""
    model = quantize_model(source.card, calibration, work / f"{stem}.onnx", per_channel=per_channel, method=method,
                           detector=source)
    return write_card(quantized_card_data(source.card, source.class_names, model, work, calibration, when),
                      work / f"{stem}.yaml")


def check_candidate(source: Detector, candidate: Detector, frames: Sequence[np.ndarray], clips: Sequence[Path],
                    setup: ReplaySetup, *, tolerance_s: float, looks: int = 100,
                    min_gain: float = DEFAULT_MIN_GAIN) -> Verdict:
    """Measure both on ``frames``, replay both on ``clips``, and :func:`decide`."""
    source_cost, candidate_cost = measure_costs([source, candidate], frames, looks)
    return decide(source_cost, candidate_cost, compare_on_clips(source, candidate, clips, setup, tolerance_s),
                  min_gain)


def quantize_card(card_path: Path, calibration: Calibration, clips: Sequence[Path], setup: ReplaySetup, *,
                  out_dir: Path | None = None, tolerance_s: float | None = None, looks: int = 100,
                  min_gain: float = DEFAULT_MIN_GAIN, per_channel: bool = True, method: Method = "minmax",
                  when: datetime | None = None) -> Verdict:
    """``citywall model quantize``: quantise, measure, replay, and write the INT8 model and its card into
    ``out_dir`` (default: beside the source card) only when :func:`decide` keeps it.

    Raises :class:`QuantizeError` (or ``CardError``) for input that cannot be quantised, before any measurement.
    """
    source_card = load_card(card_path)
    out_dir = out_dir or card_path.parent
    stem = f"{card_path.stem}_int8qdq"
    model_out, card_out = out_dir / f"{stem}.onnx", out_dir / f"{stem}.yaml"
    if existing := [p for p in (model_out, card_out) if p.exists()]:
        raise QuantizeError(f"{existing[0]} exists already: remove it, or give another --out")
    source = Detector(source_card)
    with tempfile.TemporaryDirectory(prefix="citywall-quantize-") as tmp:
        work = Path(tmp)
        candidate = Detector(prepare_candidate(source, calibration, work, stem, per_channel=per_channel,
                                               method=method, when=when))
        checked = check_candidate(source, candidate, calibration.frames, clips, setup, looks=looks, min_gain=min_gain,
                                  tolerance_s=2 * setup.interval if tolerance_s is None else tolerance_s)
        verdict = dataclasses.replace(checked, calibration=calibration.described())
        if not verdict.keep:
            return verdict
        keep_candidate(source_card, source.class_names, work / model_out.name, calibration, card_out, when)
    return dataclasses.replace(verdict, card_path=card_out, model_path=model_out)


def keep_candidate(source: ModelCard, class_names: Sequence[str], model: Path, calibration: Calibration,
                   card_out: Path, when: datetime | None = None) -> Path:
    """Copy the kept INT8 ``model`` beside ``card_out`` and write its card there (``file`` relative to it)."""
    card_out.parent.mkdir(parents=True, exist_ok=True)
    model_out = card_out.with_suffix(".onnx")
    shutil.copyfile(model, model_out)
    return write_card(quantized_card_data(source, class_names, model_out, card_out.parent, calibration, when),
                      card_out)
