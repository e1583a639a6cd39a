"""The email code flow against a real SMTP server on loopback (aiosmtpd), as in production: the code arrives
by mail and opens a session; an SMTP outage changes nothing in the answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.config import Settings
from app.container import Container
from tests.integration.test_mail_smtp import Inbox, start_server
from tests.member_factories import add_person
from tests.support import free_port, wait_until

JSON = {"Accept": "application/json"}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return Settings(**{**settings.model_dump(), "smtp_url": f"smtp://127.0.0.1:{smtp_port}"})


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    controller, inbox = start_server(smtp_port)
    yield inbox
    controller.stop()


def test_the_code_arrives_by_smtp_and_signs_in(
    client: FlaskClient, org: dict[str, Any], container: Container, inbox: Inbox
) -> None:
    add_person(container, org["id"], "ann@example.com")
    assert client.post("/sso/email/start", json={"email": "ann@example.com"}, headers=JSON).status_code == 202
    assert wait_until(lambda: len(inbox.messages) == 1)
    recipients, message = inbox.messages[0]
    assert recipients == ["ann@example.com"]
    body = message.get_content()
    code = re.search(r"sign-in code is (\d{6})", body)
    assert code, body
    resp = client.post(
        "/sso/email/verify", json={"email": "ann@example.com", "code": code.group(1)}, headers=JSON
    )
    assert resp.status_code == 200 and resp.json["org_id"] == org["id"]


def test_an_smtp_outage_gives_the_same_answer(client: FlaskClient, smtp_port: int) -> None:
    """Nothing listens on the port: delivery fails, the caller is told exactly what everybody is told."""
    down = client.post("/sso/email/start", json={"email": "ann@example.com"}, headers=JSON)
    assert down.status_code == 202 and down.json["status"] == "sent"
