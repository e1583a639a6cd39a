"""An ``OidcHttp`` (``app.sso.oidc.http``) for tests: plain requests on loopback, no SSRF policy (the IdPs
under test are on 127.0.0.1), with every request recorded so a test can count what the core fetched."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from app.sso.oidc.http import HttpResponse


class RecordingHttp:
    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.requests: list[tuple[str, str]] = []  # (method, url)

    def count(self, url: str, method: str = "GET") -> int:
        return self.requests.count((method, url))

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
        self.requests.append(("GET", url))
        try:
            resp = requests.get(url, headers=dict(headers or {}), timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise OSError(str(exc)) from exc
        return HttpResponse(resp.status_code, resp.content, resp.headers.get("Content-Type", ""))

    def post_form(
        self, url: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        self.requests.append(("POST", url))
        try:
            resp = requests.post(
                url, data=dict(form), headers=dict(headers or {}), timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise OSError(str(exc)) from exc
        return HttpResponse(resp.status_code, resp.content, resp.headers.get("Content-Type", ""))
