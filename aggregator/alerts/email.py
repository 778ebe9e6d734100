"""Email channel: SMTP with STARTTLS or implicit TLS and authentication.

The standard library's ``smtplib`` runs in a worker thread (``asyncio.to_thread``):
it covers STARTTLS, implicit TLS and AUTH, is maintained with Python itself and adds
no dependency, and alerts are few enough that a thread per send costs nothing worth
an async SMTP client. Each socket operation is bounded by ``timeout``.

Every attempt renders the same message with the same ``Message-ID``
(``<alert-ID@domain>``), so a resend after a crash or a partial failure is
recognisably the same mail to clients and archives.

Failure classes (``EmailDeliveryError``, a ``DeliveryError``):

- permanent: a 5xx answer about *this message* — every recipient refused, the sender
  refused, the data rejected (e.g. 550 no such user, 552 too large). Resending the same
  message to the same addresses cannot succeed.
- retryable: connection refused/reset, timeouts, 4xx answers, and configuration faults
  (authentication failed, TLS failed, STARTTLS not offered): the alert waits in the
  outbox while the operator fixes the server or the config, instead of dead-lettering
  every alert in the meantime.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any, Literal

from aggregator.alerts.message import AlertMessage, render_html, render_text, subject
from aggregator.errors import ConfigError, DeliveryError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Security = Literal["starttls", "tls", "none"]

# 7bit: non-ASCII bodies go out quoted-printable/base64, so delivery does not depend
# on the server offering 8BITMIME.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")
_REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """One SMTP destination.

    - ``host``, ``port``: the submission server (587 with starttls, 465 with tls).
    - ``security``: ``starttls`` (upgrade after EHLO; refuses to continue in plain
      text), ``tls`` (implicit TLS from the first byte) or ``none`` (local relays only).
    - ``username``, ``password``: AUTH credentials, already resolved from the
      environment; both or neither. The password never appears in ``repr``.
    - ``sender``: the From address; ``to``: the recipients.
    - ``timeout``: seconds per socket operation (connect, each command).
    - ``ca_file``: a CA bundle to trust instead of the system's (private relays).
    - ``message_id_domain``: right-hand side of Message-ID; default: the sender's domain.
    - ``helo_name``: name sent in EHLO; default: this host's FQDN (smtplib's choice).
    """

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None
    message_id_domain: str | None = None
    helo_name: str | None = None

    def __post_init__(self) -> None:
        # The config may hand in a list; keep the frozen value immutable.
        object.__setattr__(self, "to", tuple(self.to))
        problems: list[str] = []
        if not self.host:
            problems.append("host: must not be empty")
        if not 0 < self.port < 65536:
            problems.append(f"port: {self.port} is not a TCP port")
        if self.security not in ("starttls", "tls", "none"):
            problems.append(f"security: {self.security!r} is not one of starttls, tls, none")
        if "@" not in parseaddr(self.sender)[1]:
            problems.append(f"sender: not an email address: {self.sender!r}")
        if not self.to:
            problems.append("to: at least one recipient is needed")
        problems.extend(
            f"to[{i}]: not an email address: {a!r}"
            for i, a in enumerate(self.to)
            if "@" not in parseaddr(a)[1]
        )
        if (self.username is None) != (self.password is None):
            problems.append("username/password: give both or neither")
        if self.timeout <= 0:
            problems.append("timeout: must be positive")
        if problems:
            raise ConfigError(problems)

    @property
    def domain(self) -> str:
        if self.message_id_domain:
            return self.message_id_domain
        return parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"


class EmailDeliveryError(DeliveryError):
    """A failed SMTP attempt; ``smtp_code`` is the server's reply code when it gave one."""

    def __init__(self, reason: str, *, smtp_code: int | None = None, permanent: bool = False):
        super().__init__(reason, permanent=permanent)
        self.smtp_code = smtp_code


def message_id(alert_id: str, domain: str) -> str:
    """``<alert-ID@domain>``: the same for every attempt at one alert."""
    return f"<alert-{alert_id}@{domain}>"


def build_email(msg: AlertMessage, settings: EmailSettings) -> EmailMessage:
    """The multipart/alternative (text + HTML) mail for ``msg``."""
    mail = EmailMessage(policy=_POLICY)
    mail["Subject"] = subject(msg)
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    # The alert's creation time, not the attempt's: a resend is byte-for-byte the same.
    mail["Date"] = format_datetime(msg.created_at)
    mail["Message-ID"] = message_id(msg.alert_id, settings.domain)
    # RFC 3834: machine-generated, so vacation responders do not answer it.
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Aggregator-Alert"] = msg.alert_id
    text, html = render_text(msg), render_html(msg)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    # The library draws a random boundary; one derived from the content keeps a resend
    # byte-identical, and a body cannot contain the hash of itself.
    digest = hashlib.sha256((text + html).encode()).hexdigest()[:40]
    mail.set_boundary(f"=_{digest}")
    return mail


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text[:_REASON_MAX]


