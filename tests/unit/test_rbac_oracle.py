"""The compiled evaluation answers exactly as pycasbin's ``Enforcer.enforce`` on the same model and rules.

Hypothesis draws random policies (custom roles in a few orgs, role and seat assignments, the shared
templates) and random requests (known and unknown orgs, subjects, permissions); every answer must match.
"""

from __future__ import annotations

import casbin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rbac.compiled import compile_org, template_base
from app.rbac.policy import MODEL_PATH, catalogue, template_rules

ORGS = [f"org_{i:032x}" for i in range(1, 4)]
USERS = [f"usr_{i:032x}" for i in range(1, 7)]
PERMS = sorted(catalogue()) + ["nope:unknown", "chat:pro_features "]
ROLES = ["role:owner", "role:admin", "role:billing", "role:member", "role:c1", "role:c2", "role:ghost"]
SEATS = ["seat:pro", "seat:enterprise"]

custom_rule = st.tuples(
    st.sampled_from(["role:c1", "role:c2"]), st.sampled_from(ORGS), st.sampled_from(PERMS)
)
g_rule = st.tuples(st.sampled_from(USERS), st.sampled_from(ROLES), st.sampled_from(ORGS))
g2_rule = st.tuples(st.sampled_from(USERS), st.sampled_from(SEATS), st.sampled_from(ORGS))
request = st.tuples(
    st.sampled_from(USERS + ["usr_" + "f" * 32, "mem_" + "0" * 32, "usr_bad"]),
    st.sampled_from(ORGS + ["org_" + "9" * 32]),
    st.sampled_from(PERMS),
)


def _enforcer(
    p: list[tuple[str, str, str]], g: list[tuple[str, ...]], g2: list[tuple[str, ...]]
) -> casbin.Enforcer:
    e = casbin.Enforcer(str(MODEL_PATH))
    for rule in template_rules() + p:
        e.add_named_policy("p", *rule)
    for rule in g:
        e.add_named_grouping_policy("g", *rule)
    for rule in g2:
        e.add_named_grouping_policy("g2", *rule)
    return e


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    p=st.lists(custom_rule, max_size=12, unique=True),
    g=st.lists(g_rule, max_size=12, unique=True),
    g2=st.lists(g2_rule, max_size=6, unique=True),
    requests=st.lists(request, min_size=1, max_size=40),
)
def test_compiled_equals_enforce(
    p: list[tuple[str, str, str]],
    g: list[tuple[str, str, str]],
    g2: list[tuple[str, str, str]],
    requests: list[tuple[str, str, str]],
) -> None:
    enforcer = _enforcer(p, list(g), list(g2))
    rules = template_rules() + p
    # Both ways the engine compiles: all rules at once, and the loader's way (shared templates compiled
    # once, plus only the org's own rules).
    whole = {org: compile_org(org, 1, rules, g, g2) for org in ORGS}
    loaded = {
        org: compile_org(org, 1, [r for r in p if r[1] == org], g, g2, base=template_base()) for org in ORGS
    }
    for subject, org, perm in requests:
        expected = enforcer.enforce(subject, org, perm)
        for compiled in (whole, loaded):
            snapshot = compiled.get(org)
            got = snapshot.decide(subject, perm).allowed if snapshot else False
            assert got == expected, (subject, org, perm)


def test_seat_permissions_need_a_seat_whatever_the_role() -> None:
    org, user = ORGS[0], USERS[0]
    enforcer = _enforcer([], [(user, "role:owner", org)], [])
    compiled = compile_org(org, 1, template_rules(), [(user, "role:owner", org)])
    assert not enforcer.enforce(user, org, "chat:pro_features")
    decision = compiled.decide(user, "chat:pro_features")
    assert not decision.allowed and decision.reason == "not_granted"
