"""``python -m bench.ingest``: the command line lives in the package (bench/ingest/__init__.py main)."""

import sys

from bench.ingest import main

sys.exit(main())
