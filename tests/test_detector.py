"""Detector: model cards, letterbox geometry, YOLOv8/YOLO11 parity with ultralytics, YOLOX decoding, batching, CLI.

The real models run here: the Apache-2.0 YOLOX-Nano bundled in vision/models/, and the AGPL YOLOv8n/YOLO11n
exports, which are never in the repository (found through $CITYWALL_MODEL_PATH, by default ../shared/data/models;
only the tests that need them skip without them, see tests/conftest.py agpl_card). The test images are the
two that ship inside the ultralytics wheel; ultralytics itself runs only in a subprocess, because importing it
sets process-wide thread limits (OMP_NUM_THREADS=1) that would leak into every later test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import agpl_card
from vision.boxes import Letterbox, letterbox
from vision.card import DEFAULT_CARD, CardError, load_card, model_search_path, parse_card
from vision.detector import Detector, select_providers

REPO = Path(__file__).resolve().parents[1]
YOLOX = DEFAULT_CARD
MODELS = YOLOX.parent
YOLOV8 = MODELS / "yolov8n_coco_int8_640.yaml"
YOLO11 = MODELS / "yolo11n_coco_int8_320.yaml"
_SPEC = importlib.util.find_spec("ultralytics")  # finds the package without importing it
ASSETS = Path(_SPEC.origin).parent / "assets" if _SPEC and _SPEC.origin else None
NO_ULTRALYTICS = "ultralytics is not installed (pip install torch==2.14.1 torchvision==0.29.1 ultralytics onnx)"


def asset(name: str) -> Path:
    if ASSETS is None:
        pytest.skip(f"test images come from the ultralytics wheel: {NO_ULTRALYTICS}")
    return ASSETS / name


def image(name: str) -> np.ndarray:
    img = cv2.imread(str(asset(name)), cv2.IMREAD_COLOR)
    assert img is not None, name
    return img


class Detectors:
    """The three detectors by short name, each opened on first use: a test that asks for an AGPL model skips
    when its weights are not there (agpl_card), the YOLOX tests run regardless."""

    def __init__(self) -> None:
        self.cards = {"yolox": YOLOX, "yolov8": YOLOV8, "yolo11": YOLO11}
        self.opened: dict[str, Detector] = {}

    def __getitem__(self, name: str) -> Detector:
        if name not in self.opened:
            card = self.cards[name]
            self.opened[name] = Detector(card if card == YOLOX else agpl_card(card.name))
        return self.opened[name]

    def values(self) -> list[Detector]:
        return [self[name] for name in self.cards]


@pytest.fixture(scope="module")
def detectors() -> Detectors:
    return Detectors()


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def assert_same_boxes(ours: sv.Detections, theirs: sv.Detections, min_iou: float, what: str) -> None:
    """Every box of each side has a box of the same class on the other side with IoU ≥ min_iou."""
    assert len(ours) and len(theirs), what
    iou = iou_matrix(ours.xyxy, theirs.xyxy)
    iou[ours.class_id[:, None] != theirs.class_id[None, :]] = 0
    assert (iou.max(axis=1) >= min_iou).all(), f"{what}: ours unmatched\n{ours}\n{theirs}"
    assert (iou.max(axis=0) >= min_iou).all(), f"{what}: theirs unmatched\n{ours}\n{theirs}"


# --- model cards ------------------------------------------------------------------------------------------------


def test_the_three_cards_load_and_name_their_licence() -> None:
    cards = {p.name: load_card(p) for p in (YOLOX, YOLOV8, YOLO11)}
    assert cards["yolox_nano_coco_416.yaml"].licence == "Apache-2.0"
    assert cards["yolox_nano_coco_416.yaml"].model_path == (MODELS / "yolox_nano_coco_416.onnx").resolve()
    assert (MODELS / "yolox_nano_coco_416.onnx").is_file()  # the default ships with the repo
    for name in ("yolov8n_coco_int8_640.yaml", "yolo11n_coco_int8_320.yaml"):
        assert cards[name].licence == "AGPL-3.0"
        # Never beside the card (not in the repository nor the package): found through the model search path.
        assert cards[name].file == name.replace(".yaml", ".onnx") and not (MODELS / cards[name].file).exists()
        if cards[name].model_path.is_file():
            assert cards[name].model_path.parent in [d.resolve() for d in model_search_path()]
        assert cards[name].classes == "metadata"


def test_families_and_thresholds_resolve_to_class_ids(detectors: Detectors) -> None:
    for det in detectors.values():
        names = det.class_names
        assert len(names) == 80 and names[0] == "person" and names[5] == "bus"
        fam = det.resolved.families
        assert [names[i] for i in fam["person"]] == ["person"]
        assert {names[i] for i in fam["street_stall"]} >= {"umbrella", "dining table", "chair", "bench"}
        assert fam["garbage"].size == 0
        masks = det.resolved.family_of(np.array([0, 2, 56]))
        assert masks["person"].tolist() == [True, False, False]
        assert masks["road_occupation"].tolist() == [False, True, False]


def _card_data(path: Path, **changes: object) -> dict:
    data = yaml.safe_load(path.read_text())
    data["file"] = str(load_card(path).model_path)
    data.update(changes)
    return data


def _write_card(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _card_error(path: Path) -> str:
    with pytest.raises(CardError) as exc:
        Detector(path)
    return str(exc.value)


def test_card_saying_640_for_the_320_model_fails_naming_the_card(tmp_path: Path) -> None:
    path = _write_card(tmp_path, "wrong-size.yaml", _card_data(agpl_card(YOLO11.name), input_size=640))
    msg = _card_error(path)
    assert msg.startswith(f"{path}: input_size:"), msg
    assert "640x640" in msg and "[1, 3, 320, 320]" in msg


def test_card_with_the_wrong_head_fails(tmp_path: Path) -> None:
    path = _write_card(tmp_path, "wrong-head2.yaml", _card_data(YOLOX, head="yolov8"))
    assert f"{path}: head: 'yolov8'" in _card_error(path)
    path = _write_card(tmp_path, "wrong-head.yaml", _card_data(agpl_card(YOLO11.name), head="yolox"))
    msg = _card_error(path)
    assert f"{path}: head: 'yolox' needs output [B, N=2100, 5+nc]" in msg and "[1, 84, 2100]" in msg, msg


def test_card_with_the_wrong_class_count_fails(tmp_path: Path) -> None:
    data = _card_data(YOLOX)
    data["classes"] = data["classes"][:79]
    data["families"]["street_stall"] = ["umbrella"]  # 'toothbrush' (the 80th) is not used by a family
    path = _write_card(tmp_path, "79.yaml", data)
    msg = _card_error(path)
    assert msg == f"{path}: classes: the card names 79 classes but the model outputs 80", msg


def test_card_naming_a_missing_file_fails(tmp_path: Path) -> None:
    path = _write_card(tmp_path, "missing.yaml", _card_data(YOLOX, file="nowhere/model.onnx"))
    msg = _card_error(path)
    assert msg.startswith(f"{path}: file: '{tmp_path / 'nowhere' / 'model.onnx'}' does not exist"), msg
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    path = _write_card(tmp_path, "junk.yaml", _card_data(YOLOX, file="junk.onnx"))
    assert _card_error(path).startswith(f"{path}: file: cannot load '{tmp_path / 'junk.onnx'}': ")


def test_card_validation_errors_name_file_and_key(tmp_path: Path) -> None:
    data = _card_data(YOLOX, head="yolov5", colour_order="bgr", nms_iou=1.5)
    data["families"]["street_stall"] = ["umbrella", "umbrela"]
    del data["licence"]
    path = _write_card(tmp_path, "bad.yaml", data)
    with pytest.raises(CardError) as exc:
        load_card(path)
    problems = exc.value.problems
    assert f"{path}: colour_order: unknown key" in problems
    assert f"{path}: licence: is required" in problems
    assert any(p.startswith(f"{path}: head: Input should be 'yolov8' or 'yolox'") for p in problems), problems
    assert any(p.startswith(f"{path}: nms_iou: ") for p in problems), problems
    # names are checked once the schema holds
    path = _write_card(tmp_path, "names.yaml", _card_data(YOLOX, class_thresholds={"persn": 0.5},
                                                        families={"person": ["person", "umbrela"]}))
    with pytest.raises(CardError) as exc:
        load_card(path)
    assert exc.value.problems == [f"{path}: families.person[1]: 'umbrela' is not a class of this model",
                                  f"{path}: class_thresholds.persn: not a class of this model"]


def test_card_yaml_problems(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("file: a.onnx\nfile: b.onnx\n")
    with pytest.raises(CardError, match=rf"^{dup}:2:1: invalid YAML: duplicate key 'file'"):
        load_card(dup)
    with pytest.raises(CardError, match="input_size: sides must be positive multiples of 32"):
        parse_card(_card_data(YOLOX, input_size=[416, 400]), "x.yaml")
    with pytest.raises(CardError, match=r"^x.yaml: families.stall: "):
        parse_card(_card_data(YOLOX, families={"stall": ["umbrella"]}), "x.yaml")
    with pytest.raises(CardError, match=r"^x.yaml: \(top level\): must be a mapping"):
        parse_card(["a"], "x.yaml")


def test_metadata_classes_are_checked_against_family_names(tmp_path: Path) -> None:
    path = _write_card(tmp_path, "meta.yaml", _card_data(agpl_card(YOLO11.name), families={"garbage": ["trash can"]}))
    assert _card_error(path) == f"{path}: families.garbage[0]: 'trash can' is not a class of this model"


def test_provider_selection() -> None:
    assert select_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "AzureExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("auto", gpu) == ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                             "CPUExecutionProvider"]
    assert select_providers(["cuda", "cpu"], gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        select_providers(["cuda"], ["CPUExecutionProvider"])


# --- letterbox geometry (hypothesis) ----------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=4000)
model_sizes = st.sampled_from([(320, 320), (416, 416), (640, 640), (384, 640), (640, 352)])


@st.composite
def image_and_boxes(draw: st.DrawFn) -> tuple[tuple[int, int], np.ndarray]:
    h, w = draw(sizes), draw(sizes)
    n = draw(st.integers(min_value=1, max_value=8))
    pts = draw(st.lists(st.tuples(st.floats(0, w), st.floats(0, h), st.floats(0, w), st.floats(0, h)),
                        min_size=n, max_size=n))
    a = np.array(pts, dtype=np.float64)
    return (h, w), np.concatenate((np.minimum(a[:, :2], a[:, 2:]), np.maximum(a[:, :2], a[:, 2:])), axis=1)


@settings(max_examples=300, deadline=None)
@given(image_and_boxes(), model_sizes, st.booleans())
def test_letterbox_round_trip_is_identity(case: tuple[tuple[int, int], np.ndarray], dst: tuple[int, int],
                                          centre: bool) -> None:
    src, boxes = case
    lb = Letterbox.fit(src, dst, centre)
    inside = lb.to_input(boxes)
    assert np.abs(lb.to_image(inside, clip=False) - boxes).max() < 1e-3
    # the image lands exactly on [left, left+width) x [top, top+height), inside the model input
    corners = lb.to_input(np.array([[0.0, 0.0, src[1], src[0]]]))[0]
    assert np.allclose(corners, [lb.left, lb.top, lb.left + lb.width, lb.top + lb.height], atol=1e-9)
    assert lb.left >= 0 and lb.top >= 0 and lb.left + lb.width <= dst[1] and lb.top + lb.height <= dst[0]
    assert (inside[:, 0::2] >= lb.left - 1e-6).all() and (inside[:, 0::2] <= lb.left + lb.width + 1e-6).all()
    if centre:  # padding split evenly (within a pixel), the image touches two opposite sides
        assert abs((dst[1] - lb.width - lb.left) - lb.left) <= 1 and abs((dst[0] - lb.height - lb.top) - lb.top) <= 1
    else:
        assert lb.left == 0 and lb.top == 0
    assert dst[1] - lb.width <= 1 or dst[0] - lb.height <= 1  # the image fills one side (YOLOX truncates)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), model_sizes, st.booleans())
def test_letterbox_pixels_sit_where_the_geometry_says(h: int, w: int, dst: tuple[int, int], centre: bool) -> None:
    img = np.full((h, w, 3), 7, dtype=np.uint8)
    canvas, lb = letterbox(img, dst, centre, pad_value=114)
    content = np.zeros(dst, dtype=bool)
    content[lb.top:lb.top + lb.height, lb.left:lb.left + lb.width] = True
    assert (canvas[content] == 7).all() and (canvas[~content] == 114).all()


# --- parity with ultralytics ------------------------------------------------------------------------------------

_ULTRA_SCRIPT = """
import json, sys
from ultralytics import YOLO
out = {}
for card, onnx, size, iou, images in json.loads(sys.argv[1]):
    model = YOLO(onnx, task="detect")
    for img in images:
        r = model.predict(source=img, conf=0.25, iou=iou, imgsz=size, device="cpu", verbose=False)[0]
        out[card + "|" + img] = [r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def odd_crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bus.jpg cut to 702x1000 (lossless PNG): the letterbox padding is odd at 640 and 320 px, so the half-pixel
    split of Ultralytics' LetterBox is exercised (bus.jpg and zidane.jpg pad evenly)."""
    path = tmp_path_factory.mktemp("odd") / "bus-702x1000.png"
    cv2.imwrite(str(path), image("bus.jpg")[40:1040, 60:762])
    for size in (640, 320):
        assert (size - Letterbox.fit((1000, 702), (size, size), centre=True).width) % 2 == 1
    return path


def parity_image(name: str, odd_crop: Path) -> Path:
    return odd_crop if name == "odd" else asset(name)


@pytest.fixture(scope="module")
def ultralytics_boxes(tmp_path_factory: pytest.TempPathFactory, odd_crop: Path) -> dict[str, sv.Detections]:
    """ultralytics' own pre/post-processing on the same ONNX files, in a subprocess (see the module docstring)."""
    if _SPEC is None:
        pytest.skip(NO_ULTRALYTICS)
    images = [str(asset("bus.jpg")), str(asset("zidane.jpg")), str(odd_crop)]
    jobs = []
    for card_path in (agpl_card(YOLOV8.name), agpl_card(YOLO11.name)):
        card = load_card(card_path)
        jobs.append([card_path.name, str(card.model_path), card.input_hw[0], card.nms_iou, images])
    tmp = tmp_path_factory.mktemp("ultralytics")
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp / "config")}
    proc = subprocess.run([sys.executable, "-c", _ULTRA_SCRIPT, json.dumps(jobs)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    return {key: sv.Detections(xyxy=np.array(xyxy, dtype=np.float32).reshape(-1, 4),
                               confidence=np.array(conf, dtype=np.float32), class_id=np.array(cls, dtype=int))
            for key, (xyxy, conf, cls) in raw.items()}


@pytest.mark.slow
@pytest.mark.parametrize("card", ["yolov8", "yolo11"])
@pytest.mark.parametrize("name", ["bus.jpg", "zidane.jpg", "odd"])
def test_yolov8_and_yolo11_match_ultralytics(detectors: Detectors, ultralytics_boxes: dict,
                                             odd_crop: Path, card: str, name: str) -> None:
    det = detectors[card]
    assert det.card.score_threshold == 0.25 and not det.card.class_thresholds
    path = parity_image(name, odd_crop)
    theirs = ultralytics_boxes[f"{det.card.card_path.name}|{path}"]
    ours = det(cv2.imread(str(path)))
    assert len(ours) == len(theirs)
    assert_same_boxes(ours, theirs, 0.9, f"{card} {name}")
    order = np.argsort(-ours.confidence)
    assert np.allclose(ours.confidence[order], np.sort(theirs.confidence)[::-1], atol=2e-3)


# --- YOLOX decoding ---------------------------------------------------------------------------------------------


def _named(det: sv.Detections, cls: str) -> sv.Detections:
    return det[det.data["class_name"] == cls]


def test_yolox_finds_the_bus_and_its_passengers(detectors: Detectors) -> None:
    img = image("bus.jpg")
    det = detectors["yolox"](img)
    assert det.xyxy.dtype == np.float32 and det.data["class_name"].shape == (len(det),)
    bus, persons = _named(det, "bus"), _named(det, "person")
    assert len(bus) == 1 and bus.confidence[0] > 0.8
    x1, y1, x2, y2 = bus.xyxy[0]
    assert x1 < 60 and x2 > 760 and 180 < y1 < 280 and 700 < y2 < 800  # the bus spans the picture's width
    assert len(persons) >= 3
    assert ((persons.xyxy[:, 3] - persons.xyxy[:, 1]) > 350).sum() >= 3  # standing people, full height
    assert (det.xyxy >= 0).all() and (det.xyxy[:, 2] <= img.shape[1]).all() and (det.xyxy[:, 3] <= img.shape[0]).all()
    # the large objects agree with YOLOv8n at 640 px
    ref = detectors["yolov8"](img)
    ref = ref[(ref.confidence > 0.5)]
    assert_same_boxes(det[det.confidence > 0.5], ref, 0.7, "yolox vs yolov8 on bus.jpg")


def test_yolox_finds_two_persons_and_a_tie(detectors: Detectors) -> None:
    det = detectors["yolox"](image("zidane.jpg"))
    persons = _named(det, "person")
    assert len(persons) == 2 and (persons.confidence > 0.7).all()
    assert len(_named(det, "tie")) >= 1
    ref = _named(detectors["yolov8"](image("zidane.jpg")), "person")
    iou = iou_matrix(persons.xyxy, ref.xyxy)
    # The man on the right agrees with YOLOv8n (IoU ≥ 0.7). The one on the left points across the picture:
    # YOLOv8n's box takes in the outstretched arm, YOLOX-Nano's stops at his body (checked by eye), so there
    # the check is that YOLOX' box lies inside YOLOv8's rather than an IoU.
    right, left = np.argmax(persons.xyxy[:, 0]), np.argmin(persons.xyxy[:, 0])
    assert iou[right].max() >= 0.7, iou
    ref_left = ref.xyxy[np.argmin(ref.xyxy[:, 0])]
    inter = iou_matrix(persons.xyxy[[left]], ref_left[None])[0, 0]
    lt = np.maximum(persons.xyxy[left, :2], ref_left[:2])
    rb = np.minimum(persons.xyxy[left, 2:], ref_left[2:])
    covered = np.prod(np.clip(rb - lt, 0, None)) / np.prod(persons.xyxy[left, 2:] - persons.xyxy[left, :2])
    assert covered > 0.9 and inter > 0.45, (covered, inter)


def test_score_thresholds_per_class_and_override(tmp_path: Path) -> None:
    img = image("bus.jpg")
    strict = Detector(_write_card(tmp_path, "strict.yaml", _card_data(YOLOX, class_thresholds={"person": 0.99})))
    det = strict(img)
    assert "bus" in det.data["class_name"] and "person" not in det.data["class_name"]
    low = strict(img, score_threshold=0.05)  # the override replaces per-class thresholds too
    assert (low.data["class_name"] == "person").sum() >= 3 and low.confidence.min() > 0.05


# --- batching ---------------------------------------------------------------------------------------------------


def _assert_same(a: sv.Detections, b: sv.Detections, atol: float = 0.0) -> None:
    assert len(a) == len(b)
    assert np.allclose(a.xyxy, b.xyxy, atol=atol) and np.allclose(a.confidence, b.confidence, atol=atol)
    assert (a.class_id == b.class_id).all() and (a.data["class_name"] == b.data["class_name"]).all()


@pytest.mark.parametrize("card", ["yolox", "yolo11"])
def test_batch_of_fixed_batch_one_model_equals_single_runs(detectors: Detectors, card: str) -> None:
    det = detectors[card]
    assert not det.dynamic_batch and det.max_batch == 1
    a, b = image("bus.jpg"), image("zidane.jpg")
    single = [det(a), det(b)]
    before = det.stats.as_dict()
    batch = det.detect([a, b, a])
    after = det.stats.as_dict()
    for got, want in zip(batch, [single[0], single[1], single[0]], strict=True):
        _assert_same(got, want)
    assert after["calls"] - before["calls"] == 1 and after["frames"] - before["frames"] == 3
    assert after["runs"] - before["runs"] == 3 and after["last_batch"] == 3
    assert after["inference_seconds"] > before["inference_seconds"]


def _dynamic_yolox(tmp_path: Path) -> Path:
    """The YOLOX graph with a symbolic batch dim: its head flattens with Reshape [1, 85, -1]; 0 copies the batch."""
    onnx = pytest.importorskip("onnx", reason="the onnx package rewrites the graph (pip install onnx)")
    from onnx import numpy_helper

    model = onnx.load(str(load_card(YOLOX).model_path))
    consts = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in consts:
            shape = numpy_helper.to_array(consts[node.input[1]])
            if shape.tolist()[:1] == [1]:
                consts[node.input[1]].CopyFrom(numpy_helper.from_array(np.r_[0, shape[1:]], node.input[1]))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]
    out = tmp_path / "yolox_dynamic.onnx"
    onnx.save(model, str(out))
    return _write_card(tmp_path, "yolox-dynamic.yaml", _card_data(YOLOX, file=str(out)))


def test_batch_of_dynamic_model_runs_once_and_equals_single_runs(tmp_path: Path, detectors: Detectors) -> None:
    det = Detector(_dynamic_yolox(tmp_path), max_batch=4)
    assert det.dynamic_batch
    a, b = image("bus.jpg"), image("zidane.jpg")
    single = [det(a), det(b)]
    runs = det.stats.runs
    batch = det.detect([a, b, a, b, a])  # 4 + 1 with max_batch=4
    assert det.stats.runs - runs == 2 and det.stats.last_batch == 5
    for got, want in zip(batch, [*single, *single, single[0]], strict=True):
        _assert_same(got, want, atol=1e-3)
    _assert_same(single[0], detectors["yolox"](a), atol=1e-3)  # same as the fixed-batch original


def test_detect_input_checks(detectors: Detectors) -> None:
    det = detectors["yolox"]
    assert det.detect([]) == []
    with pytest.raises(ValueError, match=r"images\[1\]: expected an HxWx3 uint8 BGR frame"):
        det.detect([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8)])
    empty = det(np.full((240, 320, 3), 114, np.uint8))  # a grey frame: nothing, but a well-formed result
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.data["class_name"].shape == (0,)


