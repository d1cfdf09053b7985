"""``citywall model …``: the site's detector models. ``quantize`` turns a card into a static INT8 (QDQ) one.

The group lives here so that every model command shares one ``model`` parser: quantize here; promote, rollback
and history from wall/learning/commands.py (``add_model_actions``, run by its own ``run``).
The work itself is in ``vision/quantize*.py`` (no wall imports there); this module only turns the command line
and a site's configuration into its inputs: calibration frames from the site's own evidence store (the clean
frames its looks kept, read from the database) or from clips, and the rules the events are compared under.

Exit status of ``quantize``: 0 kept (the INT8 model and its card are written), 1 refused (slower, or the events
differ: the table says which; nothing written), 2 bad input (card, clips, config), 3 the ``onnx`` package is
missing (``pip install 'citywall[quantize]'``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vision.event_compare import ReplaySetup
    from vision.quantize_check import Verdict

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".ts", ".m4v", ".h264", ".h265", ".webm"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("model", help="the site's detector models: quantize a card; promote, roll back, history")
    actions = m.add_subparsers(dest="model_action", required=True)
    q = actions.add_parser(
        "quantize", help="static INT8 (QDQ) quantisation of a card, kept only if cheaper with the same events",
        description="Quantise CARD's ONNX model to static INT8 (QDQ) with calibration frames from the site's "
        "evidence (a config directory) or clips (video files), then measure both cards on this machine (ms CPU "
        "per look) and replay the clips through the live pipeline with each. The INT8 model and its card are "
        "written only when it is cheaper AND raises the same events; otherwise the table says why.",
        epilog="exit codes: 0 kept, 1 refused (nothing written), 2 bad input, 3 the 'onnx' package is missing")
    q.add_argument("card", type=Path, metavar="CARD", help="the model card (YAML) to quantise")
    q.add_argument("--calibration", type=Path, nargs="+", required=True, metavar="SOURCE",
                   help="video files (N frames sampled from each) and/or a site's config directory (the clean "
                   "frames in its evidence store)")
    q.add_argument("--frames", type=int, default=64, help="calibration frames in all (default 64)")
    q.add_argument("--clip", type=Path, action="append", default=[],
                   help="clip whose events must stay the same (repeatable; default: the calibration videos)")
    q.add_argument("--config", type=Path, help="the site whose camera's rules judge the clips (with --camera)")
    q.add_argument("--camera", help="that camera (its zones, interval, analysis_max_interval, catalogue)")
    q.add_argument("--camera-config", type=Path, help="or a YAML with the zones and rules alone")
    q.add_argument("--tolerance", type=float, default=None,
                   help="seconds two events' times may differ and still be the same (default: two look intervals)")
    q.add_argument("--looks", type=int, default=100, help="looks timed per card (default 100)")
    q.add_argument("--out", type=Path, help="folder for the INT8 model and card (default: beside CARD)")
    q.add_argument("--min-gain", type=float, default=None,
                   help="share of CPU per look the INT8 card must save to be kept (default 0.05)")
    q.add_argument("--calibrate", choices=["minmax", "percentile", "entropy"], default="minmax",
                   help="how activation ranges are taken from the frames (default minmax; the others are slower)")
    q.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor instead of per channel")
    q.add_argument("--json", action="store_true", help="print the decision as one JSON document")
    from wall.learning.commands import add_model_actions

    add_model_actions(actions)  # promote, rollback, history


def _evidence_frames(config_dir: Path) -> list[Path] | None:
    """The clean look frames the site's cases kept (evidence kind ``frame``), newest first; None if the site or
    its database cannot be opened (the reason is printed)."""
    from sqlalchemy import select

    from wall.config import load_config_or_report
    from wall.store.cases import Evidence
    from wall.store.db import DatabaseError, open_database

    site = load_config_or_report(config_dir)
    if site is None:
        return None
    try:
        db = open_database(site.data_dir, site.server_file.server.database_url)
    except DatabaseError as exc:
        print(f"citywall model quantize: {exc}", file=sys.stderr)
        return None
    try:
        with db.session() as s:
            names = s.scalars(select(Evidence.name).where(Evidence.kind == "frame").order_by(Evidence.id.desc()))
            paths = [site.evidence_dir / n for n in dict.fromkeys(names)]
    finally:
        db.dispose()
    return [p for p in paths if p.is_file()]


def _setup(args: argparse.Namespace) -> ReplaySetup | None:
    """The rules the clips are judged by: the site's camera (``--config DIR --camera ID``: zones, look timing,
    catalogue, as ``citywall replay``) or a rules file (``--camera-config``) with the bundled catalogue."""
    from settings.errors import ConfigError
    from settings.loading import load_model_file
    from vision.card import load_card
    from vision.catalogue import load_catalogue
    from vision.event_compare import ReplaySetup
    from vision.rules_config import CameraRules
    from wall.config import load_config_or_report

    if (args.config is None) == (args.camera_config is None) or (args.config is None) != (args.camera is None):
        print("citywall model quantize: give either --config DIR --camera ID or --camera-config FILE (the rules "
              "the clips' events are compared under)", file=sys.stderr)
        return None
    families = load_card(args.card).families
    try:
        if args.camera_config is not None:
            rules = load_model_file(args.camera_config, CameraRules)
            return ReplaySetup(rules=rules, families=families, catalogue=load_catalogue())
    except ConfigError as exc:
        print(f"citywall model quantize: {exc}", file=sys.stderr)
        return None
    site = load_config_or_report(args.config, "; nothing was quantised")
    if site is None:
        return None
    camera = next((c for c in site.cameras if c.id == args.camera), None)
    analysed = site.analytics.cameras.get(args.camera) if site.analytics is not None else None
    if camera is None or analysed is None:
        print(f"citywall model quantize: {args.config}: no analysed camera '{args.camera}'", file=sys.stderr)
        return None
    return ReplaySetup(rules=analysed, families=families, catalogue=site.catalogue or load_catalogue(),
                       interval=camera.analysis_interval,
                       max_interval=max(camera.analysis_interval,
                                        camera.analysis_max_interval or camera.analysis_interval))


def _quantize(args: argparse.Namespace) -> int:
    from vision.card import CardError
    from vision.quantize import OnnxMissing, QuantizeError, gather
    from vision.quantize_check import DEFAULT_MIN_GAIN, format_table, quantize_card

    videos = [p for p in args.calibration if p.is_file()]
    folders = [p for p in args.calibration if p.is_dir()]
    if missing := [p for p in args.calibration if not p.exists()]:
        print(f"citywall model quantize: {missing[0]}: no such file or directory", file=sys.stderr)
        return 2
    if odd := [p for p in videos if p.suffix.lower() not in VIDEO_SUFFIXES]:
        print(f"citywall model quantize: {odd[0]}: not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a "
              "site's config directory", file=sys.stderr)
        return 2
    pictures = []
    for folder in folders:
        frames = _evidence_frames(folder)
        if frames is None:
            return 2
        pictures.append((f"evidence of {folder}", frames))
    clips = args.clip or videos
    if not clips or (missing := [c for c in clips if not c.is_file()]):
        print(f"citywall model quantize: {missing[0] if clips else 'no clip'}: the events are compared on clips "
              "(--clip FILE, or calibration videos)", file=sys.stderr)
        return 2
    if (args.looks < 1 or args.frames < 1 or (args.tolerance is not None and args.tolerance < 0)
            or (args.min_gain is not None and not 0 <= args.min_gain < 1)):
        print("citywall model quantize: --looks and --frames must be ≥ 1, --tolerance ≥ 0, 0 ≤ --min-gain < 1",
              file=sys.stderr)
        return 2
    try:
        setup = _setup(args)
        if setup is None:
            return 2
        calibration = gather(videos, pictures, args.frames)
        verdict = quantize_card(args.card, calibration, clips, setup, out_dir=args.out, tolerance_s=args.tolerance,
                                looks=args.looks, per_channel=not args.per_tensor, method=args.calibrate,
                                min_gain=DEFAULT_MIN_GAIN if args.min_gain is None else args.min_gain)
    except OnnxMissing as exc:
        print(f"citywall model quantize: {exc}", file=sys.stderr)
        return 3
    except (QuantizeError, CardError) as exc:
        print(f"citywall model quantize: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verdict_json(verdict), ensure_ascii=False, indent=2))
    else:
        print(format_table(verdict))
    return 0 if verdict.keep else 1


def verdict_json(verdict: Verdict) -> dict[str, object]:
    """The verdict for ``--json``: the figures, each clip's raises, the reasons and the written paths."""
    return {
        "keep": verdict.keep, "reasons": verdict.reasons, "ratio": round(verdict.ratio, 3),
        "calibration": verdict.calibration,
        "min_gain": verdict.min_gain, "source": asdict(verdict.source), "quantised": asdict(verdict.candidate),
        "clips": [{"clip": c.clip, "same": c.diff.same, "source": [asdict(r) for r in c.source],
                   "quantised": [asdict(r) for r in c.candidate], "differences": c.diff.why("source", "quantised")}
                  for c in verdict.clips],
        "card": str(verdict.card_path) if verdict.card_path else None,
        "model": str(verdict.model_path) if verdict.model_path else None,
    }


def run(args: argparse.Namespace) -> int | None:
    """Run a model command; None when ``args`` is not one."""
    if args.command != "model":
        return None
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.model_action == "quantize":
        return _quantize(args)
    return None
