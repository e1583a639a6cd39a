"""The lookup fast path (app/scim/fastpath.py) answers an IdP's warm existence checks exactly as the Flask
view does, and hands everything else to the view: same bodies, headers and errors, one unit of the token's
budget per request, one org per token, revocation at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client

from app.config import Settings
from app.container import Container
from app.credentials.secrets import hash_secret
from app.observability import HTTP_REQUESTS
from app.scim import fastpath as fastpath_module
from app.scim.fastpath import LookupFastPath
from app.scim.schema import ENTERPRISE_USER, GROUP, USER
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import BASE, SCIM_JSON, Scim, make_scim_token

ENTERPRISE = ENTERPRISE_USER


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_rate": "1000/minute"})


@pytest.fixture
def fast_path(app: Flask) -> LookupFastPath:
    found = app.wsgi_app
    while not isinstance(found, LookupFastPath):  # the check fast path may sit in front of it
        found = found.wsgi_app  # type: ignore[attr-defined]
    return found


@pytest.fixture
def answered(fast_path: LookupFastPath, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The query strings the fast path answered itself (requests it handed to Flask are not in it)."""
    seen: list[str] = []
    answer = fast_path._answer

    def spy(environ: dict[str, Any]) -> bytes:
        body = answer(environ)
        seen.append(environ["QUERY_STRING"])
        return body

    monkeypatch.setattr(fast_path, "_answer", spy)
    yield seen


@pytest.fixture
def flask_only(fast_path: LookupFastPath) -> Client:
    """A client of the app behind the fast path: the Flask views alone, on the same database and caches."""
    return Client(fast_path.wsgi_app)


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
    client: FlaskClient, container: Container, org: dict[str, Any], answered: list[str]
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


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer tnt_scim_notarealtoken", "Basic Zm9vOmJhcg==", "Bearer ", "bearer x"],
)
def test_no_or_a_bad_token_is_the_views_401(
    client: FlaskClient, answered: list[str], authorization: str
) -> None:
    resp = client.get(
        BASE + '/Users?filter=userName eq "a@example.com"',
        headers={"Authorization": authorization} if authorization else {},
    )
    assert resp.status_code == 401 and resp.mimetype == SCIM_JSON and resp.json["status"] == "401"
    assert answered == []


def test_an_api_key_is_refused_as_at_the_view(
    client: FlaskClient, container: Container, org: dict[str, Any], answered: list[str]
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
    assert answered == []


def test_a_token_reads_its_own_org_only(
    client: FlaskClient, container: Container, platform: Api, answered: list[str]
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
    assert len(answered) == 3


def test_a_revoked_token_is_refused_at_once(
    client: FlaskClient, container: Container, org: dict[str, Any], owner: Api, answered: list[str]
) -> None:
    scim = Scim(client, make_scim_token(container, org["id"]))
    query = '/Users?filter=userName eq "a@example.com"'
    assert scim.get(query).status_code == 200 and scim.get(query).status_code == 200
    assert len(answered) == 1
    listed = owner.get(f"/v1/orgs/{org['id']}/scim-tokens").json["data"]
    token_id = next(t["id"] for t in listed if scim.token.startswith(t["prefix"]))
    assert owner.delete(f"/v1/orgs/{org['id']}/scim-tokens/{token_id}").status_code == 204
    refused = scim.get(query)
    assert refused.status_code == 401 and refused.json["status"] == "401"
    assert len(answered) == 1


class TestBudget:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"scim_rate": "5/minute"})

    def test_each_request_spends_one_unit_whichever_path_answers(
        self, client: FlaskClient, container: Container, org: dict[str, Any], answered: list[str]
    ) -> None:
        container.rate_limiter.reset()
        scim = Scim(client, make_scim_token(container, org["id"]))
        assert scim.get("/Users?count=0").status_code == 200  # 1: the view (caches the token)
        made = scim.post("/Users", {"schemas": [USER], "userName": "ada@example.com"})  # 2
        assert made.status_code == 201
        assert scim.get('/Users?filter=userName eq "x@example.com"').status_code == 200  # 3: fast path
        # 4: the fast path spends, finds a full page and hands on; the view does not spend again
        assert scim.get('/Users?filter=userName eq "ada@example.com"&count=1').json["totalResults"] == 1
        assert scim.get('/Users?filter=userName eq "y@example.com"').status_code == 200  # 5
        assert len(answered) == 2
        limited = scim.get('/Users?filter=userName eq "z@example.com"')
        assert limited.status_code == 429 and limited.mimetype == SCIM_JSON
        assert limited.json["status"] == "429" and int(limited.headers["Retry-After"]) >= 1
        assert len(answered) == 2


def test_request_ids_and_metrics_are_kept(scim: Scim, answered: list[str]) -> None:
    counter = HTTP_REQUESTS.labels("GET", "/scim/v2/Users", "200")
    before = counter._value.get()
    resp = scim.get('/Users?filter=userName eq "a@example.com"', headers={"X-Request-ID": "idp-req-0001"})
    assert answered and resp.headers["X-Request-ID"] == "idp-req-0001"
    assert counter._value.get() == before + 1
    minted = scim.get('/Users?filter=userName eq "a@example.com"', headers={"X-Request-ID": "no"})
    assert minted.headers["X-Request-ID"] not in ("", "no")


class TestOff:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"scim_fast_path": False})

    def test_off_leaves_the_app_as_it_was(self, app: Flask) -> None:
        found = app.wsgi_app
        while hasattr(found, "wsgi_app"):
            assert not isinstance(found, LookupFastPath)
            found = found.wsgi_app


@pytest.mark.parametrize("part", ["lookup_users", "user_resource"])
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
