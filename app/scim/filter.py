"""SCIM filters (RFC 7644 §3.4.2.2): parsed to a small AST, compiled to SQL, or matched against a dict.

Grammar, with the precedence of errata 4670 (``not`` binds tighter than ``and``, ``and`` than ``or``)::

    filter    = term *("or" term)
    term      = factor *("and" factor)
    factor    = "not" factor / "(" filter ")" / valuePath ["." subAttr compareOp compValue] / attrExp
    valuePath = attrPath "[" filter "]"
    attrExp   = attrPath "pr" / attrPath compareOp compValue

Attribute names, operators and keywords are case-insensitive. ``emails[type eq "work"].value eq "x"`` is not
in the RFC's grammar, but Microsoft Entra ID sends it: it reads as
``emails[type eq "work" and value eq "x"]``.
Anything not understood raises :class:`InvalidFilter` (400 ``invalidFilter``), never a silently empty list.
Pure: SQLAlchemy expressions are built, never executed here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, func, not_, or_, true
from sqlalchemy.sql.elements import SQLCoreOperations

from app.scim.errors import InvalidFilter

COMPARE_OPS: Final = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
CORE_PREFIX: Final = "urn:ietf:params:scim:schemas:core:"
MAX_LENGTH: Final = 4096  # a filter longer than this is refused before parsing: it is not an IdP's

Value = str | int | float | bool | None


@dataclass(frozen=True)
class AttrPath:
    """``[urn:]attr[.sub]``; ``urn`` is the schema URN as written, or ``None``."""

    urn: str | None
    attr: str
    sub: str | None = None

    def key(self, core_urn: str) -> str:
        """The lower-cased lookup key: the core URN dropped, an extension's kept (``urn:…:user:title``)."""
        prefix = "" if self.urn is None or self.urn.lower() == core_urn.lower() else self.urn.lower() + ":"
        return prefix + self.attr.lower() + ("" if self.sub is None else "." + self.sub.lower())


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Value


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    """``attr[inner]``: ``inner``'s paths name sub-attributes of ``attr``'s values."""

    path: AttrPath
    inner: Filter


