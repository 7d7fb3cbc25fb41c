"""What the verifier remembers between scans (issue 22): a label's decoding and whether its
signature holds, by their exact bytes. Nothing that can change is remembered: a label
verified a moment ago is refused once its key or its certificate is revoked, and no other
bytes are answered from what was remembered."""

from __future__ import annotations

import pytest
from flask import Flask

from exchange import signing
from exchange.db import transaction
from exchange.labels import claims, services
from exchange.labels.services import issuing
from exchange.labels.verify import signature_holds
from tests.labels.builders import Programme, programme


@pytest.fixture
def remembered(app: Flask, client: object) -> tuple[Programme, str]:
    """A programme and a label verified twice: its decoding and signature are remembered."""
    fx = programme(app, client)  # type: ignore[arg-type]
    fx.accredit()
    fx.scheme()
    url = str(fx.label(fx.certify()["number"], lot="LOT7")["url"])
    before = signature_holds.cache_info().hits
    assert fx.verify(url)["verdict"] == "valid"
    assert fx.verify(url)["verdict"] == "valid"
    assert signature_holds.cache_info().hits > before
    return fx, url


def codes(fx: Programme, text: str) -> list[str]:
    body = fx.verify(text)
    assert body["verdict"] == "invalid", body
    return [reason["code"] for reason in body["reasons"]]


def test_a_remembered_label_is_refused_once_its_key_is_revoked(
    remembered: tuple[Programme, str], app: Flask
) -> None:
    fx, url = remembered
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.revoke_issuer_key(session, kid=key.kid, reason="leaked")
    assert "key-revoked" in codes(fx, url)


@pytest.mark.parametrize(
    ("action", "code"),
    [("suspend", "certificate-suspended"), ("revoke", "certificate-revoked")],
)
def test_a_remembered_label_is_refused_once_its_certificate_is_not_good(
    remembered: tuple[Programme, str], action: str, code: str
) -> None:
    fx, url = remembered
    number = fx.verify(url)["issued"]["certificate"]["number"]
    acted = fx.client.post(
        f"/api/v1/certificates/{number}/{action}",
        json={"reason": f"{action} by the body"},
        headers=fx.body.headers,
    )
    assert acted.status_code == 200, acted.get_json()
    assert codes(fx, url) == [code]


def test_other_bytes_are_not_answered_from_a_remembered_label(
    remembered: tuple[Programme, str],
) -> None:
    fx, url = remembered
    head, digits = url.split("?L=")
    # The same claims with the last signature digit changed; the lot changed under the same
    # signature; the text with trailing space (decoded alike, so valid alike).
    changed = digits[:-1] + ("1" if digits[-1] != "1" else "2")
    assert fx.verify(f"{head}?L={changed}")["verdict"] == "invalid"
    assert fx.verify(url.replace("LOT7", "LOT8"))["verdict"] == "invalid"
    assert fx.verify(url + " ")["verdict"] == "valid"


def test_the_signature_memo_answers_for_exact_bytes_only() -> None:
    signer, other = signing.KeyPair.generate(), signing.KeyPair.generate()
    message = b"footprint-exchange:label:test\n{}"
    signature = signing.sign_bytes(message=message, private_key=signer.private_key)
    assert signature_holds(message, signature, signer.public_key)
    assert signature_holds(message, signature, signer.public_key)  # remembered: the same
    assert not signature_holds(message, signature, other.public_key)
    assert not signature_holds(message + b" ", signature, signer.public_key)
    forged = signing.b64url_encode(bytes(64))
    assert not signature_holds(message, forged, signer.public_key)
    assert not signature_holds(message, signature[:-2], signer.public_key)  # malformed
    assert not signature_holds(message, signature, signer.public_key[:31])  # malformed


def test_a_label_text_longer_than_any_label_is_refused_and_not_remembered(
    remembered: tuple[Programme, str], app: Flask
) -> None:
    """An anonymous caller posts text/plain bodies (the JSON form refuses them at 2,000
    characters) that are the genuine label with a value of thousands of digits: well formed
    but for their length. Each must be refused as malformed, not taken apart (a value past
    4,300 digits cannot even be printed: a 500), and neither its decoding nor a signature
    check over it may be kept, or 4,096 of them would hold gigabytes."""
    fx, url = remembered
    prefix, digits = url.split(f"?{claims.QUERY_KEY}=")
    data = claims.from_digits(digits)
    head, signature = data[: claims._FIXED + 1], data[-signing.SIGNATURE_BYTES :]
    decodings, checks = issuing._decoded.cache_info(), signature_holds.cache_info()
    client = app.test_client()
    for value_bytes in (900, 3_000, 100_000):  # 7 bits of the value each
        value = b"\x81" * value_bytes + b"\x01"
        huge = f"{prefix}?{claims.QUERY_KEY}={claims.to_digits(head + value + signature)}"
        assert len(huge) > claims.MAX_TEXT
        answer = client.post("/api/v1/labels/verify", data=huge, content_type="text/plain")
        assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
        assert [reason["code"] for reason in answer.get_json()["reasons"]] == ["malformed"]
    assert issuing._decoded.cache_info().currsize == decodings.currsize
    assert signature_holds.cache_info().currsize == checks.currsize
    # The genuine label is well within the bound.
    assert len(url) <= claims.MAX_TEXT
    assert fx.verify(url)["verdict"] == "valid"
