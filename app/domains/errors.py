"""Typed refusals of the domain use cases; each front door maps them once (``/v1``: problem+json)."""

from __future__ import annotations

from app.errors import Conflict, ValidationFailed


class InvalidDomain(ValidationFailed):
    code, title = "invalid_domain", "Invalid domain name"


class PublicSuffixRefused(ValidationFailed):
    """``com``, ``co.uk``, ``github.io``: a suffix under which anyone registers names."""

    code, title = "public_suffix", "Public suffix"


class ConsumerDomainRefused(ValidationFailed):
    """``gmail.com``, ``outlook.com``, …: a mail provider's domain is shared by unrelated people."""

    code, title = "consumer_domain", "Consumer mail domain"


class DomainTaken(Conflict):
    """Another organisation holds this name, or a parent of it, verified."""

    code, title = "domain_taken", "Domain verified by another organisation"


class DomainAlreadyClaimed(Conflict):
    code, title = "domain_already_claimed", "Domain already claimed"


class VerifiedDomainRequired(Conflict):
    """SSO enforcement and auto-join apply to people of the org's verified domains: without one, no."""

    code, title = "verified_domain_required", "Verified domain required"
