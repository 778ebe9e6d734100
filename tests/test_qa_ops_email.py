"""SMTP servers a demanding operator meets: one that answers every command just inside
the timeout, and one that accepts the message and then answers QUIT oddly. Neither
may make one alert go out twice."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from aggregator.alerts.email import EmailChannel, EmailDeliveryError, EmailSettings
from aggregator.alerts.message import sample_message


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


def message():  # type: ignore[no-untyped-def]
    return sample_message("r", "nk", "new_event", datetime(2026, 1, 1, tzinfo=UTC))


async def test_a_server_answering_each_command_just_in_time_cannot_hold_a_send_past_timeout() -> (
    None
):
    # Each reply comes well inside the 1s timeout, the whole conversation takes far
    # longer: the attempt must end at its timeout (before the outbox lease could run
    # out and another tick send the alert again), as a retryable timeout.
    with scripted_smtp(delay=0.4) as server, pytest.raises(EmailDeliveryError) as err:
        await channel(server["port"], timeout=1.0).send(message())
    assert err.value.reason.startswith("timeout after 1s")
    assert not err.value.permanent


@pytest.mark.parametrize("quit_reply", [b"500 what QUIT?", b"421 closing"])
async def test_an_odd_answer_to_quit_after_the_message_was_accepted_is_a_success(
    quit_reply: bytes,
) -> None:
    with scripted_smtp(quit_reply=quit_reply) as server:
        await channel(server["port"], timeout=10.0).send(message())
    assert server["accepted"]
