"""The SCIM fast paths answer an IdP's import exactly as the Flask views do, and hand everything else to the
views: same bodies, headers, errors, rows and events, one unit of the token's budget per request, one org per
token, revocation at once. The lookup path (app/scim/fastpath.py) answers the warm existence checks, the
create path (app/scim/create_fastpath.py) the provisioning POSTs, rolling back what it began when it hands
a request on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import Client

from app.audit.models import AuditEvent
from app.config import Settings
from app.container import Container
from app.credentials.secrets import hash_secret
from app.db import transaction
from app.observability import HTTP_REQUESTS
from app.orgs.models import Membership
from app.scim import create_fastpath as create_fastpath_module
from app.scim import fastpath as fastpath_module
from app.scim.create_fastpath import CreateFastPath
from app.scim.fastpath import LookupFastPath
from app.scim.schema import ENTERPRISE_USER, GROUP, USER
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import BASE, SCIM_JSON, Scim, make_scim_token

ENTERPRISE = ENTERPRISE_USER
T = TypeVar("T")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_rate": "1000/minute"})


def _layer(app: Flask, kind: type[T]) -> T:
    """The app's WSGI layer of type ``kind`` (the check fast path sits in front of the SCIM ones)."""
    found: Any = app.wsgi_app
    while not isinstance(found, kind):
        found = found.wsgi_app
    return found


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, method: str, note: Callable[..., str]) -> list[str]:
    """``note(*arguments)`` of each call of ``owner.method`` that returned (answered), in order."""
    seen: list[str] = []
    real = getattr(owner, method)

    def spy(*args: Any) -> Any:
        answer = real(*args)
        seen.append(note(*args))
        return answer

    monkeypatch.setattr(owner, method, spy)
    return seen


@pytest.fixture
def answered(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The query strings the lookup path answered itself (requests it handed to Flask are not in it)."""
    return _spy(monkeypatch, _layer(app, LookupFastPath), "_answer", lambda environ: environ["QUERY_STRING"])


@pytest.fixture
def created(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The userNames the create path created itself (requests it handed to Flask are not in it)."""
    return _spy(
        monkeypatch,
        _layer(app, CreateFastPath),
        "_create",
        lambda _env, raw, _id: json.loads(raw)["userName"],
    )


@pytest.fixture
def flask_only(app: Flask) -> Client:
    """A client of the Flask views alone (behind both fast paths), on the same database and caches."""
    found = app.wsgi_app
    while hasattr(found, "wsgi_app"):
        found = found.wsgi_app
    return Client(found)


@pytest.fixture
def scim(client: FlaskClient, container: Container, org: dict[str, Any]) -> Scim:
    token = Scim(client, make_scim_token(container, org["id"]))
    assert token.get("/Users?count=0").status_code == 200  # the view reads the token and caches it
    return token


def _both(scim: Scim, flask_only: Client, path: str, **headers: str) -> tuple[Any, Any]:
    sent = {"Authorization": f"Bearer {scim.token}", **headers}
    return scim.client.get(BASE + path, headers=sent), flask_only.get(BASE + path, headers=sent)


def _people(scim: Scim) -> dict[str, Any]:
    ada = scim.post(
        "/Users",
        {
            "schemas": [USER, ENTERPRISE],
            "userName": "Ada@Example.com",
            "externalId": "00u-ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
            ENTERPRISE: {"department": "Engines", "employeeNumber": "1815"},
            "active": True,
        },
    ).json
    bob = scim.post(
        "/Users", {"schemas": [USER], "userName": "bob@example.com", "externalId": "00u-bob"}
    ).json
    group = scim.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Engineers", "members": [{"value": ada["id"]}]}
    )
    assert group.status_code == 201
    return {"ada": ada, "bob": bob}


@pytest.mark.parametrize(
    "query",
    [
        'filter=userName eq "ada@example.com"',
        'filter=userName eq "ADA@EXAMPLE.COM"&startIndex=1&count=100',  # Okta's, case-insensitive
        'filter=USERNAME Eq "bob@example.com"',
        f'filter={USER}:userName eq "bob@example.com"',
        'filter=externalId eq "00u-ada"',
        'filter=externalId eq "00U-ADA"',  # exact: no match
        'filter=userName eq "nobody-4f1c@example.com"',  # Entra's test connection
        'filter=userName eq "ada@example.com"&count=1',  # a full page: the view counts the total
        'filter=userName eq "ada@example.com"&startIndex=0',
        'filter=userName eq "ada@example.com"&filter=userName eq "bob@example.com"',  # the first, as Flask
    ],
)
def test_the_fast_path_answers_as_the_view_does(
    scim: Scim, flask_only: Client, answered: list[str], query: str
) -> None:
    _people(scim)
    fast, slow = _both(scim, flask_only, f"/Users?{query}")
    assert fast.status_code == slow.status_code == 200
    assert fast.json == slow.json
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"] == SCIM_JSON
    assert fast.headers.get("ETag") is None and fast.headers["X-Request-ID"]
    if not query.endswith("count=1"):
        assert answered == [fast.request.environ["QUERY_STRING"]]
    else:
        assert answered == []  # handed on after it had found a full page


