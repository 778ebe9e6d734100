"""Email rendering and the SMTP channel against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.alerts import Channel
from aggregator.alerts.email import (
    EmailChannel,
    EmailDeliveryError,
    EmailSettings,
    build_email,
    message_id,
)
from aggregator.alerts.message import (
    AlertMessage,
    ArticleRef,
    EventSummary,
    render_html,
    render_text,
    safe_link,
    sample_message,
    subject,
)
from aggregator.alerts.retry import next_attempt
from aggregator.errors import ConfigError
from tests.support.smtpserver import SMTPTestServer, self_signed_cert, server_tls_context

T0 = datetime(2026, 11, 4, 9, 15, tzinfo=UTC)
USER, PASSWORD = "alerts", "s3cret-pw"


def event(headline: str = "North Korean troops arrive in Russia's Kursk region") -> EventSummary:
    return EventSummary(
        cluster_id=42,
        headline=headline,
        first_seen=T0,
        last_updated=T0 + timedelta(minutes=40),
        outlets=("Wire", "Daily Ü"),
        article_count=2,
        matched_terms=("north korean", "kursk"),
        articles=(
            ArticleRef("Troops arrive in Kursk", "https://example.org/a?x=1&y=2", "Wire", T0),
            ArticleRef('<img src=x onerror="alert(1)">', "javascript:alert(1)", "Daily Ü", T0),
        ),
    )


def message(alert_id: str = "a1b2c3", **kw: object) -> AlertMessage:
    msg = AlertMessage(alert_id, "kursk", "nk-troops", "new_event", T0, (event(),))
    return replace(msg, **kw)  # type: ignore[arg-type]


def settings(server: SMTPTestServer, **kw: object) -> EmailSettings:
    base = EmailSettings(
        host=server.host,
        port=server.port,
        security="none",
        sender="Alerts <alerts@example.org>",
        to=("ops@example.net", "desk@example.net"),
        timeout=5.0,
        helo_name="localhost",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def plain() -> Iterator[SMTPTestServer]:
    with SMTPTestServer() as server:
        yield server


# --- rendering ------------------------------------------------------------------------


def test_html_escapes_feed_text_and_links_only_http() -> None:
    body = render_html(message())
    assert "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "javascript:" not in body
    assert '<a href="https://example.org/a?x=1&amp;y=2">Troops arrive in Kursk</a>' in body
    assert "Russia&#x27;s Kursk" in body
    assert "<b>north korean</b>, <b>kursk</b>" in body


def test_text_has_headline_outlets_first_report_terms_and_links() -> None:
    body = render_text(message())
    assert "North Korean troops arrive in Russia's Kursk region" in body
    assert "Outlets (2): Wire, Daily Ü" in body
    assert "First reported: 2026-11-04 09:15 UTC" in body
    assert "Matched terms:  north korean, kursk" in body
    assert "https://example.org/a?x=1&y=2" in body
    assert "javascript:" not in body


def test_times_are_shown_in_the_rules_zone() -> None:
    body = render_text(message(timezone="Europe/Berlin"))
    assert "First reported: 2026-11-04 10:15 CET" in body
    assert "Last updated:   2026-11-04 10:55 CET" in body
    assert "2026-11-04 10:15 CET" in render_html(message(timezone="Europe/Berlin"))


def test_long_events_list_the_first_articles_and_count_the_rest() -> None:
    many = replace(event(), article_count=40)
    msg = message(events=(many,))
    assert "… and 39 more" in render_text(msg, max_articles=1)
    assert "… and 38 more" in render_html(msg)


def test_subject_is_one_line_even_with_hostile_headlines() -> None:
    msg = message(events=(event("Breaking\r\nBcc: victim@example.com\x00 news"),))
    line = subject(msg)
    assert "\n" not in line
    assert "\r" not in line
    assert line == "[nk-troops] Breaking Bcc: victim@example.com news (2 outlets)"
    assert len(subject(message(events=(event("x" * 500),)))) == 200
    digest = message(trigger="digest", events=(event(), event()))
    assert subject(digest) == "[nk-troops] digest: 2 events"


def test_build_email_is_multipart_with_a_stable_message_id() -> None:
    server_less = EmailSettings("smtp.example.org", "alerts@example.org", ("a@example.net",))
    mail = build_email(message(), server_less)
    assert mail["Message-ID"] == "<alert-a1b2c3@example.org>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    # The same alert renders to the same bytes on every attempt.
    assert bytes(build_email(message(), server_less)) == bytes(mail)
    assert message_id("x", "mail.example.org") == "<alert-x@mail.example.org>"
    custom = replace(server_less, message_id_domain="alerts.example.com")
    assert build_email(message(), custom)["Message-ID"] == "<alert-a1b2c3@alerts.example.com>"


def test_settings_report_every_problem_and_hide_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        EmailSettings("", "nobody", (), port=0, security="ssl", username="u", timeout=0)  # type: ignore[arg-type]
    fields = [p.split(":")[0] for p in info.value.problems]
    assert fields == ["host", "port", "security", "sender", "to", "username/password", "timeout"]
    with pytest.raises(ConfigError, match=r"to\[1\]"):
        EmailSettings("h", "a@example.org", ("b@example.org", "not-an-address"))
    ok = EmailSettings("h", "a@example.org", ("b@example.org",), username="u", password="pw!")
    assert "pw!" not in repr(ok)


# --- delivery -------------------------------------------------------------------------


async def test_delivers_multipart_mail_with_the_alert_message_id(plain: SMTPTestServer) -> None:
    await EmailChannel(settings(plain)).send(message())
    (got,) = plain.messages
    assert got.mail_from == "alerts@example.org"
    assert got.rcpt_tos == ("ops@example.net", "desk@example.net")
    mail = got.message
    assert mail["Message-ID"] == "<alert-a1b2c3@example.org>"
    # The stdlib may fold a long subject right after "Subject:"; unfolding leaves a
    # leading space that readers strip.
    assert mail["Subject"].strip() == (
        "[nk-troops] North Korean troops arrive in Russia's Kursk region (2 outlets)"
    )
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Outlets (2): Wire, Daily Ü" in text.get_content()
    assert "&lt;img" in html.get_content()


async def test_refusing_connections_then_accepting() -> None:
    server = SMTPTestServer()  # port reserved, nothing listening yet
    channel = EmailChannel(settings(server))
    msg = message()
    try:
        errors = []
        for _ in range(2):
            with pytest.raises(EmailDeliveryError) as info:
                await channel.send(msg)
            errors.append(info.value)
        assert all(not e.permanent for e in errors)
        assert all("connection failed" in e.reason for e in errors)
        assert isinstance(errors[0].__cause__, ConnectionRefusedError)
        assert next_attempt(2, errors[1], T0, random.Random(0)) is not None
        server.start()
        await channel.send(msg)
        # A resend (say, after a crash before the outbox row was marked) is the same mail.
        await channel.send(msg)
    finally:
        server.stop()
    ids = [m.message["Message-ID"] for m in server.messages]
    assert ids == ["<alert-a1b2c3@example.org>"] * 2


async def test_starttls_with_auth(cert: tuple[Path, Path]) -> None:
    ctx = server_tls_context(*cert)
    with SMTPTestServer(starttls=ctx, credentials=(USER, PASSWORD)) as server:
        config = settings(
            server, security="starttls", username=USER, password=PASSWORD, ca_file=str(cert[0])
        )
        await EmailChannel(config).send(message())
    (got,) = server.messages
    assert got.tls
    assert got.authenticated_as == USER


async def test_implicit_tls_with_auth(cert: tuple[Path, Path]) -> None:
    ctx = server_tls_context(*cert)
    with SMTPTestServer(implicit_tls=ctx, credentials=(USER, PASSWORD)) as server:
        config = settings(
            server, security="tls", username=USER, password=PASSWORD, ca_file=str(cert[0])
        )
        await EmailChannel(config).send(message())
    (got,) = server.messages
    assert got.tls
    assert got.authenticated_as == USER


async def test_wrong_password_is_retryable_and_sends_nothing(cert: tuple[Path, Path]) -> None:
    ctx = server_tls_context(*cert)
    with SMTPTestServer(starttls=ctx, credentials=(USER, PASSWORD)) as server:
        config = settings(
            server, security="starttls", username=USER, password="wrong", ca_file=str(cert[0])
        )
        with pytest.raises(EmailDeliveryError) as info:
            await EmailChannel(config).send(message())
    assert info.value.smtp_code == 535
    assert not info.value.permanent  # fix the secret and the queue drains
    assert "wrong" not in info.value.reason
    assert server.failed_logins >= 1  # smtplib tries each offered mechanism
    assert server.messages == []


async def test_untrusted_certificate_fails_without_sending(cert: tuple[Path, Path]) -> None:
    ctx = server_tls_context(*cert)
    with SMTPTestServer(starttls=ctx, credentials=(USER, PASSWORD)) as server:
        config = settings(server, security="starttls", username=USER, password=PASSWORD)
        with pytest.raises(EmailDeliveryError) as info:
            await EmailChannel(config).send(message())
    assert info.value.reason.startswith("TLS failed")
    assert not info.value.permanent
    assert server.failed_logins == 0
    assert server.messages == []


async def test_starttls_required_but_not_offered_never_falls_back(plain: SMTPTestServer) -> None:
    config = settings(plain, security="starttls", username=USER, password=PASSWORD)
    with pytest.raises(EmailDeliveryError) as info:
        await EmailChannel(config).send(message())
    assert "STARTTLS" in info.value.reason
    assert plain.messages == []
    assert plain.failed_logins == 0


async def test_auth_over_plain_connection_to_a_local_relay() -> None:
    with SMTPTestServer(credentials=(USER, PASSWORD)) as server:
        await EmailChannel(settings(server, username=USER, password=PASSWORD)).send(message())
    (got,) = server.messages
    assert got.authenticated_as == USER
    assert not got.tls


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("550 5.1.1 No such user", True), ("450 4.2.1 Mailbox busy, try later", False)],
)
async def test_all_recipients_refused(reply: str, permanent: bool) -> None:
    reject = {"ops@example.net": reply, "desk@example.net": reply}
    with SMTPTestServer(reject=reject) as server, pytest.raises(EmailDeliveryError) as info:
        await EmailChannel(settings(server)).send(message())
    assert info.value.permanent is permanent
    assert info.value.smtp_code == int(reply[:3])
    assert "ops@example.net" in info.value.reason
    assert server.messages == []


async def test_one_recipient_refused_permanently_is_reported_after_delivering_the_rest() -> None:
    server = SMTPTestServer(reject={"desk@example.net": "550 5.1.1 No such user"})
    with server, pytest.raises(EmailDeliveryError) as info:
        await EmailChannel(settings(server)).send(message())
    assert info.value.permanent
    assert "delivered to the others" in info.value.reason
    assert "desk@example.net" in info.value.reason
    (got,) = server.messages
    assert got.rcpt_tos == ("ops@example.net",)


async def test_a_server_that_never_greets_times_out() -> None:
    # The kernel completes the TCP handshake for a listening socket nobody accepts on,
    # so the client connects and then waits for a greeting that never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        config = EmailSettings(
            "127.0.0.1", "a@example.org", ("b@example.org",), port=port, security="none",
            timeout=0.3, helo_name="localhost",
        )  # fmt: skip
        with pytest.raises(EmailDeliveryError) as info:
            await EmailChannel(config).send(message())
    assert info.value.reason == "timeout after 0.3s"
    assert not info.value.permanent


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a", True),
        ("HTTP://example.org/a", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//example.org/a", False),
        ("https:///nohost", False),
        ("https://example.org/a b", False),
        ("https://example.org/\x00", False),
        (None, False),
    ],
)
def test_safe_link(url: str | None, safe: bool) -> None:
    assert (safe_link(url) is not None) is safe


async def test_sample_message_goes_through_the_real_channel(plain: SMTPTestServer) -> None:
    channel: Channel = EmailChannel(settings(plain))
    now = datetime.now(UTC)
    sample = sample_message("kursk", "nk-troops", "new_event", now)
    await channel.send(sample)
    (got,) = plain.messages
    assert got.message["Subject"].strip().startswith("[nk-troops] Test alert")
    assert sample.alert_id.startswith("test-")
    later = sample_message("kursk", "nk-troops", "digest", now + timedelta(seconds=1))
    assert later.alert_id != sample.alert_id
    assert len(later.events) == 2


# --------------------------------------------------------------------------------------
# SMTP servers a demanding operator meets: one that answers every command just inside
# the timeout, and one that accepts the message and then answers QUIT oddly. Neither
# may make one alert go out twice.
# --------------------------------------------------------------------------------------


@contextmanager
def scripted_smtp(*, delay: float = 0.0, quit_reply: bytes = b"221 bye") -> Iterator[dict]:
    """A bare SMTP server on 127.0.0.1 for one connection: every reply after ``delay``;
    ``state["accepted"]`` turns true once the end of DATA is answered 250."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    state: dict = {"port": listener.getsockname()[1], "accepted": False}

    def reply(conn: socket.socket, line: bytes) -> None:
        time.sleep(delay)
        conn.sendall(line + b"\r\n")

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as rfile:
            try:
                reply(conn, b"220 slow.example ESMTP")
                in_data = False
                for raw in rfile:
                    line = raw.rstrip(b"\r\n")
                    if in_data:
                        if line == b".":
                            in_data = False
                            state["accepted"] = True
                            reply(conn, b"250 queued")
                        continue
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        reply(conn, b"250 slow.example")
                    elif verb == b"DATA":
                        in_data = True
                        reply(conn, b"354 go on")
                    elif verb == b"QUIT":
                        reply(conn, quit_reply)
                        return
                    else:
                        reply(conn, b"250 ok")
            except OSError:
                return  # the client gave up on us: what the slow case expects

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        listener.close()
        thread.join(timeout=30)


