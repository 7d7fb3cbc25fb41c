"""Witnessing, tested as the attacker: a dishonest exchange that keeps two logs of one size
(a split view), rolls its log back, replays an old cosignature, borrows a cosignature of
another log, or forges its witness's key. The partner programme's witness refuses to cosign
the second view, and the verifier that requires the witness policy refuses what it is shown.

Three apps, three databases: exchange X (the ``app`` fixture), X's second view X2 (another
database under X's own key and origin: what an operator with two databases can do), and the
partner programme P, which witnesses X's log. Requests between them go through the apps'
test clients (tests/witness/helpers.AppTransport).
"""

from __future__ import annotations

import base64
import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import create_app, signing
from exchange.keyring import KEY_FILE_NAME, ExchangeKey
from exchange.log import cosignature, note
from exchange.mutual_recognition.verify import verify_bundle
from exchange.system.services import upgrade_database
from exchange.witness.collect import Outcome
from exchange.witness.models import WitnessRefusal
from tests.conftest import empty_all_tables, fresh_database
from tests.factories import Member, add_member, json_of
from tests.witness.helpers import AppTransport, MemoryLog, submit
from tests.witness.test_add_checkpoint import cli
from tests.witness.test_collect import run_round

pytestmark = pytest.mark.database

PARTNER_HOST = "witness.vientiane.example"


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The databases of X2 and of the partner, migrated once for the module."""
    root = tmp_path_factory.mktemp("attack-databases")
    (root / "second").mkdir()
    (root / "partner").mkdir()
    with (
        fresh_database(root / "second") as second,
        fresh_database(root / "partner") as partner,
    ):
        upgrade_database(second)
        upgrade_database(partner)
        yield second, partner


@pytest.fixture
def partner(databases: tuple[str, str], tmp_path: Path) -> Iterator[Flask]:
    """Partner programme P: its own exchange, database and witness key."""
    found = create_app(
        {"DATABASE_URL": databases[1], "TESTING": True},
        instance_path=str(tmp_path / "partner"),
    )
    yield found
    engine = found.extensions["exchange.engine"]
    empty_all_tables(engine)
    engine.dispose()


@pytest.fixture
def second_view(app: Flask, databases: tuple[str, str], tmp_path: Path) -> Iterator[Flask]:
    """X2: X's key and origin on another database."""
    instance = tmp_path / "second-view"
    instance.mkdir()
    shutil.copy2(Path(app.instance_path) / KEY_FILE_NAME, instance / KEY_FILE_NAME)
    found = create_app({"DATABASE_URL": databases[0], "TESTING": True}, instance_path=str(instance))
    assert found.extensions["exchange.key"].kid == app.extensions["exchange.key"].kid
    yield found
    engine = found.extensions["exchange.engine"]
    empty_all_tables(engine)
    engine.dispose()


def partner_witnesses(exchange: Flask, partner: Flask) -> str:
    """P witnesses X's log (by X's checkpoint key); ``exchange`` asks P, quorum 1."""
    key: ExchangeKey = exchange.extensions["exchange.key"]
    origin = exchange.config["EXCHANGE_ORIGIN"]
    registered = cli(
        partner, "witness-log", origin, "--key", note.verifier_key(origin, key.public_key)
    )
    assert registered.exit_code == 0, registered.output
    witness_vkey = cli(partner, "key").output.split()[1]
    added = cli(
        exchange,
        "add",
        witness_vkey,
        "--url",
        f"https://{PARTNER_HOST}/api/v1/witness",
        "--operator",
        "Lao Carbon Footprint Programme",
    )
    assert added.exit_code == 0, added.output
    assert cli(exchange, "quorum", "1").exit_code == 0
    return witness_vkey


def bundle_of(client: FlaskClient, member: Member, record_id: str) -> dict[str, Any]:
    answered = client.get(f"/api/v1/footprints/{record_id}/verification", headers=member.headers)
    assert answered.status_code == 200, answered.get_json()
    document: dict[str, Any] = answered.get_json()
    return document


def pushed(client: FlaskClient, member: Member) -> str:
    envelope = member.envelope()
    answered = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert answered.status_code == 201, answered.get_json()
    return str(answered.get_json()["id"])


