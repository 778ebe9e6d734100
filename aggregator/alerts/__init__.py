"""Alert rules, messages, retry policy and delivery channels (email, webhook).

Everything that *decides* is a pure function (``rules.decide``, ``retry.next_attempt``,
the renderers in ``message``); the channels only send. The outbox that stores, claims
and marks alerts lives in ``aggregator.store``; the daemon's ``deliver`` job
(``aggregator.daemon``) drives delivery.
"""

from __future__ import annotations

from typing import Protocol

from aggregator.alerts.message import AlertMessage


class Channel(Protocol):
    """What the delivery job needs from a channel: send or raise ``DeliveryError``."""

    async def send(self, msg: AlertMessage) -> None: ...
