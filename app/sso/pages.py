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


_LOGIN = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Tenantry</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}label{{display:block;margin:.5rem 0}}input{{font-size:1rem;padding:.4rem;width:100%}}
button{{font-size:1rem;padding:.4rem 1rem;margin-top:.75rem}}.error{{color:#a00}}</style></head>
<body><main>
<h1>Sign in with single sign-on</h1>
{error}
<form method="get" action="/sso/login">
<label for="email">Work email</label>
<input id="email" name="email" type="email" autocomplete="email" required value="{email}">
{return_to}
<button type="submit">Continue</button>
</form>
</main></body>
</html>
"""

_POST_FORM = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signing in · Tenantry</title></head>
<body onload="document.forms[0].submit()"><main>
<form method="post" action="{action}">
{fields}
<noscript><p>Your browser does not run scripts: press the button to continue.</p></noscript>
<button type="submit">Continue</button>
</form>
</main></body>
</html>
"""


def login_page(error: str | None = None, email: str = "", return_to: str | None = None) -> str:
    """The page for people who arrive without parameters (or whose address found no sign-in)."""
    hidden = f'<input type="hidden" name="return_to" value="{escape(return_to)}">' if return_to else ""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _LOGIN.format(error=message, email=escape(email), return_to=hidden)


def auto_post_page(action: str, fields: dict[str, str]) -> str:
    """The HTTP-POST binding: a form the browser submits to the IdP by itself."""
    inputs = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
    return _POST_FORM.format(action=escape(action), fields=inputs)