def resigned(key: ExchangeKey, document: dict[str, Any]) -> dict[str, Any]:
    """What the dishonest exchange can always do: sign whatever it hands out."""
    document["signature"]["value"] = key.sign(
        context=signing.VERIFICATION_CONTEXT, payload=document["bundle"]
    )
    return document


def with_lines(checkpoint_text: str, lines: list[str]) -> str:
    return checkpoint_text + "".join(lines)


def cosignature_lines(text: str, name: str) -> list[str]:
    _, lines = note.signature_lines(text)
    return [
        f"\u2014 {signer} {base64.b64encode(blob).decode()}\n"
        for signer, blob in lines
        if signer == name
    ]


def test_a_split_view_is_refused_by_the_witness_and_by_the_verifier(
    app: Flask, client: FlaskClient, second_view: Flask, partner: Flask
) -> None:
    transport = AppTransport({PARTNER_HOST: partner})
    witness = cosignature.parse_verifier_key(partner_witnesses(app, partner))
    partner_witnesses(second_view, partner)
    # Both views grow alike (a member, its key, a record) but hold different records.
    honest_member, other_member = add_member(app), add_member(second_view)
    honest = pushed(client, honest_member)
    hidden = pushed(second_view.test_client(), other_member)
    x_view = json_of(client.get("/api/v1/log/checkpoint?format=json"))
    b_view = json_of(second_view.test_client().get("/api/v1/log/checkpoint?format=json"))
    assert x_view["treeSize"] == b_view["treeSize"]
    assert x_view["rootHash"] != b_view["rootHash"]

    # X shows the partner's witness view A: cosigned.
    [shown] = run_round(app, transport)
    assert shown.outcome == Outcome.COSIGNED
    # X2 shows it view B, of the same size: refused (422), and kept as evidence.
    [refused] = collect_round(second_view, transport)
    assert refused.outcome == Outcome.INCONSISTENT, refused
    with partner.extensions["exchange.sessions"]() as session:
        [evidence] = session.scalars(sa.select(WitnessRefusal)).all()
    assert evidence.status == 422 and "another root" in evidence.problem
    assert b_view["rootHash"] in evidence.request

    # The label verifier, pinning X's key and requiring the policy: view A is valid and
    # witnessed; view B (the record only it holds) cannot be confirmed.
    pinned = client.get("/.well-known/jwks.json").get_json()
    good = verify_bundle(bundle_of(client, honest_member, honest), pinned=pinned)
    assert good.state == "valid", good.problems
    assert good.witnesses is not None and good.witnesses.by == (witness.name,)
    assert good.witnesses.summary == "witnessed by 1 of 1 witnesses (1 required)"
    split = bundle_of(second_view.test_client(), other_member, hidden)
    verdict = verify_bundle(split, pinned=pinned)
    assert verdict.state == "cannot-confirm", verdict.problems
    assert not verdict.ok
    assert any("witnessed by 0 of 1" in problem for problem in verdict.problems)
    # Without the requirement the bundle is genuine as far as it goes: the verifier decides.
    assert verify_bundle(split, pinned=pinned, require_witnesses=False).ok

    # X2 pastes view A's cosignature onto view B's checkpoint: a forgery, refused outright.
    key: ExchangeKey = app.extensions["exchange.key"]
    stolen = cosignature_lines(
        client.get("/api/v1/log/checkpoint?witnessed=true").get_data(as_text=True), witness.name
    )
    assert len(stolen) == 1
    forged = copy.deepcopy(split)
    forged["bundle"]["log"]["checkpoint"] = with_lines(
        forged["bundle"]["log"]["checkpoint"], stolen
    )
    forged_verdict = verify_bundle(resigned(key, forged), pinned=pinned)
    assert forged_verdict.state == "invalid"
    assert any("forged witness cosignature" in problem for problem in forged_verdict.problems)


def collect_round(exchange: Flask, transport: AppTransport) -> list[Any]:
    return run_round(exchange, transport)