# --- citywall detect --------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wall.cli", "detect", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_cli_detect_json_and_save(tmp_path: Path) -> None:
    bus, grey = str(asset("bus.jpg")), tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((120, 160, 3), 114, np.uint8))
    proc = _cli(bus, str(grey), "--json", "--save", str(tmp_path / "out.jpg"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["model"] == "yolox-nano-coco-416"
    first, second = doc["images"]
    assert (first["image"], first["width"], first["height"]) == (bus, 810, 1080)
    classes = [d["class"] for d in first["detections"]]
    assert classes.count("bus") == 1 and classes.count("person") >= 3
    for d in first["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080 and 0.3 <= d["score"] <= 1
    assert second["detections"] == []
    saved = cv2.imread(str(tmp_path / "out-0.jpg"))
    assert saved is not None and saved.shape == (1080, 810, 3)
    assert (tmp_path / "out-1.jpg").is_file()


def test_cli_detect_lines(tmp_path: Path) -> None:
    proc = _cli(str(asset("zidane.jpg")), "--model", str(agpl_card(YOLO11.name)), "--score", "0.5")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[1] for r in rows] == ["person", "person"] and all(len(r) == 7 and float(r[2]) >= 0.5 for r in rows)


def test_cli_detect_errors(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((120, 160, 3), 114, np.uint8))
    proc = _cli(str(tmp_path / "missing.jpg"))
    assert proc.returncode == 2 and "cannot read as an image" in proc.stderr
    proc = _cli(str(grey))  # the default card, a frame with nothing in it: no lines, success
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    bad = _write_card(tmp_path, "bad.yaml", _card_data(agpl_card(YOLO11.name), input_size=640))
    proc = _cli(str(grey), "--model", str(bad))
    assert proc.returncode == 2 and f"{bad}: input_size:" in proc.stderr
