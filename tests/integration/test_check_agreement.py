"""The check API answers a generated corpus of bodies identically with the WSGI fast path on and off.

Both paths parse and decide through ``app/rbac/check.py``; this proves they also agree at the HTTP level:
status, and body (less the per-request id) for valid checks, invalid bodies, foreign orgs, unknown keys,
wrong types, batches, with an unknown API key and with none.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.container import Container
from tests.conftest import _truncate, make_org_key, make_platform_key
from tests.mailbox import Mailbox
from tests.member_factories import add_person


@pytest.fixture
def two_paths(settings: Settings) -> Iterator[dict[str, Any]]:
    built = []
    for fast in (True, False):
        s = settings.model_copy(update={"authz_fast_path": fast})
        c = Container.build(s, mailer=Mailbox())
        built.append((c, create_app(s, c).test_client()))
    (fast_c, fast_client), (_, slow_client) = built
    with fast_c.session_factory.begin() as session:
        svc = fast_c.services(session)
        mine, other = svc.orgs.create("Mine"), svc.orgs.create("Other")
    person = add_person(fast_c, mine.id, "p@mine.example", role="admin")
    yield {
        "fast": fast_client,
        "slow": slow_client,
        "mine": mine.id,
        "other": other.id,
        "user": person.user_id,
        "keys": {
            "org": make_org_key(fast_c, mine.id, "admin"),
            "platform": make_platform_key(fast_c),
            "unknown": "tnt_ok_" + "A" * 43,
        },
    }
    for c, _ in built:
        _truncate(c)
        c.engine.dispose()


def corpus(rng: random.Random, mine: str, other: str, user: str) -> list[Any]:
    orgs = [mine, other, "org_nope", "", 7, None, "x" * 65]
    subjects = [user, "usr_nobody", "", ["x"], "y" * 65]
    actions = ["org:read", "chat:pro_features", "nope:nope", "", 3.5, "a" * 129]
    versions = [None, 0, 1, 10**9, -1, "2", True, 1.5]

    def check() -> Any:
        shape = rng.random()
        if shape < 0.05:
            return rng.choice([[], "check", 1, None])
        item: dict[str, Any] = {
            "org": rng.choice(orgs[:3]) if rng.random() < 0.8 else rng.choice(orgs),
            "subject": rng.choice(subjects[:2]) if rng.random() < 0.85 else rng.choice(subjects),
            "action": rng.choice(actions[:3]) if rng.random() < 0.85 else rng.choice(actions),
        }
        mv = rng.choice(versions)
        if mv is not None or rng.random() < 0.2:
            item["min_version"] = mv
        if rng.random() < 0.05:
            item["colour"] = "red"
        if rng.random() < 0.05:
            del item[rng.choice(["org", "subject", "action"])]
        return item

    bodies: list[Any] = [check() for _ in range(120)]
    for _ in range(40):
        batch: Any = {"checks": [check() for _ in range(rng.randint(0, 6))]}
        if rng.random() < 0.1:
            batch["extra"] = 1
        bodies.append(batch)
    return bodies


def answer(client: FlaskClient, path: str, key: str | None, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = client.post(path, data=json.dumps(body), headers=headers, content_type="application/json")
    data = resp.json
    if isinstance(data, dict):
        data.pop("request_id", None)
    return resp.status_code, data


def test_fast_path_and_views_agree_on_a_generated_corpus(two_paths: dict[str, Any]) -> None:
    rng = random.Random(20261130)
    fast, slow = two_paths["fast"], two_paths["slow"]
    bodies = corpus(rng, two_paths["mine"], two_paths["other"], two_paths["user"])
    seen_statuses: set[int] = set()
    for key_name in ("org", "platform", "unknown", None):
        key = two_paths["keys"][key_name] if key_name else None
        warm = {"org": two_paths["mine"], "subject": "usr_x", "action": "org:read"}
        answer(fast, "/v1/authz/check", key, warm)  # the key is cached: later calls take the fast path
        for body in bodies:
            path = (
                "/v1/authz/check-batch" if isinstance(body, dict) and "checks" in body else "/v1/authz/check"
            )
            got_fast, got_slow = answer(fast, path, key, body), answer(slow, path, key, body)
            assert got_fast == got_slow, (key_name, path, body)
            seen_statuses.add(got_fast[0])
    assert {200, 401, 422} <= seen_statuses  # the corpus reached every outcome