def test_a_replayed_cosignature_and_one_of_another_log_do_not_verify(
    app: Flask, client: FlaskClient, partner: Flask
) -> None:
    transport = AppTransport({PARTNER_HOST: partner})
    witness = cosignature.parse_verifier_key(partner_witnesses(app, partner))
    member = add_member(app)
    first = pushed(client, member)
    assert run_round(app, transport)[0].outcome == Outcome.COSIGNED
    old = cosignature_lines(
        client.get("/api/v1/log/checkpoint?witnessed=true").get_data(as_text=True), witness.name
    )
    # The partner's witness also cosigns another log (origin Y).
    other = MemoryLog("other-programme.example/log").grow(3)
    assert cli(partner, "witness-log", other.origin, "--key", other.vkey).exit_code == 0
    other_line = submit(partner.test_client(), 0, [], other.checkpoint()).get_data(as_text=True)
    assert other_line.startswith("\u2014 ")
    # X grows; its newest checkpoint is not (yet) witnessed.
    later = pushed(client, member)
    pinned = client.get("/.well-known/jwks.json").get_json()
    document = bundle_of(client, member, later)
    assert verify_bundle(document, pinned=pinned).state == "cannot-confirm"
    key: ExchangeKey = app.extensions["exchange.key"]
    for borrowed in (old, [other_line]):
        forged = copy.deepcopy(document)
        forged["bundle"]["log"]["checkpoint"] += "".join(borrowed)
        verdict = verify_bundle(resigned(key, forged), pinned=pinned)
        assert verdict.state == "invalid", verdict.problems
    # The record of the witnessed size still verifies on the witnessed checkpoint.
    assert verify_bundle(bundle_of(client, member, first), pinned=pinned).state == "valid"
    # And the witness itself never cosigns X's origin under another log's key.
    impostor = MemoryLog(app.config["EXCHANGE_ORIGIN"], other.seed).grow(9)
    assert submit(partner.test_client(), 0, [], impostor.checkpoint()).status_code == 403


def test_a_forged_witness_key_does_not_pass_a_pinned_policy(
    app: Flask, client: FlaskClient, partner: Flask
) -> None:
    """The exchange signs its own trust list, so it could name a sock puppet as the partner's
    witness. A verifier that pins the partner's witness key (a tlog-policy it got from the
    partner, not from the exchange) is not fooled; one that takes the exchange's list is only
    as safe as the exchange's key, which is why the list's witness changes are logged."""
    transport = AppTransport({PARTNER_HOST: partner})
    genuine = cosignature.parse_verifier_key(partner_witnesses(app, partner))
    pinned_policy = cosignature.WitnessPolicy.k_of_n([genuine], 1)
    # The sock puppet: a key of the exchange's own under the partner witness's name.
    puppet_seed = signing.generate_private_key()
    puppet = cosignature.VerifierKey(genuine.name, 0x04, signing.public_key_of(puppet_seed))
    assert puppet.key_id != genuine.key_id
    member = add_member(app)
    record = pushed(client, member)
    pinned = client.get("/.well-known/jwks.json").get_json()
    document = bundle_of(client, member, record)
    checkpoint_text = document["bundle"]["log"]["checkpoint"]
    body, _ = note.signature_lines(checkpoint_text)
    document["bundle"]["log"]["checkpoint"] += cosignature.cosign(
        body, name=genuine.name, private_key=puppet_seed, timestamp=1_700_000_000
    )
    key: ExchangeKey = app.extensions["exchange.key"]
    forged = resigned(key, document)
    verdict = verify_bundle(forged, pinned=pinned, witness_policy=pinned_policy)
    assert verdict.state == "cannot-confirm", verdict.problems
    assert verdict.witnesses is not None and verdict.witnesses.by == ()
    # Once the real witness cosigned, the same record verifies against the pinned policy.
    assert run_round(app, transport)[0].outcome == Outcome.COSIGNED
    honest = verify_bundle(
        bundle_of(client, member, record), pinned=pinned, witness_policy=pinned_policy
    )
    assert honest.state == "valid", honest.problems


def test_a_rolled_back_log_is_refused_and_reported(
    app: Flask, client: FlaskClient, second_view: Flask, partner: Flask
) -> None:
    """X2 is X's log as it was (a restored backup, say): shorter than what the partner
    cosigned. The partner's witness refuses it, and X2's collector reports the witness is
    beyond its log rather than following it."""
    transport = AppTransport({PARTNER_HOST: partner})
    partner_witnesses(app, partner)
    partner_witnesses(second_view, partner)
    member = add_member(app)
    for _ in range(3):
        pushed(client, member)
    assert run_round(app, transport)[0].outcome == Outcome.COSIGNED
    [report] = run_round(second_view, transport)
    assert report.outcome == Outcome.INCONSISTENT
    assert "rolled back" in report.detail
