"""Writing a dataset: YOLO folders, ``dataset.yaml``, a manifest, optionally COCO JSON.

Layout (what ultralytics reads): ``images/{train,val}/case-N.jpg`` and ``labels/{train,val}/case-N.txt``, one
``class cx cy w h`` line (0–1 of the picture) per object; a hard negative is its picture with an empty label
file, which YOLO trains as "nothing here". A positive's objects are what the operator labelled: the detector's
place box, or the operator's corrected box in its place, with the class chosen (a rejection as another class is a
positive of that class, one as there but allowed a positive of its own: the object is there), plus any box the
operator drew. ``manifest.jsonl`` has a line per image naming the case, the label row, the decision, its role
(positive, hard_negative) and kind, who made it and when, where each box came from, and the source evidence file
(its SHA-256), so every label traces back to the operator's decision. The pictures are copied, not linked: the
dataset outlives the evidence retention.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from wall.dataset.models import ClassBy, Example, ExportSummary, ManifestBox, ManifestEntry, Origin, Selection, Skipped
from wall.dataset.split import group_of, split


class ExportError(Exception):
    """The export cannot be written as asked (a non-empty target, nothing selected)."""


@dataclass(frozen=True)
class Target:
    """One object of a positive: its class in the dataset, its box (0–1 of the frame, or None: the detector's
    place box in pixels), where it came from and the class the operator chose."""

    name: str
    box: tuple[float, float, float, float] | None
    origin: Origin
    object_class: str | None


def targets(example: Example, by: ClassBy) -> list[Target]:
    """A positive's objects as the dataset names them. By family: the family the chosen class feeds. By code: the
    case's code, for objects of the case's family only (a code says nothing of an object of another family)."""
    if example.role != "positive":
        return []
    main = next((o for o in example.objects if o.origin != "drawn"), None)
    # without a label object the case's place box is the object: the detector's, or the box the operator drew
    # when filing the case from video (视频立案)
    kept: Origin = "drawn" if example.source == "patrol" else "detector"
    items = [(main.family if main else example.family, main.box if main else None,
              main.origin if main else kept, main.object_class if main else None)]
    items += [(o.family, o.box, o.origin, o.object_class) for o in example.objects if o.origin == "drawn"]
    if by == "family":
        return [Target(family, box, origin, cls) for family, box, origin, cls in items]
    return [Target(example.code, box, origin, cls) for family, box, origin, cls in items if family == example.family]


def class_names(example: Example, by: ClassBy) -> list[str]:
    return [t.name for t in targets(example, by)]


def _clamped(box: tuple[float, float, float, float], width: int,
             height: int) -> tuple[float, float, float, float] | None:
    """The box inside the picture, or None when less than a pixel of it is."""
    x1, y1 = min(max(box[0], 0.0), float(width)), min(max(box[1], 0.0), float(height))
    x2, y2 = min(max(box[2], 0.0), float(width)), min(max(box[3], 0.0), float(height))
    return (x1, y1, x2, y2) if x2 - x1 >= 1 and y2 - y1 >= 1 else None


def _yolo_line(class_id: int, box: tuple[float, float, float, float], width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def export(selection: Selection, evidence_dir: Path, out: Path, *, val_fraction: float = 0.2,
           class_by: ClassBy = "family", coco: bool = False) -> ExportSummary:
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out}: not empty; export into a new folder")
    skipped = list(selection.skipped)
    examples = []
    for e in selection.examples:
        if e.role == "positive" and not targets(e, class_by):
            skipped.append(Skipped(label_id=e.label_id, case_id=e.case_id, why="another family's object: no event "
                                   "code for it (export with --classes family)"))
        else:
            examples.append(e)
    if not examples:
        raise ExportError("no decided case matches the filter")
    classes = sorted({name for e in examples for name in class_names(e, class_by)})
    ids = {name: i for i, name in enumerate(classes)}
    sides = split(examples, val_fraction)
    entries: list[ManifestEntry] = []
    for side in ("train", "val"):
        (out / "images" / side).mkdir(parents=True, exist_ok=True)
        (out / "labels" / side).mkdir(parents=True, exist_ok=True)
    for example in examples:
        side = sides[group_of(example)]
        stem = f"case-{example.case_id}"
        image, label = Path("images") / side / f"{stem}.jpg", Path("labels") / side / f"{stem}.txt"
        shutil.copyfile(evidence_dir / example.frame.name, out / image)
        with Image.open(out / image) as picture:
            width, height = picture.size
        boxes: list[ManifestBox] = []
        lines: list[str] = []
        for target in targets(example, class_by):  # a negative has none: an empty label file
            given = target.box
            pixels = example.place_box if given is None else (given[0] * width, given[1] * height,
                                                              given[2] * width, given[3] * height)
            box = _clamped(pixels, width, height)
            if box is not None:
                lines.append(_yolo_line(ids[target.name], box, width, height))
                boxes.append(ManifestBox(class_name=target.name, class_id=ids[target.name], xyxy=box,
                                         origin=target.origin, object_class=target.object_class))
        (out / label).write_text("".join(f"{line}\n" for line in lines))
        entries.append(ManifestEntry(
            image=image.as_posix(), label=label.as_posix(), split=side, width=width, height=height,
            case_id=example.case_id, label_id=example.label_id, decision=example.decision, role=example.role,
            kind=example.kind, reason=example.reason,
            by=example.by, decided_at=example.decided_at, camera=example.camera, zone=example.zone,
            family=example.family, code=example.code, source=example.source, frame=example.frame, labels=boxes,
            detector_boxes=example.boxes))
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(entry.model_dump_json() + "\n")
    _dataset_yaml(out, classes)
    if coco:
        _coco(out, entries, classes)
    groups: dict[str, list[str]] = {"train": [], "val": []}
    for group, side in sorted(sides.items()):
        groups[side].append(group)
    return ExportSummary(out=str(out), classes=classes, train=sum(e.split == "train" for e in entries),
                         val=sum(e.split == "val" for e in entries),
                         positives=sum(e.role == "positive" for e in entries),
                         allowed=sum(e.kind == "allowed" for e in entries),
                         hard_negatives=sum(e.role == "hard_negative" for e in entries), groups=groups,
                         skipped=skipped)


def _dataset_yaml(out: Path, classes: list[str]) -> None:
    """ultralytics' data file; JSON is YAML, so names with any characters stay quoted correctly."""
    names = "\n".join(f"  {i}: {json.dumps(name, ensure_ascii=False)}" for i, name in enumerate(classes))
    (out / "dataset.yaml").write_text(
        "# written by citywall dataset export; manifest.jsonl traces each image to its case\n"
        f"path: {json.dumps(str(out.resolve()), ensure_ascii=False)}\ntrain: images/train\nval: images/val\n"
        f"names:\n{names}\n" if classes else
        f"path: {json.dumps(str(out.resolve()))}\ntrain: images/train\nval: images/val\nnames: {{}}\n",
        encoding="utf-8")


def _coco(out: Path, entries: list[ManifestEntry], classes: list[str]) -> None:
    """COCO instances JSON per split (``annotations/instances_{train,val}.json``), bbox as x, y, w, h pixels."""
    (out / "annotations").mkdir(exist_ok=True)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    for side in ("train", "val"):
        images: list[dict[str, object]] = []
        annotations: list[dict[str, object]] = []
        for entry in (e for e in entries if e.split == side):
            images.append({"id": entry.case_id, "file_name": entry.image, "width": entry.width,
                           "height": entry.height, "citywall_label_id": entry.label_id})
            for box in entry.labels:
                x1, y1, x2, y2 = box.xyxy
                annotations.append({"id": len(annotations) + 1, "image_id": entry.case_id,
                                    "category_id": box.class_id + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                    "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        document = {"images": images, "annotations": annotations, "categories": categories}
        (out / "annotations" / f"instances_{side}.json").write_text(json.dumps(document, ensure_ascii=False),
                                                                     encoding="utf-8")
