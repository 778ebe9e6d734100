"""News-feed aggregator and monitor: poll, normalize, dedup, cluster, match, alert."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/newsfeed-monitor/aggregator"


def user_agent(contact: str | None = None) -> str:
    """A stable, descriptive User-Agent: product, version, project URL (+ contact)."""
    extra = f"; {contact}" if contact else ""
    return f"aggregator/{__version__} (+{PROJECT_URL}{extra})"
