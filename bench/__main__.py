"""``python -m bench``: run every benchmark in bench/ with its defaults, one after the other.

Each benchmark is a module with ``main(argv) -> int`` that prints its own table; this runner only sequences
them (never in parallel: they measure CPU time on this machine, so two at once would count each other).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

BENCHMARKS = ("ingest", "analytics", "wall", "rendition", "recording", "playback", "cases", "platform",
              "cluster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--json-dir", type=Path, help="write each benchmark's results to DIR/NAME.json")
    args = parser.parse_args(argv)

    status = 0
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        bench_args: list[str] = []
        if args.json_dir is not None:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            bench_args += ["--json", str(args.json_dir / f"{name}.json")]
        print(f"== bench.{name}", flush=True)
        status = module.main(bench_args) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
