"""The label verification page in a real headless Chromium, against a real server.

Chromium comes from Debian (``/usr/bin/chromium``); Playwright only drives it. Service
workers need a secure context, which ``http://127.0.0.1`` is.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, Page

from exchange.client.api import ExchangeClient
from exchange.client.labels import certificate_document, sign_certificate, verify_label_offline
from exchange.labels.claims import decode
from exchange.organisations.models import Role
from tests.e2e.conftest import NEEDS_CHROMIUM, running_server
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY, GTIN

pytestmark = [
    pytest.mark.e2e,
    NEEDS_CHROMIUM,
]


def client_of(base_url: str, member: Member) -> ExchangeClient:
    return ExchangeClient(
        base_url=base_url, client_id=member.client_id, client_secret=member.client_secret
    )


def issue(app: Flask, base_url: str) -> tuple[dict[str, Any], Member, ExchangeClient]:
    """Over HTTP: accredit a body, push and share a record, certify it, grade, label it."""
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY)
    supplier = add_member(app, Role.SUPPLIER)
    as_regulator = client_of(base_url, regulator)
    as_body = client_of(base_url, body)
    as_supplier = client_of(base_url, supplier)
    as_regulator.request(
        "POST",
        f"/api/v1/accreditations/{body.organisation_id}",
        json={"status": "granted", "reason": "accredited after audit"},
    )
    as_regulator.request(
        "POST",
        "/api/v1/grading-schemes",
        json={
            "category": CATEGORY,
            "method": "benchmark-ratio",
            "unit": "kilogram",
            "parameters": {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
        },
    )
    footprint = supplier.footprint(
        id=str(uuid.uuid4()), productIds=[f"urn:gtin:{GTIN}"], productNameCompany="Baisha green tea"
    )
    footprint.pop("precedingPfIds", None)
    footprint["pcf"]["declaredUnitAmount"] = "2"
    footprint["pcf"]["pcfIncludingBiogenicUptake"] = "-18.44"
    as_supplier.push(supplier.key.sign_footprint(footprint))
    as_supplier.share(body.organisation_id, record_id=footprint["id"])
    document = certificate_document(
        body_id=body.organisation_id,
        record_id=footprint["id"],
        footprint=footprint,
        gtin=GTIN,
        category=CATEGORY,
    )
    certificate = as_body.certify(sign_certificate(body.key, document))
    label = as_body.issue_label(certificate["number"], lot="LOT2026A")
    return label, body, as_body


def page_url(base_url: str, label_url: str) -> str:
    """The label as this test server serves it: same path and query, local host."""
    parts = urlsplit(label_url)
    return f"{base_url}{parts.path}?{parts.query}"


def verdict_of(page: Page) -> str:
    # A selector, not a predicate: the page's CSP forbids the eval a predicate needs.
    page.wait_for_selector("#verdict:not([data-verdict='pending'])", timeout=20_000)
    return str(page.get_attribute("#verdict", "data-verdict"))


def wait_for_service_worker(page: Page) -> None:
    """Until the page's service worker controls it (it then serves the page offline)."""
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(100):
        if page.evaluate("navigator.serviceWorker.controller !== null"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def reasons_of(page: Page) -> list[str]:
    return [str(item.get_attribute("data-code")) for item in page.locator("#reasons li").all()]


def tampered(url: str) -> str:
    """One digit of the signed data changed."""
    position = len(url) - 40
    digit = "1" if url[position] != "1" else "2"
    return url[:position] + digit + url[position + 1 :]


def test_valid_tampered_and_offline(
    app: Flask, browser: Browser, database_url: str, tmp_path: Path
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with running_server(database_url, tmp_path / "instance", tmp_path / "server.log") as base:
        label, _body, as_body = issue(app, base)
        assert label["qrVersion"] <= 9
        url = page_url(base, label["url"])

        page.goto(url)
        assert verdict_of(page) == "valid"
        assert page.text_content("#value") == "-9.22"
        assert page.text_content("#unit") == "kg CO₂e / kg"
        assert page.text_content("#grade") == "1"
        assert page.text_content("#product") == "Baisha green tea"
        assert page.text_content("#lot") == "LOT2026A"
        assert page.is_hidden("#notice")
        assert "verdict ok" in str(page.get_attribute("#verdict", "class"))

        # The Python client agrees, offline, with the trust list pinned to the server's key.
        trust = as_body.trust_list()
        pinned = trust["trustList"]["exchange"]["jwk"]
        from exchange.signing import public_key_from_jwk

        verdict = verify_label_offline(
            label["url"], trust_list=trust, pinned=[public_key_from_jwk(pinned)]
        )
        assert verdict.valid and verdict.claims is not None
        assert str(verdict.claims.value) == "-9.22"

        page.goto(tampered(url))
        assert verdict_of(page) == "invalid"
        assert page.get_attribute("#reasons li", "data-code") == "bad-signature"
        assert "verdict bad" in str(page.get_attribute("#verdict", "class"))

        # The service worker is in control and has cached the page and the trust list.
        page.goto(url)
        assert verdict_of(page) == "valid"
        wait_for_service_worker(page)

    # The server is gone: no network at all.
    with pytest.raises(requests.RequestException):
        requests.get(f"{base}/healthz", timeout=2)
    page.goto(url)
    assert verdict_of(page) == "valid-offline"
    assert page.is_visible("#notice")
    assert "suspended or revoked" in str(page.text_content("#notice"))
    assert "Not checked: whether the exchange issued this label" in str(
        page.text_content("#notice")
    )
    assert page.text_content("#value") == "-9.22"
    page.goto(tampered(url))
    assert verdict_of(page) == "invalid"
    assert errors == []
    context.close()


def test_revoked_certificate_is_red_online(app: Flask, browser: Browser, live_server: str) -> None:
    label, _body, as_body = issue(app, live_server)
    context = browser.new_context()
    page = context.new_page()
    url = page_url(live_server, label["url"])
    page.goto(url)
    assert verdict_of(page) == "valid"
    as_body.change_certificate(label["claims"]["certificate"], "revoke", "misstated data")
    page.reload()
    assert verdict_of(page) == "invalid"
    assert page.get_attribute("#reasons li", "data-code") == "certificate-revoked"
    assert page.text_content("#certificate-status") == "revoked"
    context.close()


def test_the_page_refuses_a_sample_of_single_character_changes(
    app: Flask, browser: Browser, live_server: str
) -> None:
    label, _body, _as_body = issue(app, live_server)
    url = page_url(live_server, label["url"])
    path_and_query = url[len(live_server) :]
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    assert verdict_of(page) == "valid"
    positions = [1, 4, 6, 17, len(path_and_query) - 1, len(path_and_query) - 90]
    positions += list(range(35, len(path_and_query), 23))
    for position in positions:
        original = path_and_query[position]
        other = "7" if original != "7" else "3"
        changed = path_and_query[:position] + other + path_and_query[position + 1 :]
        page.goto(live_server + changed)
        if page.locator("#verdict").count() == 0:
            continue  # the server itself answered "no such resource"
        assert verdict_of(page) == "invalid", changed
    decode(label["url"])  # the original stays valid
    assert dt.date.fromisoformat(label["claims"]["expires"]) > dt.date.today()
    context.close()


def _resigned(label_url: str, key: Any, **changes: Any) -> str:
    import dataclasses

    from exchange import signing
    from exchange.labels import claims as label_claims

    scanned = decode(label_url)
    claims = dataclasses.replace(scanned.claims(key.kid), **changes)
    signature = signing.sign_bytes(
        message=label_claims.signed_message(claims), private_key=key.private_key
    )
    return label_claims.encode(claims, signature)


def test_unknown_key_and_expired_labels_are_red(
    app: Flask, browser: Browser, live_server: str, live_server_instance: Path
) -> None:
    from exchange.keyring import load_or_create_exchange_key
    from exchange.signing import KeyPair

    label, _body, _as_body = issue(app, live_server)
    context = browser.new_context()
    page = context.new_page()
    stranger = _resigned(label["url"], KeyPair.generate())
    page.goto(page_url(live_server, stranger))
    assert verdict_of(page) == "invalid"
    assert page.get_attribute("#reasons li", "data-code") == "unknown-key"

    # Signed with the server's own key, but long expired.
    server_key = load_or_create_exchange_key(live_server_instance)
    old = _resigned(
        label["url"], server_key, issued=dt.date(2021, 1, 4), expires=dt.date(2023, 1, 3)
    )
    page.goto(page_url(live_server, old))
    assert verdict_of(page) == "invalid"
    codes = [item.get_attribute("data-code") for item in page.locator("#reasons li").all()]
    assert "expired" in codes
    assert page.text_content("#value") == "-9.22"  # shown, but never green
    context.close()


# --- a leaked label key, an unknown label number, a restated grade, a stale trust list -----


def _in_service_then_leaked(app: Flask, kid: str, *, revoke: bool) -> None:
    """The label key has signed labels for two months; it leaks, and is revoked if asked."""
    from exchange.db import transaction, utcnow
    from exchange.labels import services
    from exchange.labels.models import IssuerKey

    with transaction(app.extensions["exchange.sessions"]) as session:
        issuer = session.get(IssuerKey, kid)
        assert issuer is not None
        issuer.not_before = utcnow() - dt.timedelta(days=60)
        session.flush()
        if revoke:
            services.revoke_issuer_key(session, kid=kid, reason="leaked")


def _kept_copy(document: dict[str, Any], key: Any, *, days_ago: int) -> str:
    """The trust list as a phone kept it from ``days_ago`` days back (validity three days):
    genuine, signed by the exchange key, and now past its nextUpdate."""
    from exchange import signing

    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    payload = {
        **document["trustList"],
        "issuedAt": issued.isoformat(),
        "nextUpdate": (issued + dt.timedelta(days=3)).isoformat(),
    }
    value = key.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload)
    signature = {"alg": "Ed25519", "kid": key.kid, "value": value}
    return json.dumps({"trustList": payload, "signature": signature})


def _plant(page: Page, text: str) -> int:
    """Put ``text`` in the service worker's caches as the kept trust list; how many caches."""
    return int(
        page.evaluate(
            """async (text) => {
                const names = await caches.keys();
                for (const name of names) {
                    const cache = await caches.open(name);
                    await cache.put('/.well-known/trust-list.json',
                        new Response(text, { headers: { 'Content-Type': 'application/json' } }));
                }
                return names.length;
            }""",
            text,
        )
    )


def test_online_the_exchange_decides_a_leaked_key_never_makes_green(
    app: Flask, browser: Browser, live_server: str, live_server_instance: Path, tmp_path: Path
) -> None:
    """Every signature below checks out against the trust list: only the exchange's answer
    shows that it never issued these labels."""
    from exchange.keyring import load_or_create_exchange_key

    label, _body, as_body = issue(app, live_server)
    key = load_or_create_exchange_key(live_server_instance)
    _in_service_then_leaked(app, key.kid, revoke=False)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_url(live_server, label["url"]))
    assert verdict_of(page) == "valid"
    assert page.text_content("#certificate-status") == "active"
    # Online, the page fetches a fresh list, whatever stale copy the phone kept.
    wait_for_service_worker(page)
    assert _plant(page, _kept_copy(as_body.trust_list(), key, days_ago=5)) >= 1
    page.goto(page_url(live_server, label["url"]))
    assert verdict_of(page) == "valid"

    # A real label's number with a restated grade.
    restated = _resigned(label["url"], key, grade=3)
    page.goto(page_url(live_server, restated))
    assert verdict_of(page) == "invalid"
    assert reasons_of(page) == ["claims-differ"]
    assert "Not issued by the programme" in str(page.text_content("#verdict-en"))
    assert "非本计划签发" in str(page.text_content("#verdict-zh"))
    assert "verdict bad" in str(page.get_attribute("#verdict", "class"))
    assert page.text_content("#product") == "\u2013"  # nothing of the real label lent to it

    # A label number the exchange never issued.
    page.goto(page_url(live_server, _resigned(label["url"], key, label=987654)))
    assert verdict_of(page) == "invalid"
    assert reasons_of(page) == ["unknown-label"]

    # The leak is found and the key revoked: forgeries dated before the revocation still
    # pass every offline check, and are red online.
    _in_service_then_leaked(app, key.kid, revoke=True)
    earlier = dt.date.today() - dt.timedelta(days=10)
    for forged, code in (
        (_resigned(label["url"], key, label=987655, issued=earlier), "unknown-label"),
        (_resigned(label["url"], key, grade=3, issued=earlier), "claims-differ"),
    ):
        page.goto(page_url(live_server, forged))
        assert verdict_of(page) == "invalid"
        assert reasons_of(page) == [code]
    assert errors == []
    context.close()


