"""A second real server standing in for a partner's PACT host: it issues tokens and records
the events it is sent, over TLS on loopback."""

from __future__ import annotations

import dataclasses
import secrets
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trustme
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import free_port


@dataclasses.dataclass
class Received:
    content_type: str
    body: Any


@dataclasses.dataclass
class PartnerHost:
    base_url: str
    client_id: str
    client_secret: str
    events: list[Received]
    token_requests: int = 0
    # With ``hold_at`` n, the n-th event is recorded and then left unanswered until
    # ``release`` is set: the sender sees a delivery hang after the receiver took it.
    hold_at: int | None = None
    holding: threading.Event = dataclasses.field(default_factory=threading.Event)
    release: threading.Event = dataclasses.field(default_factory=threading.Event)


@contextmanager
def partner_host(
    ssl_context: ssl.SSLContext, *, hold_at: int | None = None
) -> Iterator[PartnerHost]:
    port = free_port()
    host = PartnerHost(
        base_url=f"https://127.0.0.1:{port}",
        client_id="the-exchange",
        client_secret=secrets.token_urlsafe(16),
        events=[],
        hold_at=hold_at,
    )
    token = secrets.token_urlsafe(16)
    lock = threading.Lock()

    @Request.application
    def application(request: Request) -> Response:
        if request.path == "/auth/token" and request.method == "POST":
            credentials = request.authorization
            if (
                credentials is None
                or (credentials.username, credentials.password)
                != (host.client_id, host.client_secret)
                or request.form.get("grant_type") != "client_credentials"
            ):
                return Response('{"error":"invalid_client"}', 401, mimetype="application/json")
            with lock:
                host.token_requests += 1
            return Response(
                f'{{"access_token":"{token}","token_type":"Bearer","expires_in":60}}',
                mimetype="application/json",
            )
        if request.path == "/3/events" and request.method == "POST":
            if request.headers.get("Authorization") != f"Bearer {token}":
                return Response('{"code":"BadRequest","message":"token"}', 401)
            with lock:
                host.events.append(Received(request.mimetype, request.get_json(force=True)))
                hold = len(host.events) == host.hold_at
            if hold:
                host.holding.set()
                host.release.wait(60)
            return Response(status=200)
        return Response(status=404)

    server = make_server("127.0.0.1", port, application, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.release.set()
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def tls_partner_host(
    folder: Path, *, hold_at: int | None = None
) -> Iterator[tuple[PartnerHost, Path]]:
    """A partner host with a CA of its own; yields it and the CA's certificate file, which
    the exchange's worker is told to trust (REQUESTS_CA_BUNDLE)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = folder / "receiver-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with partner_host(context, hold_at=hold_at) as host:
        yield host, ca_file
