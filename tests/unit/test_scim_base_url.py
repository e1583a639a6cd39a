"""The fast paths' SCIM root (``app.scim.fastpath.base_url``, kept per scheme and host) is the one the views
build from ``request.host_url``, whatever the environ carries."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.wrappers import Request

from app.scim.fastpath import base_url


def _views(environ: dict[str, Any]) -> str:
    return Request(environ).host_url.rstrip("/") + "/scim/v2"  # what app/scim/views.py's _base_url builds


ENVIRONS = {
    "host header": {"wsgi.url_scheme": "https", "HTTP_HOST": "idp.example.com", "SERVER_NAME": "x"},
    "host header with port": {"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8000"},
    "default https port": {"wsgi.url_scheme": "https", "HTTP_HOST": "acme.example:443"},
    "server name only": {"wsgi.url_scheme": "http", "SERVER_NAME": "svc.internal", "SERVER_PORT": "8080"},
    "server name, port 80": {"wsgi.url_scheme": "http", "SERVER_NAME": "svc.internal", "SERVER_PORT": "80"},
    "IPv6 server name": {"wsgi.url_scheme": "http", "SERVER_NAME": "::1", "SERVER_PORT": "9000"},
    "unix socket": {"wsgi.url_scheme": "http", "SERVER_NAME": "/run/app.sock", "SERVER_PORT": ""},
    "unicode host": {"wsgi.url_scheme": "https", "HTTP_HOST": "xn--bcher-kva.example"},
    # werkzeug drops a Host of invalid characters (no host at all then), and so do the fast paths
    "invalid host": {"wsgi.url_scheme": "https", "HTTP_HOST": "evil.example/<script>"},
    "empty host": {"wsgi.url_scheme": "https", "HTTP_HOST": ""},
}


@pytest.mark.parametrize("environ", ENVIRONS.values(), ids=ENVIRONS.keys())
def test_the_root_is_the_views_own(environ: dict[str, Any]) -> None:
    expected = _views(dict(environ))
    assert base_url(dict(environ)) == expected
    assert base_url(dict(environ)) == expected  # (again: from the cache)


def test_requests_of_other_hosts_get_their_own_root() -> None:
    first = base_url({"wsgi.url_scheme": "https", "HTTP_HOST": "a.example"})
    second = base_url({"wsgi.url_scheme": "https", "HTTP_HOST": "b.example"})
    third = base_url({"wsgi.url_scheme": "http", "HTTP_HOST": "a.example"})
    assert (first, second, third) == (
        "https://a.example/scim/v2",
        "https://b.example/scim/v2",
        "http://a.example/scim/v2",
    )
