"""The foundation's whole flow over real HTTP (a WSGI server on a loopback port, urllib as the client):
org, org key, invite, accept, seats up to the limit, 409 past it, transfer, removal frees the seat,
lowering the limit reports over_limit."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.mailbox import mailed_token


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    srv: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=5)


class Http:
    def __init__(self, base: str, key: str | None = None) -> None:
        self.base, self.key = base, key

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - loopback
        req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, dict(resp.headers)
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None, dict(err.headers)


def test_org_invite_accept_seats_transfer_remove_over_limit(server: str, platform_key: str) -> None:
    platform = Http(server, platform_key)
    status, org, _ = platform("POST", "/v1/orgs", {"name": "Flow Inc"})
    assert status == 201
    o = org["id"]
    status, key, _ = platform("POST", f"/v1/orgs/{o}/api-keys", {"name": "console", "role": "owner"})
    assert status == 201
    admin = Http(server, key["key"])
    status, pool, _ = platform("PUT", f"/v1/orgs/{o}/seats/pro", {"limit": 2})
    assert (status, pool["limit"], pool["used"], pool["available"]) == (200, 2, 0, 2)

    tokens: dict[str, str] = {}
    for name, seat in (("alice", "pro"), ("bob", "pro"), ("carol", None), ("dave", "pro")):
        body: dict[str, Any] = {"email": f"{name}@flow.example", "role": "member"}
        if seat:
            body["seat_type"] = seat
        # Over HTTP the test is the product's backend delivering the mail itself: a platform key asks for
        # the token (an org key never sees it).
        status, inv, _ = platform("POST", f"/v1/orgs/{o}/invitations", {**body, "return_token": True})
        assert status == 201 and inv["token_returned"] is True, inv
        tokens[name] = inv["token"]
    status, dup, headers = admin(
        "POST", f"/v1/orgs/{o}/invitations", {"email": "ALICE@flow.example", "role": "member"}
    )
    assert status == 409 and dup["code"] == "invitation_pending"
    assert headers["Content-Type"] == "application/problem+json"

    anonymous = Http(server)
    members: dict[str, dict[str, Any]] = {}
    sessions: dict[str, str] = {}
    for name in ("alice", "bob", "carol"):
        status, accepted, _ = anonymous(
            "POST", "/v1/invitations/accept", {"token": tokens[name], "name": name}
        )
        assert status in (200, 201), accepted
        members[name], sessions[name] = accepted, accepted["session_token"]
    assert members["alice"]["seat_type"] == "pro" and members["carol"]["seat_type"] is None

    # The pool is full: dave's acceptance (with a seat) is refused and writes nothing.
    status, refused, _ = anonymous("POST", "/v1/invitations/accept", {"token": tokens["dave"]})
    assert status == 409 and refused["code"] == "seat_limit_reached"
    status, page, _ = admin("GET", f"/v1/orgs/{o}/members?q=dave")
    assert page["data"] == []
    status, carol_seat, _ = admin(
        "PUT", f"/v1/orgs/{o}/members/{members['carol']['id']}/seat", {"seat_type": "pro"}
    )
    assert status == 409 and carol_seat["code"] == "seat_limit_reached"

    # Transfer bob's seat to carol: the count stays at the limit.
    status, _, _ = admin(
        "POST", f"/v1/orgs/{o}/seats/pro/transfer",
        {"from_member": members["bob"]["id"], "to_member": members["carol"]["id"]},
    )  # fmt: skip
    assert status == 200
    status, bob, _ = admin("GET", f"/v1/orgs/{o}/members/{members['bob']['id']}")
    status2, carol, _ = admin("GET", f"/v1/orgs/{o}/members/{members['carol']['id']}")
    assert (bob["seat_type"], carol["seat_type"]) == (None, "pro")
    status, seats, _ = admin("GET", f"/v1/orgs/{o}/seats")
    assert [(p["seat_type"], p["used"], p["available"]) for p in seats["data"]] == [("pro", 2, 0)]

    # Removing alice frees her seat and ends her session.
    assert Http(server, sessions["alice"])("GET", "/v1/me")[0] == 200
    status, _, _ = admin("DELETE", f"/v1/orgs/{o}/members/{members['alice']['id']}")
    assert status == 204
    assert Http(server, sessions["alice"])("GET", "/v1/me")[0] == 401
    status, seats, _ = admin("GET", f"/v1/orgs/{o}/seats")
    assert (seats["data"][0]["used"], seats["data"][0]["available"]) == (1, 1)

    # Now dave's invitation (still pending) goes through.
    status, dave, _ = anonymous("POST", "/v1/invitations/accept", {"token": tokens["dave"]})
    assert status in (200, 201) and dave["seat_type"] == "pro"

    # Billing lowers the limit below use: nobody is evicted; the pool reports over_limit and refuses more.
    status, pool, _ = platform("PUT", f"/v1/orgs/{o}/seats/pro", {"limit": 1})
    assert (status, pool["used"], pool["available"], pool["over_limit"]) == (200, 2, 0, True)
    status, bob_seat, _ = admin(
        "PUT", f"/v1/orgs/{o}/members/{members['bob']['id']}/seat", {"seat_type": "pro"}
    )
    assert status == 409 and bob_seat["code"] == "seat_limit_reached"
    status, page, _ = admin("GET", f"/v1/orgs/{o}/members?seat_type=pro")
    assert sorted(m["email"] for m in page["data"]) == ["carol@flow.example", "dave@flow.example"]

    # Every step left an audit event.
    status, logs, _ = admin("GET", f"/v1/orgs/{o}/audit-logs?limit=1000")
    assert status == 200
    actions = {e["action"] for e in logs["data"]}
    assert {
        "org.created", "api_key.created", "seat.limit_changed", "member.invited", "invitation.accepted",
        "seat.assigned", "seat.transferred", "member.removed", "seat.unassigned",
    } <= actions  # fmt: skip


def test_events_of_an_acceptance_name_the_invitee_as_actor(
    admin: Any, org: dict[str, Any], platform: Any
) -> None:
    o = org["id"]
    platform.put(f"/v1/orgs/{o}/seats/pro", {"limit": 1})
    admin.post(
        f"/v1/orgs/{o}/invitations", {"email": "zoe@acme.example", "role": "member", "seat_type": "pro"}
    )
    accepted = (
        admin.as_key(None)
        .post("/v1/invitations/accept", {"token": mailed_token(admin, "zoe@acme.example")})
        .json
    )
    events = admin.get(f"/v1/orgs/{o}/audit-logs?limit=10").json["data"]
    by_action = {e["action"]: e["actor"] for e in events}
    for action in ("member.added", "seat.assigned", "invitation.accepted"):
        assert by_action[action] == {"type": "user", "id": accepted["user_id"], "name": "zoe@acme.example"}
