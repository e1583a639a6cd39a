"""The dnspython TXT resolver against a real DNS server on loopback: every outcome a verification can meet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import Settings
from app.domains.dns import DnsPythonTxtResolver, parse_nameservers, resolver_from_settings
from app.domains.txt import LookupStatus, Reason, judge
from tests.dns_server import DnsTestServer, dns_server, silent_dns_server

NAME = "_tenantry-challenge.acme.test"
VALUE = "tenantry-domain-verification=abcdefghijklmnop"


@pytest.fixture
def server() -> Iterator[DnsTestServer]:
    with dns_server() as running:
        yield running


@pytest.fixture
def resolver(server: DnsTestServer) -> DnsPythonTxtResolver:
    return DnsPythonTxtResolver([server.host], port=server.port, timeout=2.0)


def reason(resolver: DnsPythonTxtResolver) -> Reason:
    return judge(resolver.lookup_txt(NAME), VALUE, NAME).reason


def test_the_published_value_verifies(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    server.zone.set_txt(NAME, VALUE)
    lookup = resolver.lookup_txt(NAME)
    assert lookup.status is LookupStatus.ANSWER and lookup.records == ((VALUE.encode(),),)
    assert reason(resolver) is Reason.VERIFIED


def test_a_missing_name_is_nxdomain(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    server.zone.set_txt("acme.test", "v=spf1 -all")  # the domain exists, the challenge name does not
    assert reason(resolver) is Reason.NXDOMAIN


def test_a_name_without_txt_records_is_no_txt_record(
    server: DnsTestServer, resolver: DnsPythonTxtResolver
) -> None:
    server.zone.set_txt(NAME)  # exists (answers A), no TXT
    assert resolver.lookup_txt(NAME).status is LookupStatus.NO_ANSWER
    assert reason(resolver) is Reason.NO_TXT_RECORD


def test_another_token_is_a_mismatch(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    server.zone.set_txt(NAME, "tenantry-domain-verification=someone-else")
    assert reason(resolver) is Reason.TOKEN_MISMATCH


def test_one_matching_record_among_several(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    server.zone.set_txt(NAME, "v=spf1 -all", "tenantry-domain-verification=stale", VALUE, "other=1")
    assert len(resolver.lookup_txt(NAME).records) == 4
    assert reason(resolver) is Reason.VERIFIED


def test_a_value_split_into_255_byte_strings(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    long_value = "tenantry-domain-verification=" + "x" * 600
    chunks = [long_value[i : i + 255] for i in range(0, len(long_value), 255)]
    server.zone.set_txt(NAME, chunks)
    lookup = resolver.lookup_txt(NAME)
    assert [len(s) for s in lookup.records[0]] == [255, 255, len(long_value) - 510]
    assert judge(lookup, long_value, NAME).reason is Reason.VERIFIED


def test_a_record_set_too_large_for_udp_is_fetched_over_tcp(
    server: DnsTestServer, resolver: DnsPythonTxtResolver
) -> None:
    filler = [f"unrelated-{i}=" + "y" * 200 for i in range(8)]  # ~1.7 KB: truncated over UDP
    server.zone.set_txt(NAME, *filler, VALUE)
    assert reason(resolver) is Reason.VERIFIED
    protocols = [proto for name, qtype, proto in server.zone.queries if name == NAME and qtype == "TXT"]
    assert protocols == ["udp", "tcp"]


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED"])
def test_server_failures_are_servfail(
    server: DnsTestServer, resolver: DnsPythonTxtResolver, rcode: str
) -> None:
    server.zone.fail(NAME, rcode)
    lookup = resolver.lookup_txt(NAME)
    assert lookup.status is LookupStatus.SERVFAIL and lookup.detail == rcode
    assert judge(lookup, VALUE, NAME).reason is Reason.SERVFAIL


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with silent_dns_server() as silent:
        resolver = DnsPythonTxtResolver([silent.host], port=silent.port, timeout=0.3)
        assert reason(resolver) is Reason.TIMEOUT


def test_answers_are_not_cached(server: DnsTestServer, resolver: DnsPythonTxtResolver) -> None:
    server.zone.set_txt(NAME, VALUE)
    assert reason(resolver) is Reason.VERIFIED
    server.zone.remove(NAME)
    assert reason(resolver) is Reason.NXDOMAIN


def test_the_resolver_is_built_from_the_settings(server: DnsTestServer) -> None:
    server.zone.set_txt(NAME, VALUE)
    settings = Settings(dns_nameservers=f" {server.host} ", dns_port=server.port, dns_timeout=1.5)
    resolver = resolver_from_settings(settings)
    assert isinstance(resolver, DnsPythonTxtResolver)
    assert (resolver.resolver.port, resolver.resolver.lifetime) == (server.port, 1.5)
    assert reason(resolver) is Reason.VERIFIED


def test_nameservers_must_be_addresses() -> None:
    assert parse_nameservers("10.0.0.2, 2001:db8::53,") == ["10.0.0.2", "2001:db8::53"]
    with pytest.raises(ValueError, match="IP addresses"):
        parse_nameservers("ns1.example.com")
