"""The issuer's signing keys (its JWKS), cached per connection and refetched when a token names a key we do
not have (rotation), at most once per ``min_refetch_interval`` (a minute): a flood of tokens with
invented ``kid`` values costs the IdP one request a minute, not one each."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from app.clock import Clock
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import OidcHttp, fetch_json

PublicKey = RSAKey | ECKey | OKPKey
MIN_REFETCH_INTERVAL = timedelta(minutes=1)


class JwksCache:
    """One connection's JWKS. Thread-safe; keep one instance per connection (and issuer)."""

    def __init__(
        self,
        http: OidcHttp,
        jwks_uri: str,
        clock: Clock,
        *,
        min_refetch_interval: timedelta = MIN_REFETCH_INTERVAL,
    ) -> None:
        self._http = http
        self.jwks_uri = jwks_uri
        self._clock = clock
        self._interval = min_refetch_interval
        self._keys: list[PublicKey] = []
        self._fetched_at: datetime | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (observable by tests and metrics)

    def key_for(self, kid: str | None, kty: str) -> PublicKey:
        """The key named ``kid`` (or, for a token without ``kid``, the only key of type ``kty``). Fetches the
        JWKS the first time, and once more when the key is unknown, unless fetched within the interval."""
        with self._lock:
            if self._fetched_at is None:
                self._fetch()
            found = self._find(kid, kty)
            if found is None and self._may_refetch():
                self._fetch()
                found = self._find(kid, kty)
        if found is None:
            named = f"key {kid!r}" if kid else f"a single {kty} key"
            raise OidcRefusal(RefusalReason.UNKNOWN_KEY, f"The IdP's JWKS has no {named}.")
        return found

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock.now() - self._fetched_at >= self._interval

    def _find(self, kid: str | None, kty: str) -> PublicKey | None:
        if kid is not None:
            return next((k for k in self._keys if k.kid == kid), None)
        candidates = [k for k in self._keys if k.key_type == kty]
        return candidates[0] if len(candidates) == 1 else None

    def _fetch(self) -> None:
        # The time is taken first: a failed fetch also counts against the interval.
        self._fetched_at = self._clock.now()
        self.fetches += 1
        doc = fetch_json(self._http, self.jwks_uri, "JWKS")
        keys = doc.get("keys")
        if not isinstance(keys, list):
            raise OidcRefusal(RefusalReason.BAD_RESPONSE, "The JWKS has no list of keys.")
        self._keys = [key for entry in keys if (key := _public_key(entry)) is not None]


def _public_key(entry: Any) -> PublicKey | None:
    """A signing key of the JWKS, or None for what is not one (encryption keys, symmetric or unknown types,
    entries that do not parse; a bad entry does not spoil the others)."""
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    kty = entry.get("kty")
    public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")}
    try:
        if kty == "RSA":
            return RSAKey.import_key(public)
        if kty == "EC":
            return ECKey.import_key(public)
        if kty == "OKP":
            return OKPKey.import_key(public)
    except (JoseError, ValueError, TypeError):
        return None
    return None
