"""Federation sync against a partner host simulated in memory (pages, log, keys), and the
HTTP client's retries, backoff and token renewal."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import socket
import threading
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.log import merkle, note
from exchange.mutual_recognition import services
from exchange.mutual_recognition.services.federation import (
    HostUnavailable,
    PartnerClient,
    SyncError,
)
from exchange.mutual_recognition.services.recognition import envelope_entry
from exchange.partners.models import PartnerFork, PartnerProgramme
from tests.mutual_recognition.builders import OUT_OF_SCOPE, agreement_body, partner_envelope
from tests.mutual_recognition.conftest import PARTNER_ORIGIN, Partnership, register
from tests.mutual_recognition.partner_host import OWNER, served_over_pact


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in values]


class FakePartner(PartnerClient):
    """A partner host running this software, in memory: newest-first pages of its records,
    an RFC 9162 log of their envelopes, and checkpoints its anchor key signs."""

    def __init__(self, anchor: LocalKey, company: LocalKey, page_size: int = 2) -> None:
        super().__init__("https://pcf.partner.example", "client", "secret", sleep=lambda _: None)
        self.anchor = anchor
        self.company = company
        self.page_size = page_size
        self.records: list[dict[str, Any]] = []  # served footprints, oldest first
        self.leaves: list[bytes] = []
        self.received: list[dt.datetime] = []  # when each log entry was appended
        self.pages_served = 0

    def push(self, envelope: dict[str, Any]) -> str:
        self.records.append(served_over_pact(envelope, self.base_url, len(self.leaves)))
        self.leaves.append(merkle.leaf_hash(envelope_entry(envelope)))
        self.received.append(dt.datetime.now(dt.UTC))
        return str(envelope["footprint"]["id"])

    # --- the host's answers -----------------------------------------------------------------

    def token(self) -> str:
        self._token = "token"
        return self._token

    def first_page_url(self, filters: Any) -> str:
        return "fake://page/0"

    def page(self, url: str) -> tuple[list[Any], str | None]:
        self.pages_served += 1
        offset = int(url.rsplit("/", 1)[1])
        newest_first = list(reversed(self.records))
        data = newest_first[offset : offset + self.page_size]
        more = offset + self.page_size < len(newest_first)
        return data, f"fake://page/{offset + self.page_size}" if more else None

    def checkpoint(self) -> str:
        size = len(self.leaves)
        return note.sign_checkpoint(
            note.Checkpoint(PARTNER_ORIGIN, size, merkle.root_of(self.leaves)),
            name=PARTNER_ORIGIN,
            private_key=self.anchor.private_key,
        )

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        proof = merkle.consistency_proof(
            first, second, merkle.fetcher_of(merkle.levels_of(self.leaves))
        )
        return {"first": first, "second": second, "proof": _b64(proof)}

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        levels = merkle.levels_of(self.leaves[:size])
        proof = merkle.inclusion_proof(index, size, merkle.fetcher_of(levels))
        return {"index": index, "size": size, "proof": _b64(proof)}

    def organisation_jwks(self, organisation_id: str) -> dict[str, Any]:
        return {"keys": [self.company.public_jwk()]} if organisation_id == OWNER else {"keys": []}

    def trust_list(self) -> dict[str, Any] | None:
        return None

    def entry_times(self, start: int, end: int) -> dict[int, dt.datetime]:
        return {index: self.received[index] for index in range(start, min(end, len(self.leaves)))}

    def record_meta(self, record_id: str) -> dict[str, Any] | None:
        return None


@pytest.fixture
def logged(partnership: Partnership) -> tuple[Partnership, str, FakePartner]:
    """A second partner, with a transparency log, and its simulated host."""
    client, regulator = partnership.client, partnership.regulator
    registered = register(
        client,
        regulator,
        partnership.anchor,
        pactBaseUrl="https://pcf.logged-partner.example",
        country="KH",
        logOrigin=PARTNER_ORIGIN,
        clientId="client",
        clientSecret="secret",
    )
    assert registered.status_code == 201, registered.get_json()
    partner_id = registered.get_json()["id"]
    agreement = client.post(
        "/api/v1/agreements", json=agreement_body(partner_id), headers=regulator.headers
    ).get_json()
    client.post(
        f"/api/v1/agreements/{agreement['id']}/status",
        json={"status": "granted", "reason": "signed"},
        headers=regulator.headers,
    )
    return partnership, partner_id, FakePartner(partnership.anchor, LocalKey.generate())


def run(app: Flask, partner_id: str, host: FakePartner, **options: Any) -> services.SyncReport:
    return services.sync_partner(
        app.extensions["exchange.sessions"],
        partner_id,
        key=app.extensions["exchange.key"],
        origin=app.config["EXCHANGE_ORIGIN"],
        client_factory=lambda _partner, _key: host,
        **options,
    )


def _record(partnership: Partnership, host: FakePartner, **changes: Any) -> str:
    envelope = host.company.sign_footprint(
        partner_envelope(partnership.supplier, **changes)["footprint"]
    )
    return host.push(envelope)


def _partner(app: Flask, partner_id: str) -> PartnerProgramme:
    with transaction(app.extensions["exchange.sessions"]) as session:
        found = session.get(PartnerProgramme, partner_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_sync_walks_the_pages_decides_each_record_and_stops_at_what_it_saw(
    logged: tuple[Partnership, str, FakePartner],
) -> None:
    partnership, partner_id, host = logged
    app = partnership.app
    good = _record(partnership, host)
    _record(partnership, host, productClassifications=[OUT_OF_SCOPE])
    _record(partnership, host, primaryDataShare="1")
    report = run(app, partner_id, host)
    assert (report.recognised, report.refused, report.pages, report.error) == (1, 2, 2, None)
    assert _partner(app, partner_id).sync_next_url is None
    # Only what is new is read the next time: one page, up to the newest record seen.
    newer = _record(partnership, host)
    report = run(app, partner_id, host)
    assert (report.recognised, report.refused, report.pages) == (1, 0, 1)
    listed = partnership.client.get(
        "/api/v1/recognitions?decision=recognised", headers=partnership.regulator.headers
    ).get_json()["data"]
    assert {item["recordId"] for item in listed} == {good, newer}
    assert listed[0]["signed"]["recognition"]["partnerLog"]["origin"] == PARTNER_ORIGIN


def test_an_interrupted_sync_resumes_where_it_stopped(
    logged: tuple[Partnership, str, FakePartner],
) -> None:
    partnership, partner_id, host = logged
    for _ in range(5):
        _record(partnership, host)
    first = run(partnership.app, partner_id, host, max_pages=1)
    assert (first.recognised, first.pages) == (2, 1)
    assert _partner(partnership.app, partner_id).sync_next_url == "fake://page/2"
    rest = run(partnership.app, partner_id, host)
    assert (rest.recognised, rest.pages, rest.skipped) == (3, 2, 0)
    partner = _partner(partnership.app, partner_id)
    assert partner.sync_next_url is None and partner.last_synced_at is not None
    assert run(partnership.app, partner_id, host).recognised == 0


def test_a_log_that_grows_is_checked_for_consistency(
    logged: tuple[Partnership, str, FakePartner],
) -> None:
    partnership, partner_id, host = logged
    _record(partnership, host)
    run(partnership.app, partner_id, host)
    _record(partnership, host)
    _record(partnership, host)
    report = run(partnership.app, partner_id, host)
    assert (report.recognised, report.fork) == (2, None)


@pytest.mark.parametrize("grows", [False, True])
def test_a_rewritten_log_suspends_the_partner_and_keeps_the_evidence(
    logged: tuple[Partnership, str, FakePartner], grows: bool
) -> None:
    partnership, partner_id, host = logged
    recognised = _record(partnership, host)
    _record(partnership, host)
    _record(partnership, host)
    assert run(partnership.app, partner_id, host).recognised == 3
    earlier = host.checkpoint()
    host.leaves[0] = merkle.leaf_hash(b"history, rewritten")
    if grows:
        _record(partnership, host)
    report = run(partnership.app, partner_id, host)
    assert report.fork is not None and report.recognised == 0
    expected = "consistency proof fails" if grows else "one size with two roots"
    assert expected in report.fork
    with transaction(partnership.app.extensions["exchange.sessions"]) as session:
        [fork] = session.scalars(sa.select(PartnerFork)).all()
        assert fork.earlier_note == earlier and fork.later_note == host.checkpoint()
        assert (fork.proof is not None) == grows
    partner = partnership.client.get(f"/api/v1/partners/{partner_id}").get_json()
    assert partner["status"] == "suspended" and partner["history"][-1]["decidedBy"] is None
    assert partner["forks"][0]["problem"] == report.fork
    decisions = partnership.client.get(
        f"/api/v1/recognitions?partner={partner_id}", headers=partnership.regulator.headers
    ).get_json()["data"]
    flagged = {item["recordId"]: item["status"] for item in decisions}
    assert flagged[recognised] == "flagged"
    # A suspended partner is not pulled from any more.
    assert "suspended" in (run(partnership.app, partner_id, host).error or "")


def test_a_checkpoint_not_signed_by_an_anchor_stops_the_sync(
    logged: tuple[Partnership, str, FakePartner],
) -> None:
    partnership, partner_id, host = logged
    _record(partnership, host)
    host.anchor = LocalKey.generate()
    report = run(partnership.app, partner_id, host)
    assert report.error is not None and "does not verify" in report.error
    assert report.fork is None and report.recognised == 0
    partner = _partner(partnership.app, partner_id)
    assert partner.status.value == "active" and partner.last_sync_error == report.error


def test_new_anchors_come_only_through_the_partners_signed_trust_list(
    partnership: Partnership,
) -> None:
    app = partnership.app
    successor = LocalKey.generate()
    payload = {"exchange": {"jwk": successor.public_jwk()}, "issuedAt": "2026-11-26T00:00:00Z"}

    def signed(by: LocalKey) -> dict[str, Any]:
        value = by.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload)
        return {
            "trustList": payload,
            "signature": {"alg": "Ed25519", "kid": by.kid, "value": value},
        }

    with transaction(app.extensions["exchange.sessions"]) as session:
        partner = session.get(PartnerProgramme, partnership.partner_id)
        assert partner is not None
        with pytest.raises(signing.SigningError):
            services.accept_trust_list(session, partner, signed(successor))
        added = services.accept_trust_list(session, partner, signed(partnership.anchor))
        assert added == [successor.kid]
        assert set(services.valid_anchors(session, partner.id)) == {
            partnership.anchor.kid,
            successor.kid,
        }
    history = partnership.client.get(f"/api/v1/partners/{partnership.partner_id}").get_json()
    assert "trust list" in history["history"][-1]["reason"]
    # A record signed by the new key is now recognised.
    envelope = successor.sign_footprint(partner_envelope(partnership.supplier)["footprint"])
    assert partnership.decide(envelope)["decision"] == "recognised"


class _Answers(requests.Session):
    """An HTTP session that answers from a script: status codes, or exceptions."""

    def __init__(self, answers: list[int | Exception], body: Any = None) -> None:
        super().__init__()
        self.answers = answers
        self.body = body
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, **options: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append((method, url, dict(options.get("headers") or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        response = requests.Response()
        response.status_code = answer
        response._content = b'{"access_token": "t2", "data": []}'
        response.headers["Content-Type"] = "application/json"
        return response


def test_the_client_retries_with_backoff_and_gives_up() -> None:
    slept: list[float] = []
    http = _Answers([requests.ConnectionError("refused"), 503, 429, 200])
    client = PartnerClient("https://p.example", "c", "s", http=http, sleep=slept.append)
    assert client._send("GET", "https://p.example/x").status_code == 200
    assert len(slept) == 3 and slept[0] < slept[2] <= 2.0
    failing = PartnerClient(
        "https://p.example", "c", "s", http=_Answers([500] * 5), sleep=slept.append
    )
    with pytest.raises(SyncError, match="after 5 attempts"):
        failing._send("GET", "https://p.example/x")


def test_a_partner_that_accepts_connections_but_never_answers_is_given_up_on() -> None:
    """A silent host (the TCP handshake completes, no byte ever comes back) costs each
    attempt its read timeout, then the sync fails with a reason instead of hanging."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_stay_silent() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    slept: list[float] = []
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = PartnerClient(base, "c", "s", attempts=2, timeout=0.2, sleep=slept.append)
    try:
        with pytest.raises(HostUnavailable, match=r"ReadTimeout.*after 2 attempts"):
            client.token()
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    assert len(accepted) == 2 and len(slept) == 1  # each attempt reached the host


def test_an_expired_token_is_renewed_once() -> None:
    http = _Answers([401, 200, 200])
    client = PartnerClient("https://p.example", "c", "s", http=http, sleep=lambda _: None)
    client._token = "old"
    data, next_url = client.page("https://p.example/3/footprints")
    assert (data, next_url) == ([], None)
    assert [call[0] for call in http.calls] == ["GET", "POST", "GET"]
    assert http.calls[2][2]["Authorization"] == "Bearer t2"
    no_credentials = PartnerClient("https://p.example", None, None, http=_Answers([]))
    with pytest.raises(SyncError, match="no client credentials"):
        no_credentials.token()
