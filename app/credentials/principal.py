"""Who is calling: a platform key, an org key, a SCIM token, or a member's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.audit.recorder import Actor

PrincipalKind = Literal["platform", "org_key", "scim", "user"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: str  # key, token or user id
    name: str
    org_id: str | None = None  # the org an org key, SCIM token or session is bound to
    role: str | None = None  # the role an org key acts with
    user_id: str | None = None
    # Member sessions only: how the holder proved control of the account (None: it never did, so the
    # session acts in its org but not on the account: /v1/me, account deletion, vouching for invitations).
    account_proof: str | None = None
    # Set when the caller presented an access token (its ``jti``); ``id`` is then the session it came from.
    token_id: str | None = None

    @property
    def is_platform(self) -> bool:
        return self.kind == "platform"

    @property
    def own_subject(self) -> str | None:
        """A member (session or access token) may ask the check API about itself only: its user id."""
        return self.user_id if self.kind == "user" else None

    @property
    def acts_as_account(self) -> bool:
        return self.kind == "user" and self.user_id is not None and self.account_proof is not None

    def actor(self) -> Actor:
        if self.kind == "user":
            return Actor("user", self.user_id, self.name)
        if self.kind == "scim":
            return Actor("scim_token", self.id, self.name)
        return Actor("api_key", self.id, self.name)
