"""The org setting ``scim_outside_domains``: SCIM users whose userName or emails fall outside the org's
verified domains are accepted (the default) or refused with 400 invalidValue (``refuse``), on POST, PUT and
PATCH."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from app.container import Container
from tests.conftest import Api, make_org_key
from tests.dns_server import DnsTestServer
from tests.integration.domains.conftest import claim_and_verify
from tests.integration.scim_client import Scim, make_scim_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(user_name: str, *emails: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER], "userName": user_name}
    if emails:
        body["emails"] = [{"value": e, "type": "work"} for e in emails]
    return body


def test_outside_addresses_are_accepted_by_default_and_refused_when_the_org_says_so(
    client: FlaskClient, container: Container, admin: Api, org: dict[str, Any], dns: DnsTestServer
) -> None:
    org_id = org["id"]
    scim = Scim(client, make_scim_token(container, org_id))
    claim_and_verify(admin, dns, org_id, "acme-corp.com")
    assert admin.get(f"/v1/orgs/{org_id}").json["scim_outside_domains"] == "accept"
    assert scim.post("/Users", _user("ann@gmail.com")).status_code == 201  # the default: accepted

    changed = admin.patch(f"/v1/orgs/{org_id}", {"scim_outside_domains": "refuse"})
    assert changed.status_code == 200 and changed.json["scim_outside_domains"] == "refuse"
    assert admin.patch(f"/v1/orgs/{org_id}", {"scim_outside_domains": "maybe"}).status_code == 422

    refused = scim.post("/Users", _user("bob@gmail.com"))
    assert refused.status_code == 400 and refused.json["scimType"] == "invalidValue"
    assert "bob@gmail.com" in refused.json["detail"] and "scim_outside_domains" in refused.json["detail"]
    # An outside address among the emails is refused too, and a subdomain of a verified domain is inside.
    refused = scim.post("/Users", _user("carl@acme-corp.com", "carl@personal.example"))
    assert refused.status_code == 400 and "carl@personal.example" in refused.json["detail"]
    inside = scim.post("/Users", _user("dana@eu.acme-corp.com", "Dana@ACME-corp.com"))
    assert inside.status_code == 201, inside.json
    # A bare userName carries no domain; its emails decide.
    assert scim.post("/Users", _user("erin", "erin@acme-corp.com")).status_code == 201
    assert scim.post("/Users", _user("fay", "fay@else.example")).status_code == 400

    # PUT and PATCH may not move an existing user outside either; nothing is written when refused.
    dana = inside.json["id"]
    assert scim.put(f"/Users/{dana}", _user("dana@else.example")).status_code == 400
    moved = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "userName", "value": "d@x.example"}],
    }
    assert scim.patch(f"/Users/{dana}", moved).status_code == 400
    assert scim.get(f"/Users/{dana}").json["userName"] == "dana@eu.acme-corp.com"
    names = {u["userName"] for u in scim.get("/Users").json["Resources"]}
    assert names == {"ann@gmail.com", "dana@eu.acme-corp.com", "erin"}

    events = admin.get(f"/v1/orgs/{org_id}/audit-logs?action=org.updated&limit=5").json["data"]
    assert events[0]["changes"]["scim_outside_domains"] == {"before": "accept", "after": "refuse"}


def test_refuse_without_a_verified_domain_refuses_every_address(
    client: FlaskClient,
    container: Container,
    admin: Api,
    org: dict[str, Any],
    rival_org: dict[str, Any],
    dns: DnsTestServer,
) -> None:
    """Another org's verified domain is outside too: the most specific verified domain must be this org's."""
    rival_admin = Api(client, make_org_key(container, rival_org["id"], "admin"))
    claim_and_verify(rival_admin, dns, rival_org["id"], "rival.example")
    scim = Scim(client, make_scim_token(container, org["id"]))
    assert admin.patch(f"/v1/orgs/{org['id']}", {"scim_outside_domains": "refuse"}).status_code == 200
    assert scim.post("/Users", _user("zed@rival.example")).status_code == 400
    assert scim.post("/Users", _user("zed@acme-corp.com")).status_code == 400
    assert scim.get("/Users").json["totalResults"] == 0
    assert admin.patch(f"/v1/orgs/{org['id']}", {"scim_outside_domains": "accept"}).status_code == 200
    assert scim.post("/Users", _user("zed@rival.example")).status_code == 201
