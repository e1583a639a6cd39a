"""Invitation mail against a real SMTP server (aiosmtpd on loopback), configured by TENANTRY_SMTP_URL."""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.config import Settings
from app.mail import SmtpMailer
from tests.conftest import Api
from tests.support import free_port

LINK = re.compile(r"(http://\S+/invitations/accept\?token=(\S+))")


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, smtp_port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The suite's settings, with the SMTP server given the way an operator would: the environment."""
    monkeypatch.setenv("TENANTRY_SMTP_URL", f"smtp://127.0.0.1:{smtp_port}")
    configured = Settings(**settings.model_dump(exclude={"smtp_url"}))
    assert configured.smtp_url == f"smtp://127.0.0.1:{smtp_port}"
    return configured


def start_server(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[Inbox]:
    controller, inbox = start_server(smtp_port)
    yield inbox
    controller.stop()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record with its structured extras, as the JSON log would carry them."""
    return "\n".join(str(record.__dict__) for record in caplog.records)


def test_invitation_mail_arrives_and_its_link_works(
    app: Any, admin: Api, org: dict[str, Any], smtp_server: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(app.extensions["tenantry"].mailer, SmtpMailer)
    caplog.set_level(logging.DEBUG)
    resp = admin.post(f"/v1/orgs/{org['id']}/invitations", {"email": "Mail.Me@Example.com", "role": "member"})
    assert resp.status_code == 201, resp.json
    assert resp.json["delivery"] == "sent" and resp.json["sent_at"] is not None

    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["mail.me@example.com"]
    assert "Acme" in message["Subject"] and message["Message-ID"]
    body = message.get_content()
    match = LINK.search(body)
    assert match is not None, body
    assert resp.json["token"] is None and resp.json["accept_url"] is None  # only the mail carries it
    token = match.group(2)
    assert token.startswith("tnt_inv_") and token not in resp.get_data(as_text=True)
    assert token not in logged(caplog)  # with SMTP configured, the token never reaches the log

    accepted = admin.as_key(None).post("/v1/invitations/accept", {"token": token})
    assert accepted.status_code == 201 and accepted.json["email"] == "mail.me@example.com"
    assert token not in logged(caplog)


def test_smtp_down_keeps_the_invitation_and_resend_delivers_later(
    admin: Api, org: dict[str, Any], smtp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    resp = admin.post(f"/v1/orgs/{org['id']}/invitations", {"email": "later@example.com", "role": "member"})
    assert resp.status_code == 201, resp.json
    assert resp.json["delivery"] == "failed" and resp.json["sent_at"] is None
    assert resp.json["token"] is None
    failures = [r for r in caplog.records if r.name == "tenantry.invitations" and r.levelname == "WARNING"]
    assert failures and failures[0].__dict__["invitation_id"] == resp.json["id"]

    listed = admin.get(f"/v1/orgs/{org['id']}/invitations").json["data"]
    assert [(i["id"], i["status"], i["delivery"]) for i in listed] == [(resp.json["id"], "pending", "failed")]

    controller, inbox = start_server(smtp_port)
    try:
        resent = admin.post(f"/v1/orgs/{org['id']}/invitations/{resp.json['id']}/resend")
        assert resent.status_code == 200, resent.json
        assert resent.json["delivery"] == "sent"
        assert len(inbox.messages) == 1
        match = LINK.search(inbox.messages[0][1].get_content())
        assert match is not None and resent.json["token"] is None
    finally:
        controller.stop()

    anonymous = admin.as_key(None)
    accepted = anonymous.post("/v1/invitations/accept", {"token": match.group(2)})
    assert accepted.status_code == 201
    assert match.group(2) not in logged(caplog)
