"""A SCIM client over the Flask test client: bearer token, application/scim+json bodies."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from app.container import Container
from app.db import transaction

SCIM_JSON = "application/scim+json"
BASE = "/scim/v2"


def make_scim_token(container: Container, org_id: str) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).credentials.create_scim_token(org_id=org_id, name="idp").secret


class Scim:
    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = None if body is None else json.dumps(body)
        return self.client.open(BASE + path, method=method, data=data, content_type=SCIM_JSON, headers=sent)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)
