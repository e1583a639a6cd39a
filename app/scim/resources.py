"""SCIM resources from and to what Tenantry stores, and the ``attributes``/``excludedAttributes`` projection.

Pure: plain values in, dicts out. A User is a membership (id, userName, externalId, status, attributes) plus
its account; the stored ``attributes`` hold the SCIM attributes Tenantry keeps but does not act on (name,
emails, the enterprise extension, ...), already in canonical form. ``password`` is never stored or returned.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from app.scim import patch
from app.scim.errors import InvalidValue
from app.scim.schema import ENTERPRISE_USER, GROUP, USER, Attribute, ResourceType, Schema

LIST_RESPONSE: Final = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
# Kept in columns or derived: never in the stored attribute bag.
_NOT_IN_BAG: Final = frozenset(
    {"id", "externalid", "username", "active", "groups", "meta", "members", "password"}
)


def version_of(updated_at: datetime) -> str:
    """A weak ETag (RFC 7644 §3.14) that changes with every write to the resource."""
    stamp = updated_at.astimezone(UTC).isoformat()
    return 'W/"' + hashlib.sha256(stamp.encode()).hexdigest()[:16] + '"'


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def meta(resource_type: str, created: datetime, updated: datetime, location: str) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": _time(created),
        "lastModified": _time(updated),
        "location": location,
        "version": version_of(updated),
    }


@dataclass(frozen=True)
class UserRow:
    id: str
    user_name: str
    external_id: str | None
    active: bool
    attributes: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    groups: Sequence[tuple[str, str]] = ()  # (group id, display name)


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    """A ListResponse (RFC 7644 §3.4.2) of one page of ``resources``."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def user_resource(row: UserRow, base_url: str) -> dict[str, Any]:
    attributes = dict(row.attributes)
    user_name = attributes.pop("userName", None) or row.user_name
    body: dict[str, Any] = {"schemas": [USER], "id": row.id}
    if row.external_id is not None:
        body["externalId"] = row.external_id
    body["userName"] = user_name
    body.update(attributes)
    body["active"] = row.active
    if row.groups:
        body["groups"] = [
            {"value": gid, "$ref": f"{base_url}/Groups/{gid}", "display": name, "type": "direct"}
            for gid, name in row.groups
        ]
    if ENTERPRISE_USER in body:
        body["schemas"] = [USER, ENTERPRISE_USER]
    body["meta"] = meta("User", row.created_at, row.updated_at, f"{base_url}/Users/{row.id}")
    return body


@dataclass(frozen=True)
class GroupRow:
    id: str
    display_name: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    members: Sequence[tuple[str, str]] | None  # (member id, display); None when not loaded


def group_resource(row: GroupRow, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "id": row.id}
    if row.external_id is not None:
        body["externalId"] = row.external_id
    body["displayName"] = row.display_name
    if row.members:
        body["members"] = [
            {"value": mid, "$ref": f"{base_url}/Users/{mid}", "type": "User"} for mid, _display in row.members
        ]
    body["meta"] = meta("Group", row.created_at, row.updated_at, f"{base_url}/Groups/{row.id}")
    return body


@dataclass(frozen=True)
class UserFields:
    user_name: str  # as sent
    external_id: str | None
    active: bool
    email: str  # the account's email: userName when it is one, else the primary email, else a placeholder
    attributes: dict[str, Any]


