"""Apprise channel: chat and push services (Telegram, Slack, Discord, Matrix, ntfy,
Gotify, Pushover, Teams …) through the Apprise library, behind the same outbox as the
other channels (leases, retries with backoff, dead letter, ``alerts retry``).

Each URL gets a body fitted to its service's own limit (``body_maxlen``: 2 000
characters for Discord, 4 096 for Telegram, a few hundred for SMS gateways), with what
caused the alert first, so a short message still says what happened. Apprise answers a
failed notify with ``False`` and log lines; the warnings and errors of this call become
the attempt's recorded reason — never a silent success. Apprise does not sign; the
signed webhook stays our own code (``webhook.py``).

Apprise is imported when a channel is built, not with this module: a daemon without an
Apprise channel never loads its plugins.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aggregator.alerts.message import AlertMessage, render_short, subject
from aggregator.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

_REASON_MAX = 300
_FAILURE_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class AppriseSettings:
    """One Apprise channel: its URLs (secrets already resolved from the environment;
    never shown in ``repr`` or messages) and a timeout per attempt."""

    urls: tuple[str, ...] = field(repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(self.urls))
        problems: list[str] = []
        if not self.urls:
            problems.append("urls: at least one URL is needed")
        for i, url in enumerate(self.urls):
            if _plugin(url) is None:
                # The URL usually carries a token: name its scheme, not the URL.
                scheme = urlsplit(url).scheme or "(none)"
                problems.append(
                    f"urls[{i}]: not a URL Apprise can send to (scheme {scheme!r}); "
                    "see the Apprise documentation for the service's URL format"
                )
        if self.timeout <= 0:
            problems.append("timeout: must be positive")
        if problems:
            raise ConfigError(problems)


class AppriseDeliveryError(DeliveryError):
    """A failed Apprise notify; ``reason`` carries Apprise's warnings and errors."""


def _asset() -> Any:
    import apprise

    # Memory only: no cache files under the user's home, nothing left between runs.
    return apprise.AppriseAsset(storage_mode="memory")


def _plugin(url: str, asset: Any = None) -> Any:
    import apprise

    return apprise.Apprise.instantiate(url, asset=asset or _asset())


def fit(msg: AlertMessage, body_max: int, title_max: int) -> tuple[str, str]:
    """(title, body) for a service that takes at most these many characters; a
    service without titles (``title_max`` 0) gets the subject as the body's first line."""
    title = subject(msg)
    if title_max <= 0:
        body = render_short(msg, max(body_max - len(title) - 1, 0))
        return "", f"{title}\n{body}"[:body_max]
    if len(title) > title_max:
        title = title[: max(title_max - 1, 0)].rstrip() + "…"
    return title, render_short(msg, body_max)


class AppriseChannel:
    """Sends alerts to every URL of one Apprise channel."""

    # How many alerts' partial deliveries are remembered: alerts in retry at once are
    # bounded by the outbox's claim size, far below this.
    TAKEN_MAX = 4096

    def __init__(self, settings: AppriseSettings) -> None:
        self.settings = settings
        # alert id -> the indexes of the URLs that took it, while another URL has not:
        # a retry then sends only to the rest, so a service that was up is not sent
        # the alert twice. Kept in this process only (after a restart a retry sends to
        # every URL again, which the alert id in the body lets a reader tell).
        self._taken: OrderedDict[str, set[int]] = OrderedDict()
        self._lock = threading.Lock()  # _notify_all runs in worker threads

    async def send(self, msg: AlertMessage) -> None:
        """Notify every URL; raise ``AppriseDeliveryError`` if any did not take it.

        A retry sends only to the URLs that have not taken the alert yet (remembered in
        this process; after a restart, to every URL again: the alert id in the body lets
        a reader tell a repeat).
        """
        try:
            # Apprise is synchronous; the bound here keeps a stuck service from
            # holding the delivery job past its lease.
            async with asyncio.timeout(self.settings.timeout + 5):
                await asyncio.to_thread(self._notify_all, msg)
        except TimeoutError as exc:
            raise AppriseDeliveryError(f"timeout after {self.settings.timeout:g}s") from exc

    def _notify_all(self, msg: AlertMessage) -> None:
        import apprise

        asset = _asset()
        failures: list[str] = []
        with self._lock:
            taken = set(self._taken.get(msg.alert_id, ()))
        for i, url in enumerate(self.settings.urls):
            if i in taken:
                continue
            plugin = _plugin(url, asset)
            if plugin is None:
                failures.append(f"urls[{i}]: Apprise cannot send to this URL")
                continue
            plugin.socket_connect_timeout = min(self.settings.timeout, 10.0)
            plugin.socket_read_timeout = self.settings.timeout
            title, body = fit(msg, int(plugin.body_maxlen), int(plugin.title_maxlen))
            notifier = apprise.Apprise(asset=asset)
            notifier.add(plugin)
            result = notifier.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=self.settings.timeout,
                log_level=logging.WARNING,
            )
            with result:
                if result:
                    taken.add(i)
                    continue
                # Read whole before anything else: the log store is released on close.
                entries = list(result.logs())
                said = [
                    " ".join(str(e.message).split())
                    for e in entries
                    if str(e.level).upper() in _FAILURE_LEVELS
                ]
                failures.append(
                    f"urls[{i}] ({plugin.service_name}): "
                    + ("; ".join(said) or f"notify failed ({result.status.name})")
                )
        with self._lock:
            if failures and taken:
                self._taken[msg.alert_id] = taken
                self._taken.move_to_end(msg.alert_id)
                while len(self._taken) > self.TAKEN_MAX:
                    self._taken.popitem(last=False)
            else:
                self._taken.pop(msg.alert_id, None)
        if failures:
            raise AppriseDeliveryError(" | ".join(failures)[:_REASON_MAX])


__all__ = ["AppriseChannel", "AppriseDeliveryError", "AppriseSettings", "fit"]
