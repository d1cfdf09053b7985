"""The detector runtime: one ONNX Runtime session shared by every camera, fed in batches.

Why one session: a session holds the weights and its thread pool; one per camera would multiply memory and make
the cameras' threads fight over the cores. The analyzer collects the frames due from all cameras and calls
:meth:`Detector.detect` once. A model whose batch dimension is dynamic gets them in one run (what a GPU wants);
a fixed-batch-1 export (all three shared models are) is run back to back through a pre-bound input buffer, so a
frame costs one resize, one conversion into that buffer and one ``run_with_iobinding`` — no allocation per frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import supervision as sv

from vision.boxes import Letterbox, decode_yolov8, decode_yolox, nms, yolox_grid
from vision.card import MODEL_PATH_ENV, CardError, ModelCard, ResolvedCard, check_graph, load_card, model_search_path

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# Tried in this order when the caller does not choose; CPU always closes the list so that any node an
# accelerator cannot run (e.g. the INT8 ConvInteger ops on CUDA) still has a home.
AUTO_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

ort.disable_telemetry_events()  # no usage events leave this machine (see vision/__init__.py)


def select_providers(requested: Sequence[str] | str | None = None, available: Sequence[str] | None = None) -> list[str]:
    """Execution providers for a session: ``None``/"auto" → accelerators present (TensorRT, CUDA) then CPU;
    otherwise the names given (aliases cpu/cuda/tensorrt or full names), each of which must be available."""
    available = list(ort.get_available_providers() if available is None else available)
    if requested is None or requested == "auto":
        return [p for p in AUTO_PROVIDERS if p in available]
    names = [requested] if isinstance(requested, str) else list(requested)
    chosen = [PROVIDER_ALIASES.get(n.lower(), n) for n in names]
    missing = [n for n in chosen if n not in available]
    if missing:
        raise ValueError(f"execution provider(s) {', '.join(missing)} not available here ({', '.join(available)})")
    return chosen


@dataclass
class DetectorStats:
    """Counters for metrics and benchmarks. ``runs`` is session runs: equal to ``frames`` for a batch-1 model."""

    calls: int = 0
    frames: int = 0
    runs: int = 0
    last_batch: int = 0
    max_batch: int = 0
    inference_seconds: float = 0.0  # inside ONNX Runtime only
    preprocess_seconds: float = 0.0  # letterbox + conversion into the input buffer
    postprocess_seconds: float = 0.0  # decode + NMS + mapping back to image pixels

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Detector:
    """A model card's detector. ``detect`` takes BGR uint8 frames (as OpenCV and PyAV's ``bgr24`` give them) and
    returns one ``supervision.Detections`` per frame: ``xyxy`` float32 in that frame's pixels (clipped),
    ``confidence``, ``class_id`` and ``data["class_name"]``. Thread-safe (calls are serialised)."""

    def __init__(
        self,
        card: ModelCard | str | Path,
        *,
        providers: Sequence[str] | str | None = None,
        intra_op_threads: int | None = None,
        max_batch: int = 16,
        provider_options: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.card = card if isinstance(card, ModelCard) else load_card(card)
        shown, path = self.card.shown, self.card.model_path
        if not path.is_file():
            elsewhere = [] if Path(self.card.file).is_absolute() else model_search_path()
            searched = "".join(f", nor in {d}" for d in elsewhere)
            raise CardError([f"{shown}: file: '{path}' does not exist{searched} (see vision/models/README.md: no "
                             f"weights are downloaded; point 'file' at your ONNX export, or name a folder that has "
                             f"it in ${MODEL_PATH_ENV})"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        # One thread by default: at a look every few seconds per camera a second ONNX Runtime thread mostly
        # spin-waits (bench/analytics/ measured 54 → 31 ms CPU per camera-second with one). Spinning is off
        # for the same reason; a GPU provider or a dedicated analytics host can ask for more.
        threads = intra_op_threads if intra_op_threads is not None else 1
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        chosen = select_providers(providers)
        extra = provider_options or {}
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=chosen, provider_options=[extra.get(p, {}) for p in chosen]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise CardError([f"{shown}: file: cannot load '{path}': {exc}"]) from None
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        meta = self.session.get_modelmeta().custom_metadata_map
        self.resolved: ResolvedCard = check_graph(self.card, inp.shape, out.shape, meta, out.name)
        self.providers: list[str] = self.session.get_providers()
        self.input_hw = self.card.input_hw
        self.dynamic_batch = not isinstance(inp.shape[0], int)
        self.max_batch = max_batch if self.dynamic_batch else 1
        self.stats = DetectorStats()
        self._in_name, self._out_name = inp.name, out.name
        self._names = np.array(self.resolved.class_names)
        self._factor = np.float32(self.card.scale / 255.0)
        self._canvas = np.empty((*self.input_hw, 3), dtype=np.uint8)
        self._input = np.zeros((1, 3, *self.input_hw), dtype=np.float32)  # grows to the largest batch seen
        self._grid: np.ndarray | None
        self._strides: np.ndarray | None
        self._grid, self._strides = yolox_grid(self.input_hw) if self.card.head == "yolox" else (None, None)
        self._lock = threading.Lock()
        self._binding: ort.IOBinding | None = None
        self._output: np.ndarray | None = None
        if not self.dynamic_batch:
            self._binding = self.session.io_binding()
            self._binding.bind_cpu_input(self._in_name, self._input)
            if all(isinstance(d, int) for d in out.shape):
                self._output = np.empty(out.shape, dtype=np.float32)
                self._binding.bind_output(self._out_name, "cpu", 0, np.float32, list(out.shape),
                                          self._output.ctypes.data)
            else:
                self._binding.bind_output(self._out_name, "cpu")
        log.info("detector %s: %s, input %dx%d, %s batch, providers %s, %d intra-op threads",
                 self.card.display_name, path.name, *self.input_hw, "dynamic" if self.dynamic_batch else "fixed-1",
                 ",".join(self.providers), options.intra_op_num_threads)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.resolved.class_names

    def detect(self, images: Sequence[np.ndarray], score_threshold: float | None = None) -> list[sv.Detections]:
        """Detect in each frame; ``score_threshold`` replaces the card's default and per-class thresholds."""
        for i, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
                raise ValueError(f"images[{i}]: expected an HxWx3 uint8 BGR frame, got {image.dtype} {image.shape}")
        thresholds = self.resolved.thresholds
        if score_threshold is not None:
            thresholds = np.full_like(thresholds, score_threshold)
        results: list[sv.Detections] = []
        with self._lock:
            self.stats.calls += 1
            self.stats.frames += len(images)
            self.stats.last_batch = len(images)
            self.stats.max_batch = max(self.stats.max_batch, len(images))
            for start in range(0, len(images), self.max_batch):
                chunk = images[start:start + self.max_batch]
                if len(chunk) > len(self._input):  # only a dynamic-batch model gets here
                    self._input = np.zeros((len(chunk), 3, *self.input_hw), dtype=np.float32)
                t0 = time.perf_counter()
                boxes = [self._prepare(image, slot) for slot, image in enumerate(chunk)] if self.dynamic_batch else []
                t1 = time.perf_counter()
                self.stats.preprocess_seconds += t1 - t0
                if self.dynamic_batch:
                    raw = self.session.run([self._out_name], {self._in_name: self._input[: len(chunk)]})[0]
                    self.stats.inference_seconds += time.perf_counter() - t1
                    self.stats.runs += 1
                    results += self._finish(raw, boxes, thresholds)
                else:
                    results += [self._run_one(image, thresholds) for image in chunk]
        return results

    def __call__(self, image: np.ndarray, score_threshold: float | None = None) -> sv.Detections:
        """One frame (e.g. the CLI); cameras should go through :meth:`detect` together."""
        return self.detect([image], score_threshold)[0]

    def network_input(self, image: np.ndarray) -> np.ndarray:
        """The tensor the network sees for ``image`` (1×3×H×W, letterboxed and scaled as every look is): what
        calibrating a quantised copy of the network must feed it (vision/quantize.py)."""
        self._prepare(image, 0)
        return self._input[:1].copy()

    def _prepare(self, image: np.ndarray, slot: int) -> Letterbox:
        """Letterbox into the reused uint8 canvas, then convert (channel order, scale, HWC→CHW) into input[slot]."""
        box = Letterbox.fit(image.shape[:2], self.input_hw, centre=self.card.pad == "centre")
        box.paste(image, self._canvas, self.card.pad_value)
        src = self._canvas[..., ::-1] if self.card.colour == "rgb" else self._canvas
        np.multiply(src.transpose(2, 0, 1), self._factor, out=self._input[slot])
        return box

    def _run_one(self, image: np.ndarray, thresholds: np.ndarray) -> sv.Detections:
        assert self._binding is not None
        t0 = time.perf_counter()
        box = self._prepare(image, 0)
        t1 = time.perf_counter()
        self.session.run_with_iobinding(self._binding)
        raw = self._output if self._output is not None else self._binding.copy_outputs_to_cpu()[0]
        t2 = time.perf_counter()
        self.stats.preprocess_seconds += t1 - t0
        self.stats.inference_seconds += t2 - t1
        self.stats.runs += 1
        return self._finish(raw, [box], thresholds)[0]

    def _finish(self, raw: np.ndarray, boxes: list[Letterbox], thresholds: np.ndarray) -> list[sv.Detections]:
        t0 = time.perf_counter()
        out = []
        for pred, box in zip(raw, boxes, strict=False):
            if self.card.head == "yolov8":
                xyxy, score, cls = decode_yolov8(pred, thresholds)
            else:
                assert self._grid is not None and self._strides is not None  # built in __init__ for a yolox head
                xyxy, score, cls = decode_yolox(pred, thresholds, self._grid, self._strides)
            keep = nms(xyxy, score, cls, self.card.nms_iou, self.card.max_detections)
            cls = cls[keep].astype(np.int64)
            out.append(sv.Detections(
                xyxy=box.to_image(xyxy[keep]).astype(np.float32).reshape(-1, 4),
                confidence=score[keep].astype(np.float32),
                class_id=cls,
                data={"class_name": self._names[cls]},
            ))
        self.stats.postprocess_seconds += time.perf_counter() - t0
        return out