def test_found_users_carry_their_groups_and_extension(scim: Scim, answered: list[str]) -> None:
    people = _people(scim)
    found = scim.get('/Users?filter=userName eq "ada@example.com"').json
    assert answered and found["totalResults"] == 1 and found["itemsPerPage"] == 1
    (ada,) = found["Resources"]
    assert ada == people["ada"] | {"groups": ada["groups"]}
    assert [g["display"] for g in ada["groups"]] == ["Engineers"]
    assert ada["schemas"] == [USER, ENTERPRISE] and ada[ENTERPRISE]["department"] == "Engines"
    assert "password" not in ada


@pytest.mark.parametrize(
    "query",
    [
        'filter=userName co "ada"',
        'filter=emails[type eq "work"].value eq "ada@example.com"',
        'filter=userName eq "ada@example.com" and active eq true',
        'filter=userName eq "ada@example.com"&attributes=userName',
        'filter=userName eq "ada@example.com"&excludedAttributes=groups',
        'filter=userName eq "ada@example.com"&startIndex=2',
        'filter=userName eq "ada@example.com"&count=0',
        'filter=userName eq "ada@example.com"&sortBy=userName',
        'filter=userName eq "ada@example.com"&count=abc',
        'filter=userName eq "ada@example.com"&count=5000',
        "filter=userName eq ada",
        "filter=userName eq true",
        "filter=",
        "count=10",
        'filter=userName eq "%FF"',
    ],
)
def test_anything_else_goes_to_the_view(
    scim: Scim, flask_only: Client, answered: list[str], query: str
) -> None:
    _people(scim)
    fast, slow = _both(scim, flask_only, f"/Users?{query}")
    assert answered == []
    assert fast.status_code == slow.status_code
    assert fast.json == slow.json
    assert fast.mimetype == SCIM_JSON


def test_errors_stay_the_views_scim_errors(scim: Scim, answered: list[str]) -> None:
    bad = scim.get('/Users?filter=userName zz "ada"')
    assert bad.status_code == 400 and bad.json["scimType"] == "invalidFilter" and bad.json["status"] == "400"
    count = scim.get('/Users?filter=userName eq "a@example.com"&count=abc')
    assert count.status_code == 400 and count.json["scimType"] == "invalidValue"
    assert answered == []


def test_a_token_not_yet_cached_goes_to_the_view_which_caches_it(
    client: FlaskClient, container: Container, org: dict[str, Any], answered: list[str], created: list[str]
) -> None:
    scim = Scim(client, make_scim_token(container, org["id"]))
    engine = container.authorizer.engine
    assert engine is not None and engine.keys.get(hash_secret(scim.token)) is None
    query = '/Users?filter=userName eq "x@example.com"'
    assert scim.get(query).json["totalResults"] == 0
    assert answered == []
    assert engine.keys.get(hash_secret(scim.token)) is not None
    assert scim.get(query).json["totalResults"] == 0
    assert len(answered) == 1


def test_a_create_with_a_token_not_yet_cached_goes_to_the_view_which_caches_it(
    client: FlaskClient, container: Container, org: dict[str, Any], created: list[str]
) -> None:
    token = make_scim_token(container, org["id"])
    engine = container.authorizer.engine
    assert engine is not None
    assert _post(client, token, _okta("a@example.com", "x-a")).status_code == 201
    assert created == [] and engine.keys.get(hash_secret(token)) is not None
    assert _post(client, token, _okta("b@example.com", "x-b")).status_code == 201
    assert created == ["b@example.com"]


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer tnt_scim_notarealtoken", "Basic Zm9vOmJhcg==", "Bearer ", "bearer x"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_or_a_bad_token_is_the_views_401(
    client: FlaskClient,
    container: Container,
    org: dict[str, Any],
    answered: list[str],
    created: list[str],
    authorization: str,
    method: str,
) -> None:
    resp = client.open(
        BASE + ('/Users?filter=userName eq "a@example.com"' if method == "GET" else "/Users"),
        method=method,
        data=json.dumps(_okta("a@example.com", "x-a")) if method == "POST" else None,
        content_type=SCIM_JSON,
        headers={"Authorization": authorization} if authorization else {},
    )
    assert resp.status_code == 401 and resp.mimetype == SCIM_JSON and resp.json["status"] == "401"
    assert answered == [] and created == [] and _members(container, org["id"]) == 0


