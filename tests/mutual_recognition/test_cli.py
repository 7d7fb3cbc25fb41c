"""``exchange partners …`` and the worker's schedule of partner syncs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, run_schedules
from exchange.mutual_recognition.services import SYNC_JOB
from exchange.organisations.models import Role
from tests.factories import add_member
from tests.mutual_recognition.builders import agreement_body
from tests.mutual_recognition.test_programmes import GUANGDONG_USCC


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["partners", *args])


def test_onboarding_and_agreements_from_the_command_line(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    anchor = LocalKey.generate()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [anchor.public_jwk()]}))
    arguments = [
        "add",
        "--name",
        "Mekong Footprint Registry",
        "--country",
        "VN",
        "--operator",
        "MONRE",
        "--pact-url",
        "https://pcf.mekong.example",
        "--jwks",
        str(jwks),
        "--filter",
        "geography=VN",
    ]
    refused = cli(app, *arguments)
    assert refused.exit_code != 0 and "--regulator" in refused.output  # no regulator yet
    regulator = add_member(app, Role.REGULATOR)
    added = cli(app, *arguments)
    assert added.exit_code == 0, added.output
    partner_id = added.output.strip()
    assert partner_id in cli(app, "list").output
    partner = client.get(f"/api/v1/partners/{partner_id}").get_json()
    assert partner["syncFilters"] == {"geography": ["VN"]}
    assert partner["history"][0]["decidedBy"] == regulator.organisation_id

    body = tmp_path / "agreement.json"
    body.write_text(json.dumps(agreement_body(partner_id)), encoding="utf-8")
    drafted = cli(app, "agreement", str(body))
    assert drafted.exit_code == 0, drafted.output
    agreement_id = drafted.output.strip()
    granted = cli(app, "agreement-status", agreement_id, "granted", "--reason", "signed")
    assert granted.exit_code == 0, granted.output
    assert "granted" in cli(app, "agreements").output
    backwards = cli(app, "agreement-status", agreement_id, "draft", "--reason", "undo")
    assert backwards.exit_code != 0 and "cannot go from granted to draft" in backwards.output
    suspended = cli(app, "status", partner_id, "suspended", "--reason", "audit")
    assert suspended.exit_code == 0
    assert client.get(f"/api/v1/partners/{partner_id}").get_json()["status"] == "suspended"
    bad = body.write_text(json.dumps(agreement_body(partner_id, scope=[])), encoding="utf-8")
    assert bad
    invalid = cli(app, "agreement", str(body))
    assert invalid.exit_code != 0 and "scope" in invalid.output


def test_a_domestic_programme_is_added_with_its_uscc(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    """As the API and the portal take it: the code is the programme organisation's."""
    add_member(app, Role.REGULATOR)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [LocalKey.generate().public_jwk()]}))
    arguments = ["add", "--name", "Guangdong Product Carbon Footprint Platform", "--country"]
    arguments += ["CN", "--operator", "GDEE", "--pact-url", "https://pcf.guangdong.example"]
    arguments += ["--jwks", str(jwks)]
    wrong = cli(app, *arguments, "--uscc", GUANGDONG_USCC[:-1] + "X")
    assert wrong.exit_code != 0 and "uscc" in wrong.output
    added = cli(app, *arguments, "--uscc", GUANGDONG_USCC)
    assert added.exit_code == 0, added.output
    partner = client.get(f"/api/v1/partners/{added.output.strip()}").get_json()
    organisation = client.get(f"/api/v1/organisations/{partner['organisationId']}").get_json()
    assert organisation["uscc"] == GUANGDONG_USCC


