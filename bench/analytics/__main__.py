"""``python -m bench.analytics``: the command line lives in the package (bench/analytics/__init__.py main).

The harness starts its workers this way too (``python -m bench.analytics --worker SIDE ...``).
"""

import sys

from bench.analytics import main

sys.exit(main())
