"""``citywall train``, ``citywall evaluate`` and ``citywall model promote | rollback | history``.

``train`` needs the ``train`` extra (Ultralytics, onnx) and nothing of a site, unless ``--evaluate`` names one;
``evaluate`` and the model commands read the site's database and evidence directory. Promotion from here is
what the admin console does (the same function, audited as ``cli:USER``); a running ``citywall serve`` reads the
new card when it next starts — the console switches a running one at once.

Exit status: 0 done, 1 refused (not empty, no evaluation of that card, nothing to roll back to), 2 the
configuration, the database or an input cannot be used, 3 the ``train`` extra is missing.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import ValidationError

from wall.errors import DomainError
from wall.learning.models import Evaluation

if TYPE_CHECKING:
    from wall.config import SiteConfig
    from wall.store.db import Database


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date or time (YYYY-MM-DD[THH:MM])") from exc


def _evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, help="the export the candidate was trained on: its train split's cases "
                   "are not held out")
    p.add_argument("--since", type=_when, help="only cases raised at or after (UTC)")
    p.add_argument("--until", type=_when, help="only cases raised before")
    p.add_argument("--camera", action="append", default=[], help="only this camera (repeatable)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a detector on a citywall dataset export; ONNX and model card out",
                       description="Fine-tune a YOLO checkpoint (--base PATH.pt) or train an architecture from "
                       "scratch (--base yolo11n.yaml) on a dataset made by citywall dataset export, offline, then "
                       "export ONNX and write the model card beside it; with --evaluate, evaluate it on the site's "
                       "held-out cases. Needs the train extra (Ultralytics, AGPL-3.0).",
                       epilog="exit codes: 0 done, 1 refused, 2 bad input, 3 the train extra is missing")
    t.add_argument("dataset", type=Path, help="the export's folder (dataset.yaml, manifest.jsonl)")
    t.add_argument("--out", type=Path, required=True, help="a new (or empty) folder for the model and its card")
    t.add_argument("--base", required=True, help="a checkpoint on disk (PATH.pt) or an architecture (yolo11n.yaml)")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--imgsz", type=int, default=640, help="input size, a multiple of 32 (default 640)")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--device", default="cpu", help="cpu (default), or a CUDA device such as 0")
    t.add_argument("--name", help="the model's name (default: DATASET-BASE)")
    t.add_argument("--score-threshold", type=float, default=0.25, help="the card's minimum score (default 0.25)")
    t.add_argument("--lr0", type=float, help="AdamW at this learning rate (default: Ultralytics' choice, 0.002 "
                   "for short runs; 0.01 suits a short run from scratch)")
    t.add_argument("--validate", choices=("every", "final"), default="every",
                   help="score the validation split after every epoch (default: the best epoch is exported) or "
                   "after the last only (a short run: the last epoch is exported, each epoch costs less)")
    t.add_argument("--evaluate", type=Path, metavar="CONFIG_DIR",
                   help="then evaluate the card on this site's held-out cases against its current card")
    t.add_argument("--json", action="store_true", help="print one JSON document")

    e = sub.add_parser("evaluate", help="replay held-out decided cases with a candidate and the current card",
                       description="Replay the site's decided cases (their clips, else clean frames) through the "
                       "live pipeline with the candidate card and the current one; per family: precision and recall "
                       "against the operators' decisions, false alarms per camera-day, detector ms CPU per look.")
    e.add_argument("config", type=Path, metavar="CONFIG_DIR", help="the site's config directory")
    e.add_argument("--candidate", type=Path, required=True, metavar="CARD", help="the card to evaluate")
    e.add_argument("--current", type=Path, metavar="CARD", help="the card to compare with (default: the site's)")
    e.add_argument("--json", type=Path, metavar="FILE", help="also write the evaluation as JSON (for promotion)")
    _evaluate_options(e)


def add_model_actions(actions: argparse._SubParsersAction) -> None:
    """``citywall model promote | rollback | history`` (the ``model`` group is wall/model_commands.py's)."""
    p = actions.add_parser("promote", help="switch the site's model to CARD, with its evaluation attached")
    p.add_argument("config", type=Path, metavar="CONFIG_DIR")
    p.add_argument("--card", type=Path, required=True, help="the model card to put in service")
    p.add_argument("--evaluation", type=Path, required=True, help="citywall evaluate --json's file for CARD")
    r = actions.add_parser("rollback", help="go back to the model before the one in service")
    r.add_argument("config", type=Path, metavar="CONFIG_DIR")
    h = actions.add_parser("history", help="the model in service, the rollback target and the promotions")
    h.add_argument("config", type=Path, metavar="CONFIG_DIR")
    h.add_argument("--json", action="store_true")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def _site_db(config: Path) -> tuple[SiteConfig | None, Database | None]:
    from wall.config import load_config_or_report
    from wall.store.db import DatabaseError, open_database

    site = load_config_or_report(config)
    if site is None:
        return None, None
    try:
        return site, open_database(site.data_dir, site.server_file.server.database_url)
    except DatabaseError as exc:
        print(f"citywall: {exc}", file=sys.stderr)
        return None, None


def _evaluate(config: Path, candidate: Path, current: Path | None, args: argparse.Namespace,
              json_file: Path | None, out: TextIO = sys.stdout) -> int:
    from wall.learning.evaluate import evaluate, table, train_cases

    site, db = _site_db(config)
    if site is None or db is None:
        return 2
    if site.analytics is None or site.model_card is None:
        print(f"citywall evaluate: {config} has no analytics.yaml: no zones to replay the cases under",
              file=sys.stderr)
        db.dispose()
        return 2
    try:
        exclude = train_cases(args.dataset) if args.dataset else set()
        with db.session() as s:
            result = evaluate(site, s, candidate, current or site.model_card, exclude=exclude,
                              cameras=args.camera, since=args.since, until=args.until,
                              progress=lambda line: print(f"citywall evaluate: {line}", file=sys.stderr))
    except (FileNotFoundError, DomainError, ValueError) as exc:
        print(f"citywall evaluate: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(table(result), file=out)
    if json_file is not None:
        json_file.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return 0


def _train(args: argparse.Namespace) -> int:
    from vision.card import CardError
    from vision.catalogue import load_catalogue
    from wall.learning.train import TrainError, train

    try:
        result = train(args.dataset, args.out, base=args.base, catalogue=load_catalogue(), epochs=args.epochs,
                       imgsz=args.imgsz, batch=args.batch, device=args.device, name=args.name,
                       score_threshold=args.score_threshold, lr0=args.lr0,
                       validate_every_epoch=args.validate == "every", say=lambda line: print(line, file=sys.stderr))
    except TrainError as exc:
        print(f"citywall train: {exc}", file=sys.stderr)
        return 3 if "not installed" in str(exc) else 1 if "not empty" in str(exc) else 2
    except CardError as exc:
        print(f"citywall train: the exported model does not fit its card:\n  {exc}", file=sys.stderr)
        return 2
    if args.evaluate is not None:
        evaluation = args.out / "evaluation.json"  # held out: the cases the export did not train on
        held_out = argparse.Namespace(dataset=args.dataset, camera=[], since=None, until=None)
        code = _evaluate(args.evaluate, Path(result.card), None, held_out, evaluation,
                         sys.stderr if args.json else sys.stdout)
        if code:
            return code
        result.evaluation = str(evaluation)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"citywall: {result.card} ({result.onnx}, sha256 {result.onnx_sha256[:12]}…) in {result.seconds:.0f} s"
              + (f"; evaluation {result.evaluation}" if result.evaluation else ""))
    return 0


def _model(args: argparse.Namespace) -> int:
    from wall.learning import promotion

    site, db = _site_db(args.config)
    if site is None or db is None:
        return 2
    try:
        with db.session() as s:
            if args.model_action == "history":
                out = promotion.models(s, site.directory, applied=False)
                if args.json:
                    print(out.model_dump_json(indent=2))
                else:
                    print(f"in service: {out.current_name} ({out.current}); rollback goes to {out.previous or '-'}")
                    for row in out.history:
                        print(f"  {row.at:%Y-%m-%d %H:%M} {row.action:<8} {row.card or '(default)'} by {row.by}")
                return 0
            if args.model_action == "promote":
                try:
                    evaluation = Evaluation.model_validate_json(args.evaluation.read_text(encoding="utf-8"))
                except (OSError, ValidationError) as exc:
                    print(f"citywall model promote: {args.evaluation}: not an evaluation ({exc})", file=sys.stderr)
                    return 2
                row, _site = promotion.promote(s, site.directory, args.card, evaluation, by=_actor())
            else:
                row, _site = promotion.rollback(s, site.directory, by=_actor())
    except DomainError as exc:
        print(f"citywall model {args.model_action}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    done = "promoted" if row.action == "promote" else "rolled back"
    print(f"citywall: {done}: the site's model is {row.card_name} ({row.card or 'the bundled default'}); "
          "a running citywall serve takes it at its next start (the admin console switches it at once)")
    return 0


def run(args: argparse.Namespace) -> int | None:
    """Run a learning command; None when ``args`` is not one."""
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "train":
        return _train(args)
    if args.command == "evaluate":
        return _evaluate(args.config, args.candidate, args.current, args, args.json)
    if args.command == "model" and getattr(args, "model_action", None) in ("promote", "rollback", "history"):
        return _model(args)
    return None
