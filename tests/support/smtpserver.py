"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests.

It records every accepted message, can refuse connections for a while (the port is
reserved but nothing listens until ``start()``), supports STARTTLS or implicit TLS with
a self-signed certificate made by ``self_signed_cert`` and AUTH with fixed
credentials, and can answer chosen recipients with a scripted reply code.

    server = SMTPTestServer()          # port reserved, not listening: connections refused
    server.start()                     # now accepting
    ...
    server.stop()
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A port nothing listens on right now (so connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return cast(int, s.getsockname()[1])


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1/localhost; return (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


@dataclass
class _Handler:
    server: SMTPTestServer
    reject: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.reject.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = cast(bytes, envelope.original_content or envelope.content)
        parsed = message_from_bytes(raw, policy=policy.default)
        auth = session.auth_data
        who = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.server._record(
            Received(
                mail_from=cast(str, envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=parsed,
                authenticated_as=who,
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted"


class _Controller(Controller):
    def factory(self) -> SMTP:
        # aiosmtpd warns on every connection when AUTH is allowed without STARTTLS; the
        # tests that do so mean it (implicit TLS, or a deliberate plain local relay), and
        # pytest turns warnings into errors.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return SMTP(self.handler, **self.SMTP_kwargs)


class SMTPTestServer:
    """aiosmtpd in a thread. ``starttls``/``implicit_tls`` take a server SSL context."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        reject: dict[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[Received] = []
        self.failed_logins = 0
        self._lock = threading.Lock()
        self._credentials = credentials
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if credentials is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd advertises AUTH after STARTTLS only, never on implicit TLS,
                # unless told not to require TLS; the connection is encrypted anyway.
                auth_require_tls=starttls is not None,
            )
        self._controller = _Controller(
            _Handler(self, reject or {}),
            hostname=self.host,
            port=self.port,
            ssl_context=implicit_tls,
            server_hostname="localhost",
            **kwargs,
        )
        self._running = False

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self._credentials is not None
            and (data.login.decode(), data.password.decode()) == self._credentials
        )
        if not ok:
            with self._lock:
                self.failed_logins += 1
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)

    def start(self) -> SMTPTestServer:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