def test_an_api_key_is_refused_as_at_the_view(
    client: FlaskClient, container: Container, org: dict[str, Any], answered: list[str], created: list[str]
) -> None:
    key = make_org_key(container, org["id"], "owner")
    api = Api(client, key)
    assert api.post("/v1/authz/check", {"user": "u", "action": "org:read", "org": org["id"]}).status_code in (
        200,
        422,
    )  # the check API may have cached the key: the SCIM door must still refuse it
    resp = client.get(
        BASE + '/Users?filter=userName eq "a@example.com"', headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code in (401, 403) and resp.mimetype == SCIM_JSON
    made = _post(client, key, _okta("a@example.com", "x-a"))
    assert made.status_code == resp.status_code and made.mimetype == SCIM_JSON
    assert answered == [] and created == [] and _members(container, org["id"]) == 0


def test_a_token_reads_and_creates_in_its_own_org_only(
    client: FlaskClient, container: Container, platform: Api, answered: list[str], created: list[str]
) -> None:
    a, b = (platform.post("/v1/orgs", {"name": n}).json["id"] for n in ("A", "B"))
    scim_a, scim_b = Scim(client, make_scim_token(container, a)), Scim(client, make_scim_token(container, b))
    for s in (scim_a, scim_b):
        assert s.get("/Users?count=0").status_code == 200
    theirs = scim_b.post("/Users", {"schemas": [USER], "userName": "bob@b.example", "externalId": "x-1"}).json
    mine = scim_a.post("/Users", {"schemas": [USER], "userName": "ann@a.example", "externalId": "x-1"}).json
    assert scim_a.get('/Users?filter=userName eq "bob@b.example"').json["totalResults"] == 0
    by_external = scim_a.get('/Users?filter=externalId eq "x-1"').json
    assert [r["id"] for r in by_external["Resources"]] == [mine["id"]]
    assert [r["id"] for r in scim_b.get('/Users?filter=externalId eq "x-1"').json["Resources"]] == [
        theirs["id"]
    ]
    assert len(answered) == 3 and created == ["bob@b.example", "ann@a.example"]
    assert (_members(container, a), _members(container, b)) == (1, 1)
    assert scim_b.get(f"/Users/{mine['id']}").status_code == 404


def test_a_revoked_token_is_refused_at_once(
    client: FlaskClient,
    container: Container,
    org: dict[str, Any],
    owner: Api,
    answered: list[str],
    created: list[str],
) -> None:
    scim = Scim(client, make_scim_token(container, org["id"]))
    query = '/Users?filter=userName eq "a@example.com"'
    assert scim.get(query).status_code == 200 and scim.get(query).status_code == 200
    assert _post(client, scim.token, _okta("b@example.com", "x-b")).status_code == 201
    assert len(answered) == 1 and created == ["b@example.com"]
    listed = owner.get(f"/v1/orgs/{org['id']}/scim-tokens").json["data"]
    token_id = next(t["id"] for t in listed if scim.token.startswith(t["prefix"]))
    assert owner.delete(f"/v1/orgs/{org['id']}/scim-tokens/{token_id}").status_code == 204
    refused = scim.get(query)
    assert refused.status_code == 401 and refused.json["status"] == "401"
    refused = _post(client, scim.token, _okta("c@example.com", "x-c"))
    assert refused.status_code == 401 and refused.json["status"] == "401"
    assert len(answered) == 1 and created == ["b@example.com"] and _members(container, org["id"]) == 1


class TestBudget:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"scim_rate": "6/minute"})

    def test_each_request_spends_one_unit_whichever_path_answers(
        self,
        client: FlaskClient,
        container: Container,
        org: dict[str, Any],
        answered: list[str],
        created: list[str],
    ) -> None:
        container.rate_limiter.reset()
        scim = Scim(client, make_scim_token(container, org["id"]))
        assert scim.get("/Users?count=0").status_code == 200  # 1: the view (caches the token)
        made = scim.post("/Users", {"schemas": [USER], "userName": "ada@example.com"})  # 2: create path
        assert made.status_code == 201
        assert scim.get('/Users?filter=userName eq "x@example.com"').status_code == 200  # 3: fast path
        # 4: the fast path spends, finds a full page and hands on; the view does not spend again
        assert scim.get('/Users?filter=userName eq "ada@example.com"&count=1').json["totalResults"] == 1
        assert scim.get('/Users?filter=userName eq "y@example.com"').status_code == 200  # 5
        # 6: the create path spends, meets the conflict and hands on; the view does not spend again
        assert scim.post("/Users", {"schemas": [USER], "userName": "ADA@example.com"}).status_code == 409
        assert len(answered) == 2 and created == ["ada@example.com"]
        limited = scim.get('/Users?filter=userName eq "z@example.com"')
        assert limited.status_code == 429 and limited.mimetype == SCIM_JSON
        assert limited.json["status"] == "429" and int(limited.headers["Retry-After"]) >= 1
        limited = scim.post("/Users", {"schemas": [USER], "userName": "zed@example.com"})
        assert (
            limited.status_code == 429 and limited.json["status"] == "429" and limited.headers["Retry-After"]
        )
        assert len(answered) == 2 and created == ["ada@example.com"] and _members(container, org["id"]) == 1


