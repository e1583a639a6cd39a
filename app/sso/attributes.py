"""Reading a person's identity out of an IdP's attributes. Pure.

Default attribute names cover Okta (``email``, ``firstName``), Entra ID (the ``http://schemas.xmlsoap.org``
claim URIs), Google Workspace (as configured in its SAML app: any name; ``email`` is the usual), and the
LDAP/eduPerson OIDs (``urn:oid:…``) that SimpleSAMLphp and Shibboleth send. A connection's configured name
is tried first. The NameID is the email when no email attribute is present and it looks like one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

DEFAULT_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "email": (
        "email",
        "mail",
        "emailAddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    ),
    "first_name": (
        "firstName",
        "first_name",
        "givenName",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "urn:oid:2.5.4.42",
    ),
    "last_name": (
        "lastName",
        "last_name",
        "surname",
        "sn",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "urn:oid:2.5.4.4",
    ),
    "groups": (
        "groups",
        "memberOf",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "http://schemas.xmlsoap.org/claims/Group",
        "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    ),
}


@dataclass(frozen=True)
class AssertedIdentity:
    """Who the IdP says signed in, through which connection."""

    connection_id: str
    subject: str  # the NameID
    email: str | None
    first_name: str | None
    last_name: str | None
    groups: tuple[str, ...] | None  # None: the IdP sent no groups attribute (leave groups as they are)
    session_index: str | None = None
    name_id_format: str | None = None

    @property
    def display_name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) if parts else None


def _values(
    attributes: Mapping[str, Sequence[str]], friendly: Mapping[str, str], names: Sequence[str]
) -> list[str] | None:
    by_friendly = {f: n for n, f in friendly.items()}
    for name in names:
        key = name if name in attributes else by_friendly.get(name)
        if key is not None and key in attributes:
            return [v.strip() for v in attributes[key] if v and v.strip()]
    return None


def identity_from(
    connection_id: str,
    name_id: str,
    attributes: Mapping[str, Sequence[str]],
    configured: Mapping[str, str],
    *,
    friendly_names: Mapping[str, str] | None = None,
    session_index: str | None = None,
    name_id_format: str | None = None,
) -> AssertedIdentity:
    friendly = friendly_names or {}

    def names(field: str) -> list[str]:
        return ([configured[field]] if configured.get(field) else []) + list(DEFAULT_ATTRIBUTES[field])

    def first(field: str) -> str | None:
        found = _values(attributes, friendly, names(field))
        return found[0][:200] if found else None

    email = first("email")
    if email is None and "@" in name_id:
        email = name_id.strip()
    groups = _values(attributes, friendly, names("groups"))
    return AssertedIdentity(
        connection_id=connection_id,
        subject=name_id,
        email=email,
        first_name=first("first_name"),
        last_name=first("last_name"),
        groups=tuple(dict.fromkeys(g[:255] for g in groups)) if groups is not None else None,
        session_index=session_index,
        name_id_format=name_id_format,
    )
