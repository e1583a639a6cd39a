"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource dict, with the shapes Okta and Entra ID really send.

Operations apply in order to a copy; any failure raises and leaves the input untouched (all or nothing).
Beyond the RFC, and on purpose: ``op`` is case-insensitive (Entra sends ``Replace``); booleans may come as
strings (``"False"``); a path-less value may use dotted and URN-qualified keys (``name.givenName``,
``urn:…:enterprise:2.0:User:employeeNumber``); ``add``/``replace`` on a filtered path with no match creates
the entry from the filter's ``eq`` terms (``phoneNumbers[type eq "mobile"].value``); ``remove`` on a
multi-valued attribute with a ``value`` list removes only those; a complex attribute given a bare string
(``manager: "id"``) is ``{"value": "id"}``; ``""`` or ``null`` clears an attribute.
Pure: no Flask, no session.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.scim import filter as scim_filter
from app.scim.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget
from app.scim.schema import Attribute, ResourceType, Schema

PATCH_OP: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPS: Final = frozenset({"add", "remove", "replace"})


@dataclass(frozen=True)
class Operation:
    op: str
    path: str | None
    value: Any


@dataclass(frozen=True)
class Target:
    """A resolved path: the attribute, its schema (``None`` for id/externalId/meta), an optional value filter
    and sub-attribute."""

    schema: Schema | None
    attribute: Attribute
    filter: scim_filter.Filter | None
    sub: Attribute | None


def parse_operations(body: Any) -> list[Operation]:
    """Read a PatchOp message (RFC 7644 §3.5.2); the ``schemas`` member is required, case-insensitively."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A PATCH body is a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP.lower() not in [str(s).lower() for s in schemas]:
        raise InvalidSyntax(f"A PATCH body names the schema {PATCH_OP}.")
    raw = body.get("Operations", body.get("operations"))
    if not isinstance(raw, list) or not raw:
        raise InvalidSyntax("A PATCH body carries a non-empty 'Operations' list.")
    operations = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise InvalidSyntax("Each operation is a JSON object.")
        op = str(item.get("op", "")).lower()
        if op not in OPS:
            raise InvalidSyntax(f"'{item.get('op')}' is not a PATCH operation (add, remove, replace).")
        path = item.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise InvalidPath("'path' is a non-empty string.")
        if op != "remove" and "value" not in item:
            raise InvalidValue(f"'{op}' needs a 'value'.")
        operations.append(Operation(op, path.strip() if path else None, item.get("value")))
    return operations


def resolve(rtype: ResourceType, text: str) -> Target:
    """``attr``, ``attr.sub``, ``urn:…:attr``, ``attr[filter]`` and ``attr[filter].sub`` (RFC 7644 §3.5.2)."""
    filt: scim_filter.Filter | None = None
    sub_name: str | None = None
    head = text
    if "[" in text:
        head, _, rest = text.partition("[")
        inner, closing, after = rest.rpartition("]")
        if not closing or (after and not after.startswith(".")):
            raise InvalidPath(f"'{text}' is not a valid path.")
        try:
            filt = scim_filter.parse(inner)
        except InvalidFilter as exc:
            raise InvalidPath(f"'{text}': {exc.detail}") from exc
        sub_name = after[1:] or None if after else None
    try:
        path = scim_filter.parse_path(head)
    except InvalidFilter as exc:
        raise InvalidPath(f"'{text}' is not a valid path.") from exc
    if path.sub is not None:
        if filt is not None:
            raise InvalidPath(f"'{text}': a filter follows the attribute, not its sub-attribute.")
        sub_name = path.sub
    found = rtype.resolve(path.urn, path.attr)
    if found is None:
        raise InvalidPath(f"'{text}' names no attribute of {rtype.name}.")
    schema, attribute = found
    sub: Attribute | None = None
    if sub_name is not None:
        sub = attribute.sub(sub_name)
        if sub is None:
            raise InvalidPath(f"'{text}': '{attribute.name}' has no sub-attribute '{sub_name}'.")
    if filt is not None and attribute.type != "complex":
        raise InvalidPath(f"'{text}': only complex attributes take a value filter.")
    return Target(schema, attribute, filt, sub)


def coerce(attribute: Attribute, value: Any, *, element: bool = False) -> Any:
    """Bring ``value`` to the attribute's type and canonical sub-attribute names; ``None`` means clear."""
    if value is None or value == "" or (isinstance(value, list) and not value and not attribute.multi_valued):
        return None
    if attribute.multi_valued and not element:
        items = value if isinstance(value, list) else [value]
        coerced = [coerce(attribute, v, element=True) for v in items]
        return [c for c in coerced if c is not None] or None
    if attribute.type == "complex":
        if not isinstance(value, Mapping):
            if (
                isinstance(value, str | int | float)
                and not isinstance(value, bool)
                and attribute.sub("value")
            ):
                return {"value": str(value)}  # Entra: manager as a bare id
            raise InvalidValue(f"'{attribute.name}' is a complex attribute (a JSON object).")
        out: dict[str, Any] = {}
        for key, sub_value in value.items():
            sub = attribute.sub(key)
            if sub is None:
                raise InvalidValue(f"'{attribute.name}' has no sub-attribute '{key}'.")
            coerced_sub = coerce(sub, sub_value)
            if coerced_sub is not None:
                out[sub.name] = coerced_sub
        return out or None
    if attribute.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"  # Entra sends "False"
        raise InvalidValue(f"'{attribute.name}' is a boolean.")
    if attribute.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"'{attribute.name}' is an integer.")
    if not isinstance(value, str):
        raise InvalidValue(f"'{attribute.name}' is a string.")
    return value


