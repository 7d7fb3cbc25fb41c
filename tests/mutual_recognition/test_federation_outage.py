"""A partner's PACT host that dies in the middle of a sync, over real HTTP on loopback: it
serves the first page of its records, then answers 502 or drops the connection.

The sync keeps what it got and the cursor to the rest, says it failed (the CLI's exit status
and message, the worker's logged error), and once the host is back a later sync decides every
record exactly once: none twice, none missed, even one published during the outage.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints.models import FootprintRecord
from exchange.jobs.services import JobContext, enqueue, run_due_jobs
from exchange.mutual_recognition.services import federation
from exchange.mutual_recognition.services.federation import SYNC_JOB
from exchange.partners.models import PartnerProgramme, Recognition
from tests.mutual_recognition.builders import agreement_body, partner_envelope
from tests.mutual_recognition.conftest import PARTNER_ORIGIN, Partnership, register
from tests.mutual_recognition.partner_host import Failure, PartnerHost, running_partner_host

RECORDS = 5  # three pages of two


@pytest.fixture
def outage(
    partnership: Partnership, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Partnership, str, PartnerHost]]:
    """A partner with a transparency log whose host listens on loopback, and an agreement.

    The syncs' HTTP clients retry a dying host with exponential backoff; they note each wait
    instead of sleeping it (four attempts' waits were ~6 s of every test here)."""
    app, client, regulator = partnership.app, partnership.client, partnership.regulator
    waits: list[float] = []  # what the clients would have slept

    class NotWaitingClient(federation.PartnerClient):
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, **options, sleep=waits.append)

    monkeypatch.setattr(federation, "PartnerClient", NotWaitingClient)
    app.config["EVENTS_ALLOW_PRIVATE_HOSTS"] = True
    with running_partner_host(PARTNER_ORIGIN, partnership.anchor, LocalKey.generate()) as host:
        registered = register(
            client,
            regulator,
            partnership.anchor,
            pactBaseUrl=host.base_url,
            country="KH",
            logOrigin=PARTNER_ORIGIN,
            clientId=host.client_id,
            clientSecret=host.client_secret,
        )
        assert registered.status_code == 201, registered.get_json()
        partner_id = registered.get_json()["id"]
        agreement = client.post(
            "/api/v1/agreements", json=agreement_body(partner_id), headers=regulator.headers
        ).get_json()
        granted = client.post(
            f"/api/v1/agreements/{agreement['id']}/status",
            json={"status": "granted", "reason": "signed"},
            headers=regulator.headers,
        )
        assert granted.status_code == 200, granted.get_json()
        yield partnership, partner_id, host


def publish(partnership: Partnership, host: PartnerHost) -> str:
    envelope = host.company.sign_footprint(partner_envelope(partnership.supplier)["footprint"])
    return host.push(envelope)


def sync_cli(app: Flask, partner_id: str) -> tuple[Result, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["partners", "sync", partner_id])
    [line] = result.stdout.strip().splitlines()
    return result, json.loads(line)


def partner(app: Flask, partner_id: str) -> PartnerProgramme:
    with transaction(app.extensions["exchange.sessions"]) as session:
        found = session.get(PartnerProgramme, partner_id)
        assert found is not None
        session.expunge(found)
        return found


def decided(app: Flask, partner_id: str) -> Counter[tuple[str, str]]:
    """How many times each record of the partner was decided, by record and decision."""
    with transaction(app.extensions["exchange.sessions"]) as session:
        rows = session.execute(
            sa.select(Recognition.record_id, Recognition.decision).where(
                Recognition.partner_id == partner_id
            )
        ).all()
    return Counter((record_id, decision.value) for record_id, decision in rows)


def stored(app: Flask, ids: list[str]) -> set[str]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        query = sa.select(FootprintRecord.id).where(FootprintRecord.id.in_(ids))
        return set(session.scalars(query))


def check_cut_off_after_the_first_page(
    app: Flask, partner_id: str, host: PartnerHost, ids: list[str], error: str | None
) -> None:
    """What a sync cut off at the second page leaves: the first page decided and stored, the
    cursor at the second page, the error kept on the partner."""
    newest_page = set(ids[-2:])
    assert error is not None
    assert decided(app, partner_id) == Counter({(i, "recognised"): 1 for i in newest_page})
    assert stored(app, ids) == newest_page
    kept = partner(app, partner_id)
    assert kept.sync_next_url == f"{host.base_url}/3/footprints?offset=2"
    assert kept.last_sync_error == error
    assert host.failed_requests >= 1


