"""Reading SCIM Users: the listing's columns and statement, its filters, order and pages, and an IdP's lookup.

A listing is a Core query of the columns a User resource needs (no ORM objects), in a session
(``list_users``, the views' ``GET /Users``) or, for an IdP's existence check, apart from any session
(``lookup_users_apart``, the lookup fast path's: app/scim/fastpath.py). Both run the same lookup statement,
so the two give the same rows. Groups share the paging rules (``window``, ``sort_column``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.util import find_tables

from app.db import read_only_options
from app.orgs.models import Membership, User
from app.prebuilt_read import PrebuiltRead
from app.scim import filter as scim_filter
from app.scim.errors import ScimError
from app.scim.models import ScimGroup, ScimGroupMember
from app.scim.resources import UserRow
from app.scim.schema import USER

MAX_COUNT: Final = 1000  # advertised in ServiceProviderConfig filter.maxResults

# Table columns, not the mapped attributes: a listing is a Core query of the columns a User resource needs
# (no ORM objects to build for an IdP's lookups).
_M: Final = Membership.__table__.c
_U: Final = User.__table__.c

USER_COLUMNS: Final[Mapping[str, scim_filter.Column]] = {
    "id": scim_filter.Column(_M.id, case="exact"),
    "externalid": scim_filter.Column(_M.external_id, case="exact"),
    "username": scim_filter.Column(_M.user_name, case="folded"),
    "active": scim_filter.Column(_M.status == "active", type="boolean"),
    # The account email is the user's work email (emails[type eq "work"].value eq, as Entra asks).
    "emails.value": scim_filter.Column(_U.email, case="folded"),
    "emails.type": scim_filter.Column(literal("work"), case="insensitive"),
    "meta.created": scim_filter.Column(_M.created_at, type="dateTime"),
    "meta.lastmodified": scim_filter.Column(_M.updated_at, type="dateTime"),
}
# What a User resource shows of a membership and its account.
_LISTED: Final = select(
    _M.id, _M.user_name, _M.external_id, _M.status, _M.attributes, _M.created_at, _M.updated_at, _U.email
).join_from(Membership.__table__, User.__table__, _U.id == _M.user_id)

# Filters with an ``eq`` on one of these select at most a few rows through an index of their own.
PINNING_KEYS: Final = frozenset({"id", "externalid", "username", "emails.value"})

# An IdP's existence check (``userName eq "…"``, ``externalId eq "…"``, from the first row in the default
# order): one statement each, built once. ``list_users`` and the lookup fast path (app/scim/fastpath.py) both
# run it, so the two give the same rows. Ordered by an expression of the id, as any pinned listing (below).
_LOOKUPS: Final = {
    key: _LISTED.where(_M.org_id == bindparam("org_id"), USER_COLUMNS[key].expr == bindparam("value"))
    .order_by(_M.id + "")
    .limit(bindparam("count"))
    for key in ("username", "externalid")
}
_LOOKUP_READS: Final = {key: PrebuiltRead(stmt) for key, stmt in _LOOKUPS.items()}


class _Listed(NamedTuple):
    """A ``_LISTED`` row read by a ``PrebuiltRead``, named as Core names it."""

    id: str
    user_name: str | None
    external_id: str | None
    status: str
    attributes: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    email: str


# The SCIM groups of the listed members, in group order.
_GROUPS_OF: Final = (
    select(ScimGroupMember.member_id, ScimGroup.id, ScimGroup.display_name)
    .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
    .where(ScimGroupMember.member_id.in_(bindparam("ids", expanding=True)))
    .order_by(ScimGroup.id)
)


class InvalidSort(ScimError):
    code, title = "invalid_sort", "Invalid sortBy"
    scim_type = "invalidValue"


@dataclass(frozen=True)
class ListQuery:
    filter: str | None = None
    sort_by: str | None = None
    sort_order: Literal["ascending", "descending"] = "ascending"
    start_index: int = 1
    count: int = 100


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    rows: Sequence[Any]


def sort_column(columns: Mapping[str, scim_filter.Column], core: str, sort_by: str) -> SQLCoreOperations[Any]:
    try:
        key = scim_filter.parse_path(sort_by).key(core)
    except ScimError as exc:
        raise InvalidSort(f"sortBy '{sort_by}' is not an attribute path.") from exc
    column = columns.get(key)
    if column is None:
        raise InvalidSort(f"Sorting by '{sort_by}' is not supported.")
    return column.expr


def window(
    stmt: Select[Any], total_stmt: Callable[[], Select[Any]], query: ListQuery, session: Session
) -> tuple[int, Any]:
    """The page ``query`` asks for, and the total; ``total_stmt`` builds the count only when it must run."""
    start = max(1, query.start_index)
    count = max(0, min(query.count, MAX_COUNT))
    if count == 0:
        return int(session.scalar(total_stmt()) or 0), []
    rows = session.execute(stmt.offset(start - 1).limit(count)).all()
    if start == 1 and len(rows) < count:
        return len(rows), rows  # the whole result is on this page: no count needed (an IdP's lookups)
    return int(session.scalar(total_stmt()) or 0), rows


def simple_lookup(node: scim_filter.Filter) -> tuple[str, Any] | None:
    """``(key, value)`` when ``node`` is ``userName eq "…"`` or ``externalId eq "…"`` (the value as stored:
    a userName folded), which ``lookup_users`` answers; None for any other filter."""
    if not isinstance(node, scim_filter.Compare) or node.op != "eq" or not isinstance(node.value, str):
        return None
    key = node.path.key(USER)
    if key not in _LOOKUPS:
        return None
    return key, scim_filter.operand(USER_COLUMNS[key], node)


def lookup_users(db: Session | Connection, org_id: str, key: str, value: Any, count: int) -> list[UserRow]:
    """The first ``count`` members of the org whose ``key`` (``simple_lookup``) equals ``value``."""
    rows = db.execute(_LOOKUPS[key], {"org_id": org_id, "value": value, "count": count}).all()
    return listed_rows(db, rows)


def lookup_users_apart(engine: Engine, org_id: str, key: str, value: Any, count: int) -> list[UserRow]:
    """``lookup_users`` outside any session, on a pooled connection of its own that only reads (no
    ``BEGIN``): the lookup fast path's (app/scim/fastpath.py). On PostgreSQL the lookup is prebuilt
    (``_LOOKUP_READS``), and the groups of the members it finds, if any, are read as ``lookup_users`` does."""
    params = {"org_id": org_id, "value": value, "count": count}
    if engine.dialect.name == "postgresql":
        rows: Sequence[Any] = [_Listed(*row) for row in _LOOKUP_READS[key].on_pool(engine, params)]
        if not rows:
            return []  # (an IdP's check before a create: the common case)
        with engine.connect() as conn:
            conn.execution_options(**read_only_options(engine.dialect.name))
            return listed_rows(conn, rows)
    with engine.connect() as conn:
        conn.execution_options(**read_only_options(engine.dialect.name))  # no write lock (SQLite)
        return lookup_users(conn, org_id, key, value, count)


def listed_rows(db: Session | Connection, rows: Sequence[Any]) -> list[UserRow]:
    """User rows of ``_LISTED`` rows, with their SCIM groups."""
    groups: dict[str, list[tuple[str, str]]] = {r.id: [] for r in rows}
    if groups:
        for member_id, gid, name in db.execute(_GROUPS_OF, {"ids": list(groups)}):
            groups[member_id].append((gid, name))
    return [member_row(r, r.email, groups[r.id]) for r in rows]


def member_row(member: Any, email: str, groups: Sequence[tuple[str, str]]) -> UserRow:
    """A User resource's fields from a membership (the mapped object, or a row of ``_LISTED``)."""
    return UserRow(
        id=member.id,
        user_name=member.user_name or email,
        external_id=member.external_id,
        active=member.status == "active",
        attributes=member.attributes or {},
        created_at=member.created_at,
        updated_at=member.updated_at,
        groups=groups,
    )


