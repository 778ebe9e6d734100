"""News-feed aggregator and monitor: poll, normalize, dedup, cluster, match, alert."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/newsfeed-monitor/aggregator"
