"""A small HTTP server on loopback that serves whatever IdP metadata a test puts in it (and misbehaves on
demand: a status, a delay, a huge body), recording the Host header of each request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class MetadataServer:
    port: int
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    hosts: list[str] = field(default_factory=list)

    def url(self, host: str = "127.0.0.1", path: str = "/metadata") -> str:
        return f"http://{host}:{self.port}{path}"


@contextmanager
def metadata_server() -> Iterator[MetadataServer]:
    state = MetadataServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.hosts.append(self.headers.get("Host", ""))
            if state.delay:
                time.sleep(state.delay)
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.end_headers()
            try:
                self.wfile.write(state.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def idp_metadata(
    entity_id: str, cert_pem: str, sso_url: str = "https://idp.example.com/sso", post_url: str | None = None
) -> bytes:
    body = "".join(line for line in cert_pem.splitlines() if "-----" not in line)
    post = (
        f'<md:SingleSignOnService Location="{post_url}"\n'
        '        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>'
        if post_url
        else ""
    )
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Location="{sso_url}"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"/>
    {post}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".encode()
