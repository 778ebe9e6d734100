"""A channel's own settings from its configuration: shared by the composition root
(``aggregator.compose``) and the configuration check (``aggregator.config``).

Its own module so that checking a configuration (every CLI command loads one) imports
the two channel modules and not the composition root, which imports every stage of
the daemon (parsing, clustering, extraction): seconds of imports for ``aggregator
feeds`` (issue 17).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aggregator.alerts.apprise import AppriseSettings
from aggregator.alerts.email import EmailSettings
from aggregator.alerts.webhook import WebhookSettings

if TYPE_CHECKING:
    from aggregator.config import AnyChannelConfig


def channel_settings(
    cfg: AnyChannelConfig,
) -> EmailSettings | WebhookSettings | AppriseSettings:
    """A channel's own settings; ConfigError with their problems (the configuration
    check calls this too, so `config check` refuses what the daemon would)."""
    # config imports this module
    from aggregator import user_agent
    from aggregator.config import AppriseChannelConfig, EmailChannelConfig

    if isinstance(cfg, EmailChannelConfig):
        return EmailSettings(
            host=cfg.host,
            sender=cfg.sender,
            to=tuple(cfg.to),
            port=cfg.port,
            security=cfg.security,
            username=cfg.username,
            password=cfg.password,
            timeout=cfg.timeout,
            ca_file=cfg.ca_file,
        )
    if isinstance(cfg, AppriseChannelConfig):
        return AppriseSettings(urls=tuple(cfg.urls), timeout=cfg.timeout)
    return WebhookSettings(
        url=cfg.url,
        secret=cfg.secret,
        timeout=cfg.timeout,
        headers=dict(cfg.headers),
        user_agent=user_agent(),
    )
