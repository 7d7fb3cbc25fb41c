"""The witness role over HTTP (C2SP tlog-witness add-checkpoint): each status code of the
specification, the cosignature it answers, its record that never rolls back, and the
monitoring endpoint."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from exchange.log import cosignature, merkle, note
from exchange.witness import services
from exchange.witness.models import WitnessedLog, WitnessRefusal
from tests.factories import json_of
from tests.witness.helpers import MemoryLog, request_body, submit

PARTNER = "carbon-footprint.vientiane.example"

# tlog-witness, add-checkpoint: the example request body.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+"
    "49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["witness", *args])


def witness_log(app: Flask, log: MemoryLog) -> None:
    done = cli(app, "witness-log", log.origin, "--key", log.vkey)
    assert done.exit_code == 0, done.output


def witness_vkey(client: FlaskClient) -> cosignature.VerifierKey:
    document = json_of(client.get("/api/v1/witness"))
    return cosignature.parse_verifier_key(document["verifierKey"], algorithm=0x04)


def stored(app: Flask, origin: str) -> WitnessedLog:
    with app.extensions["exchange.sessions"]() as session:
        query = sa.select(WitnessedLog).where(WitnessedLog.origin == origin)
        found: WitnessedLog = session.scalars(query).one()
        session.expunge(found)
        return found


@pytest.fixture
def partner(app: Flask) -> MemoryLog:
    log = MemoryLog(PARTNER).grow(5)
    witness_log(app, log)
    return log


def test_the_specifications_example_request_is_read_exactly() -> None:
    found = services.parse_submission(SPEC_REQUEST.encode())
    assert found.old_size == 20852014
    assert len(found.proof) == 4 and all(len(value) == 32 for value in found.proof)
    assert found.checkpoint == note.Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        found.checkpoint.root_hash,
    )
    assert found.text == SPEC_REQUEST.split("\n\n", 1)[1].split("\n\n")[0] + "\n"
    assert [name for name, _ in found.signatures] == ["example.com/behind-the-sofa"] * 2


def test_a_first_checkpoint_is_cosigned_and_the_cosignature_verifies(
    app: Flask, client: FlaskClient, partner: MemoryLog
) -> None:
    answered = submit(client, 0, [], partner.checkpoint())
    assert answered.status_code == 200, answered.get_data(as_text=True)
    lines = answered.get_data(as_text=True)
    assert lines.startswith("\u2014 ") and lines.endswith("\n") and lines.count("\n") == 1
    witness = witness_vkey(client)
    _, found = cosignature.verify_cosignatures(partner.checkpoint() + lines, [witness])
    assert [item.name for item in found] == [witness.name]
    assert abs(found[0].timestamp - dt.datetime.now(dt.UTC).timestamp()) < 60
    record = stored(app, PARTNER)
    assert (record.tree_size, record.root_hash) == (5, partner.root())
    # The monitoring endpoint: the log's verified signature and the witness's cosignature.
    monitored = client.get(f"/api/v1/witness/{services.origin_hash(PARTNER)}/checkpoint")
    assert monitored.status_code == 200
    text = monitored.get_data(as_text=True)
    assert note.verify_checkpoint(text, origin=PARTNER, public_key=partner.public_key).size == 5
    assert cosignature.verify_cosignatures(text, [witness])[1][0].name == witness.name
    assert client.get(f"/api/v1/witness/{'0' * 64}/checkpoint").status_code == 404
    listed = json_of(client.get("/api/v1/witness"))["logs"]
    assert [(item["origin"], item["treeSize"]) for item in listed] == [(PARTNER, 5)]


def test_growth_needs_the_consistency_proof_from_the_size_last_cosigned(
    app: Flask, client: FlaskClient, partner: MemoryLog
) -> None:
    assert submit(client, 0, [], partner.checkpoint()).status_code == 200
    partner.grow(4)
    # Another old size than the one cosigned: 409 with that size, as text/x.tlog.size.
    stale = submit(client, 0, [], partner.checkpoint())
    assert stale.status_code == 409
    assert stale.mimetype == "text/x.tlog.size"
    assert stale.get_data(as_text=True) == "5\n"
    assert submit(client, 3, partner.proof(3), partner.checkpoint()).get_data() == b"5\n"
    grown = submit(client, 5, partner.proof(5), partner.checkpoint())
    assert grown.status_code == 200, grown.get_data(as_text=True)
    assert stored(app, PARTNER).tree_size == 9
    # The same checkpoint again, from its own size: cosigned afresh.
    again = submit(client, 9, [], partner.checkpoint())
    assert again.status_code == 200
    assert stored(app, PARTNER).tree_size == 9


def test_inconsistent_checkpoints_are_refused_with_422_and_kept_as_evidence(
    app: Flask, client: FlaskClient, partner: MemoryLog
) -> None:
    assert submit(client, 0, [], partner.checkpoint()).status_code == 200
    fork = partner.fork(3).grow(4, "forked")  # same first 3 entries, then another history
    partner.grow(4)
    # A proof that does not hold: the fork's proof against the witness's view, and garbage.
    for proof in (fork.proof(5), partner.proof(5)[::-1], [merkle.leaf_hash(b"x")] * 3):
        refused = submit(client, 5, proof, fork.checkpoint())
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert json_of(refused)["code"] == "Unprocessable"
    # The same size with another root: 422 as well (tlog-witness, clarified).
    same_size = MemoryLog(PARTNER, partner.seed).grow(5, "rewritten")
    refused = submit(client, 5, [], same_size.checkpoint())
    assert refused.status_code == 422
    assert "another root" in json_of(refused)["message"]
    with app.extensions["exchange.sessions"]() as session:
        evidence = list(session.scalars(sa.select(WitnessRefusal).order_by(WitnessRefusal.id)))
    assert len(evidence) == 4
    assert {item.cosigned_size for item in evidence} == {5}
    assert evidence[-1].request.endswith(same_size.checkpoint())
    # Nothing moved: the honest growth is still cosigned from 5.
    assert stored(app, PARTNER).tree_size == 5
    assert submit(client, 5, partner.proof(5), partner.checkpoint()).status_code == 200


def test_rollback_is_refused(app: Flask, client: FlaskClient, partner: MemoryLog) -> None:
    partner.grow(5)
    assert submit(client, 0, [], partner.checkpoint()).status_code == 200
    older = partner.checkpoint(6)
    # Claiming the old size is the witness's: the old size is above the checkpoint's (400).
    assert submit(client, 10, [], older).status_code == 400
    # Claiming a smaller old size: not the size it cosigned (409, which says 10).
    conflict = submit(client, 4, partner.proof(4, 6), older)
    assert (conflict.status_code, conflict.get_data()) == (409, b"10\n")
    assert stored(app, PARTNER).tree_size == 10


@pytest.mark.parametrize(
    ("size_zero_root", "proof_from_zero", "problem"),
    [
        (b"\x01" * 32, False, "size 0 has the root hash of the empty tree"),
        (None, True, "from old size 0 the consistency proof is empty"),
    ],
)
def test_the_empty_tree_rules(
    client: FlaskClient,
    app: Flask,
    size_zero_root: bytes | None,
    proof_from_zero: bool,
    problem: str,
) -> None:
    log = MemoryLog("empty.example/log")
    witness_log(app, log)
    if size_zero_root is not None:
        signed = note.sign_checkpoint(
            note.Checkpoint(log.origin, 0, size_zero_root), name=log.origin, private_key=log.seed
        )
        refused = submit(client, 0, [], signed)
    else:
        log.grow(3)
        refused = submit(
            client, 0, [merkle.leaf_hash(b"x")] if proof_from_zero else [], log.checkpoint()
        )
    assert refused.status_code == 422
    assert problem in json_of(refused)["message"]
    assert submit(client, 0, [], MemoryLog(log.origin, log.seed).checkpoint()).status_code == 200


def test_unknown_logs_and_keys(client: FlaskClient, app: Flask, partner: MemoryLog) -> None:
    stranger = MemoryLog("stranger.example/log").grow(2)
    assert submit(client, 0, [], stranger.checkpoint()).status_code == 404
    # The partner's origin, signed by another key: no trusted signature (403).
    impostor = MemoryLog(PARTNER).grow(5)
    assert submit(client, 0, [], impostor.checkpoint()).status_code == 403
    # The partner's key name and key id, but a signature that does not verify (403).
    genuine = partner.checkpoint()
    text, lines = note.signature_lines(genuine)
    name, blob = lines[0]
    import base64

    bad = f"{text}\n\u2014 {name} {base64.b64encode(blob[:4] + bytes(64)).decode()}\n"
    assert submit(client, 0, [], bad).status_code == 403
    # A good signature beside the bad one changes nothing: a failing known key spoils the note.
    assert submit(client, 0, [], bad + genuine.split("\n\n")[1]).status_code == 403
    # Unknown signatures beside the good one are ignored.
    extra = genuine + f"\u2014 other.example/key {base64.b64encode(bytes(68)).decode()}\n"
    assert submit(client, 0, [], extra).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 00\n\nx\n",
        b"old -1\n\n",
        b"old 1 \n\n",
        b"OLD 0\n\n",
        b"old 0\nnot base64\n\n",
        b"old 0\n" + b"AAAA\n" + b"\n",
        b"\xff\xfe",
        b"old 0\n\nexample.example/log\n1\n",  # no signature lines
    ],
)
def test_malformed_requests_are_400(client: FlaskClient, body: bytes, partner: MemoryLog) -> None:
    answered = client.post("/api/v1/witness/add-checkpoint", data=body, content_type="text/plain")
    assert answered.status_code == 400, (body, answered.get_data(as_text=True))


def test_too_many_proof_lines_and_an_old_size_above_the_checkpoint(
    client: FlaskClient, partner: MemoryLog
) -> None:
    proof = [merkle.leaf_hash(b"%d" % i) for i in range(64)]
    assert submit(client, 1, proof, partner.checkpoint()).status_code == 400
    assert submit(client, 6, [], partner.checkpoint()).status_code == 400
    form = client.post(
        "/api/v1/witness/add-checkpoint",
        data=request_body(0, [], partner.checkpoint()),
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 415
    # Any other media type (or none) is read as the text it is.
    untyped = client.post(
        "/api/v1/witness/add-checkpoint", data=request_body(0, [], partner.checkpoint())
    )
    assert untyped.status_code == 200
    huge = request_body(0, [], partner.checkpoint()) + b"\n" * (70 * 1024)
    answered = client.post("/api/v1/witness/add-checkpoint", data=huge, content_type="text/plain")
    assert answered.status_code == 413


def test_a_log_witnessed_again_keeps_what_was_cosigned(
    app: Flask, client: FlaskClient, partner: MemoryLog
) -> None:
    assert submit(client, 0, [], partner.checkpoint()).status_code == 200
    assert cli(app, "unwitness-log", PARTNER).exit_code == 0
    assert submit(client, 5, [], partner.checkpoint()).status_code == 404
    # Registered again (a new key, say): the record stays at 5, no fresh start from 0.
    rotated = MemoryLog(PARTNER, leaves=list(partner.leaves))
    witness_log(app, rotated)
    assert submit(client, 0, [], rotated.checkpoint()).status_code == 409
    assert submit(client, 5, [], rotated.checkpoint()).status_code == 200
    assert "5" in cli(app, "logs").output
    refused = cli(app, "witness-log", "bad origin\nx", "--key", partner.vkey)
    assert refused.exit_code != 0
    assert cli(app, "witness-log", "x.example/log", "--key", "nonsense").exit_code != 0


def test_the_witness_key_is_its_own_and_kept_in_the_instance_folder(
    app: Flask, client: FlaskClient
) -> None:
    printed = cli(app, "key").output.split()
    witness = witness_vkey(client)
    assert printed == [witness.name, witness.text]
    assert witness.name == f"{app.config['EXCHANGE_ORIGIN']}/witness"
    assert witness.public_key not in app.extensions["exchange.key"].public_keys()
    key_file = Path(app.instance_path) / "witness-signing-key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_submissions_race_and_never_roll_back(app: Flask, partner: MemoryLog) -> None:
    """Concurrent submissions from one old size: exactly one is cosigned, the others are told
    the new size; then later submissions from stale sizes never move the record back."""
    import concurrent.futures

    assert submit(app.test_client(), 0, [], partner.checkpoint()).status_code == 200
    partner.grow(8)
    statuses, final = _race(app, partner, old=5, sizes=range(6, 14))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 409}
    winner = final
    assert 6 <= winner <= 13
    # Stale submissions after the race: all refused, the record stays.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        late = list(
            pool.map(
                lambda size: (
                    submit(
                        app.test_client(), 5, partner.proof(5, size), partner.checkpoint(size)
                    ).status_code
                ),
                range(6, 14),
            )
        )
    assert set(late) == {409}
    assert stored(app, PARTNER).tree_size == winner


def _race(app: Flask, log: MemoryLog, *, old: int, sizes: range) -> tuple[list[int], int]:
    import concurrent.futures
    import threading

    start = threading.Barrier(len(sizes))
    bodies = {size: request_body(old, log.proof(old, size), log.checkpoint(size)) for size in sizes}

    def send(size: int) -> int:
        client = app.test_client()
        start.wait()
        return client.post(
            "/api/v1/witness/add-checkpoint", data=bodies[size], content_type="text/plain"
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(len(sizes)) as pool:
        statuses = list(pool.map(send, sizes))
    return statuses, stored(app, log.origin).tree_size


def test_the_record_is_moved_by_compare_and_swap(
    app: Flask, partner: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the row lock ever missing (a database that ignored it), the update still only
    moves the record from the state that was checked: a writer slipping in between the
    check and the update makes the submission a 409, never a rollback."""
    client = app.test_client()
    assert submit(client, 0, [], partner.checkpoint()).status_code == 200
    partner.grow(2)
    checked = services._inconsistency

    def and_meanwhile(submission: services.Submission, log: WitnessedLog) -> str | None:
        problem = checked(submission, log)
        session = sa.inspect(log).session
        assert session is not None
        session.execute(
            sa.update(WitnessedLog).where(WitnessedLog.id == log.id).values(tree_size=99)
        )
        return problem

    monkeypatch.setattr(services, "_inconsistency", and_meanwhile)
    raced = submit(client, 5, partner.proof(5), partner.checkpoint())
    assert (raced.status_code, raced.get_data()) == (409, b"99\n")
    monkeypatch.undo()
    # The request's transaction rolled back: the record is where the last cosignature left it.
    assert stored(app, PARTNER).tree_size == 5


