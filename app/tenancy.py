"""The one tenancy rule: a credential acts in the org it belongs to, and a platform key in any.

Every org-scoped route (``/v1/orgs/<org_id>/…``, unconditionally: ``app/api/endpoint.py`` refuses to register
one without it), the authorizer and the check API ask this module, so "may this caller touch org X at all?"
is decided in exactly one place. The org itself is taken from the credential by the credential resolver
(``app/credentials/resolver.py``), never from anything else the caller sends.
"""

from __future__ import annotations

from typing import Protocol


class Tenant(Protocol):
    """What the rule needs of a caller: whether it is a platform key, and its own org."""

    @property
    def is_platform(self) -> bool: ...

    @property
    def org_id(self) -> str | None: ...


def may_act_in(caller: Tenant, org_id: str | None) -> bool:
    """Whether ``caller`` may act in ``org_id`` at all (its permissions there are another question)."""
    if caller.is_platform:
        return True
    return org_id is not None and caller.org_id is not None and caller.org_id == org_id
