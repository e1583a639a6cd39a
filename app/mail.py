"""Outgoing mail: SMTP when ``TENANTRY_SMTP_URL`` is set, else the log."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlparse

log = logging.getLogger("tenantry.mail")


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class LogMailer:
    """Development default: the message goes to the log, nothing leaves the machine."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        log.info(
            "mail not sent (TENANTRY_SMTP_URL unset)", extra={"to": to, "subject": subject, "body": body}
        )


@dataclass
class SmtpMailer:
    """``smtp://[user:pass@]host:port`` (STARTTLS when offered with ``smtp+starttls://``) or ``smtps://``."""

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
        msg.set_content(body)
        smtp_cls = smtplib.SMTP_SSL if self.tls == "ssl" else smtplib.SMTP
        with smtp_cls(self.host, self.port, timeout=self.timeout) as smtp:
            if self.tls == "starttls":
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)


def mailer_from_url(url: str, sender: str) -> Mailer:
    if not url:
        return LogMailer(sender)
    parsed = urlparse(url)
    tls = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "ssl"}.get(parsed.scheme)
    if tls is None or not parsed.hostname:
        raise ValueError(f"TENANTRY_SMTP_URL must look like smtp://host:port, not {url!r}")
    return SmtpMailer(
        host=parsed.hostname,
        port=parsed.port or (465 if tls == "ssl" else 25),
        sender=sender,
        username=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        tls=tls,
    )
