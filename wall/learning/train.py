"""``citywall train``: a dataset from ``citywall dataset export`` → a YOLO detector, its ONNX file and model card.

Why Ultralytics is imported here only, inside :func:`train` and never at module level: it is AGPL-3.0 and pulls
in PyTorch; the service runs ONNX files with ONNX Runtime and must not load either (the ``train`` extra installs
them on the training machine). Why the environment is set before that import: Ultralytics reaches the internet
on its own — update and "online" checks, fonts for plots, the AMP check's ``yolo11n.pt``, pip installs of what
it misses, hub and telemetry — and the training machines of a site are often offline. ``YOLO_OFFLINE`` turns its
online checks off, ``YOLO_AUTOINSTALL=False`` its pip, ``sync=False`` the telemetry, ``plots=False`` the fonts
and ``amp=False`` the AMP check's download; its settings file goes into the output folder, not the home.

The base is always a file given by path (a checkpoint to fine-tune) or an architecture YAML that Ultralytics
builds from its own package (``yolo11n.yaml``: from scratch); a bare ``yolo11n.pt`` that is not on disk is
refused, since Ultralytics would try to download it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from settings.yaml_reader import read_yaml
from vision.card import FAMILIES, load_card
from vision.catalogue import Catalogue
from wall.learning.models import TrainResult

ULTRALYTICS_OFFLINE = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_VERBOSE": "False"}
SETTINGS_OFF = {"sync": False, "hub": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
                "raytune": False, "tensorboard": False, "wandb": False, "vscode_msg": False, "openvino_msg": False}


SHORT_RUN_STEPS = 300  # fewer optimiser steps than this: no warm-up


class TrainError(Exception):
    """The training cannot run as asked (no dataset, a base that is not on disk, no ultralytics)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_classes(dataset: Path) -> list[str]:
    """The class names of an export's ``dataset.yaml``, in id order."""
    path = dataset / "dataset.yaml"
    if not path.is_file():
        raise TrainError(f"{dataset}: no dataset.yaml (make one with citywall dataset export)")
    data = read_yaml(path, str(path))
    names = (data.get("names") if isinstance(data, dict) else None) or {}
    classes = [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
    if not classes:
        raise TrainError(f"{path}: no classes (the export had no confirmed case)")
    return classes


def families_of(classes: list[str], catalogue: Catalogue) -> dict[str, list[str]]:
    """Which rule family each class feeds: an export names classes by family (``street_stall``) or by event code
    (``0501``, the catalogue says its families); a class that is neither feeds none (the card still detects it)."""
    families: dict[str, list[str]] = {}
    for name in classes:
        entry = catalogue.get(name)
        for family in [name] if name in FAMILIES else (entry.families() if entry else []):
            if family in FAMILIES:
                families.setdefault(family, []).append(name)
    return families


def _base_model(base: str) -> str:
    path = Path(base).expanduser()
    if path.is_file():
        return str(path.resolve())
    if path.suffix in (".yaml", ".yml") and path.parent == Path("."):
        return base  # an architecture of Ultralytics' own package (yolo11n.yaml): built offline, from scratch
    raise TrainError(f"--base {base}: no such file (give the path of a checkpoint on disk, or an architecture "
                     "such as yolo11n.yaml to train from scratch; nothing is downloaded)")


def _ultralytics(settings_dir: Path) -> Any:
    """The ``ultralytics`` module, imported offline (see the module docstring)."""
    os.environ.update(ULTRALYTICS_OFFLINE)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(settings_dir))
    try:
        import ultralytics
    except ImportError as exc:
        raise TrainError(f"ultralytics is not installed ({exc}): pip install 'citywall[train]' on the training "
                         "machine (docs/models.md)") from None
    ultralytics.settings.update({k: v for k, v in SETTINGS_OFF.items() if k in ultralytics.settings})  # per version
    return ultralytics


def _has_onnxslim() -> bool:
    return importlib.util.find_spec("onnxslim") is not None


def _data_file(dataset: Path, out: Path) -> tuple[Path, bool]:
    """ultralytics' data file for the export, and whether it has a validation split (a single camera-day export
    has none: its pictures all train and the run validates on nothing)."""
    has_val = any((dataset / "images" / "val").glob("*.jpg"))
    data = dict(read_yaml(dataset / "dataset.yaml", str(dataset / "dataset.yaml")))
    data["path"] = str(dataset.resolve())
    if not has_val:
        data["val"] = data["train"]
    path = out / "data.yaml"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, has_val


def card_document(name: str, onnx: Path, classes: list[str], families: dict[str, list[str]], imgsz: int,
                  score_threshold: float, source: str) -> dict[str, object]:
    """The model card of an Ultralytics ONNX export (docs/models.md: the keys, and why these values)."""
    return {"name": name, "file": onnx.name, "licence": "AGPL-3.0", "source": source, "input_size": imgsz,
            "head": "yolov8", "colour": "rgb", "scale": 1, "pad": "centre", "pad_value": 114, "classes": classes,
            "score_threshold": score_threshold, "nms_iou": 0.7, "max_detections": 300, "families": families}