def check_complete(app: Flask, partner_id: str, ids: list[str]) -> None:
    assert decided(app, partner_id) == Counter({(i, "recognised"): 1 for i in ids})
    assert stored(app, ids) == set(ids)
    kept = partner(app, partner_id)
    assert kept.sync_next_url is None and kept.last_sync_error is None
    assert kept.last_synced_at is not None


@pytest.mark.parametrize("failure", list(Failure), ids=[f.value for f in Failure])
def test_a_host_dying_mid_sync_fails_the_command_and_the_next_sync_resumes(
    outage: tuple[Partnership, str, PartnerHost], failure: Failure
) -> None:
    partnership, partner_id, host = outage
    app = partnership.app
    ids = [publish(partnership, host) for _ in range(RECORDS)]
    host.die_at("/3/footprints", 2, failure)

    result, report = sync_cli(app, partner_id)
    assert result.exit_code == 1, result.output
    assert "some partners could not be synced" in result.output
    assert (report["pages"], report["recognised"], report["refused"]) == (1, 2, 0), report
    expected = "answered 502" if failure is Failure.BAD_GATEWAY else "ConnectionError"
    assert expected in report["error"] and "after 5 attempts" in report["error"], report
    check_cut_off_after_the_first_page(app, partner_id, host, ids, report["error"])

    # a new record is published while the host is down; then it comes back
    ids.append(publish(partnership, host))
    host.revive()
    result, report = sync_cli(app, partner_id)
    assert result.exit_code == 0, result.output
    assert report["error"] is None, report
    # the walk resumes at the page it was cut off at (the new record shifts the pages)
    result, report = sync_cli(app, partner_id)
    assert result.exit_code == 0 and report["error"] is None, result.output
    check_complete(app, partner_id, ids)
    result, report = sync_cli(app, partner_id)
    assert (result.exit_code, report["recognised"], report["refused"]) == (0, 0, 0), report


def test_the_worker_logs_a_sync_cut_off_by_a_dying_host_and_resumes_it(
    outage: tuple[Partnership, str, PartnerHost], caplog: pytest.LogCaptureFixture
) -> None:
    partnership, partner_id, host = outage
    app = partnership.app
    ids = [publish(partnership, host) for _ in range(RECORDS)]
    host.die_at("/3/footprints", 2, Failure.RESET)
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    handlers = app.extensions["exchange.job_handlers"]

    def run_sync_job() -> None:
        with transaction(context.sessions) as session:
            enqueue(session, kind=SYNC_JOB, payload={})
        report = run_due_jobs(context, handlers)
        assert report.claimed == 1

    with caplog.at_level(logging.WARNING, "exchange.mutual_recognition"):
        run_sync_job()
    failures = [r for r in caplog.records if partner_id in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING], caplog.text
    assert "sync failed" in failures[0].getMessage()
    error = partner(app, partner_id).last_sync_error
    assert error is not None and error in failures[0].getMessage()
    check_cut_off_after_the_first_page(app, partner_id, host, ids, error)

    host.revive()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "exchange.mutual_recognition"):
        run_sync_job()
    assert not [r for r in caplog.records if partner_id in r.getMessage()], caplog.text
    check_complete(app, partner_id, ids)


@pytest.mark.parametrize(
    "path", ["/api/v1/organisations/", "/api/v1/log/proof/inclusion"], ids=["keys", "proofs"]
)
def test_a_host_dying_while_its_page_is_checked_refuses_nothing_for_it(
    outage: tuple[Partnership, str, PartnerHost], path: str
) -> None:
    """The page was served, but the owner's keys or the log proofs its records need were
    not: an outage is no evidence against a record, so none is decided on it."""
    partnership, partner_id, host = outage
    app = partnership.app
    ids = [publish(partnership, host) for _ in range(RECORDS)]
    host.die_at(path, 1, Failure.BAD_GATEWAY)

    result, report = sync_cli(app, partner_id)
    assert result.exit_code == 1, result.output
    assert "answered 502" in report["error"], report
    assert decided(app, partner_id) == Counter(), "records decided on an outage"
    assert stored(app, ids) == set()
    kept = partner(app, partner_id)
    assert kept.sync_next_url is None and kept.last_sync_error == report["error"]

    host.revive()
    result, report = sync_cli(app, partner_id)
    assert (result.exit_code, report["error"], report["recognised"]) == (0, None, RECORDS), report
    check_complete(app, partner_id, ids)
