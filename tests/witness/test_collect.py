"""Collecting our log's cosignatures: the worker submits each new checkpoint to the
witnesses, keeps what verifies, records liars and silences without stopping, and the log
serves its checkpoints with the cosignatures (and the trust list names the policy)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.db import transaction
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, run_due_jobs, run_schedules
from exchange.keyring import ExchangeKey
from exchange.log import cosignature, note
from exchange.witness import collect
from exchange.witness.collect import Outcome
from exchange.witness.models import LogCosignature, LogWitness, LogWitnessIncident
from tests.factories import Member, add_member, json_of
from tests.witness.helpers import AppTransport, body_of, http_to, respond
from tests.witness.test_add_checkpoint import cli

SELF = "self.example"


def push(client: FlaskClient, member: Member, count: int = 1) -> None:
    for _ in range(count):
        envelope = member.envelope()
        answered = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
        assert answered.status_code == 201, answered.get_json()


def own_vkeys(app: Flask) -> tuple[str, str]:
    """The exchange's checkpoint key and its witness key, as vkeys."""
    key: ExchangeKey = app.extensions["exchange.key"]
    origin = app.config["EXCHANGE_ORIGIN"]
    witness = cli(app, "key").output.split()[1]
    return note.verifier_key(origin, key.public_key), witness


def witness_ourselves(app: Flask, quorum: int = 1) -> str:
    """The exchange witnesses its own log (a loopback witness): what it needs is the same as
    for a partner, one exchange doing both roles. Its witness name."""
    log_vkey, witness_vkey = own_vkeys(app)
    assert cli(app, "witness-log", app.config["EXCHANGE_ORIGIN"], "--key", log_vkey).exit_code == 0
    added = cli(
        app,
        "add",
        witness_vkey,
        "--url",
        f"https://{SELF}/api/v1/witness",
        "--operator",
        "Loopback witness",
    )
    assert added.exit_code == 0, added.output
    assert cli(app, "quorum", str(quorum)).exit_code == 0
    return added.output.strip()


def run_round(app: Flask, transport: AppTransport) -> list[collect.Submitted]:
    return collect.collect(
        app.extensions["exchange.sessions"],
        app.extensions["exchange.key"],
        app.config["EXCHANGE_ORIGIN"],
        http=http_to(transport),
        allow_private=True,
    )


def trust_policy(client: FlaskClient) -> cosignature.WitnessPolicy:
    listed = json_of(client.get("/.well-known/trust-list.json"))["trustList"]["witnesses"]
    return cosignature.parse_policy(listed["policy"]).policy


def test_our_checkpoints_are_cosigned_and_served_with_their_cosignatures(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app)
    push(client, member, 2)
    name = witness_ourselves(app)
    transport = AppTransport({SELF: app})
    [first] = run_round(app, transport)
    assert (first.witness, first.outcome) == (name, Outcome.COSIGNED), first
    size = first.tree_size
    assert transport.sent[0].body is not None
    assert body_of(transport.sent[0]).startswith(b"old 0\n\n")

    served = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    origin = app.config["EXCHANGE_ORIGIN"]
    key: ExchangeKey = app.extensions["exchange.key"]
    checked = cosignature.check_witnessed(
        served, origin=origin, log_keys=key.public_keys(), policy=trust_policy(client)
    )
    assert (checked.checkpoint.size, checked.by, checked.met) == (size, (name,), True)
    as_json = json_of(client.get("/api/v1/log/checkpoint?format=json"))
    assert as_json["note"] == served
    assert client.get("/api/v1/log/checkpoint?witnessed=true").get_data(as_text=True) == served
    at_size = client.get(f"/api/v1/log/checkpoint?size={size}")
    assert at_size.get_data(as_text=True) == served
    assert at_size.headers["Cache-Control"] == "no-cache"  # more cosignatures may come

    # Nothing new: nothing is sent. New entries: sent with the proof from the size cosigned.
    assert run_round(app, transport) == []
    push(client, member, 3)
    [second] = run_round(app, transport)
    assert second.outcome == Outcome.COSIGNED and second.tree_size > size
    body = body_of(transport.sent[-1])
    assert body.startswith(f"old {size}\n".encode()) and body.count(b"\n") > 3
    status = json_of(client.get("/api/v1/log/witnesses"))
    assert status["quorum"] == 1
    [witness] = status["witnesses"]
    assert (witness["cosignedSize"], witness["failures"], witness["lastError"]) == (
        second.tree_size,
        0,
        None,
    )
    # A size newer than any witnessed one: no witnessed checkpoint covers it (yet).
    push(client, member, 1)
    newest = json_of(client.get("/api/v1/log/checkpoint?format=json"))["treeSize"]
    assert client.get(f"/api/v1/log/checkpoint?witnessed=true&size={newest}").status_code == 404


