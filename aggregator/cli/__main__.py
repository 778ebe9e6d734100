"""``python -m aggregator.cli``: the same command as ``aggregator``."""

import sys

from aggregator.cli import main

sys.exit(main())
