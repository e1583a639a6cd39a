"""The attributes Tenantry stores for SCIM resources (RFC 7643 §4, §8.7): one description, several readers.

``/Schemas`` is rendered from it, filters and PATCH paths resolve names against it (case-insensitively,
RFC 7643 §2.1), and PATCH converts values by its types. Advertising only what is stored matters: compliance
testers fill every attribute they see advertised and read it back. Pure: no Flask, no session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

USER: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "string"  # string | boolean | decimal | integer | dateTime | reference | complex
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"  # readOnly | readWrite | immutable | writeOnly
    returned: str = "default"  # always | never | default | request
    uniqueness: str = "none"
    sub_attributes: tuple[Attribute, ...] = ()
    reference_types: tuple[str, ...] = ()
    canonical_values: tuple[str, ...] = ()
    description: str = ""

    def sub(self, name: str) -> Attribute | None:
        wanted = name.lower()
        return next((a for a in self.sub_attributes if a.name.lower() == wanted), None)

    def to_scim(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description or self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.sub_attributes:
            body["subAttributes"] = [a.to_scim() for a in self.sub_attributes]
        if self.reference_types:
            body["referenceTypes"] = list(self.reference_types)
        if self.canonical_values:
            body["canonicalValues"] = list(self.canonical_values)
        return body


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...] = field(default=())

    def attribute(self, name: str) -> Attribute | None:
        wanted = name.lower()
        return next((a for a in self.attributes if a.name.lower() == wanted), None)

    def to_scim(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_scim() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


def _multi(name: str, types: tuple[str, ...], value_type: str = "string") -> Attribute:
    return Attribute(
        name,
        type="complex",
        multi_valued=True,
        sub_attributes=(
            Attribute("value", type=value_type),
            Attribute("type", canonical_values=types),
            Attribute("primary", type="boolean"),
        ),
    )


# Common attributes (RFC 7643 §3.1) are described once and shared by every resource type.
ID = Attribute("id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server")
EXTERNAL_ID = Attribute("externalId", case_exact=True)

USER_SCHEMA: Final = Schema(
    USER,
    "User",
    "A member of the organisation and its global account",
    (
        Attribute("userName", required=True, uniqueness="server", returned="always"),
        Attribute(
            "name",
            type="complex",
            sub_attributes=tuple(
                Attribute(n)
                for n in (
                    "formatted",
                    "familyName",
                    "givenName",
                    "middleName",
                    "honorificPrefix",
                    "honorificSuffix",
                )
            ),
        ),
        Attribute("displayName"),
        Attribute("nickName"),
        Attribute("title"),
        Attribute("userType"),
        Attribute("preferredLanguage"),
        Attribute("locale"),
        Attribute("timezone"),
        # Required so that it is never removed: a membership is active or suspended, never neither.
        Attribute("active", type="boolean", required=True),
        _multi("emails", ("work", "home", "other")),
        _multi("phoneNumbers", ("work", "home", "mobile", "fax", "pager", "other")),
        Attribute(
            "groups",
            type="complex",
            multi_valued=True,
            mutability="readOnly",
            sub_attributes=(
                Attribute("value", mutability="readOnly"),
                Attribute("$ref", type="reference", mutability="readOnly", reference_types=("Group",)),
                Attribute("display", mutability="readOnly"),
                Attribute("type", mutability="readOnly", canonical_values=("direct",)),
            ),
        ),
    ),
)

ENTERPRISE_USER_SCHEMA: Final = Schema(
    ENTERPRISE_USER,
    "EnterpriseUser",
    "Enterprise User",
    (
        Attribute("employeeNumber"),
        Attribute("costCenter"),
        Attribute("organization"),
        Attribute("division"),
        Attribute("department"),
        Attribute(
            "manager",
            type="complex",
            sub_attributes=(
                Attribute("value"),
                Attribute("$ref", type="reference", reference_types=("User",)),
                Attribute("displayName", mutability="readOnly"),
            ),
        ),
    ),
)

GROUP_SCHEMA: Final = Schema(
    GROUP,
    "Group",
    "A group pushed by the identity provider",
    (
        Attribute("displayName", required=True),
        Attribute(
            "members",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                Attribute("value", mutability="immutable"),
                Attribute(
                    "$ref", type="reference", mutability="immutable", reference_types=("User", "Group")
                ),
                Attribute("display", mutability="readOnly"),
                Attribute("type", mutability="immutable", canonical_values=("User",)),
            ),
        ),
    ),
)

SCHEMAS: Final[Mapping[str, Schema]] = {
    s.id.lower(): s for s in (USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA)
}


@dataclass(frozen=True)
class ResourceType:
    """A resource's core schema and extensions: the vocabulary its filters and PATCH paths may name."""

    name: str
    endpoint: str
    core: Schema
    extensions: tuple[Schema, ...] = ()

    def common(self, name: str) -> Attribute | None:
        lowered = name.lower()
        return next((a for a in (ID, EXTERNAL_ID, META) if a.name.lower() == lowered), None)

    def schema(self, urn: str) -> Schema | None:
        lowered = urn.lower()
        return next((s for s in (self.core, *self.extensions) if s.id.lower() == lowered), None)

    def resolve(self, urn: str | None, name: str) -> tuple[Schema | None, Attribute] | None:
        """Find top-level ``name`` in the schema ``urn`` (the core one when absent); ``None`` when unknown.

        The schema is ``None`` for the common attributes (id, externalId, meta), which belong to no schema.
        """
        if urn is None or urn.lower() == self.core.id.lower():
            common = self.common(name)
            if common is not None:
                return None, common
        schema = self.core if urn is None else self.schema(urn)
        if schema is None:
            return None
        found = schema.attribute(name)
        return (schema, found) if found is not None else None


META = Attribute(
    "meta",
    type="complex",
    mutability="readOnly",
    sub_attributes=(
        Attribute("resourceType", case_exact=True, mutability="readOnly"),
        Attribute("created", type="dateTime", mutability="readOnly"),
        Attribute("lastModified", type="dateTime", mutability="readOnly"),
        Attribute("location", type="reference", mutability="readOnly"),
        Attribute("version", case_exact=True, mutability="readOnly"),
    ),
)

USER_TYPE: Final = ResourceType("User", "/Users", USER_SCHEMA, (ENTERPRISE_USER_SCHEMA,))
GROUP_TYPE: Final = ResourceType("Group", "/Groups", GROUP_SCHEMA)
