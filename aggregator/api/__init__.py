"""The archive over HTTP: JSON API, web page, Atom feeds, health and metrics."""

from aggregator.api.app import ApiSettings, Commands, create_app
from aggregator.api.server import serve

__all__ = ["ApiSettings", "Commands", "create_app", "serve"]
