"""Rotation of the exchange key: what the old key signed still verifies (on the server and in
the offline verifiers), new things are signed with the new key, sealed secrets still open,
and every process sharing the instance folder moves to the new key together."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from flask.testing import FlaskClient

from exchange import create_app, signing
from exchange.cli import main
from exchange.client.labels import verify_label_offline
from exchange.keyring import (
    KEY_FILE_NAME,
    RETIRED_DIRECTORY,
    Keyring,
    load_or_create_exchange_key,
    open_secret,
    rotate_exchange_key,
    seal_secret,
)
from exchange.labels.verify import open_trust_list
from exchange.log import note
from exchange.log.verify import verify_inclusion_proof, verify_receipt
from exchange.mutual_recognition.verify import verify_bundle
from exchange.pact.models import EventEndpoint
from tests.labels.builders import programme
from tests.portal.helpers import add_user, sign_in


def _jwks_keys(client: FlaskClient) -> list[bytes]:
    return [
        signing.public_key_from_jwk({name: jwk[name] for name in ("kty", "crv", "x")})
        for jwk in client.get("/.well-known/jwks.json").get_json()["keys"]
    ]


def _bundle(client: FlaskClient, record_id: str, headers: dict[str, str]) -> Any:
    response = client.get(f"/api/v1/footprints/{record_id}/verification", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _receipt(client: FlaskClient, envelope: dict[str, Any], headers: dict[str, str]) -> Any:
    response = client.post("/api/v1/footprints", json=envelope, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["receipt"]


def _entry(envelope: dict[str, Any]) -> bytes:
    return signing.canonical_json(
        {"footprint": envelope["footprint"], "signature": envelope["signature"]}
    )


def test_everything_signed_before_a_rotation_still_verifies(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    origin = app.config["EXCHANGE_ORIGIN"]
    fx = programme(app, client)
    fx.accredit()
    fx.scheme()
    footprint = fx.record()
    certificate = fx.certify(footprint)
    label = fx.label(certificate["number"], lot="LOT1")
    envelope = fx.supplier.envelope()
    receipt = _receipt(client, envelope, fx.supplier.headers)
    old_checkpoint = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    old_bundle = _bundle(client, footprint["id"], fx.body.headers)
    old_trust_list = client.get("/.well-known/trust-list.json").get_json()
    registered = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://pact.example.com", "clientId": "us", "clientSecret": "s3cret"},
        headers=fx.supplier.headers,
    )
    assert registered.status_code == 200, registered.get_json()
    add_user(app, fx.supplier, "ops@example.com")
    page = f"/portal/records/{footprint['id']}"
    assert app.test_client().get(page).status_code != 200
    sign_in(client, "ops@example.com")
    assert client.get(page).status_code == 200
    old_cookie = client.get_cookie("fx_portal")
    assert old_cookie is not None
    [old_key] = _jwks_keys(client)

    rotated = CliRunner().invoke(main, ["keys", "rotate"], obj=ScriptInfo(create_app=lambda: app))
    assert rotated.exit_code == 0, rotated.output
    # the same app, as a running worker would: it follows the file without a restart
    new = app.extensions["exchange.keyring"].current()
    assert new.public_key != old_key and [item.key.public_key for item in new.retired] == [old_key]
    assert f"now signs with {new.kid}" in rotated.output
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert [jwk["kid"] for jwk in jwks["keys"]] == [new.kid, signing.key_id(old_key)]
    assert jwks["keys"][0]["retiredAt"] is None and jwks["keys"][1]["retiredAt"] is not None
    published = _jwks_keys(client)

    # the portal session signed with the old key's secret is still good, in this worker and
    # in one started after the rotation; sessions signed now are good in both
    assert client.get(page).status_code == 200
    restarted = create_app(
        {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True},
        instance_path=app.instance_path,
    )
    try:
        other = restarted.test_client()
        other.set_cookie("fx_portal", old_cookie.value)
        assert other.get(page).status_code == 200
        fresh = restarted.test_client()
        sign_in(fresh, "ops@example.com")
        new_cookie = fresh.get_cookie("fx_portal")
        assert new_cookie is not None and new_cookie.value != old_cookie.value
        back = app.test_client()
        back.set_cookie("fx_portal", new_cookie.value)
        assert back.get(page).status_code == 200
    finally:
        restarted.extensions["exchange.engine"].dispose()

    # the receipt, checkpoint, bundle and label of before, against the published keys
    verify_receipt(receipt, public_key=published, origin=origin, entry=_entry(envelope))
    verify_receipt(receipt, public_key=old_key, origin=origin, entry=_entry(envelope))
    note.verify_checkpoint(old_checkpoint, origin=origin, public_key=published)
    assert verify_bundle(old_bundle, pinned=jwks, origin=origin).ok
    assert fx.verify(label["url"])["verdict"] == "valid"
    assert verify_label_offline(label["url"], trust_list=old_trust_list, pinned=published).valid
    assert app.test_cli_runner().invoke(args=["audit"]).output.startswith("audit ok:")
    old_size = old_checkpoint.splitlines()[1]
    stored = client.get(f"/api/v1/log/checkpoint?size={old_size}&format=json").get_json()
    assert stored["verifierKey"] == note.verifier_key(origin, old_key)
    # the company-side command, pinning the exchange's JWK Set as published now
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    (tmp_path / "trust-list.json").write_text(json.dumps(old_trust_list))
    offline = CliRunner().invoke(
        main,
        [
            "label",
            "verify",
            label["url"],
            "--trust-list",
            str(tmp_path / "trust-list.json"),
            "--pin",
            str(tmp_path / "jwks.json"),
        ],
    )
    assert offline.exit_code == 0 and "valid (offline" in offline.output, offline.output

    # new things are signed with the new key, and verify with it alone
    envelope = fx.supplier.envelope()
    receipt = _receipt(client, envelope, fx.supplier.headers)
    assert receipt["signature"]["kid"] == new.kid
    verify_receipt(receipt, public_key=new.public_key, origin=origin, entry=_entry(envelope))
    with pytest.raises(signing.SigningError):
        verify_receipt(receipt, public_key=old_key, origin=origin, entry=_entry(envelope))
    checkpoint = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    note.verify_checkpoint(checkpoint, origin=origin, public_key=new.public_key)
    with pytest.raises(signing.SigningError):
        note.verify_checkpoint(checkpoint, origin=origin, public_key=old_key)
    proof = client.get(
        f"/api/v1/log/proof/inclusion?index={receipt['receipt']['logIndex']}"
        f"&size={checkpoint.splitlines()[1]}"
    ).get_json()
    verify_inclusion_proof(
        proof, checkpoint, public_key=published, origin=origin, entry=_entry(envelope)
    )
    bundle = _bundle(client, footprint["id"], fx.body.headers)
    assert bundle["signature"]["kid"] == new.kid
    assert verify_bundle(bundle, pinned=jwks, origin=origin).ok
    assert not verify_bundle(bundle, pinned=[old_key], origin=origin).ok
    trust_list = client.get("/.well-known/trust-list.json").get_json()
    assert trust_list["signature"]["kid"] == new.kid
    assert [key["kid"] for key in trust_list["trustList"]["exchange"]["keys"]] == [
        new.kid,
        signing.key_id(old_key),
    ]
    open_trust_list(trust_list, pinned=[new.public_key])
    assert verify_label_offline(label["url"], trust_list=trust_list, pinned=published).valid
    new_label = fx.label(certificate["number"], lot="LOT2")
    assert fx.verify(new_label["url"])["verdict"] == "valid"
    assert verify_label_offline(new_label["url"], trust_list=trust_list, pinned=published).valid
    assert app.test_cli_runner().invoke(args=["audit"]).output.startswith("audit ok:")

    # the partner's secret, sealed with the old key, still opens; new seals use the new key
    with app.extensions["exchange.sessions"]() as session:
        sealed = session.scalar(
            sa.select(EventEndpoint.sealed_secret).where(
                EventEndpoint.organisation_id == fx.supplier.organisation_id
            )
        )
    assert sealed is not None and open_secret(new, sealed) == "s3cret"
    assert open_secret(new, seal_secret(new, "later")) == "later"
    assert open_secret(load_or_create_exchange_key(Path(app.instance_path)), sealed) == "s3cret"


def test_processes_sharing_the_folder_follow_a_rotation_together(tmp_path: Path) -> None:
    first, second = Keyring(tmp_path), Keyring(tmp_path)
    assert first.current().kid == second.current().kid
    sealed = seal_secret(first.current(), "partner secret")
    rotated = rotate_exchange_key(tmp_path)
    assert first.current().kid == second.current().kid == rotated.kid
    assert open_secret(second.current(), sealed) == "partner secret"
    assert (tmp_path / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600
    for path in (tmp_path / RETIRED_DIRECTORY).iterdir():
        assert path.stat().st_mode & 0o777 == 0o600


def test_concurrent_rotations_lose_no_key(tmp_path: Path) -> None:
    start = load_or_create_exchange_key(tmp_path)
    barrier = threading.Barrier(4)

    def rotate() -> None:
        barrier.wait()
        rotate_exchange_key(tmp_path)

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = load_or_create_exchange_key(tmp_path)
    kids = [key.kid for key in final.all_keys()]
    assert len(kids) == len(set(kids)) == 5 and start.kid in kids


def test_a_retired_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    rotate_exchange_key(tmp_path)
    [retired] = (tmp_path / RETIRED_DIRECTORY).iterdir()
    retired.chmod(0o644)
    with pytest.raises(PermissionError):
        load_or_create_exchange_key(tmp_path)