def _refused(refused: dict[str, tuple[int, bytes]], partial: bool) -> EmailDeliveryError:
    codes = [code for code, _ in refused.values()]
    details = "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in refused.items())
    # Permanent only when every refusal is 5xx: a 4xx (mailbox busy, greylisting) may
    # pass next time. A partial retry re-sends to the accepted recipients too; the
    # unchanged Message-ID lets their clients fold the copy away.
    permanent = all(500 <= c < 600 for c in codes)
    prefix = (
        "some recipients refused (delivered to the others)" if partial else "recipients refused"
    )
    code = codes[0] if len(set(codes)) == 1 else None
    return EmailDeliveryError(
        f"{prefix}: {details}"[:_REASON_MAX], smtp_code=code, permanent=permanent
    )


class EmailChannel:
    """Sends alerts as email through one SMTP server."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def send(self, msg: AlertMessage) -> None:
        """Deliver ``msg``; raise ``EmailDeliveryError`` if the server did not take it."""
        mail = build_email(msg, self.settings)
        await asyncio.to_thread(self._deliver, mail)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        deadline = time.monotonic() + s.timeout
        if s.security == "tls":
            return _DeadlineSMTPSSL(
                s.host,
                s.port,
                local_hostname=s.helo_name,
                timeout=s.timeout,
                context=self._tls_context(),
                deadline=deadline,
            )
        return _DeadlineSMTP(
            s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout, deadline=deadline
        )

    def _deliver(self, mail: EmailMessage) -> None:
        """Blocking: runs in a worker thread. Translates every smtplib failure."""
        s = self.settings
        try:
            with self._connect() as smtp:
                if s.security == "starttls":
                    smtp.ehlo()
                    # starttls() raises SMTPNotSupportedError when the server does not
                    # offer it: we never fall back to sending credentials in clear.
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if s.username is not None and s.password is not None:
                    smtp.login(s.username, s.password)
                refused = smtp.send_message(mail, s.sender, list(s.to))
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients, partial=False) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailDeliveryError(
                f"authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}",
                smtp_code=exc.smtp_code,
            ) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code = exc.smtp_code
            what = "sender refused" if isinstance(exc, smtplib.SMTPSenderRefused) else "rejected"
            raise EmailDeliveryError(
                f"{what}: {code} {_text(exc.smtp_error)}",
                smtp_code=code,
                permanent=500 <= code < 600,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Greeting refusals (554 "no service") and other replies not about this
            # message: the server may accept later.
            raise EmailDeliveryError(
                f"server said {exc.smtp_code} {_text(exc.smtp_error)}", smtp_code=exc.smtp_code
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise EmailDeliveryError(f"server does not support {_text(str(exc))}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib turns a read timeout into "Connection unexpectedly closed"; name it.
            if isinstance(exc.__context__, TimeoutError):
                raise EmailDeliveryError(f"timeout after {s.timeout:g}s") from exc
            raise EmailDeliveryError(f"server disconnected: {_text(str(exc))}") from exc
        except ssl.SSLError as exc:
            raise EmailDeliveryError(f"TLS failed: {_text(str(exc))}") from exc
        except TimeoutError as exc:
            raise EmailDeliveryError(f"timeout after {s.timeout:g}s") from exc
        except OSError as exc:  # refused, reset, unreachable, DNS
            raise EmailDeliveryError(f"connection failed: {_text(str(exc))}") from exc
        except smtplib.SMTPException as exc:
            raise EmailDeliveryError(f"SMTP error: {_text(str(exc))}") from exc
        if refused:
            raise _refused(refused, partial=True)


class _DeadlineSMTP(smtplib.SMTP):
    """smtplib with one deadline for the whole attempt, not only per socket operation.

    A server answering each of the dozen commands just inside ``timeout`` would
    otherwise hold a send for many times ``timeout``: past the outbox lease, when
    another delivery tick claims the alert and sends it a second time.
    """

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _bound(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the attempt's deadline passed")
        if self.sock is not None:
            # A closed socket: the send or the read itself reports it, as in smtplib.
            with contextlib.suppress(OSError):
                self.sock.settimeout(remaining)

    def send(self, s: ReadableBuffer | str) -> None:
        self._bound()
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        self._bound()
        return super().getreply()

    def __exit__(self, *exc_info: object) -> None:
        # QUIT comes after the server accepted the message (or after the attempt
        # failed): neither its lateness nor its answer may turn a delivered alert into
        # a failure that sends it again. smtplib's own exit raises on a reply not 221.
        self._deadline = time.monotonic() + float(self.timeout)
        try:
            self.docmd("QUIT")
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.close()


class _DeadlineSMTPSSL(_DeadlineSMTP, smtplib.SMTP_SSL):
    """Implicit TLS with the same deadline."""
