"""Webhook channel against a real receiver on 127.0.0.1: signatures, ids, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aggregator.alerts.message import AlertMessage, ArticleRef, EventSummary, webhook_payload
from aggregator.alerts.retry import RetrySettings, next_attempt
from aggregator.alerts.webhook import (
    WebhookChannel,
    WebhookDeliveryError,
    WebhookSettings,
    decode_secret,
    encode_body,
    parse_retry_after,
    sign,
    verify_signature,
)
from aggregator.compose import load_config
from aggregator.errors import ConfigError
from tests.support.webhook_receiver import Reply, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
T0 = datetime(2026, 11, 4, 9, 15, tzinfo=UTC)


def message(alert_id: str = "a1b2c3", trigger: str = "new_event") -> AlertMessage:
    articles = (
        ArticleRef("North Korean troops arrive in Kursk", "https://example.org/a", "Wire", T0),
        ArticleRef("Troops <b>seen</b> near Kursk", "javascript:alert(1)", "Daily", T0),
    )
    event = EventSummary(
        cluster_id=42,
        headline="North Korean troops arrive in Russia's Kursk region",
        first_seen=T0,
        last_updated=T0 + timedelta(minutes=40),
        outlets=("Wire", "Daily"),
        article_count=2,
        matched_terms=("north korean", "kursk"),
        articles=articles,
    )
    return AlertMessage(alert_id, "kursk", "nk-troops", trigger, T0, (event,))  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        yield r


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def channel(url: str, client: httpx.AsyncClient, **kw: object) -> WebhookChannel:
    return WebhookChannel(WebhookSettings(url, SECRET, **kw), client)  # type: ignore[arg-type]


# --- signing --------------------------------------------------------------------------

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_reproduces_the_standard_webhooks_test_vector() -> None:
    # The published vector: matching it is what makes existing receiver libraries
    # accept our signatures.
    assert sign(decode_secret(VECTOR_SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG


def test_verify_signature_accepts_the_vector_and_rotated_lists() -> None:
    at = datetime.fromtimestamp(VECTOR_TS, UTC)
    headers = {"Webhook-Id": VECTOR_ID, "Webhook-Timestamp": str(VECTOR_TS)}
    ok = {**headers, "Webhook-Signature": VECTOR_SIG}
    assert verify_signature(VECTOR_SECRET, ok, VECTOR_BODY, now=at)
    rotated = {**headers, "webhook-signature": "v1,bm9wZQ== v1a,xyz " + VECTOR_SIG}
    assert verify_signature(VECTOR_SECRET, rotated, VECTOR_BODY, now=at)
    # The prefix is optional, as in the reference library.
    assert verify_signature(VECTOR_SECRET.removeprefix("whsec_"), ok, VECTOR_BODY, now=at)


@pytest.mark.parametrize(
    ("change", "body", "offset"),
    [
        ({}, VECTOR_BODY + b" ", 0),  # body changed
        ({"webhook-id": "msg_other"}, VECTOR_BODY, 0),  # id changed
        ({"webhook-timestamp": str(VECTOR_TS + 1)}, VECTOR_BODY, 0),  # timestamp changed
        ({}, VECTOR_BODY, 301),  # too old: replay
        ({}, VECTOR_BODY, -301),  # from the future
        ({"webhook-signature": ""}, VECTOR_BODY, 0),
        ({"webhook-timestamp": "soon"}, VECTOR_BODY, 0),
        ({"webhook-signature": VECTOR_SIG.replace("v1,", "v2,")}, VECTOR_BODY, 0),
    ],
)
def test_verify_signature_rejects(change: dict[str, str], body: bytes, offset: int) -> None:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIG,
        **change,
    }
    at = datetime.fromtimestamp(VECTOR_TS + offset, UTC)
    assert not verify_signature(VECTOR_SECRET, headers, body, now=at)


def test_verify_signature_rejects_another_secret() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS)}
    headers["webhook-signature"] = VECTOR_SIG
    at = datetime.fromtimestamp(VECTOR_TS, UTC)
    assert not verify_signature(SECRET, headers, VECTOR_BODY, now=at)


# --- payload --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "kind"),
    [
        ("new_event", "event.new"),
        ("min_sources", "event.corroborated"),
        ("every_article", "article.new"),
        ("digest", "digest"),
    ],
)
def test_payload_type_follows_the_trigger(trigger: str, kind: str) -> None:
    assert webhook_payload(message(trigger=trigger))["type"] == kind


def test_payload_carries_the_event_and_drops_unsafe_links() -> None:
    payload = webhook_payload(message())
    assert payload["timestamp"] == "2026-11-04T09:15:00Z"
    data = payload["data"]
    assert data["alert_id"] == "a1b2c3"
    assert data["rule"] == "kursk"
    assert data["topic"] == "nk-troops"
    (event,) = data["events"]
    assert event["cluster_id"] == 42
    assert event["outlets"] == ["Wire", "Daily"]
    assert event["matched_terms"] == ["north korean", "kursk"]
    assert event["first_seen"] == "2026-11-04T09:15:00Z"
    assert event["last_updated"] == "2026-11-04T09:55:00Z"
    assert [a["url"] for a in event["articles"]] == ["https://example.org/a", None]
    assert webhook_payload(message(), max_articles=1)["data"]["events"][0]["article_count"] == 2
    assert len(webhook_payload(message(), max_articles=1)["data"]["events"][0]["articles"]) == 1


def test_body_is_identical_on_every_encoding() -> None:
    assert encode_body(message()) == encode_body(message())
    assert json.loads(encode_body(message())) == webhook_payload(message())


def test_alert_ids_with_dots_are_refused() -> None:
    # Standard Webhooks signs "id.timestamp.body": a dot in the id would be ambiguous.
    with pytest.raises(ValueError, match="alert_id"):
        message(alert_id="a.b")


# --- settings -------------------------------------------------------------------------


def test_settings_report_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        WebhookSettings(
            "ftp://example.org/x",
            "whsec_not base64!",
            timeout=0,
            headers={"Webhook-Signature": "x", "X-Team": "ops"},
        )
    fields = [p.split(":")[0] for p in info.value.problems]
    assert fields == ["url", "secret", "timeout", "headers"]
    assert "Webhook-Signature" in info.value.problems[-1]
    with pytest.raises(ConfigError, match="control characters"):
        WebhookSettings("https://example.org/h", SECRET, headers={"X-A": "1\r\nX-B: 2"})
    with pytest.raises(ConfigError, match="User-Agent"):
        WebhookSettings("https://example.org/h", SECRET, headers={"User-Agent": "x"})


def test_short_keys_are_refused_and_secret_is_not_in_repr() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        WebhookSettings("https://example.org/h", "whsec_" + base64.b64encode(b"short").decode())
    assert "whsec" not in repr(WebhookSettings("https://example.org/h", SECRET))


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", T0) == T0 + timedelta(seconds=120)
    assert parse_retry_after("Wed, 04 Nov 2026 10:00:00 GMT", T0) == datetime(
        2026, 11, 4, 10, tzinfo=UTC
    )
    assert parse_retry_after("Wed, 04 Nov 2026 08:00:00 GMT", T0) == T0  # in the past: now
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None
    assert parse_retry_after("-5", T0) is None
    assert parse_retry_after("9" * 40, T0) == T0 + timedelta(days=365)


# --- delivery against the real receiver -------------------------------------------------


async def test_send_posts_signed_json_with_standard_headers(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    msg = message()
    hook = channel(receiver.url, client, headers={"X-Team": "ops"})
    await hook.send(msg)
    (got,) = receiver.requests
    assert got.signature_valid
    assert got.status == 200
    assert got.webhook_id == "a1b2c3"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("aggregator-webhook/")
    assert got.headers["x-team"] == "ops"
    assert got.json() == webhook_payload(msg)
    # Independent check of the signature over the exact bytes received.
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"a1b2c3.{got.headers['webhook-timestamp']}.".encode() + got.body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == "v1," + digest
    assert receiver.delivered_ids == ["a1b2c3"]


async def test_500_then_timeout_then_429_then_200_same_id_valid_signatures(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    receiver.script(Reply(500), Reply(hang=10), Reply(429, retry_after="120"), Reply(200))
    hook = channel(receiver.url, client, timeout=0.5)
    msg = message()
    rng = random.Random(7)
    settings = RetrySettings(base_delay=timedelta(seconds=5), max_delay=timedelta(minutes=10))
    # The schedule is computed as the delivery job would; the test does not wait for it.
    attempt, schedule, dues, errors = 1, [], [], []
    while True:
        try:
            await hook.send(msg)
            break
        except WebhookDeliveryError as exc:
            errors.append(exc)
            now = datetime.now(UTC)
            nxt = next_attempt(attempt, exc, now, rng, settings=settings, created_at=now)
            assert nxt is not None
            schedule.append(nxt - now)
            dues.append(nxt)
            attempt += 1
    assert [e.status for e in errors] == [500, None, 429]
    assert "timeout" in errors[1].reason
    assert not any(e.permanent for e in errors)
    # Backoff caps 5 s, 10 s, 20 s; Retry-After: 120 overrides the third.
    assert schedule[0] <= timedelta(seconds=5)
    assert schedule[1] <= timedelta(seconds=10)
    assert dues[2] == errors[2].retry_after
    assert schedule[2] > timedelta(seconds=20)
    # Four attempts, one id, every signature valid; delivered exactly once.
    assert [r.webhook_id for r in receiver.requests] == ["a1b2c3"] * 4
    assert all(r.signature_valid for r in receiver.requests)
    assert [r.status for r in receiver.requests] == [500, None, 429, 200]
    assert receiver.delivered_ids == ["a1b2c3"]
    # The body is the same bytes on every attempt (only the timestamp header moves).
    assert len({r.body for r in receiver.requests}) == 1


async def test_each_attempt_gets_its_own_timestamp_and_signature(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    receiver.script(Reply(503), Reply(200))
    base = datetime.now(UTC)
    ticks = iter([base, base, base + timedelta(seconds=30), base + timedelta(seconds=30)])
    hook = WebhookChannel(WebhookSettings(receiver.url, SECRET), client, clock=lambda: next(ticks))
    with pytest.raises(WebhookDeliveryError):
        await hook.send(message())
    await hook.send(message())
    first, second = receiver.requests
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 30
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.signature_valid
    assert second.signature_valid


async def test_410_is_permanent_and_marks_the_endpoint_gone(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    receiver.script(Reply(410))
    with pytest.raises(WebhookDeliveryError) as info:
        await channel(receiver.url, client).send(message())
    assert info.value.permanent
    assert info.value.endpoint_gone
    assert info.value.status == 410
    assert next_attempt(1, info.value, T0, random.Random(0)) is None


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_rejected_payloads_are_permanent(
    receiver: WebhookReceiver, client: httpx.AsyncClient, status: int
) -> None:
    receiver.script(Reply(status))
    with pytest.raises(WebhookDeliveryError) as info:
        await channel(receiver.url, client).send(message())
    assert info.value.permanent
    assert not info.value.endpoint_gone


@pytest.mark.parametrize("status", [401, 404, 408, 500, 502, 503, 504])
async def test_other_failures_are_retryable(
    receiver: WebhookReceiver, client: httpx.AsyncClient, status: int
) -> None:
    receiver.script(Reply(status, retry_after="Wed, 21 Oct 2099 07:28:00 GMT"))
    with pytest.raises(WebhookDeliveryError) as info:
        await channel(receiver.url, client).send(message())
    assert not info.value.permanent
    assert info.value.status == status
    assert info.value.retry_after == datetime(2099, 10, 21, 7, 28, tzinfo=UTC)


async def test_redirects_are_failures_and_not_followed(
    receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    receiver.script(Reply(302, headers={"Location": receiver.url + "/elsewhere"}))
    with pytest.raises(WebhookDeliveryError) as info:
        await channel(receiver.url, client).send(message())
    assert info.value.status == 302
    assert "update the webhook URL" in info.value.reason
    assert not info.value.permanent
    assert len(receiver.requests) == 1  # the Location was not requested
    assert receiver.delivered_ids == []


async def test_connection_refused_is_retryable(client: httpx.AsyncClient) -> None:
    with socket.socket() as s:  # a port that was just free and is now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WebhookDeliveryError) as info:
        await channel(f"http://127.0.0.1:{port}/hook", client).send(message())
    assert not info.value.permanent
    assert info.value.status is None
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_receiver_rejects_a_forged_signature(receiver: WebhookReceiver) -> None:
    # The receiver really verifies: a request signed with another key is refused.
    other = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
    async with httpx.AsyncClient() as c:
        hook = WebhookChannel(WebhookSettings(receiver.url, other), c)
        with pytest.raises(WebhookDeliveryError) as info:
            await hook.send(message())
    assert info.value.status == 401
    assert receiver.delivered_ids == []


@dataclass
class Row:
    """An outbox row, as far as this test needs one."""

    alert_id: str
    due: datetime
    attempts: int = 0


async def test_a_flaky_receiver_gets_every_alert_exactly_once(client: httpx.AsyncClient) -> None:
    # A miniature outbox, driven the way the delivery job drives it: due rows are sent
    # in order of due time on a simulated clock, failures rescheduled by next_attempt.
    # The channel signs with the simulated clock, so the receiver's replay window is
    # opened wide; everything else (HTTP, signatures, status handling) is real.
    with WebhookReceiver(SECRET, tolerance=10**9) as receiver:
        receiver.script(
            Reply(500),
            Reply(200),
            Reply(429, retry_after="90"),
            Reply(hang=10),
            Reply(503, retry_after="Wed, 04 Nov 2026 11:00:00 GMT"),
            Reply(200),
            Reply(502),
        )
        now = T0
        hook = WebhookChannel(
            WebhookSettings(receiver.url, SECRET, timeout=0.5), client, clock=lambda: now
        )
        rows = [Row(f"alert-{i}", T0) for i in range(4)]
        rng = random.Random(11)
        not_before: dict[str, datetime] = {}  # from Retry-After
        honoured = 0
        while rows:
            row = min(rows, key=lambda r: (r.due, r.alert_id))
            now = max(now, row.due)
            if row.alert_id in not_before:
                assert now >= not_before.pop(row.alert_id)
                honoured += 1
            try:
                await hook.send(message(row.alert_id))
            except WebhookDeliveryError as exc:
                row.attempts += 1
                nxt = next_attempt(row.attempts, exc, now, rng, created_at=T0)
                assert nxt is not None
                if exc.retry_after is not None:
                    not_before[row.alert_id] = exc.retry_after
                row.due = nxt
            else:
                rows.remove(row)
    assert honoured == 2
    assert sorted(receiver.delivered_ids) == [f"alert-{i}" for i in range(4)]
    assert all(r.signature_valid for r in receiver.requests)
    assert len(receiver.requests) == 9  # 4 successes + 5 scripted failures
    by_id: dict[str | None, set[bytes]] = {}
    for r in receiver.requests:
        by_id.setdefault(r.webhook_id, set()).add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())


async def test_rotation_signs_with_every_key(client: httpx.AsyncClient) -> None:
    new_secret = "whsec_" + base64.b64encode(b"the next key, 24 bytes!!").decode()
    settings = WebhookSettings("http://127.0.0.1:1/x", SECRET, extra_secrets=[new_secret])  # type: ignore[arg-type]
    # Receivers on the old key and on the new key both accept the same request.
    with WebhookReceiver(SECRET) as old_side, WebhookReceiver(new_secret) as new_side:
        for receiver in (old_side, new_side):
            hook = WebhookChannel(replace(settings, url=receiver.url), client)
            await hook.send(message())
            (got,) = receiver.requests
            assert got.signature_valid
            assert len(got.headers["webhook-signature"].split(" ")) == 2
    with pytest.raises(ConfigError, match=r"extra_secrets\[0\]"):
        WebhookSettings("https://example.org/h", SECRET, extra_secrets=("whsec_!!",))


def test_header_values_must_be_ascii_and_stay_out_of_reprs() -> None:
    # httpx sends header values as ASCII: a non-ASCII one failed every delivery. The
    # same check as a feed's headers; the value (a bearer token) is never echoed.
    with pytest.raises(ConfigError) as info:
        WebhookSettings("https://example.org/h", SECRET, headers={"X-Team": "équipe-s3cret"})
    assert list(info.value.problems) == ["headers: X-Team: non-ASCII characters in the value"]
    token = "Bearer s3cret-token"
    settings = WebhookSettings("https://example.org/h", SECRET, headers={"Authorization": token})
    assert token not in repr(settings)
    loaded = load_config(
        None,
        text=(
            "channels:\n  - name: hook\n    type: webhook\n    url: https://example.org/h\n"
            f"    secret: {SECRET}\n    headers: {{Authorization: '{token}'}}\n"
        ),
        env={},
    )
    assert token not in repr(loaded.config)