def test_the_trust_list_names_the_witnesses_and_the_policy(app: Flask, client: FlaskClient) -> None:
    before = json_of(client.get("/.well-known/trust-list.json"))["trustList"]["witnesses"]
    assert before["quorum"] == 0 and before["witnesses"] == []
    assert before["policy"].endswith("quorum none\n")
    name = witness_ourselves(app)
    listed = json_of(client.get("/.well-known/trust-list.json"))["trustList"]["witnesses"]
    assert listed["quorum"] == 1
    [witness] = listed["witnesses"]
    assert (witness["name"], witness["operator"], witness["kind"]) == (
        name,
        "Loopback witness",
        "independent",
    )
    parsed = cosignature.parse_policy(listed["policy"])
    assert [item.key.text for item in parsed.witnesses] == [witness["verifierKey"]]
    key: ExchangeKey = app.extensions["exchange.key"]
    assert [item.public_key for item in parsed.logs] == key.public_keys()
    # Adding a witness is logged; so is removing one (after lowering the quorum).
    assert cli(app, "remove", name).exit_code != 0
    assert cli(app, "quorum", "0").exit_code == 0
    assert cli(app, "remove", name).exit_code == 0
    entries = json_of(client.get("/api/v1/log/entries"))["entries"]
    kinds = [item["kind"] for item in entries]
    assert (kinds.count("witness"), kinds.count("witness-removal")) == (1, 1)
    audited = app.test_cli_runner().invoke(args=["audit"])
    assert audited.exit_code == 0, audited.output


def _liar(name: str, seed: bytes) -> Any:
    """A witness that answers a cosignature by another key under its own name."""

    def answer(request: requests.PreparedRequest) -> tuple[int, str, str]:
        body = body_of(request).decode()
        text = note.signature_lines(body.split("\n\n", 1)[1])[0]
        line = cosignature.cosign(
            text, name=name, private_key=signing.generate_private_key(), timestamp=1
        )
        return 200, "text/plain", line

    return answer


def _forger(name: str, seed: bytes) -> Any:
    """A witness whose line has its name and key id, and a signature that does not verify."""

    def answer(request: requests.PreparedRequest) -> tuple[int, str, str]:
        body = body_of(request).decode()
        text = note.signature_lines(body.split("\n\n", 1)[1])[0]
        # Signed over another checkpoint (one more extension line) than ours.
        line = cosignature.cosign(text + "x\n", name=name, private_key=seed, timestamp=1)
        return 200, "text/plain", line

    return answer


def _silent(request: requests.PreparedRequest) -> Any:
    raise requests.Timeout("read timed out")


def _broken(request: requests.PreparedRequest) -> Any:
    raise RuntimeError("a bug in a transport")


def _add(app: Flask, host: str, name: str) -> bytes:
    seed = signing.generate_private_key()
    vkey = cosignature.cosigner_key(name, signing.public_key_of(seed))
    added = cli(app, "add", vkey, "--url", f"https://{host}/w", "--operator", host)
    assert added.exit_code == 0, added.output
    return seed


def test_liars_and_silent_witnesses_are_recorded_and_never_stop_the_round(
    app: Flask, client: FlaskClient
) -> None:
    push(client, add_member(app), 2)
    honest = witness_ourselves(app)
    liar_seed = _add(app, "liar.example", "liar.example/w")
    forger_seed = _add(app, "forger.example", "forger.example/w")
    _add(app, "silent.example", "silent.example/w")
    _add(app, "broken.example", "broken.example/w")
    _add(app, "denier.example", "denier.example/w")
    transport = AppTransport(
        {
            SELF: app,
            "liar.example": _liar("liar.example/w", liar_seed),
            "forger.example": _forger("forger.example/w", forger_seed),
            "silent.example": _silent,
            "broken.example": _broken,
            "denier.example": lambda _: (422, "application/json", '{"message": "fork"}'),
        }
    )
    outcomes = {item.witness: item.outcome for item in run_round(app, transport)}
    assert outcomes == {
        "broken.example/w": Outcome.SILENT,
        "denier.example/w": Outcome.INCONSISTENT,
        "forger.example/w": Outcome.LIED,
        honest: Outcome.COSIGNED,
        "liar.example/w": Outcome.LIED,
        "silent.example/w": Outcome.SILENT,
    }
    with app.extensions["exchange.sessions"]() as session:
        kept = session.scalars(sa.select(LogCosignature)).all()
        incidents = {
            (name, kind)
            for name, kind in session.execute(
                sa.select(LogWitness.name, LogWitnessIncident.kind).join(
                    LogWitness, LogWitness.id == LogWitnessIncident.witness_id
                )
            )
        }
        failures = dict(session.execute(sa.select(LogWitness.name, LogWitness.failures)).all())
    assert len(kept) == 1
    assert incidents == {
        ("liar.example/w", Outcome.LIED),
        ("forger.example/w", Outcome.LIED),
        ("denier.example/w", Outcome.INCONSISTENT),
    }
    assert failures[honest] == 0
    assert failures["silent.example/w"] == 1
    # The served checkpoint carries only the honest cosignature; the log goes on.
    served = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    assert served.count("\u2014 ") == 2
    push(client, add_member(app), 1)
    assert {item.outcome for item in run_round(app, transport)} >= {Outcome.COSIGNED}
    with app.extensions["exchange.sessions"]() as session:
        failures = dict(session.execute(sa.select(LogWitness.name, LogWitness.failures)).all())
    assert failures["silent.example/w"] == 2


