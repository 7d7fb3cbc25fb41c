"""The trust list's nextUpdate, as an attacker with a stale cached list would use it.

A verifier holding a list past its nextUpdate may hold one from before a key's revocation:
the CLI, the Python client and the bundle verifier refuse it ("cannot confirm"), never say
valid. The exchange re-signs the list before then (``exchange worker``) and at once when what
it lists changes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.cli import main
from exchange.client.labels import verify_label_offline
from exchange.db import transaction, utcnow
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, run_due_jobs, run_schedules
from exchange.labels import services
from exchange.labels.services import trust
from exchange.labels.verify import open_trust_list
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from tests.factories import add_member
from tests.labels.builders import Programme, programme


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def resigned(app: Flask, document: dict[str, Any], **times: dt.datetime | None) -> dict[str, Any]:
    """The same list signed anew by the exchange key with other times (None drops one): what
    a phone kept from days ago looks like, genuine in every byte."""
    payload = dict(document["trustList"])
    for name, value in times.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value.isoformat()
    key = app.extensions["exchange.key"]
    return {
        "trustList": payload,
        "signature": {
            "alg": "Ed25519",
            "kid": key.kid,
            "value": key.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload),
        },
    }


@pytest.fixture
def labelled(app: Flask, client: FlaskClient) -> tuple[Programme, dict[str, Any]]:
    fx = programme(app, client)
    fx.accredit()
    fx.scheme()
    return fx, fx.label(fx.certify()["number"], lot="LOT7")


def pinned(app: Flask) -> list[bytes]:
    return [app.extensions["exchange.key"].public_key]


def test_the_list_names_its_next_update_and_is_served_unchanged_until_then(
    app: Flask, client: FlaskClient
) -> None:
    first = client.get("/.well-known/trust-list.json").get_json()["trustList"]
    validity = moment(first["nextUpdate"]) - moment(first["issuedAt"])
    assert validity == dt.timedelta(days=3) == trust.DEFAULT_VALIDITY
    assert app.config["TRUST_LIST_VALIDITY_SECONDS"] == validity.total_seconds()
    from exchange.labels.models import TrustListIssue

    again = client.get("/.well-known/trust-list.json").get_json()
    assert again["trustList"] == first  # the stored list, not one signed per request
    with app.extensions["exchange.sessions"]() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(TrustListIssue)) == 1


def test_the_validity_is_a_setting(app: Flask, client: FlaskClient) -> None:
    app.config["TRUST_LIST_VALIDITY_SECONDS"] = 3600
    listed = client.get("/.well-known/trust-list.json").get_json()["trustList"]
    assert moment(listed["nextUpdate"]) - moment(listed["issuedAt"]) == dt.timedelta(hours=1)
    app.config["TRUST_LIST_VALIDITY_SECONDS"] = 5
    with pytest.raises(ValueError, match="at least 60"):
        services.trust_list_validity(app.config)


def test_a_revocation_is_published_at_once_not_at_the_next_renewal(
    labelled: tuple[Programme, dict[str, Any]], app: Flask
) -> None:
    fx, _label = labelled
    before = fx.client.get("/.well-known/trust-list.json").get_json()["trustList"]
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.revoke_issuer_key(session, kid=key.kid, reason="leaked")
    after = fx.client.get("/.well-known/trust-list.json").get_json()["trustList"]
    [listed] = after["exchange"]["labelKeys"]
    assert listed["revokedAt"] is not None
    assert moment(after["issuedAt"]) > moment(before["issuedAt"])


def test_a_request_re_signs_a_list_the_worker_left_to_age(app: Flask) -> None:
    key = app.extensions["exchange.key"]
    origin = app.config["EXCHANGE_ORIGIN"]
    start = utcnow()
    with transaction(app.extensions["exchange.sessions"]) as session:
        first = services.trust_list(session, key, origin=origin, now=start)
        half = services.trust_list(session, key, origin=origin, now=start + dt.timedelta(days=2))
        late = services.trust_list(session, key, origin=origin, now=start + dt.timedelta(hours=55))
    assert half == first  # two of three days: still the worker's to renew
    assert moment(late["trustList"]["issuedAt"]) == start + dt.timedelta(hours=55)


def test_the_worker_re_signs_the_list_halfway(app: Flask, client: FlaskClient) -> None:
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    schedules = app.extensions["exchange.schedules"]
    handlers = app.extensions["exchange.job_handlers"]

    def renewals() -> list[JobStatus]:
        with context.sessions() as session:
            return list(
                session.scalars(
                    sa.select(Job.status).where(Job.kind == trust.RENEW_JOB).order_by(Job.id)
                )
            )

    run_schedules(context, schedules)  # no list yet: the worker signs the first
    run_schedules(context, schedules)
    assert renewals() == [JobStatus.PENDING]
    assert run_due_jobs(context, handlers).done == 1
    first = client.get("/.well-known/trust-list.json").get_json()["trustList"]

    from exchange.labels.models import TrustListIssue

    def age(hours: int) -> None:
        """Let the stored list be this old (the worker's clock is the real one)."""
        with transaction(context.sessions) as session:
            stored = session.scalars(sa.select(TrustListIssue)).one()
            stored.issued_at = utcnow() - dt.timedelta(hours=hours)
            stored.next_update = stored.issued_at + trust.DEFAULT_VALIDITY

    age(35)
    run_schedules(context, schedules)
    assert renewals() == [JobStatus.DONE]  # not due before half the validity
    age(37)
    run_schedules(context, schedules)
    assert renewals() == [JobStatus.DONE, JobStatus.PENDING]
    assert run_due_jobs(context, handlers).done == 1
    renewed = client.get("/.well-known/trust-list.json").get_json()["trustList"]
    assert moment(renewed["issuedAt"]) > moment(first["issuedAt"])
    assert moment(renewed["nextUpdate"]) > moment(first["nextUpdate"])


def test_open_trust_list_refuses_a_list_past_its_next_update(
    labelled: tuple[Programme, dict[str, Any]], app: Flask
) -> None:
    from exchange.labels.verify import TrustListStale

    fx, label = labelled
    document = fx.client.get("/.well-known/trust-list.json").get_json()
    next_update = moment(document["trustList"]["nextUpdate"])
    open_trust_list(document, pinned=pinned(app), now=next_update - dt.timedelta(seconds=1))
    with pytest.raises(TrustListStale, match="passed its nextUpdate") as stale:
        open_trust_list(document, pinned=pinned(app), now=next_update)
    assert stale.value.next_update == next_update
    # The Python client's offline verifier: the clock moved on, the list did not.
    with pytest.raises(TrustListStale):
        verify_label_offline(
            label["url"],
            trust_list=document,
            pinned=pinned(app),
            now=next_update + dt.timedelta(days=1),
        )
    # A list that names no nextUpdate (one from before there were any) is as good as stale.
    undated = resigned(app, document, nextUpdate=None)
    with pytest.raises(TrustListStale, match="names no nextUpdate"):
        open_trust_list(undated, pinned=pinned(app))


def test_a_stale_list_kept_from_before_a_revocation_cannot_confirm_a_forgery_offline(
    labelled: tuple[Programme, dict[str, Any]], app: Flask, tmp_path: Path
) -> None:
    """The key leaks and is revoked; a phone kept the list from four days before."""
    fx, label = labelled
    from tests.labels.test_forgery import _resigned

    document = fx.client.get("/.well-known/trust-list.json").get_json()
    now = utcnow()
    kept = resigned(
        app,
        document,
        issuedAt=now - dt.timedelta(days=4),
        nextUpdate=now - dt.timedelta(days=1),
    )
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.revoke_issuer_key(session, kid=key.kid, reason="leaked")
    forged = _resigned(label["url"], key, label=777001, grade=1)
    assert fx.verify(forged)["verdict"] == "invalid"  # online: the exchange says no

    (tmp_path / "kept.json").write_text(json.dumps(kept))
    (tmp_path / "jwks.json").write_text(fx.client.get("/.well-known/jwks.json").data.decode())
    arguments = ["--trust-list", str(tmp_path / "kept.json"), "--pin", str(tmp_path / "jwks.json")]
    result = CliRunner().invoke(main, ["label", "verify", forged, *arguments])
    assert result.exit_code == 3, result.output
    assert "CANNOT CONFIRM" in result.output
    assert "valid (offline" not in result.output
    assert "passed its nextUpdate" in result.output

    # With a fresh list the same forgery is refused offline too (the revocation is in it).
    (tmp_path / "fresh.json").write_text(
        fx.client.get("/.well-known/trust-list.json").data.decode()
    )
    fresh = ["--trust-list", str(tmp_path / "fresh.json"), "--pin", str(tmp_path / "jwks.json")]
    refused = CliRunner().invoke(main, ["label", "verify", forged, *fresh])
    assert refused.exit_code == 1 and "key-revoked" in refused.output


def test_the_bundle_verifier_refuses_a_stale_trust_list(app: Flask, client: FlaskClient) -> None:
    owner = add_member(app, Role.SUPPLIER)
    envelope = owner.envelope()
    pushed = client.post("/api/v1/footprints", json=envelope, headers=owner.headers)
    assert pushed.status_code == 201
    bundle = client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}/verification", headers=owner.headers
    ).get_json()
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert verify_bundle(bundle, pinned=jwks).ok
    listed = bundle["bundle"]["trustList"]["trustList"]
    later = moment(listed["nextUpdate"]) + dt.timedelta(minutes=1)
    verdict = verify_bundle(bundle, pinned=jwks, now=later)
    assert not verdict.ok
    assert any("cannot confirm the certificates" in problem for problem in verdict.problems)
    # The partner's own, older copy of the list, passed in: refused the same way today.
    now = utcnow()
    kept = resigned(
        app,
        bundle["bundle"]["trustList"],
        issuedAt=now - dt.timedelta(days=5),
        nextUpdate=now - dt.timedelta(days=2),
    )
    stale = verify_bundle(bundle, pinned=jwks, trust_list=kept)
    assert any("passed its nextUpdate" in problem for problem in stale.problems)
    # A fresh list fetched today makes the bundle check out again.
    fresh = client.get("/.well-known/trust-list.json").get_json()
    assert verify_bundle(bundle, pinned=jwks, trust_list=fresh).ok