def test_a_stale_trust_list_cannot_confirm_and_offline_is_never_green(
    app: Flask, browser: Browser, database_url: str, tmp_path: Path
) -> None:
    """A phone that kept the list from before a key's revocation: once the list is past its
    nextUpdate (the clock moved, or the copy is old) the page says "cannot confirm"."""
    from exchange.keyring import load_or_create_exchange_key

    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    instance = tmp_path / "instance"
    with running_server(database_url, instance, tmp_path / "server.log") as base:
        label, _body, as_body = issue(app, base)
        key = load_or_create_exchange_key(instance)
        url = page_url(base, label["url"])
        page.goto(url)
        assert verdict_of(page) == "valid"
        wait_for_service_worker(page)
        page.goto(url)
        assert verdict_of(page) == "valid"
        kept = as_body.trust_list()  # what the phone now holds: from before the revocation
        # The key leaks and is revoked; the phone is offline from here on.
        _in_service_then_leaked(app, key.kid, revoke=True)
        forged = page_url(base, _resigned(label["url"], key, label=987656))

    with pytest.raises(requests.RequestException):
        requests.get(f"{base}/healthz", timeout=2)
    # Within the list's validity the forgery's signature holds, and the page says exactly
    # that: checked offline only, never the green "genuine, valid".
    page.goto(forged)
    assert verdict_of(page) == "valid-offline"
    assert "verdict offline" in str(page.get_attribute("#verdict", "class"))
    assert page.is_visible("#notice")
    notice = str(page.text_content("#notice"))
    assert "Not checked: whether the exchange issued this label with exactly these claims" in notice
    assert "未检查" in notice

    # Four days on, the clock is past the list's nextUpdate (three days' validity): nothing
    # can be confirmed, the genuine label included, until the phone connects.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    page.clock.set_fixed_time(later)
    for target in (forged, url):
        page.goto(target)
        assert verdict_of(page) == "cannot-confirm"
        assert "verdict warn" in str(page.get_attribute("#verdict", "class"))
        assert reasons_of(page) == ["trust-list-stale"]
        assert "Cannot confirm — connect to update" in str(page.text_content("#verdict-en"))
        assert "无法确认" in str(page.text_content("#verdict-zh"))
        assert page.is_hidden("#facts")

    # Back to today's clock, with the copy a phone kept from four days ago: the service
    # worker itself refuses to hand it out as current.
    page.clock.set_fixed_time(dt.datetime.now(dt.UTC))
    page.goto(url)
    assert verdict_of(page) == "valid-offline"
    assert _plant(page, _kept_copy(kept, key, days_ago=4)) >= 1
    answer = page.evaluate(
        """fetch('/.well-known/trust-list.json', { cache: 'no-store' })
            .then(async (response) => [response.status, (await response.json()).code])"""
    )
    assert answer == [503, "trust-list-stale"]
    for target in (forged, url):
        page.goto(target)
        assert verdict_of(page) == "cannot-confirm"
        assert reasons_of(page) == ["trust-list-stale"]
    assert dt.datetime.fromisoformat(kept["trustList"]["nextUpdate"]) < later
    assert errors == []
    context.close()
