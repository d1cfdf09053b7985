"""The ``citywall`` command line: probe a stream, serve a site, run the demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo"


def _probe(args: argparse.Namespace) -> int:
    from streams.probe import probe

    result = probe(args.url, seconds=args.seconds, open_timeout=args.open_timeout, read_timeout=args.read_timeout)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print(result.line())
    return result.exit_code


def _serve(config_dir: Path, host: str | None, port: int | None) -> int:
    import uvicorn

    from wall.app import create_app
    from wall.config import ConfigError, load_config

    try:
        site = load_config(config_dir)
    except ConfigError as exc:
        print("citywall: the configuration has errors; nothing was started:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    app = create_app(site)
    host = host or site.server.host
    port = port or site.server.port
    print(f"citywall: {len(site.cameras)} cameras; open http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=1 << 20)
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

    d = sub.add_parser("demo", help="serve the bundled sample cameras (looped CC BY 4.0 clips)")
    d.add_argument("--host", default=None)
    d.add_argument("--port", type=int, default=None)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "probe":
        return _probe(args)
    if args.command == "serve":
        return _serve(args.config, args.host, args.port)
    return _serve(DEMO_CONFIG, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
