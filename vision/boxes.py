"""Letterbox, head decoding and NMS for one-stage detectors — numpy and OpenCV only, no per-box Python loops.

Why not ultralytics' or YOLOX's own code: ultralytics is AGPL and sets process-wide thread limits on import, and
YOLOX ships no runtime package; both are a few lines of array maths. The geometry follows each family's reference
exactly (Ultralytics: centred letterbox, sides rounded; YOLOX: image at the top-left, sides truncated), because a
half-pixel shift of the input moves every box and breaks parity with the tools the models were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.card import STRIDES


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where an image of ``src_hw`` lands in a model input of ``dst_hw``: scaled to ``width`` x ``height``
    (per-axis gains ``gain_x``, ``gain_y``) and placed at (``left``, ``top``); the rest is padding."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    width: int
    height: int
    left: int
    top: int

    @classmethod
    def fit(cls, src_hw: tuple[int, int], dst_hw: tuple[int, int], centre: bool) -> Letterbox:
        """Keep the aspect ratio; ``centre`` as Ultralytics' LetterBox, otherwise top-left as YOLOX' preproc."""
        (h, w), (dh, dw) = src_hw, dst_hw
        r = min(dh / h, dw / w)
        if centre:  # ultralytics.data.augment.LetterBox(center=True): sides rounded, padding split (−0.1 bias)
            nw, nh = max(round(w * r), 1), max(round(h * r), 1)
            left, top = round((dw - nw) / 2 - 0.1), round((dh - nh) / 2 - 0.1)
        else:  # yolox.data.data_augment.preproc: int(w * r), image at (0, 0)
            nw, nh = max(int(w * r), 1), max(int(h * r), 1)
            left = top = 0
        return cls(src_hw=(h, w), dst_hw=(dh, dw), width=min(nw, dw), height=min(nh, dh), left=left, top=top)

    @property
    def gain_x(self) -> float:
        return self.width / self.src_hw[1]

    @property
    def gain_y(self) -> float:
        return self.height / self.src_hw[0]

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes in image pixels → model-input pixels."""
        out = np.asarray(xyxy, dtype=np.float64).copy()
        out[..., 0::2] = out[..., 0::2] * self.gain_x + self.left
        out[..., 1::2] = out[..., 1::2] * self.gain_y + self.top
        return out

    def to_image(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Boxes in model-input pixels → image pixels (clipped to the image unless ``clip`` is False)."""
        out = np.asarray(xyxy, dtype=np.float64).copy()
        out[..., 0::2] = (out[..., 0::2] - self.left) / self.gain_x
        out[..., 1::2] = (out[..., 1::2] - self.top) / self.gain_y
        if clip:
            h, w = self.src_hw
            np.clip(out[..., 0::2], 0, w, out=out[..., 0::2])
            np.clip(out[..., 1::2], 0, h, out=out[..., 1::2])
        return out

    def paste(self, image: np.ndarray, canvas: np.ndarray, pad_value: int) -> None:
        """Resize ``image`` (HxWx3 uint8) into ``canvas`` (the model's HxWx3 uint8 input), padding the rest."""
        h, w = self.src_hw
        resized = image if (w, h) == (self.width, self.height) else cv2.resize(
            image, (self.width, self.height), interpolation=cv2.INTER_LINEAR
        )
        y0, x0, y1, x1 = self.top, self.left, self.top + self.height, self.left + self.width
        canvas[:y0] = pad_value
        canvas[y1:] = pad_value
        canvas[y0:y1, :x0] = pad_value
        canvas[y0:y1, x1:] = pad_value
        canvas[y0:y1, x0:x1] = resized


def letterbox(image: np.ndarray, dst_hw: tuple[int, int], centre: bool, pad_value: int = 114
              ) -> tuple[np.ndarray, Letterbox]:
    """Convenience: a new padded uint8 image and its geometry (the detector pastes into a reused buffer)."""
    box = Letterbox.fit(image.shape[:2], dst_hw, centre)
    canvas = np.empty((*dst_hw, 3), dtype=np.uint8)
    box.paste(image, canvas, pad_value)
    return canvas, box


def yolox_grid(input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets [N, 2] (x, y) and strides [N, 1] in the order YOLOX' head emits its anchors."""
    grids, strides = [], []
    for s in STRIDES:
        hs, ws = input_hw[0] // s, input_hw[1] // s
        yv, xv = np.meshgrid(np.arange(hs), np.arange(ws), indexing="ij")
        grids.append(np.stack((xv, yv), axis=2).reshape(-1, 2))
        strides.append(np.full((hs * ws, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate((b[:, 0:2] - half, b[:, 0:2] + half), axis=1)


def decode_yolov8(pred: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's [4+nc, N] output → (xyxy [K,4], score [K], class [K]) in input pixels, best class per anchor,
    kept where the score is above that class's threshold (strictly, as Ultralytics)."""
    scores = pred[4:]
    cls = scores.argmax(axis=0)
    best = np.take_along_axis(scores, cls[None], axis=0)[0]
    keep = np.flatnonzero(best > thresholds[cls])
    boxes = _cxcywh_to_xyxy(pred[:4, keep].T)
    return boxes, best[keep], cls[keep]


def decode_yolox(pred: np.ndarray, thresholds: np.ndarray, grid: np.ndarray, strides: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw YOLOX [N, 5+nc] output → (xyxy, score, class) in input pixels.

    score = objectness x class probability (both already sigmoid in the exported graph); the grid decode runs
    only on the anchors that pass, so its cost follows the number of boxes, not N.
    """
    scores = pred[:, 5:] * pred[:, 4:5]
    cls = scores.argmax(axis=1)
    best = np.take_along_axis(scores, cls[:, None], axis=1)[:, 0]
    keep = np.flatnonzero(best > thresholds[cls])
    raw, s = pred[keep, :4], strides[keep]
    xy = (raw[:, :2] + grid[keep]) * s
    wh = np.exp(raw[:, 2:4]) * s
    return _cxcywh_to_xyxy(np.concatenate((xy, wh), axis=1)), best[keep], cls[keep]


def nms(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Class-aware greedy NMS (OpenCV's NMSBoxesBatched, in C++); indices of kept boxes, best score first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), axis=1).astype(np.float64)
    # OpenCV's stubs say Sequence for the boxes, scores and classes; the binding takes numpy arrays (as cv::Mat)
    keep = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32), class_ids.astype(np.int32),  # type: ignore[arg-type]
                                   -1.0, float(iou))
    return np.asarray(keep, dtype=np.int64).reshape(-1)[:max_det]
