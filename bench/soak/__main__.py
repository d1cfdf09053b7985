"""``python -m bench.soak``: the soak run (bench/soak/__init__.py says what it does and why)."""

import sys

from bench.soak import main

sys.exit(main())
