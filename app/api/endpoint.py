"""Declaring a ``/v1`` operation once: route, authentication, permission, body, query, response, OpenAPI.

A view then only parses nothing, calls one service and returns a model; the wrapper validates input
(400 malformed, 422 invalid with the field named), authorises, serialises, and commits at the boundary.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, Flask, Response, g, request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

import app.json_input as json_input
from app.errors import MalformedRequest, NotFound, ValidationFailed
from app.tenancy import may_act_in

Auth = Literal["platform", "org", "any", "none"]


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form, e.g. /v1/orgs/{org_id}
    operation_id: str
    summary: str
    tag: str
    auth: Auth
    permission: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...] = ()
    path_params: list[str] = field(default_factory=list)
    content_type: str = "application/json"  # several, comma-separated, for a file in a chosen format
    description: str = ""


REGISTRY: list[Operation] = []
ORG_PARAM = "org_id"  # the path parameter that names the tenant
TENANCY_MARK = "__tenancy_checked__"


class RouteWithoutTenancy(RuntimeError):
    """A route takes ``<org_id>`` but nothing applies the tenancy rule to it: refused at start-up."""


def require_tenancy(app: Flask) -> None:
    """Every route with ``<org_id>`` must be an ``operation()`` (which applies ``app/tenancy.py`` before the
    view runs, whatever permission it declares): a route added any other way fails the app's start-up."""
    for rule in app.url_map.iter_rules():
        if ORG_PARAM not in rule.arguments:
            continue
        view = app.view_functions.get(rule.endpoint)
        if not getattr(view, TENANCY_MARK, False):
            raise RouteWithoutTenancy(
                f"{rule.rule} ({rule.endpoint}) takes <{ORG_PARAM}> but was not declared with operation(), "
                "so no tenancy rule guards it. Declare it with app.api.endpoint.operation()."
            )


def _openapi_path(prefix: str, rule: str) -> tuple[str, list[str]]:
    parts, params = [], []
    for segment in (prefix + rule).split("/"):
        if segment.startswith("<") and segment.endswith(">"):
            name = segment[1:-1].split(":")[-1]
            params.append(name)
            parts.append("{" + name + "}")
        else:
            parts.append(segment)
    return "/".join(parts), params


def validation_errors(exc: PydanticValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]


def _nul_fields(data: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Fields whose text holds a NUL character: PostgreSQL cannot store one, and no real value has one."""
    if isinstance(data, str):
        if "\x00" in data:
            yield ".".join(path) or "(body)"
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _nul_fields(key, (*path, str(key)))
            yield from _nul_fields(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _nul_fields(value, (*path, str(index)))


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    nul = sorted(set(_nul_fields(data)))
    if nul:
        errors = [{"field": name, "message": "must not contain NUL characters"} for name in nul]
        raise ValidationFailed(f"Invalid {where}: check {', '.join(nul)}.", errors=errors)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = validation_errors(exc)
        names = ", ".join(e["field"] for e in errors)
        raise ValidationFailed(f"Invalid {where}: check {names}.", errors=errors) from None


def parse_json(raw: bytes) -> Any:
    """The caller's JSON; 400 ``malformed_request`` when it is not JSON or nests too deep."""
    try:
        return json_input.loads(raw)
    except json_input.NestingTooDeep:
        raise MalformedRequest(
            f"The request body nests deeper than {json_input.MAX_DEPTH} levels of arrays and objects."
        ) from None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: a backstop to the bound
        raise MalformedRequest("The request body is not valid JSON.") from None


def parse_json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    return parse_json(raw)


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    tag: str,
    auth: Auth = "org",
    permission: str | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    content_type: str = "application/json",
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        path, params = _openapi_path(bp.url_prefix or "", rule)
        org_scoped = ORG_PARAM in params
        if org_scoped and auth == "none":
            raise RouteWithoutTenancy(f"{method} {path} takes <{ORG_PARAM}> but no credential: it needs one.")
        REGISTRY.append(
            Operation(
                method.lower(),
                path,
                view.__name__,
                summary,
                tag,
                auth,
                permission,
                body,
                query,
                response,
                status,
                errors,
                params,
                content_type,
                description,
            )
        )

        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            from app.web import authenticate, services

            principal = authenticate(platform_only=auth == "platform") if auth != "none" else None
            if any("\x00" in value for value in kwargs.values() if isinstance(value, str)):
                raise NotFound("No resource has that id.")  # a NUL in a path id: nothing can match it
            if org_scoped and (principal is None or not may_act_in(principal, kwargs[ORG_PARAM])):
                # The tenancy rule, unconditionally: never confirm that another org exists.
                raise NotFound(f"Organisation {kwargs[ORG_PARAM]} not found")
            if principal is not None and permission is not None:
                services().authorizer.require(principal, kwargs.get("org_id"), permission)
            if body is not None:
                data = parse_json_body()
                if not isinstance(data, dict):
                    raise MalformedRequest("The request body must be a JSON object.")
                kwargs["body"] = _validate(body, data, "request body")
            if query is not None:
                args = {k: v for k, v in request.args.items()}
                kwargs["query"] = _validate(query, args, "query parameters")
            result = view(**kwargs)
            g.db_session.commit()
            if isinstance(result, Response):
                return result
            code = status
            if isinstance(result, tuple):
                result, code = result
            if result is None:
                return Response(status=204)
            payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            return Response(json.dumps(payload), status=code, mimetype="application/json")

        setattr(wrapper, TENANCY_MARK, org_scoped)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        return wrapper

    return decorate
