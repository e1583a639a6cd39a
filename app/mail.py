"""Outgoing mail: SMTP when ``TENANTRY_SMTP_URL`` is set, else the log.

Mail is not transactional: callers send after their change is committed, and a failed delivery raises
``MailDeliveryError`` (never a transport-specific exception) so they can record it and let a person retry.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlparse

log = logging.getLogger("tenantry.mail")


class MailDeliveryError(Exception):
    """The message could not be handed to the mail server (refused, unreachable, timed out)."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text message or raise ``MailDeliveryError``."""
        ...


class LogMailer:
    """Development default: the whole message, links included, goes to the log; nothing leaves the machine.

    Printing the body is this mailer's purpose (it is how a developer follows an invitation link without a
    mail server), so secrets in the body, such as invitation tokens, do appear in the log. It is chosen only
    when ``TENANTRY_SMTP_URL`` is unset; with SMTP configured no token is ever logged.
    """

    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        log.info(
            "mail not sent (TENANTRY_SMTP_URL unset)", extra={"to": to, "subject": subject, "body": body}
        )


def announce_log_mailer() -> None:
    """Said once at start-up in development, where mail goes to the log (production refuses to start)."""
    log.warning(
        "TENANTRY_SMTP_URL is unset: mail is written to this log instead of being sent, invitation tokens "
        "and accept links included. Set TENANTRY_SMTP_URL=smtp://host:port (or smtp+starttls://..., "
        "smtps://...) to send it.",
        extra={"setting": "TENANTRY_SMTP_URL"},
    )


@dataclass
class SmtpMailer:
    """``smtp://[user:pass@]host:port``, ``smtp+starttls://…`` (STARTTLS) or ``smtps://…`` (implicit TLS)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | ssl
    timeout: float = 10.0

    def send(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(body)
        smtp_cls = smtplib.SMTP_SSL if self.tls == "ssl" else smtplib.SMTP
        try:
            with smtp_cls(self.host, self.port, timeout=self.timeout) as smtp:
                if self.tls == "starttls":
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            # The message body (which may hold a token) is deliberately not part of the error.
            raise MailDeliveryError(
                f"SMTP delivery to {self.host}:{self.port} failed: {type(exc).__name__}"
            ) from exc


def mailer_from_url(url: str, sender: str) -> Mailer:
    if not url:
        return LogMailer(sender)
    parsed = urlparse(url)
    tls = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "ssl"}.get(parsed.scheme)
    if tls is None or not parsed.hostname:
        raise ValueError("TENANTRY_SMTP_URL must look like smtp://host:port (or smtp+starttls://, smtps://)")
    return SmtpMailer(
        host=parsed.hostname,
        port=parsed.port or (465 if tls == "ssl" else 25),
        sender=sender,
        username=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        tls=tls,
    )
