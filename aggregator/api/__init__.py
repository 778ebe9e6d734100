"""The archive over HTTP: JSON API, web page, Atom feeds, health and metrics.

The names are imported on first use (PEP 562): the daemon imports ``api.server`` at
start, and the application (FastAPI, Starlette, pydantic's request models, ~10 MiB
of heap) with the first request it serves (issue 17, ``server.FirstRequestApp``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.api.app import ApiSettings, Commands, create_app
    from aggregator.api.server import serve

__all__ = ["ApiSettings", "Commands", "create_app", "serve"]

_HOMES = {
    "ApiSettings": "aggregator.api.app",
    "Commands": "aggregator.api.app",
    "create_app": "aggregator.api.app",
    "serve": "aggregator.api.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