class _Patcher:
    def __init__(self, rtype: ResourceType, resource: dict[str, Any]) -> None:
        self.rtype = rtype
        self.resource = resource

    def holder(self, schema: Schema | None, create: bool) -> dict[str, Any] | None:
        if schema is None or schema is self.rtype.core:
            return self.resource
        found = self.resource.get(schema.id)
        if isinstance(found, dict):
            return found
        if not create:
            return None
        self.resource[schema.id] = {}
        schemas = self.resource.setdefault("schemas", [self.rtype.core.id])
        if schema.id not in schemas:
            schemas.append(schema.id)
        return self.resource[schema.id]  # type: ignore[no-any-return]

    def check_mutable(self, target: Target, value: Any, pathless: bool) -> bool:
        """``False`` to skip a read-only attribute a path-less value repeats unchanged (Okta sends ``id``)."""
        attribute = target.sub or target.attribute
        if target.attribute.mutability != "readOnly" and attribute.mutability != "readOnly":
            return True
        holder = self.holder(target.schema, create=False) or {}
        if pathless and target.sub is None and holder.get(target.attribute.name) == value:
            return False
        raise Mutability(f"'{attribute.name}' is read-only.")

    def apply(self, operation: Operation) -> None:
        if operation.path is None:
            if operation.op == "remove":
                raise NoTarget("'remove' needs a 'path'.")
            if not isinstance(operation.value, Mapping):
                raise InvalidValue(f"A path-less '{operation.op}' takes a JSON object.")
            for path, value in self.flatten(operation.value):
                target = resolve(self.rtype, path)
                if self.check_mutable(target, value, pathless=True):
                    self.set(operation.op, target, value)
            return
        extension = self.rtype.schema(operation.path)
        if extension is not None and extension is not self.rtype.core:
            # The path names a whole extension: its value is the extension's object.
            if operation.op == "remove":
                self.resource.pop(extension.id, None)
                schemas = self.resource.get("schemas")
                if isinstance(schemas, list) and extension.id in schemas:
                    schemas.remove(extension.id)
            else:
                self.apply(Operation(operation.op, None, {extension.id: operation.value}))
            return
        target = resolve(self.rtype, operation.path)
        self.check_mutable(target, operation.value, pathless=False)
        if operation.op == "remove":
            self.remove(target, operation.value)
        else:
            self.set(operation.op, target, operation.value)

    def flatten(self, value: Mapping[str, Any]) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = []
        for key, item in value.items():
            if key.lower() == "schemas":
                continue
            extension = self.rtype.schema(key)
            if extension is not None and extension is not self.rtype.core:
                if not isinstance(item, Mapping):
                    raise InvalidValue(f"'{key}' holds a JSON object.")
                pairs.extend((f"{extension.id}:{k}", v) for k, v in item.items() if k.lower() != "schemas")
            else:
                pairs.append((key, item))
        return pairs

    def set(self, op: str, target: Target, raw: Any) -> None:
        attribute = target.attribute
        holder = self.holder(target.schema, create=True)
        assert holder is not None
        name = attribute.name
        if target.filter is not None:
            self.set_filtered(op, target, holder, raw)
            return
        if target.sub is not None:
            value = coerce(target.sub, raw)
            if attribute.multi_valued:
                elements = holder.get(name) or []
                if not elements:
                    raise NoTarget(f"'{name}' has no values to set '{target.sub.name}' on.")
                for element in elements:
                    _put(element, target.sub.name, value)
                return
            current = holder.get(name) or {}
            _put(current, target.sub.name, value)
            _put(holder, name, current or None)
            return
        value = coerce(attribute, raw)
        if value is None:
            self.clear(holder, attribute)
        elif attribute.multi_valued and op == "add":
            elements = list(holder.get(name) or [])
            for new in value:
                same = next((e for e in elements if _same_value(e, new)), None)
                if same is None:
                    elements.append(new)
                else:
                    same.update(new)
            holder[name] = elements
        elif attribute.type == "complex" and not attribute.multi_valued:
            merged = dict(holder.get(name) or {})
            merged.update(value)  # RFC 7644 §3.5.2.1/§3.5.2.3: unspecified sub-attributes are kept
            holder[name] = merged
        else:
            holder[name] = value
        _one_primary(holder, attribute)

    def set_filtered(self, op: str, target: Target, holder: dict[str, Any], raw: Any) -> None:
        attribute = target.attribute
        assert target.filter is not None
        elements = _elements(holder.get(attribute.name))
        matched = [e for e in elements if scim_filter.matches(target.filter, e)]
        if not matched:
            # Entra ID: an add or replace on a filtered path with no match creates the entry.
            created = _entry_from(target.filter, attribute)
            elements.append(created)
            matched = [created]
        for element in matched:
            if target.sub is not None:
                _put(element, target.sub.name, coerce(target.sub, raw))
            else:
                value = coerce(attribute, raw, element=True) or {}
                if op == "replace":
                    element.clear()
                element.update(value)
        kept = [e for e in elements if e]
        holder[attribute.name] = kept if attribute.multi_valued else (kept[0] if kept else None)
        if holder[attribute.name] is None:
            del holder[attribute.name]
        _one_primary(holder, attribute)

    def remove(self, target: Target, raw: Any) -> None:
        attribute = target.attribute
        holder = self.holder(target.schema, create=False)
        if holder is None or holder.get(attribute.name) is None:
            return  # nothing there: removing it again is not an error for IdPs that retry
        name = attribute.name
        if target.filter is not None:
            elements = _elements(holder[name])
            keep: list[dict[str, Any]] = []
            for element in elements:
                if not scim_filter.matches(target.filter, element):
                    keep.append(element)
                elif target.sub is not None:
                    element.pop(target.sub.name, None)
                    if element:
                        keep.append(element)
            if attribute.multi_valued:
                _put(holder, name, keep or None)
            else:
                _put(holder, name, keep[0] if keep else None)
            return
        if target.sub is not None:
            for element in _elements(holder[name]):
                element.pop(target.sub.name, None)
            if not attribute.multi_valued and not holder[name]:
                del holder[name]
            return
        if attribute.multi_valued and raw is not None:
            # Entra ID: Remove on members with a value list removes only those values.
            unwanted = coerce(attribute, raw) or []
            keep = [e for e in holder[name] if not any(_same_value(e, u) for u in unwanted)]
            _put(holder, name, keep or None)
            return
        self.clear(holder, attribute)

    def clear(self, holder: dict[str, Any], attribute: Attribute) -> None:
        if attribute.required:
            raise InvalidValue(f"'{attribute.name}' is required and cannot be cleared.")
        holder.pop(attribute.name, None)


