"""The DNS TXT challenge, pure: domain names, the record to publish, and the verdict on what DNS answered.

No network and no database: the resolver (app/domains/dns.py) turns a lookup into a :class:`TxtLookup`, and
:func:`judge` turns that into a :class:`Verdict` with a stable reason code. Names are stored and compared in
their ASCII form (IDNA 2008 A-labels, UTS #46 mapping: ``Bücher.DE.`` becomes ``xn--bcher-kva.de``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import idna

CHALLENGE_LABEL: Final = "_tenantry-challenge"
VALUE_PREFIX: Final = "tenantry-domain-verification="
RECORD_TYPE: Final = "TXT"
# RFC 1035 §2.3.4: 253 characters in a name; the challenge label and its dot must still fit.
MAX_DOMAIN_LENGTH: Final = 253 - len(CHALLENGE_LABEL) - 1
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidDomainName(ValueError):
    """The text is not a host name that can carry a TXT record; ``str()`` says why, for the caller."""


def normalize_domain(raw: str, *, min_labels: int = 2) -> str:
    """Lower case, IDNA A-labels, no trailing dot; raises :class:`InvalidDomainName`. ``min_labels=1``
    lets a bare TLD through, so a caller can refuse it as a public suffix with that reason."""
    text = raw.strip()
    if not text:
        raise InvalidDomainName("Give a domain name such as example.com.")
    if any(sep in text for sep in ("@", "/", ":", "*")):
        raise InvalidDomainName("Give the bare domain name (example.com), not an address, URL or wildcard.")
    text = text.removesuffix(".")  # the root: ``example.com.`` and ``example.com`` are one name
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:  # also UnicodeError subclasses for disallowed code points
        raise InvalidDomainName(f"{raw.strip()!r} is not a valid domain name: {exc}.") from None
    labels = ascii_name.split(".")
    if len(labels) < min_labels:
        raise InvalidDomainName("Give a full domain name with a dot, such as example.com.")
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        raise InvalidDomainName(f"A domain name here has at most {MAX_DOMAIN_LENGTH} characters.")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidDomainName("Use letters, digits and hyphens only, in labels of 1 to 63 characters.")
    if labels[-1].isdigit():
        raise InvalidDomainName("An IP address is not a domain name.")
    return ascii_name


def unicode_name(ascii_name: str) -> str:
    """The name as people read it (``xn--bcher-kva.de`` -> ``bücher.de``)."""
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name


def email_domain(email: str) -> str | None:
    """The normalised domain of an address, or None when it has none or it is not a valid name."""
    _, at, domain = email.strip().rpartition("@")
    if not at or not domain:
        return None
    try:
        return normalize_domain(domain)
    except InvalidDomainName:
        return None


def self_and_parents(name: str) -> list[str]:
    """``a.b.acme.com`` -> ``[a.b.acme.com, b.acme.com, acme.com]``: the names whose verification covers
    ``name`` (a verified domain covers its subdomains). Single labels (TLDs) are never included."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def record_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def record_value(token: str) -> str:
    return f"{VALUE_PREFIX}{token}"


@dataclass(frozen=True)
class ChallengeRecord:
    """What the org publishes: ``_tenantry-challenge.<domain> TXT "tenantry-domain-verification=<token>"``."""

    name: str
    type: str
    value: str

    @classmethod
    def for_domain(cls, domain: str, token: str) -> ChallengeRecord:
        return cls(record_name(domain), RECORD_TYPE, record_value(token))


class LookupStatus(StrEnum):
    """What the resolver got back, before any judgement."""

    ANSWER = "answer"  # TXT records (possibly none that matter)
    NXDOMAIN = "nxdomain"  # RCODE 3: the name does not exist
    NO_ANSWER = "no_answer"  # NOERROR, but no TXT record at the name
    TIMEOUT = "timeout"  # no server answered within the lifetime
    SERVFAIL = "servfail"  # every server failed (SERVFAIL, REFUSED, malformed answers)


@dataclass(frozen=True)
class TxtLookup:
    """One TXT lookup. ``records`` holds each TXT record as its character-strings, in wire order: a value
    longer than 255 bytes arrives split across several strings of one record (RFC 1035 §3.3.14)."""

    status: LookupStatus
    records: tuple[tuple[bytes, ...], ...] = ()
    detail: str = ""


class Reason(StrEnum):
    """The outcome of a verification, as a stable code callers may branch on."""

    VERIFIED = "verified"
    NXDOMAIN = "nxdomain"
    NO_TXT_RECORD = "no_txt_record"
    TOKEN_MISMATCH = "token_mismatch"  # noqa: S105 - a reason code
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"

    @property
    def transient(self) -> bool:
        """Timeouts and server failures say nothing about the record: they never withdraw a domain."""
        return self in (Reason.TIMEOUT, Reason.SERVFAIL)


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    detail: str

    @property
    def verified(self) -> bool:
        return self.reason is Reason.VERIFIED


def record_text(strings: Sequence[bytes]) -> str:
    """One TXT record's value: its character-strings joined with nothing between them (as SPF and DKIM
    read split records), decoded leniently, without surrounding blanks or one pair of stray quotes (some DNS
    consoles store the quotes a user pasted)."""
    text = b"".join(strings).decode("utf-8", errors="replace").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def judge(lookup: TxtLookup, expected_value: str, name: str) -> Verdict:
    """Verified when any TXT record at ``name`` reads ``expected_value`` (case-insensitively: tokens are
    lower case); otherwise the precise reason."""
    if lookup.status is LookupStatus.NXDOMAIN:
        return Verdict(Reason.NXDOMAIN, f"{name} does not exist in DNS (NXDOMAIN): publish the TXT record.")
    if lookup.status is LookupStatus.NO_ANSWER or (
        lookup.status is LookupStatus.ANSWER and not lookup.records
    ):
        return Verdict(Reason.NO_TXT_RECORD, f"{name} exists but has no TXT record: publish the TXT record.")
    if lookup.status is LookupStatus.TIMEOUT:
        return Verdict(Reason.TIMEOUT, f"No DNS server answered for {name} in time; try again later.")
    if lookup.status is LookupStatus.SERVFAIL:
        extra = f" ({lookup.detail})" if lookup.detail else ""
        return Verdict(
            Reason.SERVFAIL, f"The DNS servers failed to answer for {name}{extra}; try again later."
        )
    wanted = expected_value.casefold()
    values = [record_text(strings) for strings in lookup.records]
    if any(value.casefold() == wanted for value in values):
        return Verdict(Reason.VERIFIED, f"{name} carries the expected TXT record.")
    ours = [v for v in values if v.casefold().startswith(VALUE_PREFIX)]
    if ours:
        return Verdict(
            Reason.TOKEN_MISMATCH,
            f"{name} has {len(ours)} {VALUE_PREFIX}… record(s) but none with this domain's token: "
            "copy the value shown for this domain exactly.",
        )
    return Verdict(
        Reason.TOKEN_MISMATCH,
        f"{name} has {len(values)} TXT record(s) but none reads {VALUE_PREFIX}…: publish the value shown.",
    )