def test_request_ids_and_metrics_are_kept(scim: Scim, answered: list[str]) -> None:
    counter = HTTP_REQUESTS.labels("GET", "/scim/v2/Users", "200")
    before = counter._value.get()
    resp = scim.get('/Users?filter=userName eq "a@example.com"', headers={"X-Request-ID": "idp-req-0001"})
    assert answered and resp.headers["X-Request-ID"] == "idp-req-0001"
    assert counter._value.get() == before + 1
    minted = scim.get('/Users?filter=userName eq "a@example.com"', headers={"X-Request-ID": "no"})
    assert minted.headers["X-Request-ID"] not in ("", "no")


def test_a_creates_request_id_and_metrics_are_kept(scim: Scim, created: list[str]) -> None:
    counter = HTTP_REQUESTS.labels("POST", "/scim/v2/Users", "201")
    before = counter._value.get()
    resp = _post(scim.client, scim.token, _okta("a@example.com", "x-a"), **{"X-Request-ID": "idp-req-0002"})
    assert created and resp.status_code == 201 and resp.headers["X-Request-ID"] == "idp-req-0002"
    assert counter._value.get() == before + 1


class TestOff:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"scim_fast_path": False})

    def test_off_leaves_the_app_as_it_was(self, app: Flask) -> None:
        found = app.wsgi_app
        while hasattr(found, "wsgi_app"):
            assert not isinstance(found, (LookupFastPath, CreateFastPath))
            found = found.wsgi_app


@pytest.mark.parametrize("part", ["lookup_users_apart", "user_resource"])
def test_a_failure_in_the_fast_path_is_the_views_to_answer(
    scim: Scim, answered: list[str], monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """A database error (or any other) in the fast path hands the request on: the view runs it again, and
    its answer (or its SCIM error) is the one the IdP gets."""
    _people(scim)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(fastpath_module, part, broken)
    found = scim.get('/Users?filter=userName eq "ada@example.com"')
    assert found.status_code == 200 and found.json["totalResults"] == 1
    assert answered == []


# --- the create path ---


def _okta(user_name: str, external_id: str) -> dict[str, Any]:
    """What Okta's import POSTs (a password it sends and we never keep, no groups)."""
    return {
        "schemas": [USER, ENTERPRISE_USER],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        "externalId": external_id,
        "password": "ignored-by-us",
        "groups": [],
        ENTERPRISE_USER: {"department": "Engines", "employeeNumber": "1815"},
    }


def _post(client: Any, token: str, body: Any, *, content_type: str = SCIM_JSON, **headers: str) -> Any:
    sent = {"Authorization": f"Bearer {token}", **headers}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        BASE + "/Users",
        data=data,
        content_type=content_type,
        headers=sent,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},  # the IdP's address, as the server sees it
    )


def _members(container: Container, org_id: str) -> int:
    with transaction(container.session_factory) as session:
        return int(session.scalar(select(func.count()).where(Membership.org_id == org_id)) or 0)


def _events(container: Container, org_id: str) -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq))
        found = list(rows)
        session.expunge_all()
        return found


