"""A tour of the REST API that makes the service record as many event types as it can; the contract and
billing tests replay the events it produced."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.mailbox import mailed_token


def ok(resp: Any, *statuses: int) -> Any:
    assert resp.status_code in (statuses or (200, 201, 204)), (resp.status_code, resp.get_data(as_text=True))
    return resp.json if resp.status_code != 204 else None


def accept(api: Api, org_id: str, email: str, seat_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "role": "member"}
    if seat_type:
        body["seat_type"] = seat_type
    ok(api.post(f"/v1/orgs/{org_id}/invitations", body), 201)
    result: dict[str, Any] = ok(
        api.as_key(None).post("/v1/invitations/accept", {"token": mailed_token(api, email)}), 201
    )
    return result


def run(platform: Api, admin: Api, owner: Api, org_id: str) -> dict[str, int]:
    """Returns the seats in use per type at the end, as the API reports them."""
    org = f"/v1/orgs/{org_id}"
    ok(admin.patch(org, {"name": "Acme Tour", "audit_retention_days": 400}))
    ok(platform.put(f"{org}/seats/pro", {"limit": 3}))

    a = accept(admin, org_id, "ada@example.com", seat_type="pro")  # member.added, seat.assigned
    b = accept(admin, org_id, "bob@example.com")
    c = accept(admin, org_id, "cy@example.com")
    d = accept(admin, org_id, "dee@example.com")
    ok(admin.put(f"{org}/members/{b['id']}/seat", {"seat_type": "pro"}))
    ok(admin.post(f"{org}/seats/pro/transfer", {"from_member": b["id"], "to_member": c["id"]}))
    ok(admin.delete(f"{org}/members/{c['id']}/seat"))
    ok(admin.patch(f"{org}/members/{a['id']}", {"role": "admin"}))
    ok(admin.patch(f"{org}/members/{d['id']}", {"status": "suspended"}))
    ok(admin.patch(f"{org}/members/{d['id']}", {"status": "active"}))
    ok(admin.put(f"{org}/members/{d['id']}/seat", {"seat_type": "pro"}))
    ok(admin.delete(f"{org}/members/{d['id']}"))  # seat.unassigned, member.removed

    pending = ok(admin.post(f"{org}/invitations", {"email": "eve@example.com", "role": "member"}), 201)
    ok(admin.post(f"{org}/invitations/{pending['id']}/resend"))
    ok(admin.delete(f"{org}/invitations/{pending['id']}"))

    as_b = admin.as_key(b["session_token"])
    asked = ok(as_b.post(f"{org}/seat-requests", {"seat_type": "pro"}), 201)
    ok(admin.post(f"{org}/seat-requests/{asked['id']}/approve"))
    as_c = admin.as_key(c["session_token"])
    asked_c = ok(as_c.post(f"{org}/seat-requests", {"seat_type": "pro"}), 201)
    ok(admin.post(f"{org}/seat-requests/{asked_c['id']}/deny", {"reason": "budget"}))
    ok(platform.put(f"{org}/seats/pro", {"limit": 2}))  # below use: over_limit

    key = ok(admin.post(f"{org}/api-keys", {"name": "ci", "role": "admin"}), 201)
    ok(admin.delete(f"{org}/api-keys/{key['id']}"))
    ok(admin.as_key(key["key"]).get(org), 401)  # a revoked key: auth.failed
    ok(as_b.post(f"{org}/api-keys", {"name": "mine"}), 403)  # a member without the permission: authz.denied
    token = ok(admin.post(f"{org}/scim-tokens", {"name": "okta"}), 201)
    ok(admin.delete(f"{org}/scim-tokens/{token['id']}"))
    ok(as_c.post("/v1/logout"))

    seats = ok(admin.get(f"{org}/seats"))
    return {pool["seat_type"]: pool["used"] for pool in seats["data"]}
