"""The benchmark's feed farm (`benchmarks/farm.py`), for tests that check a path on it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FARM_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "farm.py"


def load_farm() -> ModuleType:
    # benchmarks/ is a folder of scripts, not a package: load the module by path.
    spec = importlib.util.spec_from_file_location("bench_farm", FARM_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
