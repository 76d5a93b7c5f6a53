"""Sending mail: an SMTP transport (aiosmtplib), a log transport for development, and the choice.

Transports know nothing of jobs. They raise ``MailRejected`` when retrying cannot help
(SMTP 5xx, a malformed address) and ``MailUnavailable`` when it may (SMTP 4xx, a lost
or refused connection, a timeout); the caller decides what that means for its job.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Final, Protocol

import aiosmtplib
from loguru import logger

from talentq.domain.addresses import parse_address
from talentq.errors import ConfigError, ServiceRefusedError
from talentq.settings import Settings


class MailError(Exception):
    """A message could not be sent."""


class MailRejected(MailError, ServiceRefusedError):
    """The message can never be sent as it is (SMTP 5xx, a malformed address)."""


class MailUnavailable(MailError):
    """The message could not be sent now (SMTP 4xx, connection trouble); later may work."""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    body: str
    html: str | None = None
    reply_to: str | None = None
    cc: tuple[str, ...] = ()
    #: A stable id (from the job), so the recipient's server can drop a resent duplicate.
    idempotency_key: str | None = None


class MailTransport(Protocol):
    async def send(self, mail: OutgoingMail) -> str:
        """Send ``mail``; returns the provider's id for it (here: its Message-ID)."""


def check_address(address: str, *, field: str) -> Address:
    """``talentq.domain.addresses.parse_address``; ``MailRejected`` naming ``field`` if malformed."""
    try:
        return parse_address(address)
    except ValueError as exc:
        raise MailRejected(f"{field} {exc}") from None


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = check_address(mail.to, field="to")
    if mail.cc:
        message["Cc"] = [check_address(address, field="cc") for address in mail.cc]
    if mail.reply_to:
        message["Reply-To"] = check_address(mail.reply_to, field="replyTo")
    if "\r" in mail.subject or "\n" in mail.subject:
        raise MailRejected("subject contains a line break (CR or LF): refused, it could inject headers")
    message["Subject"] = mail.subject
    domain = check_address(sender, field="from").domain
    message["Message-ID"] = (
        f"<{mail.idempotency_key}@{domain}>" if mail.idempotency_key else make_msgid(domain=domain)
    )
    message.set_content(mail.body)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


class SmtpTransport:
    """Sends through an SMTP server (``SMTP_*`` settings): STARTTLS, implicit TLS or plain."""

    def __init__(self, settings: Settings) -> None:
        missing = [
            name
            for name, value in (("SMTP_HOST", settings.smtp_host), ("MAIL_FROM", settings.mail_from))
            if not value
        ]
        if missing:
            raise ConfigError(f"MAIL_TRANSPORT=smtp needs {' and '.join(missing)} to be set")
        try:
            check_address(settings.mail_from or "", field="MAIL_FROM")
        except MailRejected as exc:
            raise ConfigError(str(exc)) from None
        self._settings = settings

    async def send(self, mail: OutgoingMail) -> str:
        s = self._settings
        assert s.mail_from is not None  # checked in __init__
        message = build_message(mail, s.mail_from)
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=password,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            error = MailUnavailable if all(400 <= code < 500 for code in codes) else MailRejected
            raise error(f"recipient refused: {'; '.join(str(r) for r in exc.recipients)}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = MailUnavailable if 400 <= exc.code < 500 else MailRejected
            raise error(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailUnavailable(f"SMTP server {s.smtp_host}:{s.smtp_port} unavailable: {exc!r}") from exc
        return str(message["Message-ID"])


class LogTransport:
    """Development: records the message in the log and sends nothing."""

    def __init__(self, settings: Settings) -> None:
        self._sender = settings.mail_from or "talentq-dev@localhost.localdomain"

    async def send(self, mail: OutgoingMail) -> str:
        message = build_message(mail, self._sender)
        logger.info("mail not sent (MAIL_TRANSPORT=log): to={} subject={!r}", message["To"], mail.subject)
        return f"log:{message['Message-ID']}"


class UnconfiguredTransport:
    """No ``MAIL_TRANSPORT`` set: every send fails with the ``ConfigError`` saying what to set."""

    REASON: Final = (
        "no mail transport configured: set MAIL_TRANSPORT=smtp with SMTP_HOST, SMTP_PORT, "
        "SMTP_USERNAME, SMTP_PASSWORD and MAIL_FROM, or MAIL_TRANSPORT=log to record mail without sending"
    )

    async def send(self, mail: OutgoingMail) -> str:
        raise ConfigError(self.REASON)


def make_transport(settings: Settings) -> MailTransport:
    """The transport ``MAIL_TRANSPORT`` names; ``ConfigError`` saying what is missing for it.

    With no ``MAIL_TRANSPORT`` at all, a transport whose every send says what to set: a worker
    may run without mail, and only its email jobs fail.
    """
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    if settings.mail_transport == "log":
        return LogTransport(settings)
    return UnconfiguredTransport()
