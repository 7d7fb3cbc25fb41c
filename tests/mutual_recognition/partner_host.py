"""A partner programme's PACT host on loopback, that can die: a real HTTP server (standard
library, one thread per connection, no keep-alive) serving newest-first pages of signed
records with ``Link`` headers, the RFC 9162 log of their envelopes with signed checkpoints
and proofs, and the owner's keys; and, once asked to, failing every request from the n-th
request to a path on (the second page, say), as a dead host or the proxy in front of one
does."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from exchange.client.keys import LocalKey
from exchange.log import merkle, note
from exchange.mutual_recognition.services.recognition import envelope_entry

OWNER = "f0000000-0000-4000-8000-000000000001"


class Failure(enum.Enum):
    BAD_GATEWAY = "502"  # a proxy answers for the dead host
    RESET = "reset"  # the connection is dropped without an answer (RST)


def served_over_pact(envelope: dict[str, Any], base_url: str, log_index: int) -> dict[str, Any]:
    """A signed envelope as this software's PACT host serves it: the footprint with the
    signature extension (owner's signature, log index)."""
    served = dict(envelope["footprint"])
    served["extensions"] = [
        {
            "specVersion": "2.0.0",
            "dataSchema": f"{base_url}/pact/extensions/signature/1.0.0/schema.json",
            "data": {
                "signed": True,
                "signedStatus": "Active",
                "extensionsMember": False,
                "logIndex": log_index,
                "owner": OWNER,
                "alg": "Ed25519",
                "kid": envelope["signature"]["kid"],
                "value": envelope["signature"]["value"],
            },
        }
    ]
    return served


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in values]


@dataclasses.dataclass
class PartnerHost:
    origin: str
    anchor: LocalKey
    company: LocalKey
    page_size: int = 2
    client_id: str = "the-exchange"
    client_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(16))
    base_url: str = ""
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # oldest first
    leaves: list[bytes] = dataclasses.field(default_factory=list)
    received: list[dt.datetime] = dataclasses.field(default_factory=list)  # per log entry
    # Offsets of ListFootprints pages the host answers empty (a host losing a page).
    empty_offsets: set[int] = dataclasses.field(default_factory=set)
    # Offsets of pages the host answers short, one record and no Link ("the list ends here").
    short_offsets: set[int] = dataclasses.field(default_factory=set)
    counted: int = 0
    failed_requests: int = 0
    # With ``fail_at`` (path prefix, n) and a ``failure``, the n-th request to that path and
    # everything after it fails until ``revive``.
    fail_at: tuple[str, int] | None = None
    failure: Failure = Failure.BAD_GATEWAY
    down: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _token: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(16))

    def push(self, envelope: dict[str, Any]) -> str:
        """Publish a signed envelope as this software serves it over PACT; its id."""
        with self.lock:
            self.records.append(served_over_pact(envelope, self.base_url, len(self.leaves)))
            self.leaves.append(merkle.leaf_hash(envelope_entry(envelope)))
            self.received.append(dt.datetime.now(dt.UTC))
        return str(envelope["footprint"]["id"]).lower()

    def die_at(self, path: str, number: int, failure: Failure) -> None:
        """Fail from the ``number``-th request to a path starting with ``path`` on."""
        with self.lock:
            self.fail_at, self.failure, self.counted = (path, number), failure, 0

    def revive(self) -> None:
        with self.lock:
            self.fail_at, self.down = None, False

    # --- answers ------------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if method == "POST" and parts.path == "/auth/token":
            expected = f"{self.client_id}:{self.client_secret}".encode()
            if headers.get("Authorization") != "Basic " + base64.b64encode(expected).decode():
                return _json(401, {"error": "invalid_client"})
            return _json(200, {"access_token": self._token, "token_type": "Bearer"})
        if method != "GET":
            return _json(405, {"code": "BadRequest", "message": "method"})
        if parts.path == "/3/footprints":
            if headers.get("Authorization") != f"Bearer {self._token}":
                return _json(401, {"code": "BadRequest", "message": "token"})
            offset = int(query.get("offset", "0"))
            newest_first = list(reversed(self.records))
            page = newest_first[offset : offset + self.page_size]
            if offset in self.empty_offsets:
                return _json(200, {"data": []})  # no records, no Link: "the list ends here"
            if offset in self.short_offsets:
                return _json(200, {"data": page[:1]})
            extra = {}
            if offset + self.page_size < len(newest_first):
                following = f"{self.base_url}/3/footprints?offset={offset + self.page_size}"
                extra["Link"] = f'<{following}>; rel="next"'
            return _json(200, {"data": page}, extra)
        if parts.path == "/api/v1/log/checkpoint":
            signed = note.sign_checkpoint(
                note.Checkpoint(self.origin, len(self.leaves), merkle.root_of(self.leaves)),
                name=self.origin,
                private_key=self.anchor.private_key,
            )
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, signed.encode()
        if parts.path == "/api/v1/log/entries":
            start = int(query.get("start", "0"))
            end = min(int(query.get("end", str(len(self.leaves)))), len(self.leaves))
            entries = [
                {
                    "index": index,
                    "kind": "footprint",
                    "leafHash": _b64([self.leaves[index]])[0],
                    "createdAt": self.received[index].isoformat(),
                }
                for index in range(start, end)
            ]
            return _json(200, {"start": start, "end": end, "entries": entries})
        if parts.path == "/api/v1/log/proof/inclusion":
            index, size = int(query["index"]), int(query["size"])
            levels = merkle.levels_of(self.leaves[:size])
            proof = merkle.inclusion_proof(index, size, merkle.fetcher_of(levels))
            return _json(200, {"index": index, "size": size, "proof": _b64(proof)})
        if parts.path == "/api/v1/log/proof/consistency":
            first, second = int(query["first"]), int(query["second"])
            levels = merkle.levels_of(self.leaves[:second])
            proof = merkle.consistency_proof(first, second, merkle.fetcher_of(levels))
            return _json(200, {"first": first, "second": second, "proof": _b64(proof)})
        if parts.path == f"/api/v1/organisations/{OWNER}/jwks.json":
            return _json(200, {"keys": [self.company.public_jwk()]})
        return _json(404, {"code": "NotFound", "message": "no such resource"})

    def failing(self, path: str) -> bool:
        """Whether this request fails: the host is down, or goes down with it."""
        with self.lock:
            if not self.down and self.fail_at is not None and path.startswith(self.fail_at[0]):
                self.counted += 1
                self.down = self.counted >= self.fail_at[1]
            if self.down:
                self.failed_requests += 1
            return self.down


def _json(
    status: int, body: Any, extra: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(extra or {})}, json.dumps(body).encode()


def _handler(host: PartnerHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if host.failing(self.path):
                if host.failure is Failure.RESET:
                    # no answer at all; closing with a zero linger sends RST
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                status, headers, body = 502, {"Content-Type": "text/html"}, b"<h1>502</h1>"
            else:
                status, headers, body = host.answer(self.command, self.path, self.headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads what the host counted

    return Handler


@contextmanager
def running_partner_host(origin: str, anchor: LocalKey, company: LocalKey) -> Iterator[PartnerHost]:
    host = PartnerHost(origin=origin, anchor=anchor, company=company)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
