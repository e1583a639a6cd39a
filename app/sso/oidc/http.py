"""The OIDC core reaches the IdP only through an injected ``OidcHttp``, so the caller decides how: SSRF
protection (no private addresses), size and time limits, a proxy. The core never opens a socket itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.sso.oidc.errors import OidcRefusal, RefusalReason

MAX_JSON_BYTES = 512 * 1024


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "application/json"


class OidcHttp(Protocol):
    """What the core asks of the network. Implementations raise ``OSError`` (or a subclass) when the request
    cannot be made or is refused by policy; any status is returned as is."""

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpResponse: ...

    def post_form(
        self, url: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> HttpResponse: ...


def fetch_json(
    http: OidcHttp, url: str, what: str, *, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """GET ``url`` and return its JSON object, or refuse (``idp_unreachable``, ``bad_response``)."""
    try:
        response = http.get(url, headers=headers)
    except OSError as exc:
        raise OidcRefusal(RefusalReason.IDP_UNREACHABLE, f"The {what} could not be fetched: {exc}.") from exc
    if response.status != 200:
        raise OidcRefusal(RefusalReason.IDP_UNREACHABLE, f"The {what} answered HTTP {response.status}.")
    return json_object(response.body, what)


def json_object(body: bytes, what: str) -> dict[str, Any]:
    if len(body) > MAX_JSON_BYTES:
        raise OidcRefusal(RefusalReason.BAD_RESPONSE, f"The {what} is larger than {MAX_JSON_BYTES} bytes.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OidcRefusal(RefusalReason.BAD_RESPONSE, f"The {what} is not JSON.") from exc
    if not isinstance(value, dict):
        raise OidcRefusal(RefusalReason.BAD_RESPONSE, f"The {what} is not a JSON object.")
    return value
