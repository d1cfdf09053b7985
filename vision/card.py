"""Model cards: the YAML file that tells the service how to feed a detector and read its output.

A site drops in its own ONNX file plus a card (``models/*.yaml``); nothing about a model is hard-coded. The card
is validated twice: here, on its own (``load_card``: types, ranges, unknown keys, class names used by families and
thresholds), and against the ONNX graph when the model is opened (``check_graph``: input size, output shape of
the declared head, class count). Both report ``path/to/card.yaml: key.path: reason`` lines, so a wrong card fails
at start-up with a message that says which file and which key, not later as nonsense boxes.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from settings.errors import ConfigError, key_path, reason
from settings.model import Strict
from settings.packaged import packaged
from settings.yaml_reader import read_yaml

STRIDES = (8, 16, 32)
FAMILIES = ("street_stall", "road_occupation", "garbage", "person")
Family = Literal["street_stall", "road_occupation", "garbage", "person"]
FROM_METADATA = "metadata"
MAX_CARD_CLASSES = 10000  # a detector's classes (COCO has 80, Objects365 365): bounds of the card's lists
# The card a site gets when analytics.yaml names none: YOLOX-Nano, shipped with its Apache-2.0 weights beside it.
DEFAULT_CARD = packaged("vision", "models", "yolox_nano_coco_416.yaml")
# Folders (separated like PATH) where a card's relative ``file`` is looked for when it is not beside the card:
# weights that must not be copied next to the cards (the AGPL Ultralytics exports the bundled cards name, a
# site's shared model store) stay where they are and the card still names only the file.
MODEL_PATH_ENV = "CITYWALL_MODEL_PATH"


def model_search_path() -> list[Path]:
    """The folders of ``$CITYWALL_MODEL_PATH``, in order (none when it is unset)."""
    return [Path(d).expanduser() for d in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if d]


class CardError(ConfigError):
    """Every problem found in one card (or between a card and its model), one ``file: key: reason`` line each."""


class ModelCard(Strict):
    """What ``models/<name>.yaml`` holds. Paths in it are relative to the card's own directory."""

    name: str | None = Field(default=None, description="Shown in logs and metrics; defaults to the card's stem.")
    file: str = Field(min_length=1, description="The ONNX file, relative to this card's directory.")
    licence: str = Field(min_length=1, description="Licence of the weights, e.g. Apache-2.0 or AGPL-3.0.")
    source: str = Field(min_length=1, description="Where the weights come from (attribution, commit, sha256).")
    input_size: int | tuple[int, int] = Field(description="Model input: one side (square) or [height, width].")
    head: Literal["yolov8", "yolox"] = Field(
        description="yolov8: [B, 4+nc, N] rows cx,cy,w,h + class scores (also YOLO11). "
        "yolox: [B, N, 5+nc] raw head, grid-decoded here at strides 8/16/32."
    )
    colour: Literal["rgb", "bgr"] = Field(description="Channel order the model was trained on.")
    scale: float = Field(gt=0, le=255, description="Value of a white pixel at the input: 1 for 0-1, 255 for 0-255.")
    pad: Literal["centre", "top_left"] = Field(
        description="centre: letterbox with the image in the middle (Ultralytics); top_left: image at (0, 0) (YOLOX)."
    )
    pad_value: int = Field(default=114, ge=0, le=255, description="Grey level of the padding.")
    classes: list[str] | Literal["metadata"] = Field(
        max_length=MAX_CARD_CLASSES,
        description="Class names in output order, or 'metadata' to read them from the ONNX file's 'names'."
    )
    score_threshold: float = Field(default=0.25, ge=0, le=1, description="Default minimum score of a box.")
    class_thresholds: dict[str, float] = Field(
        default_factory=dict, max_length=MAX_CARD_CLASSES,
        description="Per-class minimum scores, by class name; override score_threshold."
    )
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="Boxes of one class overlapping more are merged.")
    max_detections: int = Field(default=300, ge=1, le=10000, description="At most this many boxes per image.")
    families: dict[Family, Annotated[list[str], Field(max_length=MAX_CARD_CLASSES)]] = Field(
        default_factory=dict, max_length=len(FAMILIES),
        description="Which classes feed which rule family (class names of this model)."
    )

    _card_path: Path | None = PrivateAttr(default=None)

    @field_validator("input_size")
    @classmethod
    def _input_size(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        for side in (value,) if isinstance(value, int) else value:
            if side < 32 or side % 32:
                raise ValueError(f"sides must be positive multiples of 32 (the largest stride), got {side}")
        return value

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            if not value:
                raise ValueError("must name at least one class")
            seen: set[str] = set()
            for name in value:
                if not name:
                    raise ValueError("class names must not be empty")
                if name in seen:
                    raise ValueError(f"class '{name}' is listed twice")
                seen.add(name)
        return value

    @field_validator("class_thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for name, score in value.items():
            if not 0 <= score <= 1:
                raise ValueError(f"'{name}': score must be between 0 and 1, got {score}")
        return value

    @property
    def input_hw(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size

    @property
    def card_path(self) -> Path | None:
        return self._card_path

    @property
    def shown(self) -> str:
        """How messages name this card: its path as given, or '<card>' for one built in code."""
        return str(self._card_path) if self._card_path else "<card>"

    @property
    def model_path(self) -> Path:
        """The ONNX file: ``file`` resolved against the card's directory (or the working directory), else the
        first folder of :func:`model_search_path` that has it; when none has it, the path beside the card (which
        the "does not exist" error then names)."""
        path = Path(self.file).expanduser()
        if path.is_absolute():
            return path
        beside = ((self._card_path.parent if self._card_path else Path.cwd()) / path).resolve()
        if beside.is_file():
            return beside
        found = (d / path for d in model_search_path() if (d / path).is_file())
        return next(found, beside).resolve()

    @property
    def display_name(self) -> str:
        return self.name or (self._card_path.stem if self._card_path else Path(self.file).stem)


def name_problems(card: ModelCard, names: Sequence[str]) -> list[str]:
    """``key.path: reason`` for every family member or threshold naming a class the model does not have."""
    known = set(names)
    problems = [
        f"families.{family}[{i}]: '{name}' is not a class of this model"
        for family, members in card.families.items()
        for i, name in enumerate(members)
        if name not in known
    ]
    problems += [f"class_thresholds.{name}: not a class of this model" for name in card.class_thresholds
                 if name not in known]
    return problems


def parse_card(data: Any, shown: str = "<card>", path: Path | None = None) -> ModelCard:
    """Validate already-parsed card data; ``shown`` names the card in messages."""
    if not isinstance(data, dict):
        raise CardError([f"{shown}: (top level): must be a mapping of keys, got {type(data).__name__}"])
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as exc:
        # pydantic adds the branch ('int', 'list[str]', "literal['metadata']") to the location of a union's
        # errors: drop it and say the reasons of all branches on one line for the key.
        reasons: dict[str, list[str]] = {}
        for e in exc.errors():
            loc = [p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in ("int", "str")))]
            reasons.setdefault(key_path(tuple(loc)), []).append(reason(e))
        lines = [f"{shown}: {key}: {' or '.join(dict.fromkeys(why))}" for key, why in reasons.items()]
        raise CardError(lines) from None
    card._card_path = path
    if isinstance(card.classes, list) and (problems := name_problems(card, card.classes)):
        raise CardError([f"{shown}: {p}" for p in problems])
    return card


def load_card(path: str | Path) -> ModelCard:
    """Read and validate ``path``; raises :class:`CardError` naming the file and key of every problem."""
    path = Path(path)
    try:
        data = read_yaml(path, str(path))
    except ConfigError as exc:
        raise CardError(exc.problems) from None
    return parse_card(data, str(path), path)


@dataclass(frozen=True)
class ResolvedCard:
    """A card checked against its graph: class names known, thresholds and families as arrays by class id."""

    card: ModelCard
    class_names: tuple[str, ...]
    thresholds: np.ndarray  # float32 [nc]: minimum score per class id
    families: dict[Family, np.ndarray]  # family → sorted int class ids
    num_anchors: int  # N, the number of candidate boxes per image

    def family_of(self, class_ids: np.ndarray) -> dict[Family, np.ndarray]:
        """For each family, a boolean mask over ``class_ids`` (e.g. ``detections.class_id``)."""
        return {family: np.isin(class_ids, ids) for family, ids in self.families.items()}


def anchors_for(input_hw: tuple[int, int]) -> int:
    """Candidate boxes of a stride-8/16/32 head: one per cell of each feature map."""
    return sum((input_hw[0] // s) * (input_hw[1] // s) for s in STRIDES)


def metadata_names(metadata: dict[str, str]) -> list[str] | None:
    """Class names from an Ultralytics export's 'names' metadata (a Python dict literal), or None."""
    raw = metadata.get("names")
    if not raw:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and sorted(value) == list(range(len(value))):
        return [str(value[i]) for i in range(len(value))]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def _dims(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else (d or "?") for d in shape) + "]"


def check_graph(
    card: ModelCard,
    input_shape: Sequence[Any],
    output_shape: Sequence[Any],
    metadata: dict[str, str] | None = None,
    output_name: str = "output",
) -> ResolvedCard:
    """Check the card against the ONNX graph's shapes (ints, or str/None for dynamic dims) and metadata.

    Raises :class:`CardError` with one line per difference, naming the card file and what the graph has.
    """
    shown, problems = card.shown, []
    h, w = card.input_hw
    if len(input_shape) != 4 or (isinstance(input_shape[1], int) and input_shape[1] != 3):
        problems.append(f"{shown}: file: input {_dims(input_shape)} is not an image batch [B, 3, H, W]")
    else:
        graph_hw = tuple(input_shape[2:])
        if all(isinstance(d, int) for d in graph_hw) and graph_hw != (h, w):
            problems.append(
                f"{shown}: input_size: card says {h}x{w} (HxW) but the model input is {_dims(input_shape)}"
            )
    n = anchors_for((h, w))
    nc = None
    out = list(output_shape)
    if card.head == "yolov8":
        expect = f"[B, 4+nc, N={n}] (rows cx,cy,w,h then class scores)"
        if len(out) == 3 and (not isinstance(out[2], int) or out[2] == n) and isinstance(out[1], int) and out[1] > 4:
            nc = out[1] - 4
    else:
        expect = f"[B, N={n}, 5+nc] (raw YOLOX head)"
        if len(out) == 3 and (not isinstance(out[1], int) or out[1] == n) and isinstance(out[2], int) and out[2] > 5:
            nc = out[2] - 5
    if nc is None:
        problems.append(
            f"{shown}: head: '{card.head}' needs output {expect} at {h}x{w}, but '{output_name}' is {_dims(out)}"
        )
    names: list[str] | None = None
    from_meta = metadata_names(metadata or {})
    if card.classes == FROM_METADATA:
        if from_meta is None:
            problems.append(f"{shown}: classes: 'metadata' but the model has no 'names' metadata; list the classes")
        names = from_meta
    else:
        names = list(card.classes)
    if nc is not None and names is not None and len(names) != nc:
        where = "the model's metadata" if card.classes == FROM_METADATA else "the card"
        problems.append(f"{shown}: classes: {where} names {len(names)} classes but the model outputs {nc}")
    if names is not None:
        problems += [f"{shown}: {p}" for p in name_problems(card, names)]
    if problems:
        raise CardError(problems)
    assert names is not None
    thresholds = np.full(len(names), card.score_threshold, dtype=np.float32)
    index = {name: i for i, name in enumerate(names)}
    for name, score in card.class_thresholds.items():
        thresholds[index[name]] = score
    families = {f: np.array(sorted(index[c] for c in members), dtype=np.int64) for f, members in card.families.items()}
    return ResolvedCard(card=card, class_names=tuple(names), thresholds=thresholds, families=families, num_anchors=n)
