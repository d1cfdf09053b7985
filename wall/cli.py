"""The ``citywall`` command line: probe a stream, serve a site, run the demo, detect objects in images, replay a
clip, manage users, grants and the audit log, export training data (wall/dataset/), train, evaluate and promote
models (wall/learning/)."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from wall.logs import add_format_option, configure_logging, default_format

if TYPE_CHECKING:
    import numpy as np

    from wall.config import SiteConfig

_Found = TypedDict("_Found", {"class": str, "class_id": int, "score": float, "box": list[float]})  # one detect box


def _probe(args: argparse.Namespace) -> int:
    from streams.probe import probe

    result = probe(args.url, seconds=args.seconds, open_timeout=args.open_timeout, read_timeout=args.read_timeout)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print(result.line())
    return result.exit_code


def _shown(path: Path) -> str:
    """``path`` as the user would type it here: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _announce_demo(app: Any, site: SiteConfig, host: str, port: int, source: str) -> None:
    """The demo's start banner: the pages to open, and the accounts made on this first run. Printed to stdout, not
    logged (also with --log-format json): a generated password exists in clear only on this terminal, once."""
    from wall import demo

    made = demo.create_accounts(app, site)
    hint = f"citywall user passwd NAME --config {shlex.quote(_shown(demo.SITE))}"
    if os.environ.get("CITYWALL_DATA_DIR"):
        hint = f"CITYWALL_DATA_DIR={shlex.quote(os.environ['CITYWALL_DATA_DIR'])} {hint}"
    print(demo.banner(host, port, len(site.cameras), made, hint, source), flush=True)


def _demo(args: argparse.Namespace) -> int:
    """``citywall demo [--rtsp]``: serve the demo site shipped in the package (wall/demo_site/). SIGINT and
    SIGTERM stop it with exit code 0 at any point, the RTSP server child included (wall/demo.py says why this
    needs its own handlers)."""
    from wall import demo
    from wall.config import load_config_or_report

    with demo.stop_on_signals():
        try:
            data_dir = args.data_dir or (None if os.environ.get("CITYWALL_DATA_DIR") else demo.default_data_dir())
            if data_dir is not None:
                demo.use_data_dir(data_dir)
            site = load_config_or_report(demo.SITE, "; nothing was started")
            if site is None:
                return 2
            host, port = args.host or site.server_file.server.host, args.port or site.server_file.server.port
            simulated = demo.platform_simulator(site, host, port, enabled=not args.no_platform_sim,
                                                say=functools.partial(print, flush=True))
            if not args.rtsp:
                with simulated as site:
                    return _serve(demo.SITE, args.host, args.port, demo=True, log_format=args.log_format, site=site,
                                  source="the looped sample clips as file: cameras")
            from wall import demo_rtsp

            try:
                server = demo_rtsp.prepare(site, args.rtsp_port, say=functools.partial(print, flush=True))
                server.start()
            except demo_rtsp.RtspUnavailable as exc:
                print(f"citywall demo --rtsp: {exc}\n  Without --rtsp the demo plays the same clips as file: cameras.",
                      file=sys.stderr)
                return demo_rtsp.EXIT_UNAVAILABLE
            with server, simulated as site:
                return _serve(demo.SITE, args.host, args.port, demo=True, log_format=args.log_format,
                              site=demo_rtsp.rtsp_site(site, server),
                              source=f"the sample clips over RTSP from GStreamer: {server.url('CAMERA-ID')}")
        except demo.Stopped:
            return 0


def _serve(config_dir: Path, host: str | None, port: int | None, *, demo: bool = False,
           log_format: str = "text", site: SiteConfig | None = None, source: str = "",
           cluster: str | None = None) -> int:
    import uvicorn

    from wall.app import create_app
    from wall.config import load_config_or_report

    site = site or load_config_or_report(config_dir, "; nothing was started", cluster_address=cluster)
    if site is None:
        return 2
    from vision.card import CardError
    from wall.store.db import DatabaseError

    try:
        app = create_app(site)
    except CardError as exc:
        print(f"citywall: the model card cannot be used; nothing was started:\n  {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        print(f"citywall: the database cannot be used; nothing was started:\n  {exc}", file=sys.stderr)
        return 2
    host = host or site.server_file.server.host
    port = port or site.server_file.server.port
    # With JSON logs the service's own notices are log lines too: a collector then reads only JSON objects.
    say = logging.getLogger("wall.cli").info if log_format == "json" else functools.partial(print, flush=True)
    from wall.auth.users import count

    if demo:
        _announce_demo(app, site, host, port, source)
    else:
        say(f"citywall: {len(site.cameras)} cameras; open http://{host}:{port}/")
    with app.state.services.db.session() as s:
        if count(s) == 0:  # there is no default account, on purpose
            say(f"citywall: no accounts yet; make the first admin with: citywall user add NAME --role admin "
                f"--config {config_dir}")
    # log_config=None: uvicorn's lines go through our handler (JSON or text, always redacted; wall/logs.py).
    # proxy_headers=False: X-Forwarded-For is believed only from server.trusted_proxies (the app's own middleware),
    # never from uvicorn's default of 127.0.0.1 (any local process could then claim any address)
    # ws_per_message_deflate=False: live video is H.264 already; deflating it per socket was half the event loop's
    # time with 200 viewers (bench/wall.py part 4) and saves no bytes
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=1 << 20, log_config=None,
                proxy_headers=False, ws_per_message_deflate=False)
    return 0


