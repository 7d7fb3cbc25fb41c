"""Forged and altered labels: the server verifier never says valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.db import transaction, utcnow
from exchange.labels import claims as c
from exchange.labels import services
from tests.labels.builders import Programme, programme

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.fixture
def labelled(app: Flask, client: FlaskClient) -> tuple[Programme, dict[str, object]]:
    fx = programme(app, client)
    fx.accredit()
    fx.scheme()
    label = fx.label(fx.certify()["number"], lot="LOT7")
    return fx, label


def single_character_changes(url: str) -> list[str]:
    """Every substitution of one character by another of the QR alphanumeric set, lower
    case or '=', '?', '&'; and every deletion."""
    changed = []
    for index, original in enumerate(url):
        for other in ALPHANUMERIC + "abcxyz=?&#":
            if other != original:
                changed.append(url[:index] + other + url[index + 1 :])
        changed.append(url[:index] + url[index + 1 :])
    return changed


def test_every_single_character_change_is_refused(
    labelled: tuple[Programme, dict[str, object]], app: Flask
) -> None:
    fx, label = labelled
    url = str(label["url"])
    origin = app.config["EXCHANGE_ORIGIN"]
    changes = single_character_changes(url)
    assert len(changes) > 10_000
    with app.extensions["exchange.sessions"]() as session:
        verdict, _ = services.verify_text(session, url, origin=origin)
        assert verdict.valid
        accepted = [
            text for text in changes if services.verify_text(session, text, origin=origin)[0].valid
        ]
    assert accepted == []
    # And a sample over HTTP, as partners' apps send them.
    for text in random.Random(7).sample(changes, 40):
        assert fx.verify(text)["verdict"] == "invalid"


def _resigned(url: str, key: signing.KeyPair, **changes: object) -> str:
    scanned = c.decode(url)
    claims = dataclasses.replace(scanned.claims(key.kid), **changes)  # type: ignore[arg-type]
    signature = signing.sign_bytes(message=c.signed_message(claims), private_key=key.private_key)
    return c.encode(claims, signature)


def _swapped(url: str, **changes: object) -> str:
    """The same signature over changed claims."""
    scanned = c.decode(url)
    stand_in = signing.b64url_encode(scanned.kid_prefix + bytes(26))
    claims = dataclasses.replace(scanned.claims(stand_in), **changes)  # type: ignore[arg-type]
    return c.encode(claims, scanned.signature)


def codes(fx: Programme, text: str) -> list[str]:
    body = fx.verify(text)
    assert body["verdict"] == "invalid"
    return [reason["code"] for reason in body["reasons"]]


def test_swapped_grade_or_value(labelled: tuple[Programme, dict[str, object]]) -> None:
    fx, label = labelled
    url = str(label["url"])
    assert fx.verify(url)["claims"]["grade"] == 1
    assert codes(fx, _swapped(url, grade=5)) == ["bad-signature"]
    assert codes(fx, _swapped(url, grade=None)) == ["bad-signature"]
    assert codes(fx, _swapped(url, value=Decimal("-92.2"))) == ["bad-signature"]
    assert codes(fx, _swapped(url, unit="liter")) == ["bad-signature"]
    assert codes(fx, _swapped(url, expires=dt.date(2099, 1, 1))) == ["bad-signature"]
    assert codes(fx, _swapped(url, lot="LOT8")) == ["bad-signature"]
    assert codes(fx, _swapped(url, origin="evil.example")) == ["wrong-origin"]


def test_a_label_signed_by_an_unknown_key(labelled: tuple[Programme, dict[str, object]]) -> None:
    fx, label = labelled
    stranger = signing.KeyPair.generate()
    assert codes(fx, _resigned(str(label["url"]), stranger)) == ["unknown-key"]
    # Even a certification body's own registered key cannot sign labels.
    assert codes(fx, _resigned(str(label["url"]), fx.body.key)) == ["unknown-key"]


def test_a_label_signed_by_a_revoked_key(
    labelled: tuple[Programme, dict[str, object]], app: Flask
) -> None:
    fx, label = labelled
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.revoke_issuer_key(session, kid=key.kid, reason="leaked")
    assert "key-revoked" in codes(fx, str(label["url"]))
    refused = fx.client.post(
        "/api/v1/labels",
        json={"certificate": label["claims"]["certificate"]},  # type: ignore[index]
        headers=fx.body.headers,
    )
    assert refused.status_code == 409
    trust = fx.client.get("/.well-known/trust-list.json").get_json()
    [listed] = trust["trustList"]["exchange"]["labelKeys"]
    assert listed["revokedAt"] is not None


def test_expired_labels(labelled: tuple[Programme, dict[str, object]], app: Flask) -> None:
    _fx, label = labelled
    expires = dt.date.fromisoformat(label["claims"]["expires"])  # type: ignore[index]
    later = dt.datetime.combine(expires + dt.timedelta(days=1), dt.time(12), dt.UTC)
    with app.extensions["exchange.sessions"]() as session:
        verdict, state = services.verify_text(
            session, str(label["url"]), origin=app.config["EXCHANGE_ORIGIN"], now=later
        )
    assert [reason.code for reason in verdict.reasons] == ["expired"]
    assert state == "expired"
    assert expires <= (utcnow() + dt.timedelta(days=2 * 366)).date()


def test_a_label_the_exchange_never_issued(
    labelled: tuple[Programme, dict[str, object]], app: Flask
) -> None:
    fx, label = labelled
    key = app.extensions["exchange.key"]
    # Correctly signed by the exchange key (say, a stolen signing oracle) but never stored.
    ghost = _resigned(str(label["url"]), key, label=424242)
    assert codes(fx, ghost) == ["unknown-label"]


def test_a_leaked_key_restating_a_real_label_is_refused_claim_by_claim(
    labelled: tuple[Programme, dict[str, object]], app: Flask
) -> None:
    """The label key leaked: the forger re-signs a real label's number with a better grade,
    or another value, lot or expiry. Every signature checks out; the exchange's record does
    not, and its answer names each claim that differs."""
    fx, label = labelled
    key = app.extensions["exchange.key"]
    url = str(label["url"])
    genuine = fx.verify(url)
    assert genuine["verdict"] == "valid"
    assert genuine["issued"]["product"]["name"] and genuine["issued"]["company"]["name"]
    assert genuine["issued"]["certificate"]["status"] == "active"
    assert genuine["claims"]["grade"] == 1
    for changes, named in (
        ({"grade": 3}, ["grade"]),
        ({"grade": None}, ["grade"]),
        ({"value": Decimal("-1.5")}, ["value"]),
        ({"unit": "liter"}, ["unit"]),
        ({"lot": "LOT8"}, ["lot"]),
        ({"gtin": "00012345600012"}, ["gtin"]),
        ({"certificate": 4242}, ["certificate"]),
        ({"expires": dt.date(2099, 1, 1)}, ["expires"]),
        ({"issued": utcnow().date() - dt.timedelta(days=1)}, ["issued"]),
    ):
        forged = _resigned(url, key, **changes)
        body = fx.verify(forged)
        assert body["verdict"] == "invalid", changes
        [message] = [r["message"] for r in body["reasons"] if r["code"] == "claims-differ"]
        for name in named:
            assert f"{name} " in message, message
        assert body["issued"] is None and body["certificateStatus"] is None


def test_a_leaked_then_revoked_key_back_dated_is_caught_online_only(
    labelled: tuple[Programme, dict[str, object]], app: Flask
) -> None:
    """Back-dated to before the revocation, a forgery passes every offline check: only the
    exchange knows it never issued it (number unknown) or issued it otherwise."""
    from exchange.client.labels import verify_label_offline
    from exchange.labels.models import IssuerKey

    fx, label = labelled
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        issuer = session.get(IssuerKey, key.kid)
        assert issuer is not None
        issuer.not_before = utcnow() - dt.timedelta(days=60)  # in service for two months
        session.flush()
        services.revoke_issuer_key(session, kid=key.kid, reason="leaked")
    url = str(label["url"])
    earlier = utcnow().date() - dt.timedelta(days=10)
    ghost = _resigned(url, key, label=900001, issued=earlier)
    restated = _resigned(url, key, grade=4, issued=earlier)
    trust = fx.client.get("/.well-known/trust-list.json").get_json()
    for forged in (ghost, restated):
        offline = verify_label_offline(forged, trust_list=trust, pinned=[key.public_key])
        assert offline.valid  # what a phone with no connection can say: the signature holds
    assert codes(fx, ghost) == ["unknown-label"]
    assert codes(fx, restated) == ["claims-differ"]
    assert "grade 4, issued 1" in fx.verify(restated)["reasons"][0]["message"]
