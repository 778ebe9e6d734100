"""``python -m aggregator.demo``: see aggregator.demo.runner."""

import sys

from aggregator.demo.runner import main

sys.exit(main())
