"""``filter.pins``: which filters pin their rows through an index of their own (an IdP's lookups), so the list
query orders them without walking the org's (org_id, id) index."""

from __future__ import annotations

import pytest

from app.scim import filter as scim_filter
from app.scim.listing import PINNING_KEYS

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        ('userName eq "a@x"', True),
        ('USERNAME EQ "a@x"', True),
        ('externalId eq "00u1"', True),
        ('id eq "mem_1"', True),
        (f'{USER}:userName eq "a@x"', True),
        ('emails[type eq "work"].value eq "a@x"', True),
        ('emails[value eq "a@x"]', True),
        ('active eq true and externalId eq "e"', True),
        ('(externalId eq "e") and active eq true', True),
        ('userName eq "a" or userName eq "b"', False),
        ('not (userName eq "a")', False),
        ('userName ne "a"', False),
        ('userName sw "a"', False),
        ("externalId eq null", False),
        ("active eq true", False),
        ('emails[type eq "work"]', False),
    ],
)
def test_pins(text: str, pinned: bool) -> None:
    assert scim_filter.pins(scim_filter.parse(text), PINNING_KEYS, USER) is pinned