def train(dataset: Path, out: Path, *, base: str, catalogue: Catalogue, epochs: int = 50, imgsz: int = 640,
          batch: int = 16, device: str = "cpu", name: str | None = None, score_threshold: float = 0.25,
          lr0: float | None = None, validate_every_epoch: bool = True,
          say: Callable[[str], None] = print) -> TrainResult:
    """Train, export and describe a model in ``out`` (new or empty): ``NAME.onnx``, ``NAME.yaml`` (the card),
    ``runs/`` (Ultralytics' own output: weights, results.csv). ``validate_every_epoch`` False: only the last epoch
    is scored (Ultralytics always scores it) and exported — a short run spends its minutes on training, not on
    choosing among epochs that all still improve."""
    if imgsz < 32 or imgsz % 32:
        raise TrainError(f"--imgsz {imgsz}: must be a positive multiple of 32 (the model's largest stride)")
    if out.exists() and any(out.iterdir()):
        raise TrainError(f"{out}: not empty; train into a new folder")
    classes = dataset_classes(dataset)
    model_name = name or f"{dataset.resolve().name}-{Path(base).stem}"
    base_model = _base_model(base)
    out.mkdir(parents=True, exist_ok=True)
    families = families_of(classes, catalogue)
    manifest = dataset / "manifest.jsonl"
    manifest_sha = sha256_of(manifest) if manifest.is_file() else None
    ultralytics = _ultralytics(out / ".ultralytics")
    data, has_val = _data_file(dataset, out)
    started = time.monotonic()
    say(f"citywall train: {base} → {len(classes)} classes ({', '.join(classes)}), {epochs} epochs at {imgsz} px "
        f"on {device}" + ("" if has_val else " (no validation split: nothing to validate on)"))
    model = ultralytics.YOLO(base_model)
    # nbs=batch: every batch is an optimiser step. A site's dataset is hundreds of pictures, not COCO's 118,000;
    # accumulating Ultralytics' nominal 64 images per step would leave a short run a few dozen steps.
    # lr0: Ultralytics' "auto" optimiser takes AdamW at 0.002 for runs under 10,000 steps, too timid to move a
    # from-scratch model in a short run; given, it is AdamW at that rate
    rate: dict[str, object] = {"optimizer": "AdamW", "lr0": lr0} if lr0 is not None else {}
    pictures = sum(1 for _ in (dataset / "images" / "train").glob("*.jpg"))
    if epochs * -(-pictures // batch) < SHORT_RUN_STEPS:
        rate["warmup_epochs"] = 0  # a short run has no steps to spare for a warm-up (3 epochs by default)
    model.train(data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, nbs=batch, device=device, workers=0,
                plots=False, amp=False, val=has_val and validate_every_epoch, project=str((out / "runs").resolve()),
                name="train", exist_ok=True, seed=0, verbose=False, **rate)
    weights = out / "runs" / "train" / "weights"
    # best.pt is the best validated epoch; when validation never found anything (no split, or a short run whose
    # mAP stayed 0) it is just the first epoch: export the last one then
    validated = has_val and validate_every_epoch and bool(getattr(model.trainer, "best_fitness", None))
    best = weights / "best.pt" if validated and (weights / "best.pt").is_file() else weights / "last.pt"
    slim = _has_onnxslim()  # without it a dynamic export's class dimension is unnamed: export a fixed batch
    exported = Path(ultralytics.YOLO(str(best)).export(format="onnx", imgsz=imgsz, dynamic=slim, simplify=slim,
                                                       opset=17, device="cpu"))
    onnx = out / f"{model_name}.onnx"
    shutil.copyfile(exported, onnx)
    onnx_sha = sha256_of(onnx)
    seconds = time.monotonic() - started
    source = (f"{'fine-tuned from' if base_model.endswith('.pt') else 'trained from scratch as'} {Path(base).name} "
              f"by citywall train with Ultralytics {ultralytics.__version__} (AGPL-3.0: so are these weights unless "
              f"the site holds an Ultralytics Enterprise licence), {epochs} epochs at {imgsz} px on {device}; "
              f"dataset {dataset.resolve()} (manifest.jsonl sha256 {manifest_sha or 'none'}); "
              f"sha256 of the .onnx: {onnx_sha}")
    card_path = out / f"{model_name}.yaml"
    document = card_document(model_name, onnx, classes, families, imgsz, score_threshold, source)
    # each value as JSON, which is YAML: a class named by an event code ("0501") stays a quoted string
    card_path.write_text("# written by citywall train; docs/models.md explains every key\n" + "".join(
        f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in document.items()), encoding="utf-8")
    from vision.detector import Detector

    Detector(load_card(card_path))  # the card is checked against its graph now, not when a site loads it
    return TrainResult(card=str(card_path), onnx=str(onnx), onnx_sha256=onnx_sha, classes=classes,
                       families=families, input_size=imgsz, base=base, epochs=epochs, dataset=str(dataset.resolve()),
                       manifest_sha256=manifest_sha, seconds=round(seconds, 1))