def test_a_partners_log_is_checked_under_its_pinned_anchors(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    """``--partner`` takes the partner programme's log origin and trust anchors as pinned at
    onboarding, looked up at each submission: an anchor the regulator revokes stops signing."""
    from exchange.client.keys import LocalKey
    from exchange.organisations.models import Role
    from tests.factories import add_member

    anchor = LocalKey.generate()
    log = MemoryLog(PARTNER, anchor.private_key).grow(4)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [anchor.public_jwk()]}))
    add_member(app, Role.REGULATOR)
    added = app.test_cli_runner().invoke(
        args=[
            "partners",
            "add",
            "--name",
            "Lao Carbon Footprint Programme",
            "--country",
            "LA",
            "--operator",
            "MONRE",
            "--pact-url",
            "https://pcf.vientiane.example",
            "--jwks",
            str(jwks),
            "--log-origin",
            PARTNER,
        ]
    )
    assert added.exit_code == 0, added.output
    partner_id = added.output.strip()
    registered = cli(app, "witness-log", "--partner", partner_id)
    assert registered.exit_code == 0, registered.output
    assert PARTNER in registered.output
    assert submit(client, 0, [], log.checkpoint()).status_code == 200
    revoked = app.test_cli_runner().invoke(
        # "--": a key id may begin with "-", which click would read as an option.
        args=["partners", "revoke-anchor", "--reason", "key leaked", "--", partner_id, anchor.kid]
    )
    assert revoked.exit_code == 0, revoked.output
    log.grow(2)
    assert submit(client, 4, log.proof(4), log.checkpoint()).status_code == 403
    assert cli(app, "witness-log", "--partner", "no-such-partner").exit_code != 0