def list_users(session: Session, org_id: str, query: ListQuery) -> Page:
    """The org's members as SCIM User rows: ``query``'s filter (compiled to SQL), order and page."""
    where: list[ColumnElement[bool]] = [_M.org_id == org_id]
    pinned = False
    if query.filter:
        parsed = scim_filter.parse(query.filter)
        lookup = simple_lookup(parsed)
        count = min(query.count, MAX_COUNT)
        if lookup is not None and query.sort_by is None and query.start_index <= 1 and count > 0:
            found = lookup_users(session, org_id, *lookup, count)
            if len(found) < count:  # the whole result: no count query (as ``window``)
                return Page(len(found), 1, found)
        where.append(scim_filter.to_sql(parsed, USER_COLUMNS, USER))
        pinned = scim_filter.pins(parsed, PINNING_KEYS, USER)

    def total_stmt() -> Select[Any]:
        # Every membership has its account (foreign key): the count joins it only if the filter reads it.
        stmt = select(func.count()).select_from(Membership.__table__)
        if any(User.__table__ in find_tables(clause, check_columns=True) for clause in where):
            stmt = stmt.join(User.__table__, _U.id == _M.user_id)
        return stmt.where(*where)

    order: list[Any] = []
    if query.sort_by:
        column = sort_column(USER_COLUMNS, USER, query.sort_by)
        order.append(column.desc() if query.sort_order == "descending" else column.asc())
    # An IdP's lookup (userName eq, externalId eq) finds its row by that index; ordering by an expression
    # of the id keeps the planner from walking the (org_id, id) index instead, the whole org in order.
    tie_break = (_M.id + "") if pinned else _M.id
    stmt = _LISTED.where(*where).order_by(*order, tie_break)
    total, rows = window(stmt, total_stmt, query, session)
    return Page(total, max(1, query.start_index), listed_rows(session, rows))
