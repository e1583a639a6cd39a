"""SCIM Bulk (RFC 7644 §3.7): parse a BulkRequest, resolve ``bulkId`` references, run, build the response.

Pure: no Flask, no session. The caller hands :func:`run` an ``execute`` callable that performs one operation
(its own transaction, with its audit events) and returns its outcome, or raises an ``AppError``; this module
decides the order, substitutes ``bulkId:…`` references with the ids earlier operations created, stops after
``failOnErrors`` errors and builds the BulkResponse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from app.errors import AppError, Conflict
from app.scim.errors import ERROR_SCHEMA, InvalidSyntax, InvalidValue, error_body

BULK_REQUEST: Final = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE: Final = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
MAX_OPERATIONS: Final = 1000
MAX_PAYLOAD_SIZE: Final = 1024 * 1024  # bytes; advertised, and checked before the body is read
METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REFERENCE: Final = re.compile(r"^bulkId:(.+)$")
_PATH: Final = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")


class PayloadTooLarge(AppError):
    """RFC 7644 §3.7.4: a bulk request past ``maxOperations`` or ``maxPayloadSize`` is answered 413."""

    status, code, title = 413, "payload_too_large", "Payload too large"
    scim_type: str | None = None


class TooManyOperations(PayloadTooLarge):
    code = "too_many_operations"
    scim_type = "tooMany"


class UnresolvedReference(Conflict):
    """A ``bulkId`` that no operation of this request created (or whose creation failed): RFC 7644 §3.7.2
    answers such an operation 409 rather than guessing."""

    code, title = "unresolved_bulk_id", "Unresolved bulkId"
    scim_type = "invalidValue"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    resource: str  # "Users" or "Groups"
    target: str | None  # the id in the path: None for POST
    bulk_id: str | None
    version: str | None
    data: Any


@dataclass(frozen=True)
class Outcome:
    """What ``execute`` reports for one successful operation."""

    status: int
    location: str | None = None
    resource: Mapping[str, Any] | None = None
    id: str | None = None  # the created resource's id, for bulkId references


@dataclass(frozen=True)
class BulkRequest:
    operations: Sequence[Operation]
    fail_on_errors: int | None


def parse(body: Mapping[str, Any], max_operations: int = MAX_OPERATIONS) -> BulkRequest:
    """The request's operations, checked for shape; 413 ``tooMany`` past ``max_operations``."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidSyntax(f"A bulk request carries the schema {BULK_REQUEST}.")
    raw = body.get("Operations")
    if not isinstance(raw, list) or not raw:
        raise InvalidSyntax("'Operations' is a non-empty list.")
    if len(raw) > max_operations:
        raise TooManyOperations(
            f"The bulk request has {len(raw)} operations; the maximum is {max_operations} (maxOperations)."
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int) or fail_on_errors < 1
    ):
        raise InvalidValue("'failOnErrors' is a positive integer.")
    operations: list[Operation] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"Operations[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidSyntax(f"{where} is an object.")
        method = str(item.get("method") or "").upper()
        if method not in METHODS:
            raise InvalidValue(f"{where}.method is one of POST, PUT, PATCH, DELETE.")
        path = item.get("path")
        match = _PATH.match(path) if isinstance(path, str) else None
        if match is None:
            raise InvalidValue(f"{where}.path is /Users or /Groups, with an id except for POST.")
        resource, target = match.group(1), match.group(2)
        if (method == "POST") != (target is None):
            raise InvalidValue(f"{where}: POST takes /{resource}; {method} takes /{resource}/{{id}}.")
        bulk_id = item.get("bulkId")
        if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
            raise InvalidValue(f"{where}.bulkId is a non-empty string.")
        if method == "POST":
            if bulk_id is None:
                raise InvalidValue(f"{where}: a POST carries a bulkId (RFC 7644 §3.7).")
            if bulk_id in seen:
                raise InvalidValue(f"{where}: bulkId '{bulk_id}' is used twice.")
            seen.add(bulk_id)
        data = item.get("data")
        if method != "DELETE" and not isinstance(data, Mapping):
            raise InvalidValue(f"{where}.data is the resource (or the PatchOp) as an object.")
        version = item.get("version")
        operations.append(
            Operation(
                method,
                str(path),
                resource,
                target,
                bulk_id,
                version if isinstance(version, str) else None,
                data,
            )
        )
    return BulkRequest(operations, fail_on_errors)


