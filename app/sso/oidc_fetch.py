"""The network of the OIDC core (``app.sso.oidc.OidcHttp``) under the rules of SAML metadata fetching.

Every request (discovery, JWKS, token endpoint, userinfo) goes through app/sso/metadata_fetch.py's checks: an
https URL (http only when private addresses are allowed), the host resolved at each request and every address
public, the connection made to that checked address (no DNS rebinding), no redirects followed, the body read
up to the byte limit within the time limit. A refusal by policy or a failed request is an ``OSError``, which
the core turns into an ``idp_unreachable`` refusal. No Flask, no database.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from app.sso.metadata_fetch import (
    FetchPolicy,
    MetadataFetchRefused,
    Resolver,
    _PinnedHTTP,
    _PinnedHTTPS,
    check_url,
    pick_address,
    system_resolver,
)
from app.sso.oidc.http import HttpResponse


class OidcFetchRefused(OSError):
    """A request the policy refused or that failed; ``reason`` is metadata_fetch's stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PinnedOidcHttp:
    """An ``OidcHttp`` that reaches only public addresses (unless the policy allows private ones)."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.ssl_context = ssl_context

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
        return self._request("GET", url, None, {"Accept": "application/json", **(headers or {})})

    def post_form(
        self, url: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        body = urlencode(dict(form)).encode("ascii")
        merged = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {}),
        }
        return self._request("POST", url, body, merged)

    def _request(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> HttpResponse:
        try:
            scheme, host, port, path = check_url(url, self.policy)
            address = pick_address(host, port, self.policy, self.resolver)
        except MetadataFetchRefused as exc:
            raise OidcFetchRefused(exc.reason, str(exc)) from None
        timeout = self.policy.timeout
        deadline = time.monotonic() + timeout
        conn: http.client.HTTPConnection
        resp: http.client.HTTPResponse | None = None
        if scheme == "https":
            context = self.ssl_context or ssl.create_default_context()
            conn = _PinnedHTTPS(host, port, address, timeout, context)
        else:
            conn = _PinnedHTTP(host, port, address, timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            resp = conn.getresponse()
            declared = resp.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.policy.max_bytes:
                raise OidcFetchRefused(
                    "too_large", f"{url} answered more than {self.policy.max_bytes} bytes."
                )
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise OidcFetchRefused("timeout", f"{url} did not answer in time.")
                chunk = resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.policy.max_bytes:
                    raise OidcFetchRefused(
                        "too_large", f"{url} answered more than {self.policy.max_bytes} bytes."
                    )
                chunks.append(chunk)
            # Redirects are not followed: a 3xx is returned as is and the core treats it as an error status.
            return HttpResponse(resp.status, b"".join(chunks), resp.getheader("Content-Type") or "")
        except TimeoutError:
            raise OidcFetchRefused("timeout", f"{url} did not answer in time.") from None
        except ssl.SSLError as exc:
            raise OidcFetchRefused("tls_error", f"TLS with {host} failed: {exc.reason}.") from None
        except OidcFetchRefused:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise OidcFetchRefused("connect_error", f"{url} could not be fetched: {exc}.") from None
        finally:
            if resp is not None:
                resp.close()  # a body left unread (too large, too slow) keeps the socket open otherwise
            conn.close()
