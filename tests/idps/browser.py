"""The browser's part of a login over plain HTTP: a cookie jar, redirects followed while they stay at the IdP,
HTML forms read and submitted as a person (or the page's auto-submit script) would. No JavaScript runs: the
pages these IdPs serve work without it (their auto-post forms carry a <noscript> button).

A login ends when the IdP hands the browser back to the relying party, which is what the driver returns
without following it: a ``FormPost`` (SAML HTTP-POST binding: the form the page would auto-submit to the ACS
or SLO URL) or a ``Redirect`` (SAML HTTP-Redirect binding, or the OIDC callback with code, state, iss)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests


@dataclass(frozen=True)
class FormPost:
    """A form the browser posts to ``action`` (``application/x-www-form-urlencoded``)."""

    action: str
    fields: dict[str, str]

    @property
    def saml_response(self) -> str:
        """The base64 ``SAMLResponse`` field, as posted to the ACS."""
        return self.fields["SAMLResponse"]

    @property
    def relay_state(self) -> str | None:
        return self.fields.get("RelayState") or None

    def saml_xml(self) -> bytes:
        """The decoded ``SAMLResponse`` (or ``SAMLRequest``) XML."""
        value = self.fields.get("SAMLResponse") or self.fields["SAMLRequest"]
        return base64.b64decode(value)


@dataclass(frozen=True)
class Redirect:
    """A redirect that leaves the IdP; ``url`` is where the browser would go next."""

    url: str

    @property
    def query(self) -> dict[str, str]:
        """The URL's query parameters (first value of each)."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query, keep_blank_values=True).items()}


Outcome = FormPost | Redirect


@dataclass
class Form:
    action: str  # resolved against the page URL
    method: str
    fields: dict[str, str]
    input_types: dict[str, str]
    submits: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons (name, value)

    def has_input(self, name: str) -> bool:
        return name in self.fields

    def has_type(self, input_type: str) -> bool:
        return input_type in self.input_types.values()


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    text: str
    forms: list[Form]

    def form_posting_to(self, path_part: str) -> Form | None:
        return next((f for f in self.forms if path_part in f.action), None)


class DriverError(AssertionError):
    """The IdP answered something the login could not continue from (an error page, an unexpected status)."""

    def __init__(self, message: str, page: Page | None = None) -> None:
        snippet = f"\n--- {page.status} {page.url}\n{page.text[:2000]}" if page else ""
        super().__init__(message + snippet)
        self.page = page


# What to submit on an IdP page: (form, the fields to post) or None when the page is not one it knows.
Filler = Callable[[Page], "tuple[Form, dict[str, str]] | None"]


class _FormParser(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                action=urljoin(self.base_url, a.get("action") or self.base_url),
                method=(a.get("method") or "get").lower(),
                fields={},
                input_types={},
            )
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "image"):
                form.submits.append((name, a.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields[name] = a.get("value", "on")
                    form.input_types[name] = kind
            else:
                form.fields[name] = a.get("value", "")
                form.input_types[name] = kind
        elif tag == "button" and name and (a.get("type") or "submit").lower() == "submit":
            form.submits.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first = name, None
            form.input_types[name] = "select"
        elif tag == "option" and self._select:
            value = a.get("value")
            if "selected" in a:
                form.fields[self._select] = value or ""
            elif self._select_first is None:
                self._select_first = value or ""
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields[name] = ""
            form.input_types[name] = "textarea"

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._form is not None and self._select:
            self._form.fields.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html: str, base_url: str) -> list[Form]:
    parser = _FormParser(base_url)
    parser.feed(html)
    parser.close()
    return parser.forms


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Browser:
    """A person's browser for one login (its own cookie jar), confined to the IdP's origins."""

    def __init__(self, idp_origins: Iterable[str], *, max_steps: int = 25, timeout: float = 15.0) -> None:
        self.idp_origins = {_origin(o) for o in idp_origins}
        self.http = requests.Session()
        self.max_steps = max_steps
        self.timeout = timeout
        self.history: list[str] = []  # every URL requested, in order (for assertions and failure messages)

    def at_idp(self, url: str) -> bool:
        return _origin(url) in self.idp_origins

    def request(self, method: str, url: str, data: dict[str, str] | None = None) -> requests.Response:
        self.history.append(f"{method} {url}")
        return self.http.request(method, url, data=data, allow_redirects=False, timeout=self.timeout)

    def run(self, start: str | FormPost, fill: Filler) -> Outcome:
        """Go from ``start`` (a URL to GET, or a form to POST, such as an SP's AuthnRequest in the POST
        binding) until the IdP hands the browser back; ``fill`` answers the IdP's pages (login, consent)."""
        method, url, data = (
            ("GET", start, None) if isinstance(start, str) else ("POST", start.action, start.fields)
        )
        for _ in range(self.max_steps):
            if not self.at_idp(url):
                return Redirect(url) if method == "GET" and data is None else FormPost(url, data or {})
            resp = self.request(method, url, data)
            if resp.is_redirect:
                method, url, data = "GET", urljoin(url, resp.headers["Location"]), None
                continue
            page = Page(url=url, status=resp.status_code, text=resp.text, forms=parse_forms(resp.text, url))
            if resp.status_code != 200:
                raise DriverError(f"the IdP answered {resp.status_code}", page)
            auto = next((f for f in page.forms if {"SAMLResponse", "SAMLRequest"} & f.fields.keys()), None)
            if auto is not None and not self.at_idp(auto.action):
                return FormPost(auto.action, dict(auto.fields))
            answer = (auto, dict(auto.fields)) if auto is not None else fill(page)
            if answer is None:
                raise DriverError("no form to submit on this IdP page", page)
            form, values = answer
            if form.method == "get":
                method, url, data = "GET", _with_query(form.action, values), None
            else:
                method, url, data = "POST", form.action, values
        raise DriverError(f"no hand-back after {self.max_steps} steps: {self.history}")


def _with_query(url: str, values: dict[str, str]) -> str:
    return f"{url.split('?', 1)[0]}?{urlencode(values)}" if values else url.split("?", 1)[0]