def test_a_409_names_the_size_to_submit_from(app: Flask, client: FlaskClient) -> None:
    """Our record of what a witness cosigned can be behind (a lost answer): its 409 says
    where it is, and the submission is made again from there."""
    member = add_member(app)
    push(client, member, 3)
    witness_ourselves(app)
    transport = AppTransport({SELF: app})
    [done] = run_round(app, transport)
    assert done.outcome == Outcome.COSIGNED
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(sa.update(LogWitness).values(cosigned_size=0))
    push(client, member, 2)
    [again] = run_round(app, transport)
    assert again.outcome == Outcome.COSIGNED, again
    first, retry = (body_of(item) for item in transport.sent[-2:])
    assert first.startswith(b"old 0\n\n")
    assert retry.startswith(f"old {done.tree_size}\n".encode())


def test_a_witness_beyond_our_log_is_reported_not_followed(app: Flask, client: FlaskClient) -> None:
    """A witness that cosigned more of our log than we have (our log was rolled back, or
    someone signs another log under our origin) is an incident, not a submission."""
    push(client, add_member(app), 2)
    name = witness_ourselves(app)
    transport = AppTransport(
        {SELF: lambda request: respond(request, 409, "text/x.tlog.size", "1000\n")}
    )
    [result] = run_round(app, transport)
    assert (result.witness, result.outcome) == (name, Outcome.INCONSISTENT)
    assert "rolled back" in result.detail
    assert len(transport.sent) == 1


def test_the_worker_collects_on_schedule_and_survives_a_broken_witness(
    app: Flask, client: FlaskClient
) -> None:
    push(client, add_member(app), 1)
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config={**app.config, "EVENTS_ALLOW_PRIVATE_HOSTS": True},
    )
    handlers = app.extensions["exchange.job_handlers"]
    schedules = app.extensions["exchange.schedules"]
    run_schedules(context, schedules)
    with app.extensions["exchange.sessions"]() as session:
        assert not session.scalars(sa.select(Job).where(Job.kind == collect.COLLECT_JOB)).all()
    witness_ourselves(app)
    _add(app, "broken.example", "broken.example/w")
    transport = AppTransport({SELF: app, "broken.example": _broken})
    handlers = {
        **handlers,
        collect.COLLECT_JOB: functools.partial(collect.collect_job, http=http_to(transport)),
    }
    now = dt.datetime.now(dt.UTC)
    run_schedules(context, schedules, now=now)
    run_schedules(context, schedules, now=now)  # queued once
    report = run_due_jobs(context, handlers)
    assert report.done >= 1 and report.retried == 0
    with app.extensions["exchange.sessions"]() as session:
        jobs = session.scalars(sa.select(Job).where(Job.kind == collect.COLLECT_JOB)).all()
        assert [job.status for job in jobs] == [JobStatus.DONE]
        assert len(session.scalars(sa.select(LogCosignature)).all()) == 1
    # The next round waits for the interval.
    run_schedules(context, schedules, now=now)
    with app.extensions["exchange.sessions"]() as session:
        pending = session.scalars(
            sa.select(Job).where(Job.kind == collect.COLLECT_JOB, Job.status == JobStatus.PENDING)
        ).one()
        assert pending.next_attempt_at > now


def test_a_witness_that_hangs_never_blocks_the_log(app: Flask, client: FlaskClient) -> None:
    """While a witness keeps the worker waiting, the log takes new entries: no transaction
    (on SQLite, no write lock) is held across the request."""
    member = add_member(app)
    push(client, member, 1)
    witness_ourselves(app)
    appended: list[int] = []

    def hanging(request: requests.PreparedRequest) -> Any:
        # The exchange goes on serving while its worker waits on this witness.
        answered = client.post("/api/v1/footprints", json=member.envelope(), headers=member.headers)
        appended.append(answered.status_code)
        raise requests.Timeout("the witness did not answer in time")

    [result] = run_round(app, AppTransport({SELF: hanging}))
    assert result.outcome == Outcome.SILENT
    assert appended == [201]