def _cluster(args: argparse.Namespace) -> int:
    """``citywall cluster status``: asks the workers themselves, so it works while the service is down too."""
    from wall.config import load_config_or_report

    site = load_config_or_report(args.config, cluster_address=args.cluster)
    if site is None:
        return 2
    if site.server_file.cluster is None:
        print("citywall: not a cluster site: no cluster: in server.yaml (or --cluster ADDRESS)", file=sys.stderr)
        return 2
    from wall.cluster.status import print_status

    return print_status(site.server_file.cluster, sys.stdout, site.server_file.server.database_url)


def _detect(args: argparse.Namespace) -> int:
    """Run a model card on still images: one tab-separated line per box, or one JSON document."""
    import cv2

    from vision.card import DEFAULT_CARD, CardError
    from vision.detector import Detector

    try:
        detector = Detector(args.model or DEFAULT_CARD, providers=args.providers.split(",") if args.providers else None)
    except (CardError, ValueError) as exc:
        print(f"citywall: cannot load the model:\n  {str(exc).replace(chr(10), chr(10) + '  ')}", file=sys.stderr)
        return 2
    images: list[np.ndarray] = []
    for path in args.images:
        image: np.ndarray | None = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f"citywall: {path}: cannot read as an image", file=sys.stderr)
            return 2
        images.append(image)
    results = detector.detect(images, score_threshold=args.score)
    report = []
    for path, image, det in zip(args.images, images, results, strict=True):
        assert det.class_id is not None and det.confidence is not None  # the detector sets both
        boxes: list[_Found] = [{"class": str(name), "class_id": int(cid), "score": round(float(score), 4),
                                "box": [round(float(v), 1) for v in xyxy]}
                               for name, cid, score, xyxy in zip(det.data["class_name"], det.class_id, det.confidence,
                                                                 det.xyxy, strict=True)]
        report.append({"image": str(path), "width": image.shape[1], "height": image.shape[0], "detections": boxes})
        if not args.json:
            for b in boxes:
                print("\t".join([str(path), b["class"], f"{b['score']:.3f}", *(f"{v:.1f}" for v in b["box"])]))
    if args.json:
        print(json.dumps({"model": detector.card.display_name, "images": report}, ensure_ascii=False))
    if args.save:
        import supervision as sv

        boxes_ann, labels_ann = sv.BoxAnnotator(thickness=2), sv.LabelAnnotator(text_scale=0.5)  # cv2 Hershey text
        for i, (path, image, det) in enumerate(zip(args.images, images, results, strict=True)):
            out = args.save if len(images) == 1 else args.save.with_name(f"{args.save.stem}-{i}{args.save.suffix}")
            assert det.confidence is not None  # the detector sets it
            labels = [f"{n} {s:.2f}" for n, s in zip(det.data["class_name"], det.confidence, strict=True)]
            frame = labels_ann.annotate(boxes_ann.annotate(image.copy(), det), det, labels=labels)
            if not cv2.imwrite(str(out), frame):
                print(f"citywall: {out}: cannot write the annotated image of {path}", file=sys.stderr)
                return 2
            print(f"citywall: wrote {out}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    """One camera's rules on a file: from ``--camera-config`` (the rules alone), or the site's camera (``--config
    DIR --camera ID``: its zones, look interval and analysis_max_interval, the site's catalogue and model)."""
    from settings.errors import ConfigError
    from settings.loading import load_model_file
    from vision.card import DEFAULT_CARD, CardError
    from vision.catalogue import load_catalogue
    from vision.detector import Detector
    from vision.replay import Replay, recorded_at
    from vision.rules_config import CameraRules
    from wall.config import load_config_or_report
    from wall.progress import Progress

    if (args.config is None) == (args.camera_config is None) or (args.config is None) != (args.camera is None):
        print("citywall replay: give either --camera-config FILE or --config DIR --camera ID", file=sys.stderr)
        return 2
    if not args.clip.is_file():
        print(f"citywall replay: {args.clip}: no such file", file=sys.stderr)
        return 2
    interval, max_interval, card, catalogue = 2.0, None, DEFAULT_CARD, None
    try:
        if args.config is not None:
            site = load_config_or_report(args.config, "; nothing was replayed")
            if site is None:
                return 2
            camera = next((c for c in site.cameras if c.id == args.camera), None)
            rules = site.analytics.cameras.get(args.camera) if site.analytics is not None else None
            if camera is None or rules is None:
                print(f"citywall replay: {args.config}: no analysed camera '{args.camera}'", file=sys.stderr)
                return 2
            interval, max_interval = camera.analysis_interval, camera.analysis_max_interval
            card, catalogue = site.model_card or DEFAULT_CARD, site.catalogue
        else:
            rules = load_model_file(args.camera_config, CameraRules)
        detector = Detector(args.model or card)
    except (ConfigError, CardError) as exc:
        print(f"citywall replay: {exc}", file=sys.stderr)
        return 2
    catalogue = catalogue or load_catalogue()
    problems = catalogue.zone_problems(rules)
    if problems:
        print(f"citywall replay: {args.camera_config or args.config}: {problems[0]}", file=sys.stderr)
        return 2
    interval = args.interval or interval
    max_interval = max(interval, args.max_interval or max_interval or interval)
    start, source = (args.start_time.timestamp(), "--start-time") if args.start_time else (recorded_at(args.clip),
                                                                                         "the file's creation_time")
    if start is None:
        start, source = datetime.now().timestamp(), "now: the file has no creation_time"
    print(f"citywall replay: the clip starts at {datetime.fromtimestamp(start).isoformat(timespec='seconds')} "
          f"({source}); looks every {interval:g} s (up to {max_interval:g} s on keyframes)", file=sys.stderr)
    progress = Progress("replay", unit="s")
    run = Replay(args.clip, rules, detector, detector.card.families, catalogue, interval=interval,
                 max_interval=max_interval, realtime=args.speed == "realtime", out_dir=args.out,
                 camera_id=args.camera or "replay", start_wall=start, progress=progress.update)
    for change in run.run():
        progress.clear()
        if args.json:
            print(json.dumps(change.as_dict(), ensure_ascii=False), flush=True)
        else:
            d = change.as_dict()
            print(f"{d['t']:8.1f}s {d['kind']:<8} {d['code']} {d['code_name']} zone={d['zone']} place={d['place']} "
                  f"dwell={d['dwell']:.0f}s {' '.join(f'{k}={v}' for k, v in d['evidence'].items())}", flush=True)
    progress.done(f"{run.looks} looks analysed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="citywall", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("probe", help="open a stream like the hub does and report what it sends")
    p.add_argument("url", help="rtsp://…, rtsps://… or file:path")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--seconds", type=float, default=6.0, help="how long to measure (default 6)")
    p.add_argument("--open-timeout", type=float, default=10.0)
    p.add_argument("--read-timeout", type=float, default=5.0)

    s = sub.add_parser("serve", help="run the service for a config directory")
    s.add_argument("--config", type=Path, required=True, help="directory with cameras.yaml [and server.yaml]")
    s.add_argument("--host", help="override server.host")
    s.add_argument("--port", type=int, help="override server.port")
    s.add_argument("--cluster", metavar="ADDRESS", help="run the cameras on this Ray cluster (overrides "
                   "cluster.address in server.yaml; needs server.database_url on PostgreSQL)")
    add_format_option(s)

    d = sub.add_parser("demo", help="serve the bundled sample cameras (looped CC BY 4.0 clips)",
                       description="Serve the bundled demo site: six cameras from three looped CC BY 4.0 clips, "
                       "a 2x2 hall wall with a tour and the alarm pop-up, and analytics that raise street-stall "
                       "cases within two minutes. The first run on a data directory makes an admin and an operator "
                       "with generated passwords, printed once. Ctrl-C or SIGTERM stops it (exit code 0).",
                       epilog="exit codes: 0 stopped, 2 configuration or database error, 3 --rtsp without "
                       "GStreamer's RTSP server")
    d.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    d.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    d.add_argument("--data-dir", type=Path, default=None,
                   help="database and evidence here (default: data/demo/ of the checkout, or of the current directory "
                   "when citywall is installed from a wheel; or CITYWALL_DATA_DIR)")
    d.add_argument("--rtsp", action="store_true",
                   help="serve the clips through GStreamer's RTSP server and read them as RTSP cameras (the real "
                   "ingest path; needs Debian's gir1.2-gst-rtsp-server-1.0, python3-gi and the GStreamer plugins)")
    d.add_argument("--rtsp-port", type=int, default=0, help="port of that RTSP server (default: a free one)")
    d.add_argument("--no-platform-sim", action="store_true",
                   help="without the simulated city platform (by default one runs in the demo's process: it "
                   "dispatches, checks on video and closes the cases confirmed on the desk)")
    add_format_option(d)

    t = sub.add_parser("detect", help="run a model card on images and print the boxes")
    t.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    t.add_argument("--model", type=Path, help="model card (default: the bundled YOLOX-Nano COCO)")
    t.add_argument("--json", action="store_true", help="print one JSON document")
    t.add_argument("--save", type=Path, help="write an annotated image (IMAGE-i for several)")
    t.add_argument("--score", type=float, help="minimum score for every class (default: the card's)")
    t.add_argument("--providers", help="execution providers, comma-separated: cpu,cuda,tensorrt (default: auto)")

    r = sub.add_parser("replay", help="run a recorded clip through the live analytics pipeline")
    r.add_argument("clip", type=Path, help="a video file (H.264/H.265 MP4 …)")
    r.add_argument("--camera-config", type=Path, help="YAML with the camera's zones and rules")
    r.add_argument("--config", type=Path, help="or the site's config directory, with --camera")
    r.add_argument("--camera", help="the site's camera whose zones, interval, catalogue and model to use")
    r.add_argument("--model", type=Path, help="model card (default: the site's, else the bundled YOLOX-Nano COCO)")
    r.add_argument("--speed", choices=["max", "realtime"], default="max", help="as fast as possible, or paced")
    r.add_argument("--interval", type=float, help="seconds between looks (default: the camera's, else 2)")
    r.add_argument("--max-interval", type=float, help="looks may stretch to this on keyframes (default: the "
                   "camera's analysis_max_interval)")
    r.add_argument("--start-time", type=datetime.fromisoformat, help="wall-clock time of the clip's start, for "
                   "schedules (default: the file's creation_time, else now; printed)")
    r.add_argument("--json", action="store_true", help="one JSON object per event change")
    r.add_argument("--out", type=Path, help="directory for evidence (snapshots, clips); none written without it")

    c = sub.add_parser("cluster", help="cluster mode: the nodes, the camera workers and what they run")
    c.add_argument("action", choices=["status"], help="status: nodes, workers, their cameras, events waiting")
    c.add_argument("--config", type=Path, required=True, help="the site's directory (server.yaml has cluster:)")
    c.add_argument("--cluster", metavar="ADDRESS", help="override cluster.address")

    from wall import model_commands
    from wall.auth import commands
    from wall.dataset import commands as dataset_commands
    from wall.learning import commands as learning_commands
    from wall.platform import commands as platform_commands
    from wall.platform import simulator_server

    commands.add_parsers(sub)
    dataset_commands.add_parsers(sub)
    learning_commands.add_parsers(sub)
    model_commands.add_parsers(sub)
    platform_commands.add_parsers(sub)
    simulator_server.add_parser(sub)

    args = parser.parse_args(argv)
    configure_logging(getattr(args, "log_format", None) or default_format(),
                      logging.DEBUG if args.verbose else logging.INFO)
    if args.command == "probe":
        return _probe(args)
    if args.command == "detect":
        return _detect(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "cluster":
        return _cluster(args)
    if args.command == "serve":
        from wall.shutdown import Stopped, stop_on_signals

        with stop_on_signals():
            try:
                return _serve(args.config, args.host, args.port, log_format=args.log_format, cluster=args.cluster)
            except Stopped:
                return 0
    account_result = commands.run(args)
    if account_result is None:
        account_result = dataset_commands.run(args)
    if account_result is None:
        account_result = learning_commands.run(args)  # train, evaluate, model promote/rollback/history
    if account_result is None:
        account_result = model_commands.run(args)
    if account_result is None:
        account_result = platform_commands.run(args)
    if account_result is None:
        account_result = simulator_server.run(args)
    if account_result is not None:
        return account_result
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