def _put(holder: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        holder.pop(name, None)
    else:
        holder[name] = value


def _elements(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [i for i in items if isinstance(i, dict)]


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping) and "value" in a and "value" in b:
        if str(a["value"]).lower() != str(b["value"]).lower():
            return False
        return "type" not in a or "type" not in b or str(a["type"]).lower() == str(b["type"]).lower()
    return bool(a == b)


def _one_primary(holder: dict[str, Any], attribute: Attribute) -> None:
    """RFC 7643 §2.4: at most one value is primary; the last one set wins."""
    elements = holder.get(attribute.name)
    if not attribute.multi_valued or not isinstance(elements, list):
        return
    primaries = [e for e in elements if isinstance(e, dict) and e.get("primary") is True]
    for element in primaries[:-1]:
        element["primary"] = False


def _entry_from(node: scim_filter.Filter, attribute: Attribute) -> dict[str, Any]:
    """The value a filter of ``eq`` terms joined by ``and`` describes; anything else has no single entry."""
    if isinstance(node, scim_filter.And):
        return {**_entry_from(node.left, attribute), **_entry_from(node.right, attribute)}
    if (
        isinstance(node, scim_filter.Compare)
        and node.op == "eq"
        and node.path.urn is None
        and not node.path.sub
    ):
        sub = attribute.sub(node.path.attr)
        if sub is not None:
            return {sub.name: coerce(sub, node.value)}
    raise NoTarget(
        f"No value of '{attribute.name}' matches the filter, and it does not describe one to create."
    )


def apply(
    resource: Mapping[str, Any], operations: Sequence[Operation], rtype: ResourceType
) -> dict[str, Any]:
    """The resource after ``operations`` in order (RFC 7644 §3.5.2: all or nothing); input unchanged."""
    patcher = _Patcher(rtype, copy.deepcopy(dict(resource)))
    for operation in operations:
        patcher.apply(operation)
    for attribute in rtype.core.attributes:
        if attribute.required and patcher.resource.get(attribute.name) in (None, ""):
            raise InvalidValue(f"'{attribute.name}' is required.")
    return patcher.resource
