"""What the witness tests share: a log kept in memory (as a partner's or an attacker's), the
add-checkpoint request body, and an HTTP transport that hands requests to in-process apps."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from exchange import signing
from exchange.log import cosignature, merkle, note


@dataclasses.dataclass
class MemoryLog:
    """A transparency log in memory with its own Ed25519 key, named after its origin."""

    origin: str
    seed: bytes = dataclasses.field(default_factory=signing.generate_private_key)
    leaves: list[bytes] = dataclasses.field(default_factory=list)

    @property
    def public_key(self) -> bytes:
        return signing.public_key_of(self.seed)

    @property
    def vkey(self) -> str:
        return cosignature.log_key(self.origin, self.public_key)

    def grow(self, count: int, tag: str = "entry") -> MemoryLog:
        start = len(self.leaves)
        self.leaves += [merkle.leaf_hash(f"{tag} {start + i}".encode()) for i in range(count)]
        return self

    def root(self, size: int | None = None) -> bytes:
        return merkle.root_of(self.leaves[: len(self.leaves) if size is None else size])

    def checkpoint(self, size: int | None = None, *, seed: bytes | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return note.sign_checkpoint(
            note.Checkpoint(self.origin, size, self.root(size)),
            name=self.origin,
            private_key=seed or self.seed,
        )

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = len(self.leaves) if new is None else new
        if old in (0, new):
            return []
        levels = merkle.levels_of(self.leaves[:new])
        return merkle.consistency_proof(old, new, merkle.fetcher_of(levels))

    def fork(self, at: int, tag: str = "forked") -> MemoryLog:
        """Another view of this log, under the same key: the same first ``at`` entries."""
        other = MemoryLog(self.origin, self.seed, list(self.leaves[:at]))
        return other.grow(len(self.leaves) - at, tag)


def request_body(old: int, proof: Sequence[bytes], signed_note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(value).decode() for value in proof)]
    return ("\n".join(lines) + "\n\n" + signed_note).encode()


def submit(client: FlaskClient, old: int, proof: Sequence[bytes], signed_note: str) -> TestResponse:
    return client.post(
        "/api/v1/witness/add-checkpoint",
        data=request_body(old, proof, signed_note),
        content_type="text/plain",
    )


class AppTransport(requests.adapters.BaseAdapter):
    """Requests to ``https://<host>`` answered by the app registered for that host (its test
    client), or by a function of the request (a witness that lies, or never answers)."""

    def __init__(self, hosts: Mapping[str, Flask | Callable[[requests.PreparedRequest], Any]]):
        super().__init__()
        self.hosts = dict(hosts)
        self.sent: list[requests.PreparedRequest] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_options: Any
    ) -> requests.Response:
        self.sent.append(request)
        parts = urlsplit(str(request.url))
        target = self.hosts[parts.netloc]
        if not isinstance(target, Flask):
            answer = target(request)
            if isinstance(answer, requests.Response):
                return answer
            status, media, body = answer
            return respond(request, status, media, body)
        served = target.test_client().open(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            method=str(request.method),
            data=request.body,
            headers=dict(request.headers),
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        return respond(request, served.status_code, served.content_type, served.get_data())

    def close(self) -> None:
        pass


def respond(
    request: requests.PreparedRequest, status: int, media: str, body: bytes | str
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = media
    response.raw = io.BytesIO(body.encode() if isinstance(body, str) else body)
    response.url = str(request.url)
    response.request = request
    return response


def body_of(request: requests.PreparedRequest) -> bytes:
    body = request.body
    return body.encode() if isinstance(body, str) else bytes(body or b"")


def http_to(transport: AppTransport) -> requests.Session:
    session = requests.Session()
    session.mount("https://", transport)
    return session