def _canonical(rtype: ResourceType, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's known, writable attributes in canonical form; read-only and unknown ones are dropped
    (Okta sends ``password`` and ``groups``, Entra extra schema URNs): RFC 7644 §3.3 lets a server ignore
    read-only values, and an attribute Tenantry does not store cannot be kept."""
    out: dict[str, Any] = {}

    def take(schema: Schema | None, attribute: Attribute, value: Any, holder: dict[str, Any]) -> None:
        if attribute.mutability == "readOnly":
            return
        coerced = patch.coerce(attribute, value)
        if attribute.type == "complex" and isinstance(coerced, dict | list):
            coerced = _drop_read_only(attribute, coerced)
        if coerced is not None:
            holder[attribute.name] = coerced

    for key, value in body.items():
        if not isinstance(key, str) or key.lower() in ("schemas", "password", "meta"):
            continue
        extension = rtype.schema(key)
        if extension is not None and extension is not rtype.core:
            if isinstance(value, Mapping):
                holder: dict[str, Any] = {}
                for sub_key, sub_value in value.items():
                    found = extension.attribute(str(sub_key))
                    if found is not None:
                        take(extension, found, sub_value, holder)
                if holder:
                    out[extension.id] = holder
            continue
        resolved = rtype.resolve(None, key)
        if resolved is not None:
            take(*resolved, value, out)
    return out


def _drop_read_only(attribute: Attribute, value: Any) -> Any:
    if isinstance(value, list):
        return [_drop_read_only(attribute, v) for v in value]
    return {
        k: v for k, v in value.items() if (sub := attribute.sub(k)) is None or sub.mutability != "readOnly"
    }


def user_fields(body: Mapping[str, Any], rtype: ResourceType) -> UserFields:
    """What to store of a User body (POST, PUT, or a PATCHed resource)."""
    values = _canonical(rtype, body)
    user_name = values.pop("userName", None)
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("'userName' is required.")
    external_id = values.pop("externalId", None)
    active = values.pop("active", True)
    email = _account_email(user_name, values.get("emails") or [])
    attributes = {k: v for k, v in values.items() if k.lower() not in _NOT_IN_BAG}
    if user_name.strip().casefold() != email:
        attributes["userName"] = user_name.strip()
    return UserFields(user_name.strip(), external_id, bool(active), email, attributes)


def looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and " " not in value)


def _account_email(user_name: str, emails: Iterable[Mapping[str, Any]]) -> str:
    """userName is usually the email; otherwise the primary (or work, or first) email names the account."""
    if looks_like_email(user_name.strip()):
        return user_name.strip().casefold()
    ranked = sorted(emails, key=lambda e: (e.get("primary") is not True, e.get("type") != "work"))
    for entry in ranked:
        value = entry.get("value")
        if isinstance(value, str) and looks_like_email(value.strip()):
            return value.strip().casefold()
    # No email at all (compliance testers send a bare userName): an account no mail reaches, under the
    # reserved .invalid TLD (RFC 2606), named after nothing the caller chose.
    return f"scim-{uuid.uuid4().hex}@invalid"


def group_fields(body: Mapping[str, Any], rtype: ResourceType) -> tuple[str, str | None, list[str]]:
    """displayName, externalId and member ids of a Group body."""
    values = _canonical(rtype, body)
    name = values.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("'displayName' is required.")
    members = [m["value"] for m in values.get("members") or [] if isinstance(m.get("value"), str)]
    return name.strip(), values.get("externalId"), list(dict.fromkeys(members))


# --- projection (RFC 7644 §3.9) ----------------------------------------------------------------------------


def _split(names: str | Sequence[str] | None) -> list[str]:
    if names is None:
        return []
    items = names.split(",") if isinstance(names, str) else list(names)
    return [n.strip() for n in items if isinstance(n, str) and n.strip()]


def _key(rtype: ResourceType, name: str) -> tuple[str | None, str, str | None]:
    """(extension URN or None, attribute, sub-attribute), lower-cased."""
    urn: str | None = None
    rest = name
    if ":" in name:
        prefix, _, rest = name.rpartition(":")
        schema = rtype.schema(prefix)
        if schema is None:
            schema = rtype.schema(name)
            if schema is not None:  # the extension URN alone names all of it
                return (None if schema is rtype.core else schema.id.lower(), "*", None)
            return ("?", name.lower(), None)
        urn = None if schema is rtype.core else schema.id.lower()
    attr, _, sub = rest.partition(".")
    return (urn, attr.lower(), sub.lower() or None)


def project(
    resource: Mapping[str, Any],
    rtype: ResourceType,
    attributes: str | Sequence[str] | None = None,
    excluded: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Keep only ``attributes`` (plus those returned always), or drop ``excluded`` (except those)."""
    wanted = {_key(rtype, n) for n in _split(attributes)}
    unwanted = {_key(rtype, n) for n in _split(excluded)}
    if not wanted and not unwanted:
        return dict(resource)

    def always(urn: str | None, attribute: str) -> bool:
        if urn is not None:
            return False
        found = rtype.resolve(None, attribute)
        return attribute in ("schemas", "id") or (found is not None and found[1].returned == "always")

    def pick(urn: str | None, holder: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in holder.items():
            lowered = key.lower()
            if urn is None and rtype.schema(key) is not None and isinstance(value, Mapping):
                inner = pick(key.lower(), value)
                if inner:
                    out[key] = inner
                continue
            if always(urn, lowered):
                out[key] = value
                continue
            if wanted:
                if (urn, "*", None) in wanted or (urn, lowered, None) in wanted:
                    out[key] = value
                else:
                    subs = {s for (u, a, s) in wanted if u == urn and a == lowered and s}
                    if subs:
                        out[key] = _subset(value, subs, keep=True)
            else:
                if (urn, "*", None) in unwanted or (urn, lowered, None) in unwanted:
                    continue
                subs = {s for (u, a, s) in unwanted if u == urn and a == lowered and s}
                out[key] = _subset(value, subs, keep=False) if subs else value
        return out

    projected = pick(None, resource)
    # meta is "returned: default": kept unless asked away, as most clients need its location and version
    if wanted and "meta" in resource and (None, "meta", None) not in wanted:
        projected.pop("meta", None)
    return projected


def _subset(value: Any, subs: set[str], *, keep: bool) -> Any:
    def one(item: Any) -> Any:
        if not isinstance(item, Mapping):
            return item
        return {k: v for k, v in item.items() if (k.lower() in subs) == keep}

    return [one(v) for v in value] if isinstance(value, list) else one(value)