def _without_ids(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource with what differs between two users removed (ids, names, times, versions)."""
    kept = {k: v for k, v in resource.items() if k not in ("id", "userName", "externalId", "emails", "meta")}
    return kept | {"meta": {"resourceType": resource["meta"]["resourceType"]}}


def test_the_fast_path_creates_as_the_view_does(
    scim: Scim, flask_only: Client, container: Container, org: dict[str, Any], created: list[str]
) -> None:
    fast = _post(scim.client, scim.token, _okta("ada@example.com", "00u-ada"), **{"User-Agent": "Okta SCIM"})
    slow = _post(flask_only, scim.token, _okta("bob@example.com", "00u-bob"), **{"User-Agent": "Okta SCIM"})
    assert created == ["ada@example.com"]
    assert fast.status_code == slow.status_code == 201
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"] == SCIM_JSON
    assert _without_ids(fast.json) == _without_ids(slow.json)
    assert "password" not in fast.json and fast.json["userName"] == "ada@example.com"
    for resp in (fast, slow):
        assert resp.headers["Location"] == resp.json["meta"]["location"]
        assert resp.headers["ETag"] == resp.json["meta"]["version"]
        assert resp.headers["X-Request-ID"]
        assert scim.get(resp.headers["Location"].split(BASE, 1)[1]).json == resp.json  # as stored
    # The same rows and the same events, in the same chain, with each request's own context.
    events = _events(container, org["id"])
    by_request: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_request.setdefault(event.context.get("request_id", ""), []).append(event)
    mine, theirs = by_request[fast.headers["X-Request-ID"]], by_request[slow.headers["X-Request-ID"]]
    assert [e.action for e in mine] == [e.action for e in theirs] and len(mine) == 3
    assert {e.actor_type for e in mine} == {e.actor_type for e in theirs}
    assert {e.actor_id for e in mine} == {e.actor_id for e in theirs}
    for a, b in zip(mine, theirs, strict=True):
        assert a.context.keys() == b.context.keys()
        assert (a.context.get("user_agent"), a.ip) == (b.context.get("user_agent"), b.ip)
        assert a.ip == "203.0.113.9" and a.context["user_agent"] == "Okta SCIM"
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events)))


@pytest.mark.parametrize(
    ("change", "status", "scim_type"),
    [
        ({"query": "?attributes=userName"}, 201, None),  # a projection: the view's
        ({"query": "?excludedAttributes=emails"}, 201, None),
        ({"content_type": "text/plain"}, 400, "invalidSyntax"),
        ({"content_type": ""}, 201, None),  # no media type: the view reads it as JSON
        ({"body": "{not json"}, 400, "invalidSyntax"),
        ({"body": "[1, 2]"}, 400, "invalidSyntax"),
        ({"body": '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}'}, 400, "invalidValue"),
        (
            {"body": json.dumps({"schemas": [USER], "userName": "x@example.com", "active": "maybe"})},
            400,
            None,
        ),
    ],
)
def test_any_other_create_goes_to_the_view(
    scim: Scim,
    container: Container,
    org: dict[str, Any],
    created: list[str],
    change: dict[str, str],
    status: int,
    scim_type: str | None,
) -> None:
    body = change.get("body", json.dumps(_okta("ada@example.com", "00u-ada")))
    resp = scim.client.post(
        BASE + "/Users" + change.get("query", ""),
        data=body,
        content_type=change.get("content_type", SCIM_JSON),
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == SCIM_JSON
    assert created == []
    if status == 201:
        assert _members(container, org["id"]) == 1
        assert resp.headers["Location"].endswith(resp.json["id"])
        if "attributes" in change.get("query", ""):
            assert set(resp.json) <= {"schemas", "id", "userName"}
    else:
        assert resp.json["status"] == str(status)
        if scim_type:
            assert resp.json["scimType"] == scim_type
        assert _members(container, org["id"]) == 0


def test_a_duplicate_is_the_views_409_and_leaves_one_user(
    scim: Scim, container: Container, org: dict[str, Any], created: list[str]
) -> None:
    first = _post(scim.client, scim.token, _okta("ada@example.com", "00u-ada"))
    events = len(_events(container, org["id"]))
    again = _post(scim.client, scim.token, _okta("ADA@example.com", "00u-other"))
    assert first.status_code == 201 and created == ["ada@example.com"]
    assert again.status_code == 409 and again.json["scimType"] == "uniqueness" and again.mimetype == SCIM_JSON
    assert _members(container, org["id"]) == 1 and len(_events(container, org["id"])) == events


@pytest.mark.parametrize("part", ["user_resource", "project"])
def test_a_failure_in_the_create_path_is_rolled_back_and_the_views_to_answer(
    scim: Scim, container: Container, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """A failure after the create's writes (here while rendering, before the commit) drops them: the view
    runs the create again, once, and its answer is the one the IdP gets."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("rendering went wrong")

    monkeypatch.setattr(create_fastpath_module, part, broken)
    resp = _post(scim.client, scim.token, _okta("ada@example.com", "00u-ada"))
    assert resp.status_code == 201 and resp.json["userName"] == "ada@example.com"
    assert _members(container, org["id"]) == 1
    assert [e.action for e in _events(container, org["id"])].count("scim_user.provisioned") == 1