def references(value: Any) -> set[str]:
    """Every ``bulkId:…`` a value (path or data, at any depth) refers to."""
    found: set[str] = set()
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            found.add(match.group(1))
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def substitute(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return ids[match.group(1)] if match else value
    if isinstance(value, Mapping):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def _references_of(op: Operation) -> set[str]:
    return references(op.target) | references(op.data)


def _order(operations: Sequence[Operation]) -> list[int]:
    """Request order, except that an operation waits for the POSTs whose bulkIds it refers to when those
    come later (RFC 7644 §3.7.1 lets the client send them in any order). Operations in a cycle of references
    fail as unresolved (409); none of them is half applied."""
    creators = {op.bulk_id: i for i, op in enumerate(operations) if op.method == "POST" and op.bulk_id}
    done: list[int] = []
    placed: set[int] = set()
    visiting: set[int] = set()

    def place(i: int) -> None:
        if i in placed or i in visiting:
            return
        visiting.add(i)
        for ref in sorted(_references_of(operations[i])):
            creator = creators.get(ref)
            if creator is not None and creator != i:
                place(creator)
        visiting.discard(i)
        placed.add(i)
        done.append(i)

    for i in range(len(operations)):
        place(i)
    return done


def _error_result(op: Operation, error: AppError) -> dict[str, Any]:
    status = int(error.to_problem()["status"])
    result: dict[str, Any] = {
        "method": op.method,
        "status": str(status),
        "response": error_body(error, status),
    }
    if op.bulk_id:
        result["bulkId"] = op.bulk_id
    if op.method != "POST":
        result["location"] = op.path
    return result


def run(request: BulkRequest, execute: Callable[[Operation], Outcome]) -> dict[str, Any]:
    """Run the operations and build the BulkResponse; results are in request order (RFC 7644 §3.7.3)."""
    ids: dict[str, str] = {}
    results: dict[int, dict[str, Any]] = {}
    errors = 0
    for index in _order(request.operations):
        if request.fail_on_errors is not None and errors >= request.fail_on_errors:
            break
        op = request.operations[index]
        try:
            missing = sorted(ref for ref in _references_of(op) if ref not in ids)
            if missing:
                raise UnresolvedReference(
                    f"bulkId '{missing[0]}' refers to no resource created by this request (yet)."
                )
            resolved = replace(op, target=substitute(op.target, ids), data=substitute(op.data, ids))
            outcome = execute(resolved)
        except AppError as error:
            errors += 1
            results[index] = _error_result(op, error)
            continue
        if op.bulk_id and outcome.id:
            ids[op.bulk_id] = outcome.id
        result: dict[str, Any] = {"method": op.method, "status": str(outcome.status)}
        if op.bulk_id:
            result["bulkId"] = op.bulk_id
        if outcome.location:
            result["location"] = outcome.location
        if outcome.resource is not None:
            result["response"] = dict(outcome.resource)
            version = (outcome.resource.get("meta") or {}).get("version")
            if isinstance(version, str):
                result["version"] = version
        results[index] = result
    return {"schemas": [BULK_RESPONSE], "Operations": [results[i] for i in sorted(results)]}


__all__ = [
    "BULK_REQUEST",
    "BULK_RESPONSE",
    "ERROR_SCHEMA",
    "MAX_OPERATIONS",
    "MAX_PAYLOAD_SIZE",
    "BulkRequest",
    "Operation",
    "Outcome",
    "PayloadTooLarge",
    "TooManyOperations",
    "UnresolvedReference",
    "parse",
    "run",
]
