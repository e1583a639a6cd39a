"""Looking TXT records up: the ``TxtResolver`` protocol and its dnspython implementation.

The implementation asks the nameservers of ``TENANTRY_DNS_NAMESERVERS`` (comma-separated IP addresses; unset:
the system's ``/etc/resolv.conf``) on ``TENANTRY_DNS_PORT``, and gives a lookup ``TENANTRY_DNS_TIMEOUT``
seconds in all. It never caches: a verification must see DNS as it is now. Every outcome, failures included,
comes back as a :class:`TxtLookup` value; no DNS exception leaves this module.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Protocol

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from app.config import Settings
from app.domains.txt import LookupStatus, TxtLookup

log = logging.getLogger("tenantry.domains.dns")


class TxtResolver(Protocol):
    def lookup_txt(self, name: str) -> TxtLookup:
        """The TXT records at ``name`` (absolute, without the trailing dot), or why there are none."""
        ...


class DnsPythonTxtResolver:
    def __init__(self, nameservers: list[str] | None, port: int = 53, timeout: float = 5.0) -> None:
        if nameservers:
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = list(nameservers)
        else:
            self.resolver = dns.resolver.Resolver()  # the system's resolv.conf
        self.resolver.port = port
        self.resolver.timeout = timeout  # per server try
        self.resolver.lifetime = timeout  # the whole lookup, retries included
        self.resolver.cache = None
        # EDNS0 with a 1232-byte UDP payload (the DNS flag day 2020 size) so most record sets fit in one UDP
        # answer; a truncated one is retried over TCP by dnspython.
        self.resolver.use_edns(0, 0, 1232)

    def lookup_txt(self, name: str) -> TxtLookup:
        qname = dns.name.from_text(name)  # absolute: the search list never applies
        try:
            answer = self.resolver.resolve(qname, dns.rdatatype.TXT, search=False)
        except dns.resolver.NXDOMAIN:
            return TxtLookup(LookupStatus.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return TxtLookup(LookupStatus.NO_ANSWER)
        except dns.exception.Timeout:
            return TxtLookup(LookupStatus.TIMEOUT)
        except dns.resolver.NoNameservers as exc:
            return TxtLookup(LookupStatus.SERVFAIL, detail=_servfail_detail(exc))
        except dns.exception.DNSException as exc:  # malformed answers, YXDOMAIN, …: the servers failed us
            log.info("TXT lookup failed", extra={"name": name, "error": type(exc).__name__})
            return TxtLookup(LookupStatus.SERVFAIL, detail=type(exc).__name__)
        records = tuple(
            tuple(rdata.strings) for rdata in answer if rdata.rdtype == dns.rdatatype.TXT
        )  # a CNAME chain's answer also lists the CNAMEs followed
        return TxtLookup(LookupStatus.ANSWER, records)


def _servfail_detail(exc: dns.resolver.NoNameservers) -> str:
    """``SERVFAIL`` or ``REFUSED``: the rcode the servers gave, when they gave one."""
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        answer = error[4] if len(error) > 4 else None
        if isinstance(answer, dns.message.Message):
            return dns.rcode.to_text(answer.rcode())
    return "no server answered usefully"


def parse_nameservers(value: str) -> list[str]:
    """``"10.0.0.2, 2001:db8::53"`` -> the addresses; a host name is refused (dnspython needs addresses)."""
    servers = [part.strip() for part in value.split(",") if part.strip()]
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ValueError(
                f"TENANTRY_DNS_NAMESERVERS must list IP addresses, comma-separated; got {server!r}"
            ) from None
    return servers


def resolver_from_settings(settings: Settings) -> TxtResolver:
    return DnsPythonTxtResolver(
        parse_nameservers(settings.dns_nameservers) or None,
        port=settings.dns_port,
        timeout=settings.dns_timeout,
    )
