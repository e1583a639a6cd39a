"""A SCIM token's request budget: every ``/scim/v2`` request spends one unit of the shared limiter (in
memory, or Redis with ``TENANTRY_RATE_LIMIT_URL``), whichever path answers it."""

from __future__ import annotations

from typing import Final

from app.ratelimit import RateLimiter, Rule

# Set in a request's WSGI environ (to the token's id) by a path that spent its unit before handing the
# request on (app/scim/fastpath.py), so the view does not spend a second one. No header can set such a key.
SPENT: Final = "tenantry.scim_budget_spent"


def spend(limiter: RateLimiter, rate: str, token_id: str) -> None:
    """One request of the token ``token_id``; ``RateLimited`` (429, ``Retry-After``) past ``rate``."""
    limiter.hit(Rule("scim_token", rate), token_id, detail="Too many SCIM requests for this token.")