def channel(port: int, timeout: float) -> EmailChannel:
    return EmailChannel(
        EmailSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            sender="alerts@example.org",
            to=("desk@example.org",),
            timeout=timeout,
        )
    )


def sample():  # type: ignore[no-untyped-def]
    return sample_message("r", "nk", "new_event", datetime(2026, 1, 1, tzinfo=UTC))


async def test_a_server_answering_each_command_just_in_time_cannot_hold_a_send_past_timeout() -> (
    None
):
    # Each reply comes well inside the 1s timeout, the whole conversation takes far
    # longer: the attempt must end at its timeout (before the outbox lease could run
    # out and another tick send the alert again), as a retryable timeout.
    with scripted_smtp(delay=0.4) as server, pytest.raises(EmailDeliveryError) as err:
        await channel(server["port"], timeout=1.0).send(sample())
    assert err.value.reason.startswith("timeout after 1s")
    assert not err.value.permanent


@pytest.mark.parametrize("quit_reply", [b"500 what QUIT?", b"421 closing"])
async def test_an_odd_answer_to_quit_after_the_message_was_accepted_is_a_success(
    quit_reply: bytes,
) -> None:
    with scripted_smtp(quit_reply=quit_reply) as server:
        await channel(server["port"], timeout=10.0).send(sample())
    assert server["accepted"]
