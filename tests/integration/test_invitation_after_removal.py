"""An accepted invitation stays used after its member is removed: the token never brings them back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient

from app.config import Settings
from app.container import Container
from tests.conftest import Api, _truncate
from tests.member_factories import membership_count


@dataclass
class Inbox:
    """A mailer that keeps what it was given, as a mail server would deliver it."""

    messages: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.messages.append((to, subject, body))

    def token_for(self, email: str) -> str:
        """The invitation token from the accept link of the last message to ``email``."""
        body = [b for to, _, b in self.messages if to == email][-1]
        match = re.search(r"[?&]token=([^&\s]+)", body)
        assert match is not None, body
        return unquote(match.group(1))


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def container(settings: Settings, inbox: Inbox) -> Iterator[Container]:
    c = Container.build(settings, mailer=inbox)
    yield c
    _truncate(c)
    c.engine.dispose()


def test_token_of_a_removed_member_is_410(
    client: FlaskClient, owner: Api, org: dict[str, Any], container: Container, inbox: Inbox
) -> None:
    email = "dana@example.com"
    invited = owner.post(f"/v1/orgs/{org['id']}/invitations", {"email": email, "role": "admin"})
    assert invited.status_code == 201, invited.json
    token = inbox.token_for(email)  # as the invitee gets it: by mail
    anonymous = Api(client, None)
    accepted = anonymous.post("/v1/invitations/accept", {"token": token})
    assert accepted.status_code == 201, accepted.json
    member_id, user_id = accepted.json["id"], accepted.json["user_id"]

    assert owner.delete(f"/v1/orgs/{org['id']}/members/{member_id}").status_code == 204
    assert membership_count(container, org_id=org["id"], user_id=user_id) == 0

    again = anonymous.post("/v1/invitations/accept", {"token": token})
    assert again.status_code == 410, again.json
    assert again.json["code"] == "invitation_used"
    assert again.headers["Content-Type"] == "application/problem+json"
    assert membership_count(container, org_id=org["id"], user_id=user_id) == 0
    listed = owner.get(f"/v1/orgs/{org['id']}/members").json["data"]
    assert email not in [m["email"] for m in listed]
