"""Webhook channel: signed JSON POSTs following the Standard Webhooks specification.

Every attempt sends the same body and the same ``webhook-id`` (the alert id), with this
attempt's ``webhook-timestamp`` and a ``v1`` HMAC-SHA256 signature over
``id.timestamp.body`` — the exact bytes sent. Receivers verify with any Standard
Webhooks library (or ``verify_signature`` below) and drop repeats by id.

Status handling, as the specification recommends:

- 2xx: delivered.
- 410 Gone: ``DeliveryError`` permanent with ``endpoint_gone=True``; disable the endpoint.
- 400/413/422: permanent; the receiver rejects this payload, resending it cannot help.
- 3xx: failure, not followed (the configured URL should be updated instead); retryable
  so alerts wait while the operator fixes the URL.
- 408, 425, 429, 5xx and any other 4xx (401/403/404 are usually a half-deployed or
  misconfigured receiver): retryable, with ``Retry-After`` (seconds or HTTP date).
- connection errors and timeouts: retryable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType

import httpx

from aggregator import __version__
from aggregator.alerts.message import AlertMessage, webhook_payload
from aggregator.errors import ConfigError, DeliveryError
from aggregator.models import header_problems

SECRET_PREFIX = "whsec_"
DEFAULT_USER_AGENT = f"aggregator-webhook/{__version__}"

# Headers the channel owns; an extra header may not replace them (a mistyped
# ``content-type`` or a stale ``webhook-signature`` would break every receiver).
_RESERVED = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "user-agent",  # set with ``user_agent``
    }
)
_PERMANENT_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """One webhook endpoint.

    - ``url``: http(s) endpoint to POST to.
    - ``secret``: ``whsec_`` + base64 of the key bytes (Standard Webhooks); the prefix
      is optional, as in the reference library. Resolved from the environment.
    - ``timeout``: seconds for the whole attempt (connect, send, response headers).
    - ``headers``: extra request headers (e.g. an ``Authorization`` the receiver wants).
    - ``user_agent``: sent as ``User-Agent``.
    - ``extra_secrets``: more keys to sign with, for rotation: every request carries one
      ``v1`` signature per key, so the receiver can switch keys at its own pace.
    """

    url: str
    secret: str = field(repr=False)
    timeout: float = 15.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # often a token
    user_agent: str = DEFAULT_USER_AGENT
    extra_secrets: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # The config may hand in a list and a dict; keep the frozen value immutable.
        object.__setattr__(self, "extra_secrets", tuple(self.extra_secrets))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        problems: list[str] = []
        try:
            url = httpx.URL(self.url)
        except httpx.InvalidURL:
            problems.append(f"url: not a valid URL: {self.url!r}")
        else:
            if url.scheme not in ("http", "https") or not url.host:
                problems.append(f"url: must be an absolute http(s) URL: {self.url!r}")
        try:
            decode_secret(self.secret)
        except ValueError as exc:
            problems.append(f"secret: {exc}")
        for i, extra in enumerate(self.extra_secrets):
            try:
                decode_secret(extra)
            except ValueError as exc:
                problems.append(f"extra_secrets[{i}]: {exc}")
        if self.timeout <= 0:
            problems.append("timeout: must be positive")
        problems.extend(
            f"headers: {p}" for p in header_problems(self.headers, _RESERVED, "the webhook")
        )
        if problems:
            raise ConfigError(problems)


class WebhookDeliveryError(DeliveryError):
    """A failed webhook attempt. ``endpoint_gone`` (410) asks the caller to disable it."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: datetime | None = None,
        permanent: bool = False,
        endpoint_gone: bool = False,
    ) -> None:
        super().__init__(reason, retry_after=retry_after, permanent=permanent)
        self.status = status
        self.endpoint_gone = endpoint_gone


def decode_secret(secret: str) -> bytes:
    """The HMAC key: ``secret`` without ``whsec_``, base64-decoded. ``ValueError`` if bad."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be 'whsec_' followed by base64") from None
    # The specification asks for 24-64 random bytes; fewer is a guessable key.
    if len(key) < 16:
        raise ValueError(f"key is {len(key)} bytes, need at least 16 (24-64 recommended)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64 HMAC-SHA256>`` signature of ``msg_id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = 300,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether ``body`` with ``headers`` carries a valid, fresh ``v1`` signature.

    ``headers`` may be any mapping (names compared case-insensitively). The timestamp
    must be within ``tolerance`` seconds of ``now`` (default: the current time), which
    stops replays of an old, captured request. Any listed ``v1`` signature may match
    (key rotation lists several).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        return False
    if not stamp.isdigit():
        return False
    try:
        timestamp = int(stamp)
        key = decode_secret(secret)
    except ValueError:
        return False
    current = (now or datetime.now(UTC)).timestamp()
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(key, msg_id, timestamp, body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    )


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """``Retry-After`` as an absolute time: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        # A hostile or buggy receiver could send 10**30; cap at a year (retry.py's
        # max_age dead-letters long before that anyway).
        return now + timedelta(seconds=min(int(value), 365 * 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown origin (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return when if when > now else now


def encode_body(msg: AlertMessage) -> bytes:
    """The exact JSON bytes sent (and signed) for ``msg``; the same on every retry."""
    payload = webhook_payload(msg)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC)


class WebhookChannel:
    """Sends alerts to one webhook endpoint through the injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        settings: WebhookSettings,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self._client = client
        self._keys = [decode_secret(k) for k in (settings.secret, *settings.extra_secrets)]
        self._clock = clock

    def headers_for(self, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
        """The request headers for one attempt at ``now``."""
        timestamp = int(now.timestamp())
        headers = dict(self.settings.headers)
        headers.update(
            {
                "content-type": "application/json",
                "user-agent": self.settings.user_agent,
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": " ".join(
                    sign(key, msg_id, timestamp, body) for key in self._keys
                ),
            }
        )
        return headers

    async def send(self, msg: AlertMessage) -> None:
        """POST ``msg``; return on 2xx, else raise ``WebhookDeliveryError``."""
        body = encode_body(msg)
        now = self._clock()
        request = self._client.build_request(
            "POST",
            self.settings.url,
            content=body,
            headers=self.headers_for(msg.alert_id, body, now),
            timeout=self.settings.timeout,
        )
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt, so a
            # receiver trickling its headers cannot hold the delivery job.
            async with asyncio.timeout(self.settings.timeout):
                # Streamed and closed unread: only the status and headers matter, and a
                # receiver should not be able to make us download a large error page.
                response = await self._client.send(request, stream=True, follow_redirects=False)
                await response.aclose()
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise WebhookDeliveryError(f"timeout after {self.settings.timeout:g}s") from exc
        except httpx.TransportError as exc:
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise WebhookDeliveryError(f"connection failed: {detail}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        raise _status_error(response, self._clock())


def _status_error(response: httpx.Response, now: datetime) -> WebhookDeliveryError:
    status = response.status_code
    reason = f"HTTP {status}"
    if status == 410:
        return WebhookDeliveryError(
            reason + ": endpoint gone, disable it",
            status=status,
            permanent=True,
            endpoint_gone=True,
        )
    if 300 <= status < 400:
        location = response.headers.get("location", "")[:200]
        return WebhookDeliveryError(
            f"{reason}: redirect to {location!r} not followed; update the webhook URL",
            status=status,
        )
    if status in _PERMANENT_STATUSES:
        return WebhookDeliveryError(reason + ": payload rejected", status=status, permanent=True)
    return WebhookDeliveryError(
        reason,
        status=status,
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
    )
