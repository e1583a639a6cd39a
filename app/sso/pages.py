"""Pages a person's browser sees under ``/sso``: readable, escaped, never a stack trace.

The SSO issue adds the login page here; errors are rendered now so that every refusal under ``/sso``, from a
bad link to a server error, is a page that says what happened and what to do.
"""

from __future__ import annotations

from markupsafe import escape

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Tenantry</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}.ref{{color:#666;font-size:.85rem}}</style></head>
<body><main>
<h1>{title}</h1>
<p>{detail}</p>
<p>{advice}</p>
<p class="ref">Error {status}{reference}</p>
</main></body>
</html>
"""

_ADVICE = {
    400: "Go back to your application and start the sign-in again.",
    401: "Sign in again from your application.",
    403: "If you think you should have access, contact your organisation's administrator.",
    404: "Check the link, or start the sign-in again from your application.",
    405: "Start the sign-in again from your application.",
    413: "Start the sign-in again from your application.",
    422: "Go back, correct what is named above, and try again.",
    429: "Wait a moment, then try again.",
}


def error_page(status: int, title: str, detail: str, request_id: str | None) -> str:
    advice = _ADVICE.get(status, "Try again in a moment. If it keeps happening, contact support.")
    reference = f" · reference {escape(request_id)}" if request_id else ""
    return _PAGE.format(
        title=escape(title),
        detail=escape(detail),
        advice=escape(advice),
        status=status,
        reference=reference,
    )
