"""``citywall dataset export`` and ``citywall dataset stats``: the operators' decisions as training data.

Both read the site's database and evidence directory (``--config DIR``) and take the same filters. ``export``
writes a YOLO dataset (optionally with COCO JSON) into a new folder and is audited (``dataset.export``: who took
which decisions out); ``stats`` only counts. Exit status: 0 done, 1 nothing to export or the target is not
empty, 2 the configuration or the database cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from wall.auth import audit
from wall.config import load_config_or_report
from wall.dataset.export import ExportError, class_names, export
from wall.dataset.models import NEGATIVE_REASONS, ClassBy, ExportFilter, Selection, Stats
from wall.dataset.selection import select_examples
from wall.store.db import DatabaseError, open_database


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date or time (YYYY-MM-DD[THH:MM])") from exc


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("dataset", help="training data from the operators' confirmed and rejected cases")
    actions = d.add_subparsers(dest="dataset_action", required=True)
    for name, helptext in (("export", "write a YOLO dataset (and COCO JSON) from decided cases"),
                           ("stats", "count the decided cases per class, camera, decision and reason")):
        p = actions.add_parser(name, help=helptext)
        p.add_argument("--config", type=Path, required=True, help="the site's config directory")
        p.add_argument("--since", type=_when, help="pictures taken at or after (YYYY-MM-DD[THH:MM], UTC)")
        p.add_argument("--until", type=_when, help="pictures taken before")
        p.add_argument("--camera", action="append", default=[], help="only this camera (repeatable)")
        p.add_argument("--family", action="append", default=[],
                       help="only this family: street_stall, garbage, road_occupation (repeatable)")
        p.add_argument("--decision", action="append", default=[], choices=["confirmed", "rejected"],
                       help="only confirmed (positives) or rejected (negatives) cases (repeatable)")
        p.add_argument("--negative-reasons", type=_names, default=list(NEGATIVE_REASONS),
                       help="reasons of rejections that say no kind (not there / allowed / another class: a site's "
                            f"own reasons) taken as hard negatives (default: {','.join(NEGATIVE_REASONS)})")
        p.add_argument("--classes", choices=["family", "code"], default="family",
                       help="name the classes by family (default) or by event code")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        if name == "export":
            p.add_argument("--out", type=Path, required=True, help="a new (or empty) folder for the dataset")
            p.add_argument("--coco", action="store_true", help="also annotations/instances_{train,val}.json")
            p.add_argument("--val-fraction", type=float, default=0.2,
                           help="share of the pictures for validation, by whole (camera, day) groups (default 0.2)")


def run(args: argparse.Namespace) -> int | None:
    """Run a dataset command; None when ``args`` is not one."""
    if args.command != "dataset":
        return None
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        flt = ExportFilter(since=args.since, until=args.until, cameras=args.camera, families=args.family,
                           decisions=args.decision, negative_reasons=args.negative_reasons)
    except ValidationError as exc:
        print(f"citywall dataset: {exc}", file=sys.stderr)
        return 2
    site = load_config_or_report(args.config)
    if site is None:
        return 2
    try:
        db = open_database(site.data_dir, site.server_file.server.database_url)
    except DatabaseError as exc:
        print(f"citywall: {exc}", file=sys.stderr)
        return 2
    try:
        with db.session() as s:
            selection = select_examples(s, site.evidence_dir, flt)
        if args.dataset_action == "stats":
            stats = stats_of(selection, args.classes)
            print(stats.model_dump_json(indent=2) if args.json else _stats_text(stats))
            return 0
        try:
            summary = export(selection, site.evidence_dir, args.out, val_fraction=args.val_fraction,
                             class_by=args.classes, coco=args.coco)
        except ExportError as exc:
            print(f"citywall dataset export: {exc}", file=sys.stderr)
            return 1
        with db.session() as s:
            audit.record(s, user=_actor(), action="dataset.export", target=str(args.out.resolve())[:200],
                         success=True, address="local",
                         detail={"train": summary.train, "val": summary.val, "positives": summary.positives,
                                 "hard_negatives": summary.hard_negatives, "filter": json.loads(flt.model_dump_json())})
        if args.json:
            print(summary.model_dump_json(indent=2))
        else:
            print(f"citywall: {summary.train} train + {summary.val} val pictures ({summary.positives} positives, "
                  f"{summary.allowed} of them allowed here, {summary.hard_negatives} hard negatives), "
                  f"classes {', '.join(summary.classes) or '-'} → "
                  f"{summary.out}/dataset.yaml; {len(summary.skipped)} labels skipped (see --json)")
        return 0
    finally:
        db.dispose()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def stats_of(selection: Selection, class_by: str = "family") -> Stats:
    examples = selection.examples
    by: ClassBy = "code" if class_by == "code" else "family"
    per_class = Counter(name for e in examples for name in (class_names(e, by) if e.role == "positive"
                                                            else [f"({e.role.replace('_', ' ')})"]))
    return Stats(total=len(examples), per_class=dict(sorted(per_class.items())),
                 per_camera=dict(sorted(Counter(e.camera for e in examples).items())),
                 per_decision=dict(sorted(Counter(e.decision for e in examples).items())),
                 per_role=dict(sorted(Counter(e.role for e in examples).items())),
                 per_reason=dict(sorted(Counter(e.reason for e in examples if e.reason).items())),
                 skipped=dict(sorted(Counter(s.why for s in selection.skipped).items())))


def _stats_text(stats: Stats) -> str:
    lines = [f"{stats.total} decided cases usable for training"]
    for title, counts in (("class", stats.per_class), ("camera", stats.per_camera),
                          ("decision", stats.per_decision), ("role", stats.per_role),
                          ("rejection reason", stats.per_reason), ("skipped", stats.skipped)):
        if counts:
            lines.append(f"per {title}:" if title != "skipped" else "skipped:")
            lines += [f"  {count:6d}  {name}" for name, count in counts.items()]
    return "\n".join(lines)