Filter = Compare | Present | And | Or | Not | ValuePath

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<punct>[()\[\]])
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w:.$-]))
    | (?P<dotsub>(?<=\])\.[A-Za-z_$][\w$-]*)
    | (?P<word>[A-Za-z_$][\w$:.\-]*)
    )""",
    re.VERBOSE,
)

Kind = Literal["punct", "string", "number", "dotsub", "word"]


@dataclass(frozen=True)
class _Token:
    kind: Kind
    text: str


def _tokens(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            return
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise InvalidFilter(f"Unexpected character at position {pos} of the filter.")
        kind: Kind = m.lastgroup  # type: ignore[assignment]
        yield _Token(kind, m.group(kind))
        pos = m.end()


def parse_path(text: str) -> AttrPath:
    """``name``, ``name.sub``, ``urn:…:Schema:name[.sub]``."""
    urn: str | None = None
    rest = text
    if ":" in text:
        urn, _, rest = text.rpartition(":")
        if not urn or not rest:
            raise InvalidFilter(f"'{text}' is not an attribute path.")
    attr, dot, sub = rest.partition(".")
    if not re.fullmatch(r"[A-Za-z_$][\w$-]*", attr) or (dot and not re.fullmatch(r"[A-Za-z_$][\w$-]*", sub)):
        raise InvalidFilter(f"'{text}' is not an attribute path.")
    return AttrPath(urn, attr, sub if dot else None)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise InvalidFilter("The filter ends too early.")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.pos += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise InvalidFilter(f"Expected '{punct}' but found '{token.text}'.")

    def filter(self, nested: bool = False) -> Filter:
        node = self.term(nested)
        while self.keyword("or"):
            node = Or(node, self.term(nested))
        return node

    def term(self, nested: bool) -> Filter:
        node = self.factor(nested)
        while self.keyword("and"):
            node = And(node, self.factor(nested))
        return node

    def factor(self, nested: bool) -> Filter:
        if self.keyword("not"):
            return Not(self.factor(nested))
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.filter(nested)
            self.expect(")")
            return inner
        if token.kind != "word":
            raise InvalidFilter(f"Expected an attribute name but found '{token.text}'.")
        path = parse_path(token.text)
        after = self.peek()
        if after is not None and after.kind == "punct" and after.text == "[":
            if nested or path.sub is not None:
                raise InvalidFilter("A value path cannot be nested or follow a sub-attribute.")
            self.take()
            inner = self.filter(nested=True)
            self.expect("]")
            dotsub = self.peek()
            if dotsub is not None and dotsub.kind == "dotsub":
                # Entra ID: emails[type eq "work"].value eq "x" == emails[type eq "work" and value eq "x"]
                self.take()
                inner = And(inner, self.comparison(AttrPath(None, dotsub.text[1:])))
            return ValuePath(path, inner)
        return self.comparison(path)

    def comparison(self, path: AttrPath) -> Filter:
        op_token = self.take()
        op = op_token.text.lower()
        if op_token.kind == "word" and op == "pr":
            return Present(path)
        if op_token.kind != "word" or op not in COMPARE_OPS:
            raise InvalidFilter(f"'{op_token.text}' is not a comparison operator.")
        return Compare(path, op, self.value())

    def value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            try:
                decoded: str = json.loads(token.text)
            except ValueError as exc:
                raise InvalidFilter(f"{token.text} is not a valid JSON string.") from exc
            return decoded
        if token.kind == "number":
            number: int | float = json.loads(token.text)
            return number
        if token.kind == "word" and token.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        raise InvalidFilter(f"'{token.text}' is not a comparison value (quote strings).")


def parse(text: str) -> Filter:
    if len(text) > MAX_LENGTH:
        raise InvalidFilter(f"The filter is longer than {MAX_LENGTH} characters.")
    if not text.strip():
        raise InvalidFilter("The filter is empty.")
    parser = _Parser(text)
    node = parser.filter()
    rest = parser.peek()
    if rest is not None:
        raise InvalidFilter(f"Unexpected '{rest.text}' in the filter.")
    return node


# --- compiling to SQL -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """How one filterable attribute is stored.

    ``case``: ``exact`` compares as stored (id, externalId); ``folded`` means the column already holds the
    lower-cased value, so the operand is lowered and the column's own index serves (userName as the account
    email); ``insensitive`` lowers both sides.
    """

    expr: SQLCoreOperations[Any]
    type: Literal["string", "boolean", "dateTime", "integer"] = "string"
    case: Literal["exact", "folded", "insensitive"] = "insensitive"


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def operand(column: Column, compare: Compare) -> Any:
    """The value ``compare`` compares ``column`` with, as stored (folded, lowered, parsed); InvalidFilter
    when the value's type does not fit the attribute's."""
    value = compare.value
    if column.type == "boolean":
        if not isinstance(value, bool) or compare.op not in ("eq", "ne"):
            raise InvalidFilter(f"'{compare.path.attr}' is boolean: only eq/ne true/false and pr apply.")
        return value
    if column.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or compare.op in ("co", "sw", "ew"):
            raise InvalidFilter(f"'{compare.path.attr}' takes an integer and no substring operators.")
        return value
    if not isinstance(value, str):
        raise InvalidFilter(f"'{compare.path.attr}' takes a quoted string.")
    if column.type == "dateTime":
        if compare.op in ("co", "sw", "ew"):
            raise InvalidFilter(
                f"'{compare.path.attr}' is a dateTime: compare it with eq, ne, gt, ge, lt, le."
            )
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidFilter(f"'{value}' is not an xsd:dateTime.") from exc
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value if column.case == "exact" else value.casefold() if column.case == "folded" else value.lower()


def _comparison(column: Column, compare: Compare) -> ColumnElement[bool]:
    value = operand(column, compare)
    expr = column.expr if column.case != "insensitive" or column.type != "string" else func.lower(column.expr)
    op = compare.op
    result: ColumnElement[bool]
    if op == "eq":
        result = expr == value
        return result
    if op == "ne":
        return or_(column.expr.is_(None), expr != value)
    if op in ("co", "sw", "ew"):
        escaped = _like_escape(value)
        pattern = {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]
        return expr.like(pattern, escape="\\")
    result = {"gt": expr > value, "ge": expr >= value, "lt": expr < value, "le": expr <= value}[op]
    return result


def _null_compare(column: Column, compare: Compare) -> ColumnElement[bool]:
    if compare.op == "eq":
        return column.expr.is_(None)
    if compare.op == "ne":
        return column.expr.is_not(None)
    raise InvalidFilter(f"null can be compared with eq or ne only, not '{compare.op}'.")


def _present(column: Column) -> ColumnElement[bool]:
    if column.type == "string":
        return and_(column.expr.is_not(None), column.expr != "")
    return column.expr.is_not(None)


def to_sql(node: Filter, columns: Mapping[str, Column], core_urn: str) -> ColumnElement[bool]:
    """Compile to a clause over ``columns`` (lower-cased keys as :meth:`AttrPath.key` makes them).

    A multi-valued attribute stored as one column (the account's email) reads its value path as the
    conjunction of its sub-attribute comparisons: ``emails[type eq "work"]`` becomes ``emails.type = 'work'``.
    """

    def column_of(path: AttrPath, parent: AttrPath | None) -> Column:
        full = path if parent is None else AttrPath(parent.urn, parent.attr, path.attr)
        if parent is not None and (path.urn is not None or path.sub is not None):
            raise InvalidFilter(f"'{path.attr}' inside a value path must be a plain sub-attribute name.")
        key = full.key(core_urn)
        found = columns.get(key) or (columns.get(key + ".value") if full.sub is None else None)
        if found is None:
            raise InvalidFilter(f"Filtering on '{key}' is not supported.")
        return found

    def walk(n: Filter, parent: AttrPath | None) -> ColumnElement[bool]:
        if isinstance(n, And):
            return and_(walk(n.left, parent), walk(n.right, parent))
        if isinstance(n, Or):
            return or_(walk(n.left, parent), walk(n.right, parent))
        if isinstance(n, Not):
            return not_(walk(n.inner, parent))
        if isinstance(n, Present):
            return _present(column_of(n.path, parent))
        if isinstance(n, ValuePath):
            return walk(n.inner, n.path)
        column = column_of(n.path, parent)
        if n.value is None:
            return _null_compare(column, n)
        return _comparison(column, n)

    return walk(node, None)


def pins(node: Filter, keys: frozenset[str], core_urn: str, parent: AttrPath | None = None) -> bool:
    """Whether every match must satisfy ``attr eq value`` on one of ``keys`` (an ``eq`` in the top-level
    conjunction, not under ``or`` or ``not``): such a filter selects a handful of rows through its index, so
    the query should not walk another index just to get its rows in order (SQLite's planner, without table
    statistics, prefers the order)."""
    if isinstance(node, And):
        return pins(node.left, keys, core_urn, parent) or pins(node.right, keys, core_urn, parent)
    if isinstance(node, ValuePath):
        return parent is None and pins(node.inner, keys, core_urn, node.path)
    if not isinstance(node, Compare) or node.op != "eq" or node.value is None:
        return False
    path = node.path if parent is None else AttrPath(parent.urn, parent.attr, node.path.attr)
    return path.key(core_urn) in keys


# --- matching a dict (PATCH's filtered paths) -------------------------------------------------------------


def _get(resource: Mapping[str, Any], name: str) -> Any:
    lowered = name.lower()
    return next((v for k, v in resource.items() if k.lower() == lowered), None)


def _holder(resource: Mapping[str, Any], urn: str | None) -> Any:
    """Where a schema's attributes sit: extensions under their URN, a core schema's at the top."""
    if urn is None:
        return resource
    found = _get(resource, urn)
    return resource if found is None and urn.lower().startswith(CORE_PREFIX) else found


def _values_at(resource: Mapping[str, Any], path: AttrPath) -> list[Any]:
    holder = _holder(resource, path.urn)
    if not isinstance(holder, Mapping):
        return []
    found = _get(holder, path.attr)
    items = found if isinstance(found, list) else [found]
    if path.sub is not None:
        items = [_get(i, path.sub) if isinstance(i, Mapping) else None for i in items]
    elif any(isinstance(i, Mapping) for i in items):
        # A complex attribute compared directly means its "value" (RFC 7644 §3.4.2.2).
        items = [_get(i, "value") if isinstance(i, Mapping) else i for i in items]
    return [i for i in items if i is not None and i != "" and i != []]


def _compare_one(actual: Any, op: str, expected: Value) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    elif isinstance(actual, bool) != isinstance(expected, bool):
        return False if op != "ne" else True
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op in ("co", "sw", "ew"):
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        test: Callable[[str], bool] = {
            "co": actual.__contains__,
            "sw": actual.startswith,
            "ew": actual.endswith,
        }[op]
        return test(expected)
    try:
        return bool(
            {"gt": actual > expected, "ge": actual >= expected, "lt": actual < expected}.get(
                op, actual <= expected
            )
        )
    except TypeError:
        return False


def matches(node: Filter, resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` (a SCIM object, or one value of a multi-valued attribute) satisfies ``node``."""
    if isinstance(node, And):
        return matches(node.left, resource) and matches(node.right, resource)
    if isinstance(node, Or):
        return matches(node.left, resource) or matches(node.right, resource)
    if isinstance(node, Not):
        return not matches(node.inner, resource)
    if isinstance(node, Present):
        return bool(_values_at(resource, node.path))
    if isinstance(node, ValuePath):
        holder = _holder(resource, node.path.urn)
        found = _get(holder, node.path.attr) if isinstance(holder, Mapping) else None
        items = found if isinstance(found, list) else [found]
        return any(isinstance(i, Mapping) and matches(node.inner, i) for i in items)
    actual = _values_at(resource, node.path)
    if node.value is None:
        return (not actual) if node.op == "eq" else bool(actual) if node.op == "ne" else False
    if node.op == "ne":
        return all(_compare_one(a, "ne", node.value) for a in actual)
    return any(_compare_one(a, node.op, node.value) for a in actual)


def always() -> ColumnElement[bool]:
    return true()