def test_sync_reports_an_unreachable_partner_and_keeps_its_error(
    app: Flask, client: FlaskClient
) -> None:
    regulator = add_member(app, Role.REGULATOR)
    registered = client.post(
        "/api/v1/partners",
        json={
            "name": "Unreachable",
            "country": "MM",
            "operator": "Nobody",
            "pactBaseUrl": "https://pcf.invalid",
            "jwks": {"keys": [LocalKey.generate().public_jwk()]},
        },
        headers=regulator.headers,
    )
    partner_id = registered.get_json()["id"]
    result = cli(app, "sync")
    assert result.exit_code != 0
    report = json.loads(result.output.splitlines()[0])
    assert report["partnerId"] == partner_id and "no client credentials" in report["error"]
    partner = client.get(f"/api/v1/partners/{partner_id}").get_json()
    assert "no client credentials" in partner["sync"]["lastError"]
    # The same over HTTP, for the regulator only.
    assert client.post(f"/api/v1/partners/{partner_id}/sync").status_code == 401
    answered = client.post(f"/api/v1/partners/{partner_id}/sync", headers=regulator.headers)
    assert answered.status_code == 200 and answered.get_json()["error"]


def test_the_worker_schedules_one_sync_at_a_time(app: Flask, client: FlaskClient) -> None:
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    schedules = app.extensions["exchange.schedules"]

    def sync_jobs() -> list[Job]:
        with transaction(context.sessions) as session:
            jobs = list(session.scalars(sa.select(Job).where(Job.kind == SYNC_JOB)))
            session.expunge_all()
            return jobs

    run_schedules(context, schedules)
    assert sync_jobs() == []  # no partner, nothing to pull
    regulator = add_member(app, Role.REGULATOR)
    client.post(
        "/api/v1/partners",
        json={
            "name": "Partner",
            "country": "SG",
            "operator": "Op",
            "pactBaseUrl": "https://pcf.sg.example",
            "jwks": {"keys": [LocalKey.generate().public_jwk()]},
        },
        headers=regulator.headers,
    )
    run_schedules(context, schedules)
    run_schedules(context, schedules)
    [job] = sync_jobs()
    assert job.status == JobStatus.PENDING
    now = dt.datetime.now(dt.UTC)
    with transaction(context.sessions) as session:
        stored = session.get(Job, job.id)
        assert stored is not None
        stored.status, stored.finished_at = JobStatus.DONE, now
    run_schedules(context, schedules, now=now)
    pending = [item for item in sync_jobs() if item.status == JobStatus.PENDING]
    [next_job] = pending
    interval = dt.timedelta(seconds=app.config["PARTNER_SYNC_SECONDS"])
    assert abs(next_job.next_attempt_at - (now + interval)) < dt.timedelta(seconds=1)
    handlers = app.extensions["exchange.job_handlers"]
    handlers[SYNC_JOB](context, {})  # every active partner synced; errors kept, none raised


def test_verify_bundle_from_the_command_line(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    owner = add_member(app, Role.SUPPLIER)
    envelope = owner.envelope()
    client.post("/api/v1/footprints", json=envelope, headers=owner.headers)
    bundle = client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}/verification", headers=owner.headers
    ).get_json()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    args = ["verify-bundle", str(tmp_path / "bundle.json"), "--jwks", str(tmp_path / "jwks.json")]
    good = cli(app, *args)
    assert good.exit_code == 0 and json.loads(good.output)["ok"] is True
    bundle["bundle"]["record"]["id"] = "another"
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    bad = cli(app, *args)
    assert bad.exit_code == 1 and json.loads(bad.output)["ok"] is False


def test_a_malformed_bundle_is_a_one_line_error(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    bundle = tmp_path / "bundle.json"
    for text in ("{not json", "[1, 2]", '{"bundle": 7}', "null", '{"bundle": {}, "signature": 1}'):
        bundle.write_text(text)
        result = cli(app, "verify-bundle", str(bundle), "--jwks", str(tmp_path / "jwks.json"))
        assert result.exit_code == 1, (text, result.output)
        # Click's own error line or the verdict: never an exception escaping as a traceback.
        assert isinstance(result.exception, SystemExit), (text, result.exception)
        assert "Traceback" not in result.output
        if text.startswith(("{not", "[", "null", '{"bundle": 7')):
            [line] = result.output.strip().splitlines()
            assert line.startswith("Error: "), line
        else:
            assert json.loads(result.output)["ok"] is False
