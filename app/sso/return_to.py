"""Where a browser may be sent after login or logout: never an open redirect. Pure.

``return_to`` is accepted when its origin (scheme, host, port) is the base URL's or one of
``TENANTRY_SSO_ALLOWED_RETURN_ORIGINS``; a path alone (``/app``) is resolved against the base URL. Anything
else (another origin, ``//evil``, ``javascript:``, a backslash or control character trick) is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname.lower()}:{port or default}"


def allowed_origins(base_url: str, configured: str) -> frozenset[str]:
    found = {origin_of(base_url)}
    found.update(origin_of(o.strip()) for o in configured.split(",") if o.strip())
    return frozenset(o for o in found if o is not None)


def safe_return_to(value: str | None, base_url: str, configured: str) -> str | None:
    """The URL to go to, or None when ``value`` is absent or not allowed."""
    if not value or len(value) > 2048:
        return None
    if any(ch in value for ch in "\\\r\n\t\x00") or not value.isprintable():
        return None
    if value.startswith("/") and not value.startswith("//"):
        return base_url.rstrip("/") + value
    origin = origin_of(value)
    if origin is None or origin not in allowed_origins(base_url, configured):
        return None
    return value
