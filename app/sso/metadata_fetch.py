"""Fetching an IdP's metadata from a URL an org admin typed, without letting it reach inside our network.

The URL must be https (http only when private addresses are allowed, for tests and closed networks). The
host is resolved once; every address it resolves to must be public (not private, loopback, link-local,
multicast, reserved, shared or unspecified, IPv4-mapped IPv6 included), and the connection is made to that
very address (the Host header and TLS SNI keep the name), so DNS cannot answer differently between the
check and the connection (rebinding). Redirects are not followed. The body is read up to a byte limit within
a time limit. No Flask, no database.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]


class MetadataFetchRefused(ValueError):
    """The URL may not be fetched, or the fetch failed: ``reason`` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False
    max_bytes: int = 1024 * 1024
    timeout: float = 5.0


@dataclass(frozen=True)
class FetchedMetadata:
    body: bytes
    address: str  # the address connected to (pinned)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
    )


def check_url(url: str, policy: FetchPolicy) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL, or ``MetadataFetchRefused``."""
    if len(url) > 2048:
        raise MetadataFetchRefused("invalid_url", "The metadata URL is too long.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MetadataFetchRefused("invalid_url", "The metadata URL is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise MetadataFetchRefused("invalid_url", "The metadata URL must be an https URL.")
    if scheme == "http" and not policy.allow_private:
        raise MetadataFetchRefused("insecure_url", "The metadata URL must use https.")
    if not parts.hostname or parts.username or parts.password:
        raise MetadataFetchRefused("invalid_url", "The metadata URL needs a host and no user name.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def pick_address(host: str, port: int, policy: FetchPolicy, resolver: Resolver) -> str:
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError):
        raise MetadataFetchRefused("dns_error", f"The metadata host {host} does not resolve.") from None
    if not addresses:
        raise MetadataFetchRefused("dns_error", f"The metadata host {host} does not resolve.")
    if not policy.allow_private:
        for address in addresses:
            if not is_public(address):
                raise MetadataFetchRefused(
                    "private_address",
                    f"The metadata host {host} resolves to a private or reserved address ({address}); "
                    "only public addresses are fetched.",
                )
    return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ctx = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def fetch_metadata(
    url: str,
    policy: FetchPolicy,
    *,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedMetadata:
    scheme, host, port, path = check_url(url, policy)
    address = pick_address(host, port, policy, resolver)
    deadline = time.monotonic() + policy.timeout
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = _PinnedHTTPS(host, port, address, policy.timeout, ssl_context or ssl.create_default_context())
    else:
        conn = _PinnedHTTP(host, port, address, policy.timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/samlmetadata+xml, application/xml"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise MetadataFetchRefused(
                "http_status", f"The metadata URL answered HTTP {resp.status} (redirects are not followed)."
            )
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise MetadataFetchRefused("too_large", f"The metadata is larger than {policy.max_bytes} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise MetadataFetchRefused("timeout", "The metadata URL did not answer in time.")
            chunk = resp.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > policy.max_bytes:
                raise MetadataFetchRefused(
                    "too_large", f"The metadata is larger than {policy.max_bytes} bytes."
                )
            chunks.append(chunk)
        return FetchedMetadata(b"".join(chunks), address)
    except TimeoutError:
        raise MetadataFetchRefused("timeout", "The metadata URL did not answer in time.") from None
    except ssl.SSLError as exc:
        raise MetadataFetchRefused("tls_error", f"TLS with the metadata host failed: {exc.reason}.") from None
    except (OSError, http.client.HTTPException) as exc:
        raise MetadataFetchRefused(
            "connect_error", f"The metadata URL could not be fetched: {exc}."
        ) from None
    finally:
        conn.close()
