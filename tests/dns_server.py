"""Real DNS servers on loopback for tests: an authoritative zone a test edits (dnslib, UDP and TCP on one free
port), and a server that never answers (for timeouts). Nothing here mocks the resolver: Tenantry's dnspython
resolver talks to these over real sockets, exactly as it would to a production nameserver."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

log = logging.getLogger("tests.dns")

Record = str | bytes | Sequence[str | bytes]  # one TXT record: a value, or its character-strings


@dataclass
class Zone:
    """Names and their TXT records (each a list of character-strings), or a forced rcode. Thread-safe: the
    server answers from its own threads while the test edits the zone."""

    txt: dict[str, list[list[bytes]]] = field(default_factory=dict)
    rcodes: dict[str, str] = field(default_factory=dict)
    silenced: set[str] = field(default_factory=set)
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, protocol)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_txt(self, name: str, *records: Record) -> None:
        """Replace the TXT records at ``name``; none at all leaves the name existing without TXT records."""
        parsed = [[_bytes(s) for s in ([r] if isinstance(r, str | bytes) else r)] for r in records]
        with self.lock:
            self.txt[_key(name)] = parsed
            self.rcodes.pop(_key(name), None)

    def add_txt(self, name: str, *records: Record) -> None:
        with self.lock:
            existing = [list(r) for r in self.txt.get(_key(name), [])]
        self.set_txt(name, *existing, *records)

    def remove(self, name: str) -> None:
        with self.lock:
            self.txt.pop(_key(name), None)
            self.rcodes.pop(_key(name), None)

    def fail(self, name: str, rcode: str = "SERVFAIL") -> None:
        with self.lock:
            self.rcodes[_key(name)] = rcode

    def silence(self, name: str, silent: bool = True) -> None:
        """Queries for ``name`` get no answer at all (the client times out) until ``silence(name, False)``."""
        with self.lock:
            (self.silenced.add if silent else self.silenced.discard)(_key(name))

    def answer(self, request: DNSRecord, protocol: str) -> DNSRecord:
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        reply = request.reply()
        with self.lock:
            self.queries.append((qname.rstrip("."), qtype, protocol))
            forced = self.rcodes.get(_key(qname))
            records = self.txt.get(_key(qname))
            silent = _key(qname) in self.silenced
        if silent:
            raise DNSError("silenced")  # dnslib's handler drops the query without answering
        if forced is not None:
            reply.header.rcode = getattr(RCODE, forced)
        elif records is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == "TXT":
            for strings in records:
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(strings), ttl=60))
        elif qtype == "A":
            reply.add_answer(RR(qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        return reply  # NOERROR with no answer: the name exists without records of that type


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        return self.zone.answer(request, handler.protocol)


class _ClassicUdpHandler(DNSHandler):  # type: ignore[misc]
    """An answer over UDP longer than 512 bytes is replaced by an empty one with TC set, as a server without
    EDNS does (RFC 1035 §4.2.1): the client must retry over TCP, so large record sets exercise that path.
    (dnslib's own truncation also drops the question, which resolvers rightly refuse.)"""

    def get_reply(self, data: bytes) -> bytes:
        wire: bytes = super().get_reply(data)
        if self.protocol == "udp" and len(wire) > 512:
            truncated = DNSRecord.parse(data).reply()
            truncated.header.tc = 1
            wire = truncated.pack()
        return wire


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error", logf=lambda _msg: None)

    def log_error(self, handler: Any, e: Any) -> None:
        if str(e) != "silenced":
            log.warning("test DNS server error: %s", e)


@dataclass
class DnsTestServer:
    zone: Zone
    port: int
    host: str = "127.0.0.1"


def _free_port_for_udp_and_tcp() -> int:
    """A port free for both UDP and TCP on loopback (checked by binding both, then released)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port for UDP and TCP")


@contextmanager
def dns_server(zone: Zone | None = None) -> Iterator[DnsTestServer]:
    """An authoritative server for ``zone`` on 127.0.0.1, UDP and TCP, on a free port; stopped on exit."""
    zone = zone or Zone()
    resolver = _ZoneResolver(zone)
    for attempt in range(20):
        port = _free_port_for_udp_and_tcp()
        try:
            udp = DNSServer(resolver, "127.0.0.1", port, logger=_QuietLogger(), handler=_ClassicUdpHandler)
        except OSError:
            continue
        try:
            tcp = DNSServer(resolver, "127.0.0.1", port, tcp=True, logger=_QuietLogger())
        except OSError:
            udp.server.server_close()
            if attempt == 19:
                raise
            continue
        break
    else:  # pragma: no cover - the machine is out of ports
        raise RuntimeError("could not start the test DNS server")
    # A short poll interval: stopping waits for the serving loop's next poll (0.5 s by default).
    threads = [
        threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        for server in (udp, tcp)
    ]
    for thread in threads:
        thread.start()
    try:
        yield DnsTestServer(zone, port)
    finally:
        for server, thread in zip((udp, tcp), threads, strict=True):
            server.server.shutdown()
            server.server.server_close()
            thread.join(timeout=5)


@contextmanager
def silent_dns_server() -> Iterator[DnsTestServer]:
    """A UDP port that takes queries and never answers: every lookup against it times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield DnsTestServer(Zone(), sock.getsockname()[1])
    finally:
        sock.close()
