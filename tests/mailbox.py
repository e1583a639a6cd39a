"""A mailer that keeps what it is sent, so tests read invitation links the way invitees do: from the mail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

TOKEN = re.compile(r"/invitations/accept\?token=(\S+)")


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.messages.append(Message(to, subject, body))

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m.to.lower() == address.lower()]

    def token_for(self, address: str) -> str:
        """The token of the latest invitation mailed to ``address``."""
        for message in reversed(self.to(address)):
            match = TOKEN.search(message.body)
            if match:
                return unquote(match.group(1))
        raise AssertionError(f"no invitation mail to {address}; mailed: {[m.to for m in self.messages]}")


def mailbox_of(app_or_client: Any) -> Mailbox:
    """The Mailbox of a test app (``Api``, FlaskClient or Flask app)."""
    client = getattr(app_or_client, "client", app_or_client)
    app = getattr(client, "application", client)
    mailer = app.extensions["tenantry"].mailer
    assert isinstance(mailer, Mailbox), f"the app's mailer is {type(mailer).__name__}, not a Mailbox"
    return mailer


def mailed_token(api: Any, address: str) -> str:
    return mailbox_of(api).token_for(address)
