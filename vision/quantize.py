"""Static INT8 (QDQ) quantisation of a model card, calibrated on the site's own pictures.

Why static and why the site's pictures: dynamic INT8 (the shared YOLO11n/YOLOv8n files) quantises activations
at every look, which costs most of what the integer maths saves on a small CPU; static INT8 fixes the activation
ranges once, from calibration frames. Those ranges are only right for pictures like the ones calibrated on, so
they come from this site's cameras: the clean frames its cases kept, or clips sampled with PyAV. Each frame is
fed exactly as the detector feeds a look — through ``Detector``'s own letterbox and conversion, not a copy of
it — so the ranges are those of the live input.

Choices, measured on the 2-core development machine (AVX2, no VNNI) with the bundled YOLOX-Nano:
- QDQ format, uint8 activations and int8 weights (U8S8): ONNX Runtime fuses the pairs into QLinearConv; u8 weights
  (U8U8) were slower than FP32 there.
- weights per output channel (one scale per filter) where the graph allows it (opset ≥ 13; older graphs are
  converted first): the depthwise filters of a nano model differ too much for one scale per tensor.
- activation ranges from MinMax calibration, averaged over the frames (``MOVING_AVERAGE`` says why); percentile
  and entropy calibration can be asked for (slower: histograms of every tensor).
- the head's tail stays FP32: the nodes after the last convolution (sigmoids, concatenations of box offsets
  with class probabilities, reshapes) would otherwise share one 8-bit scale between pixel offsets and
  probabilities, and every score would lose its low digits.
- ``quant_pre_process`` first (ONNX shape inference, ONNX Runtime's graph optimisation), as ONNX Runtime
  recommends; its symbolic shape inference is skipped (it is for dynamic dimensions and took ~16 s here).

Needs the ``onnx`` package (``pip install 'citywall[quantize]'``); the running service does not.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np

from streams.sampler import output_size
from vision.card import ModelCard
from vision.detector import Detector

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
QUANTISED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger",
                 "QLinearConv", "QLinearMatMul"}
SAMPLE_WIDTH = 640  # the width the sampler gives the detector (the service's and Replay's default)
MIN_OPSET = 13  # DequantizeLinear's per-channel axis
# Activation ranges as a moving average of each frame's min/max rather than the extremes of all frames: with the
# extremes, one bright frame stretched a range so far that the person scores fell from ~0.87 to ~0.04 on the
# lobby clip; averaged, they stay within ~0.05-0.15 of FP32, with 24 calibration frames as with 60.
MOVING_AVERAGE = {"CalibMovingAverage": True, "CalibMovingAverageConstant": 0.01}
Method = Literal["minmax", "percentile", "entropy"]


class QuantizeError(Exception):
    """The card or the calibration cannot be quantised; the message says why."""


class OnnxMissing(QuantizeError):
    """``onnx`` is not installed: quantisation needs it (the service does not)."""


@dataclass(frozen=True)
class Calibration:
    """The calibration set: the frames (BGR uint8, as a camera gives them) and where they came from."""

    frames: list[np.ndarray]
    sources: list[str]  # one line per source: "clip.mp4: 32 frames", "evidence (site): 20 frames"

    def described(self) -> str:
        return f"{len(self.frames)} frames from " + "; ".join(self.sources)


def clip_frames(path: Path, count: int, width: int | None = SAMPLE_WIDTH) -> list[np.ndarray]:
    """``count`` frames spread evenly over a clip, BGR, scaled as the sampler scales a look (``width``; None:
    as decoded). Each is reached by seeking to the keyframe before it and decoding up to it, so a long clip
    costs ``count`` GOPs, not every frame."""

    def bgr(frame: av.VideoFrame) -> np.ndarray:
        w, h = output_size((frame.width, frame.height), width, None)
        return frame.reformat(width=w, height=h, format="bgr24").to_ndarray()

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise QuantizeError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            base = stream.time_base
            duration = float(stream.duration * base) if stream.duration and base else (
                container.duration / av.time_base if container.duration else 0.0)
            if duration <= 0 or base is None:  # no index to seek by: decode from the start
                frames = itertools.islice(container.decode(stream), count)
                return [bgr(f) for f in frames]
            start = float(stream.start_time * base) if stream.start_time else 0.0
            out: list[np.ndarray] = []
            for i in range(count):
                target = start + duration * (i + 0.5) / count
                container.seek(int(target / base), stream=stream, backward=True, any_frame=False)
                frame = next((f for f in container.decode(stream) if f.pts is None or f.pts * base >= target), None)
                if frame is not None:
                    out.append(bgr(frame))
            return out
    except av.FFmpegError as exc:
        raise QuantizeError(f"{path}: cannot be read as a video: {exc}") from None


def image_frames(paths: Sequence[Path], count: int) -> list[np.ndarray]:
    """Up to ``count`` of the pictures (evenly chosen when there are more); unreadable files are skipped."""
    step = max(1, math.ceil(len(paths) / count)) if count else 1
    frames = []
    for path in list(paths)[::step][:count]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            frames.append(image)
    return frames


def gather(clips: Sequence[Path], images: Sequence[tuple[str, Sequence[Path]]], count: int) -> Calibration:
    """``count`` calibration frames shared out over the sources: clips (sampled) and named groups of pictures
    (e.g. a site's evidence frames). Raises :class:`QuantizeError` if they give no frame at all."""
    n_sources = len(clips) + len(images)
    if n_sources == 0 or count < 1:
        raise QuantizeError("no calibration source (give clips or a site's config directory) or --frames < 1")
    share = max(1, count // n_sources)
    frames: list[np.ndarray] = []
    sources: list[str] = []
    for clip in clips:
        got = clip_frames(clip, share)
        frames += got
        sources.append(f"{clip.name}: {len(got)} frames")
    for name, paths in images:
        got = image_frames(paths, share)
        frames += got
        sources.append(f"{name}: {len(got)} frames")
    if not frames:
        raise QuantizeError("the calibration sources gave no frame (" + "; ".join(sources) + ")")
    return Calibration(frames=frames, sources=sources)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise OnnxMissing("quantising needs the 'onnx' package: pip install 'citywall[quantize]'") from None
    return onnx


def quantised_ops(model_path: Path) -> set[str]:
    """The quantisation operators already in a graph (a model quantised once cannot be calibrated again)."""
    onnx = _onnx()
    return {n.op_type for n in onnx.load(str(model_path), load_external_data=False).graph.node} & QUANTISED_OPS


def tail_nodes(model: Any) -> list[str]:
    """Names of the nodes after the last convolution of every branch: those from which no Conv is reachable."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    reaches: dict[int, bool] = {}
    order = list(model.graph.node)
    for node in reversed(order):  # ONNX nodes are topologically sorted: consumers come later
        reaches[id(node)] = any(c.op_type == "Conv" or reaches.get(id(c), False)
                                for out in node.output for c in consumers.get(out, []))
    return [n.name for n in order if n.op_type != "Conv" and not reaches[id(n)]]


class _Reader:
    """The frames as ONNX Runtime's CalibrationDataReader (which takes any object with ``get_next``), each one
    prepared by the detector itself."""

    def __init__(self, detector: Detector, frames: Sequence[np.ndarray]) -> None:
        self.detector, self._frames = detector, frames
        self._it: Iterator[np.ndarray] = iter(frames)
        self.name = detector.session.get_inputs()[0].name

    def get_next(self) -> dict[str, np.ndarray] | None:
        frame = next(self._it, None)
        if frame is None:
            return None
        return {self.name: self.detector.network_input(frame)}  # the live letterbox and conversion

    def rewind(self) -> None:
        self._it = iter(self._frames)


def quantize_model(card: ModelCard, calibration: Calibration, out_path: Path, *, per_channel: bool = True,
                   method: Method = "minmax", detector: Detector | None = None) -> Path:
    """Write the static INT8 QDQ version of ``card``'s model to ``out_path``; raises :class:`QuantizeError`
    (or :class:`OnnxMissing`) when it cannot. ``detector`` is ``card``'s, when the caller has one open."""
    onnx = _onnx()
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = detector or Detector(card)  # checks the card against its graph before any work
    if found := quantised_ops(card.model_path):
        raise QuantizeError(f"{card.shown}: '{card.model_path.name}' is quantised already ({', '.join(sorted(found))}"
                            "): give the card of its FP32 export")
    reader = _Reader(source, calibration.frames)
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    with tempfile.TemporaryDirectory(prefix="citywall-quantize-") as tmp:
        model = onnx.load(str(card.model_path))
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < MIN_OPSET:
            model = version_converter.convert_version(model, MIN_OPSET)
        upgraded, prepared = Path(tmp) / "opset.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(model, str(upgraded))
        # ONNX's own shape inference covers a fixed-size CNN; the symbolic one (for dynamic dims) took ~16 s
        quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
        exclude = tail_nodes(onnx.load(str(prepared)))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        ort_quantize_static(str(prepared), str(out_path), reader, quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                            calibrate_method=methods[method], nodes_to_exclude=exclude,
                            extra_options=MOVING_AVERAGE if method == "minmax" else {})
    log.info("quantised %s → %s (%s; %d tail nodes kept FP32)", card.model_path.name, out_path,
             calibration.described(), len(exclude))
    return out_path


def quantized_card_data(source: ModelCard, class_names: Sequence[str], onnx_file: Path, card_dir: Path,
                        calibration: Calibration, when: datetime | None = None) -> dict[str, Any]:
    """The new card: the source card's settings, the INT8 file, and its provenance (source card, calibration
    set, date) in ``source``. Class names are written out: the quantised graph need not keep the metadata."""
    when = when or datetime.now(UTC)
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    data = source.model_dump(mode="json", exclude_none=True)
    data.update(
        name=f"{source.display_name}-int8-qdq",
        file=onnx_file.name if onnx_file.parent.resolve() == card_dir.resolve() else str(onnx_file.resolve()),
        source=(f"static INT8 (QDQ, U8S8) of {source.shown} ({source.model_path.name}) by citywall model quantize "
                f"on {when.isoformat(timespec='seconds')}, calibrated on {calibration.described()}; sha256 "
                f"{digest}. "
                f"Original: {source.source.strip()}"),
        classes=list(class_names),
    )
    return data


def write_card(data: dict[str, Any], path: Path) -> Path:
    """Write the card as YAML (keys in the order of ``ModelCard``'s fields); returns ``path``."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Written by `citywall model quantize`: static INT8 (QDQ) of the card named in 'source'.\n")
        yaml.dump(data, f)
    return path
