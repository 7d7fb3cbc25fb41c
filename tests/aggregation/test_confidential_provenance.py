"""Confidential provenance, attacked first: a derived footprint proves its inputs without
disclosing them.

A three-company chain - a farm's mango record, a processor's pulp derived from it, a
brand's juice derived from the pulp record and a sugar record - and the brand's customer,
given a product share of the juice. The customer sees commitments, totals and a valid
attestation, and nothing of any input in any response it can obtain; each party opens
exactly the lines whose inputs it may see itself; altered openings, swapped salts and
commitments from another record are refused, at submission and by every verifier; the
attestation verifies with an independent implementation of its documented bytes."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from exchange.aggregation import commitments
from exchange.aggregation.models import Attestation, Provenance, ProvenanceLine
from exchange.db import transaction
from exchange.footprints.flows.models import DataFlow, FlowKind
from exchange.log import services as log_services
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from tests.aggregation.test_views import compute, define, load_factors, pcf, push, share_product
from tests.factories import Member, add_member, json_of
from tests.portal.helpers import add_user, sign_in

MANGO_URN = "urn:gtin:06901234567106"
PULP_URN = "urn:gtin:06901234567113"
SUGAR_URN = "urn:gtin:06901234567120"
JUICE_URN = "urn:gtin:06901234567137"
SMOOTHIE_URN = "urn:gtin:06901234567144"


def per_kg(including: str, fossil: str, land_use: str) -> dict[str, Any]:
    """A supplier's figures per kilogram, no biogenic part, no packaging."""
    document = pcf(
        declaredUnitOfMeasurement="kilogram",
        declaredUnitAmount="1",
        pcfIncludingBiogenicUptake=including,
        pcfExcludingBiogenicUptake=including,
        fossilGhgEmissions=fossil,
        biogenicCO2Uptake="0",
        landUseChangeGhgEmissions=land_use,
    )
    document.pop("packagingGhgEmissions", None)
    document["packagingEmissionsIncluded"] = False
    return document


# Figures no other part of a test world holds, so finding one in a response is a leak.
MANGO = per_kg("2.71828182", "1.41421356", "0.57721566")
SUGAR = per_kg("4.66920160", "2.50290787", "0.31830988")


def derive(client: FlaskClient, member: Member, product_id: str) -> dict[str, Any]:
    """The chain-owner fetches its draft, signs it on its own machine and submits it."""
    draft = client.get(f"/api/v1/products/{product_id}/derived-footprint", headers=member.headers)
    assert draft.status_code == 200, draft.get_json()
    envelope = member.key.sign_footprint(json_of(draft))
    submitted = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert submitted.status_code == 201, submitted.get_json()
    return envelope


@dataclasses.dataclass
class Chain:
    farm: Member
    processor: Member
    sugar_co: Member
    brand: Member
    customer: Member
    regulator: Member
    mango: dict[str, Any]
    sugar: dict[str, Any]
    pulp: dict[str, Any]  # the processor's derived record
    juice: dict[str, Any]  # the brand's derived record
    pulp_product: dict[str, Any]
    juice_product: dict[str, Any]

    @property
    def juice_id(self) -> str:
        return str(self.juice["footprint"]["id"])

    @property
    def pulp_id(self) -> str:
        return str(self.pulp["footprint"]["id"])


def build_chain(app: Flask, client: FlaskClient) -> Chain:
    load_factors(app)
    farm = add_member(app)
    processor = add_member(app, Role.CHAIN_OWNER)
    sugar_co = add_member(app)
    brand = add_member(app, Role.CHAIN_OWNER)
    customer = add_member(app, Role.CHAIN_OWNER)
    regulator = add_member(app, Role.REGULATOR)
    mango = push(client, farm, productIds=[MANGO_URN], pcf=copy.deepcopy(MANGO))
    share_product(client, farm, processor, MANGO_URN)
    pulp_product = define(
        client,
        processor,
        code="PULP",
        name="Mango pulp",
        declaredUnit="kilogram",
        productUrn=PULP_URN,
        lines=[
            {
                "label": "mango",
                "quantity": "500",
                "unit": "g",
                "supplierId": farm.organisation_id,
                "supplierProduct": MANGO_URN,
            },
            {"category": "electricity", "quantity": "1", "unit": "kWh", "factorCode": "test.grid"},
        ],
    )
    compute(client, processor, pulp_product["id"])
    pulp = derive(client, processor, pulp_product["id"])
    share_product(client, processor, brand, PULP_URN)
    sugar = push(client, sugar_co, productIds=[SUGAR_URN], pcf=copy.deepcopy(SUGAR))
    share_product(client, sugar_co, brand, SUGAR_URN)
    juice_product = define(
        client,
        brand,
        code="JUICE",
        name="Mango juice",
        declaredUnit="kilogram",
        productUrn=JUICE_URN,
        lines=[
            {
                "label": "pulp",
                "quantity": "400",
                "unit": "g",
                "supplierId": processor.organisation_id,
                "supplierProduct": PULP_URN,
            },
            {
                "label": "sugar",
                "quantity": "100",
                "unit": "g",
                "supplierId": sugar_co.organisation_id,
                "supplierProduct": SUGAR_URN,
            },
        ],
    )
    compute(client, brand, juice_product["id"])
    juice = derive(client, brand, juice_product["id"])
    # The customer is given the juice as a product share: figures only.
    share_product(client, brand, customer, JUICE_URN)
    # Both derived records are disclosed to the regulator (their inputs are not).
    for member, envelope in ((processor, pulp), (brand, juice)):
        disclosed = client.put(
            f"/api/v1/footprints/{envelope['footprint']['id']}/disclosure",
            json={"disclosure": "regulator"},
            headers=member.headers,
        )
        assert disclosed.status_code == 200, disclosed.get_json()
    return Chain(
        farm,
        processor,
        sugar_co,
        brand,
        customer,
        regulator,
        mango,
        sugar,
        pulp,
        juice,
        pulp_product,
        juice_product,
    )


@pytest.fixture
def chain(app: Flask, client: FlaskClient) -> Chain:
    return build_chain(app, client)


def provenance(client: FlaskClient, member: Member | None, record_id: str) -> Any:
    headers = member.headers if member is not None else {}
    response = client.get(f"/api/v1/footprints/{record_id}/provenance", headers=headers)
    return response.status_code, response.get_json()


def opened(view: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {line["index"]: line["opening"] for line in view["lines"] if line["opened"]}


def signed_provenance(envelope: dict[str, Any]) -> dict[str, Any]:
    data = commitments.provenance_of(envelope["footprint"])
    assert data is not None
    return data


def secrets_of(chain: Chain) -> dict[str, str]:
    """What no response the customer can obtain may hold: each input's record id, key id,
    signature and figures (per unit, and as contributions to the lines)."""
    found: dict[str, str] = {}
    pulp_pcf = chain.pulp["footprint"]["pcf"]
    for name, envelope in (("mango", chain.mango), ("sugar", chain.sugar), ("pulp", chain.pulp)):
        found[f"{name} record id"] = envelope["footprint"]["id"]
        found[f"{name} key id"] = envelope["signature"]["kid"]
        found[f"{name} signature"] = envelope["signature"]["value"]
    for name, value in (
        ("mango total", MANGO["pcfIncludingBiogenicUptake"]),
        ("mango fossil", MANGO["fossilGhgEmissions"]),
        ("mango land use", MANGO["landUseChangeGhgEmissions"]),
        ("sugar total", "4.6692016"),
        ("sugar fossil", SUGAR["fossilGhgEmissions"]),
        ("sugar land use", SUGAR["landUseChangeGhgEmissions"]),
        ("pulp total", pulp_pcf["pcfIncludingBiogenicUptake"]),
        ("pulp fossil", pulp_pcf["fossilGhgEmissions"]),
        ("pulp land use", pulp_pcf["landUseChangeGhgEmissions"]),
        # contributions: 0.5 kg of mango, 0.4 kg of pulp, 0.1 kg of sugar
        ("mango line", "1.35914091"),
        ("pulp line", "0.755896364"),
        ("sugar line", "0.46692016"),
        ("sugar line fossil", "0.250290787"),
    ):
        found[name] = value
    return found


def test_the_chain_computes_what_the_secrets_say(chain: Chain) -> None:
    pulp = chain.pulp["footprint"]["pcf"]
    assert pulp["pcfIncludingBiogenicUptake"] == "1.88974091"  # 0.5 x 2.71828182 + 0.5306
    juice = chain.juice["footprint"]["pcf"]
    # 0.4 x 1.88974091 + 0.1 x 4.6692016
    assert juice["pcfIncludingBiogenicUptake"] == "1.222816524"


# --- what the customer two tiers up can obtain ----------------------------------------------


def test_the_customer_sees_commitments_totals_and_a_valid_attestation(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    status, view = provenance(client, chain.customer, chain.juice_id)
    assert status == 200, view
    data = signed_provenance(chain.juice)
    assert view["commitments"] == data["commitments"]
    assert (
        view["totals"]
        == data["totals"]
        == {
            "pcfExcludingBiogenicUptake": "1.222816524",
            "total": "1.222816524",
            "fossil": "0.745373499",
            "biogenic": "0",
            "landUse": "0.14727412",
            "packaging": "0",
        }
    )
    assert [line["opened"] for line in view["lines"]] == [False, False]
    assert view["withheld"]["summary"] == (
        "2 inputs from suppliers who have not shared them with you — attested by the exchange"
    )
    # The attestation verifies offline with the trust list, like a certificate.
    trust_list = client.get("/.well-known/trust-list.json").get_json()
    pinned = [app.extensions["exchange.key"].public_key]
    keys = commitments.keys_from_trust_list(trust_list, pinned=pinned)
    verdict = commitments.verify_attestation(
        view["attestation"], keys=keys, footprint=chain.juice["footprint"]
    )
    assert verdict.ok, verdict.problems
    assert (verdict.record_id, verdict.provenance, verdict.lines) == (
        chain.juice_id,
        "committed",
        2,
    )
    statement = view["attestation"]["attestation"]
    assert statement["lines"] == {
        "total": 2,
        "records": 2,
        "unsignedRecords": 0,
        "deprecatedRecords": 0,
        "factors": 0,
        "products": 0,
    }
    assert statement["checks"] == list(commitments.CHECKS)


def _routes(app: Flask) -> Iterator[Rule]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda item: item.rule):
        if "GET" in (rule.methods or set()) and not rule.rule.startswith("/static"):
            yield rule


_VARIABLE = re.compile(r"<(?:([a-zA-Z_]+)(?:\(([^)]*)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def _urls(rule: Rule, values: dict[str, list[str]]) -> list[str]:
    """Every URL of ``rule`` with each path parameter set to each value the customer knows."""
    urls = [rule.rule]
    for match in _VARIABLE.finditer(rule.rule):
        converter, arguments, name = match.groups()
        if converter == "any":
            options = [part.strip().strip("'\"") for part in str(arguments).split(",")]
        elif converter in ("rowid", "int"):
            options = ["1", "2", "3"]
        else:
            options = values.get(name, [str(uuid.uuid4())])
        urls = [url.replace(match.group(0), option, 1) for url in urls for option in options]
    return urls


def test_no_response_the_customer_can_obtain_holds_an_input(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    """Every GET route of the app - API, PACT, portal, bundles, exports, reports - with every
    id the customer knows, over its token and its signed-in portal session."""
    customer = chain.customer
    # The customer builds on the juice it was given: its own product, result and export.
    smoothie = define(
        client,
        customer,
        code="SMOOTHIE",
        name="Smoothie",
        declaredUnit="kilogram",
        productUrn=SMOOTHIE_URN,
        lines=[
            {
                "quantity": "250",
                "unit": "g",
                "supplierId": chain.brand.organisation_id,
                "supplierProduct": JUICE_URN,
            }
        ],
    )
    compute(client, customer, smoothie["id"])
    own = derive(client, customer, smoothie["id"])
    portal = app.test_client()
    sign_in(portal, add_user(app, customer, f"customer-{uuid.uuid4().hex[:8]}@example.cn"))
    values = {
        "record_id": [chain.juice_id, own["footprint"]["id"]],
        "product_id": [smoothie["id"]],
        "organisation_id": [chain.brand.organisation_id, customer.organisation_id],
        "company_id": [chain.brand.organisation_id, customer.organisation_id],
        "kid": [chain.brand.key.kid, customer.key.kid],
        "gtin": ["06901234567137"],
        "filename": ["verify.js"],
    }
    extra = [
        "/api/v1/footprints",
        "/api/v1/footprints?owner=me",
        f"/api/v1/footprints?productId={JUICE_URN}",
        "/3/footprints",
        f"/3/footprints?productId={JUICE_URN}",
        "/portal/records?view=visible",
        f"/api/v1/products/{smoothie['id']}/export?format=json",
        "/api/v1/flows/outbound",
        "/api/v1/log/entries?start=0",
    ]
    bodies: dict[str, str] = {}

    def read(reader: FlaskClient, url: str, headers: dict[str, str]) -> str:
        response = reader.get(url, headers=headers)
        try:
            return response.get_data(as_text=True)
        finally:
            response.close()  # static files are streamed from an open file

    for rule in _routes(app):
        for url in _urls(rule, values):
            bodies[f"api {url}"] = read(client, url, customer.headers)
            if url.startswith("/portal/"):
                bodies[f"portal {url}"] = read(portal, url, {})
    for url in extra:
        bodies[f"api {url}"] = read(client, url, customer.headers)
        bodies[f"portal {url}"] = read(portal, url, {})
    # The customer did obtain the juice and its attestation through these paths.
    served = bodies[f"api /api/v1/footprints/{chain.juice_id}"]
    assert chain.juice["signature"]["value"] in served
    assert '"aggregation-attestation"' not in served  # the log kind is not a footprint's
    assert "commitmentRoot" in bodies[f"api /api/v1/footprints/{chain.juice_id}/verification"]
    assert chain.juice_id in bodies["portal /portal/records?view=visible"]
    assert "1.222816524" in bodies[f"portal /portal/records/{chain.juice_id}"]
    assert len(bodies) > 150
    leaks = [
        (what, where)
        for where, body in bodies.items()
        for what, secret in secrets_of(chain).items()
        if secret in body
    ]
    assert leaks == []


# --- who opens what -------------------------------------------------------------------------


def test_each_party_opens_exactly_the_lines_it_may(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    juice_data = signed_provenance(chain.juice)
    pulp_data = signed_provenance(chain.pulp)

    # The processor opens its own line of the juice (it owns that input), not the sugar's.
    status, view = provenance(client, chain.processor, chain.juice_id)
    assert status == 404  # the juice was not shared with the processor at all
    client.post(
        "/api/v1/shares",
        json={"organisationId": chain.processor.organisation_id, "recordId": chain.juice_id},
        headers=chain.brand.headers,
    )
    status, view = provenance(client, chain.processor, chain.juice_id)
    assert status == 200, view
    lines = opened(view)
    assert list(lines) == [0]
    assert lines[0]["line"]["input"]["recordId"] == chain.pulp_id
    assert view["lines"][0]["grant"] == "ownership"
    assert commitments.check_opening(juice_data, lines[0]) == lines[0]["line"]
    assert view["withheld"]["count"] == 1

    # The brand opens its direct inputs, and each opening checks against what it signed,
    # and names a record whose own signature and log inclusion check out.
    status, view = provenance(client, chain.brand, chain.juice_id)
    lines = opened(view)
    assert sorted(lines) == [0, 1]
    assert {line["grant"] for line in view["lines"]} == {"computation"}
    for index, opening in lines.items():
        assert commitments.check_opening(juice_data, opening)["position"] == index
    sugar_input = lines[1]["line"]["input"]
    assert (sugar_input["recordId"], sugar_input["signature"]) == (
        chain.sugar["footprint"]["id"],
        chain.sugar["signature"]["value"],
    )
    assert lines[1]["line"]["contribution"]["total"] == "0.46692016"
    proof = client.get(f"/api/v1/log/proof/inclusion?index={sugar_input['logIndex']}")
    assert proof.status_code == 200, proof.get_json()
    # It cannot open the farm's line one tier down: the pulp record's provenance is closed.
    status, view = provenance(client, chain.brand, chain.pulp_id)
    assert status == 200
    assert [line["opened"] for line in view["lines"]] == [False, False]
    assert view["withheld"]["summary"] == (
        "1 input from suppliers who have not shared them with you and 1 line of the "
        "chain-owner's own activity data — attested by the exchange"
    )

    # The regulator opens everything, both tiers.
    for record_id, data in ((chain.juice_id, juice_data), (chain.pulp_id, pulp_data)):
        status, view = provenance(client, chain.regulator, record_id)
        assert status == 200
        for opening in opened(view).values():
            commitments.check_opening(data, opening)
        assert len(opened(view)) == len(data["commitments"])

    # The farm opens its line of the pulp (the processor was given its record by product).
    client.post(
        "/api/v1/shares",
        json={"organisationId": chain.farm.organisation_id, "recordId": chain.pulp_id},
        headers=chain.processor.headers,
    )
    status, view = provenance(client, chain.farm, chain.pulp_id)
    assert list(opened(view)) == [0]
    assert opened(view)[0]["line"]["contribution"]["total"] == "1.35914091"

    # Someone the farm shared its record with opens the farm's line too.
    trader = add_member(app, Role.CHAIN_OWNER)
    share_product(client, chain.farm, trader, MANGO_URN)
    client.post(
        "/api/v1/shares",
        json={"organisationId": trader.organisation_id, "recordId": chain.pulp_id},
        headers=chain.processor.headers,
    )
    status, view = provenance(client, trader, chain.pulp_id)
    assert list(opened(view)) == [0] and view["lines"][0]["grant"] == "share"

    # Anonymous callers and strangers learn nothing, exactly as for no record at all.
    stranger = add_member(app, Role.CHAIN_OWNER)
    nowhere_id = str(uuid.uuid4())
    for member in (None, stranger):
        headers = member.headers if member is not None else {}
        hidden = client.get(f"/api/v1/footprints/{chain.juice_id}/provenance", headers=headers)
        nowhere = client.get(f"/api/v1/footprints/{nowhere_id}/provenance", headers=headers)
        assert hidden.status_code == nowhere.status_code == 404
        assert hidden.get_data(as_text=True).replace(chain.juice_id, "x") == nowhere.get_data(
            as_text=True
        ).replace(nowhere_id, "x")


def test_a_product_share_of_the_derived_product_gives_figures_never_openings(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    # The customer holds a product share of the juice: it reads the record's figures ...
    served = client.get(f"/api/v1/footprints/{chain.juice_id}", headers=chain.customer.headers)
    assert served.status_code == 200
    assert json_of(served)["footprint"]["pcf"]["pcfIncludingBiogenicUptake"] == "1.222816524"
    # ... and opens no line of it.
    status, view = provenance(client, chain.customer, chain.juice_id)
    assert status == 200 and opened(view) == {}
    # A line opens only once the input itself is shared with the customer by its owner
    # (here the sugar company's product), since then it may see that input anyway.
    share_product(client, chain.sugar_co, chain.customer, SUGAR_URN)
    status, view = provenance(client, chain.customer, chain.juice_id)
    assert list(opened(view)) == [1]
    # Likewise the pulp line once the processor shares its pulp - never the farm's line one
    # tier down, which the pulp's provenance keeps closed to the customer.
    share_product(client, chain.processor, chain.customer, PULP_URN)
    status, view = provenance(client, chain.customer, chain.juice_id)
    assert sorted(opened(view)) == [0, 1]
    status, view = provenance(client, chain.customer, chain.pulp_id)
    assert status == 200 and opened(view) == {}


def test_a_certification_body_certifying_the_record_opens_every_line(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    body = add_member(app, Role.CERTIFICATION_BODY)
    other_body = add_member(app, Role.CERTIFICATION_BODY)
    for member in (body, other_body):
        response = client.post(
            f"/api/v1/accreditations/{member.organisation_id}",
            json={"status": "granted", "reason": "audit"},
            headers=chain.regulator.headers,
        )
        assert response.status_code in (200, 201), response.get_json()
    # The brand asks the body to certify: it shares the record itself with it.
    client.post(
        "/api/v1/shares",
        json={"organisationId": body.organisation_id, "recordId": chain.juice_id},
        headers=chain.brand.headers,
    )
    status, view = provenance(client, body, chain.juice_id)
    assert status == 200 and sorted(opened(view)) == [0, 1]
    assert {line["grant"] for line in view["lines"]} == {"certification"}
    # A body given only a product share is a reader like any other.
    share_product(client, chain.brand, other_body, JUICE_URN)
    status, view = provenance(client, other_body, chain.juice_id)
    assert status == 200 and opened(view) == {}


def test_every_opening_is_a_data_flow(app: Flask, client: FlaskClient, chain: Chain) -> None:
    provenance(client, chain.regulator, chain.pulp_id)
    provenance(client, chain.brand, chain.juice_id)
    flows = client.get(
        "/api/v1/flows/outbound?kind=provenance-opening", headers=chain.farm.headers
    ).get_json()["data"]
    (farm_line,) = flows
    assert (farm_line["recordId"], farm_line["recipient"], farm_line["grant"]["kind"]) == (
        chain.mango["footprint"]["id"],
        chain.regulator.organisation_id,
        "regulator",
    )
    assert farm_line["reference"] == f"provenance:{chain.pulp_id}#0"
    # The brand opening its own computation's lines is a flow from each supplier to it.
    sugar_flows = client.get(
        "/api/v1/flows/outbound?kind=provenance-opening", headers=chain.sugar_co.headers
    ).get_json()["data"]
    assert [(item["recipient"], item["grant"]["kind"]) for item in sugar_flows] == [
        (chain.brand.organisation_id, "computation")
    ]
    # The processor's flows: its pulp record as the juice's line opened to the brand, and
    # its own factor line of the pulp (its activity data) opened to the regulator.
    with transaction(app.extensions["exchange.sessions"]) as session:
        own = session.scalars(
            sa.select(DataFlow).where(
                DataFlow.kind == FlowKind.PROVENANCE_OPENING,
                DataFlow.owner_id == chain.processor.organisation_id,
            )
        ).all()
        assert sorted(
            (flow.recipient_id, flow.record_id, flow.reference) for flow in own
        ) == sorted(
            [
                (chain.brand.organisation_id, chain.pulp_id, f"provenance:{chain.juice_id}#0"),
                (chain.regulator.organisation_id, chain.pulp_id, f"provenance:{chain.pulp_id}#1"),
            ]
        )


# --- attacks on openings ------------------------------------------------------------------


def test_an_altered_opening_a_swapped_salt_and_a_foreign_commitment_are_refused(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    data = signed_provenance(chain.juice)
    _, view = provenance(client, chain.brand, chain.juice_id)
    good = opened(view)
    commitments.check_opening(data, good[0])

    altered = copy.deepcopy(good[0])
    altered["line"]["quantity"] = "401"
    contribution = copy.deepcopy(good[1])
    contribution["line"]["contribution"]["total"] = "0.1"
    swapped = copy.deepcopy(good[0]) | {"salt": good[1]["salt"]}
    moved = copy.deepcopy(good[0]) | {"index": 1}
    short_salt = copy.deepcopy(good[0]) | {
        "salt": base64.urlsafe_b64encode(b"x" * 8).decode().rstrip("=")
    }
    # A line of another derived record (the pulp's), presented against the juice.
    _, pulp_view = provenance(client, chain.processor, chain.pulp_id)
    foreign = opened(pulp_view)[0] | {"index": 0}
    for opening, reason in (
        (altered, "does not match the commitment"),
        (contribution, "does not match the commitment"),
        (swapped, "does not match the commitment"),
        (moved, "does not match the commitment"),
        (short_salt, "at least 128"),
        (foreign, "does not match the commitment"),
        ({"index": 7, "salt": good[0]["salt"], "line": good[0]["line"]}, "names no line"),
    ):
        with pytest.raises(commitments.OpeningRefused, match=reason):
            commitments.check_opening(data, opening)
    # A commitment list with a line dropped or swapped no longer has the signed root.
    with pytest.raises(commitments.OpeningRefused, match="root"):
        commitments.check_opening(
            data | {"commitments": list(reversed(data["commitments"]))}, good[0]
        )

    # A stored opening damaged in the database is not served: it does not open the
    # commitment its owner signed.
    with transaction(app.extensions["exchange.sessions"]) as session:
        row = session.get(ProvenanceLine, (chain.juice_id, 1))
        assert row is not None
        row.line_json = row.line_json.replace('"quantity":"100"', '"quantity":"10"')
    _, view = provenance(client, chain.brand, chain.juice_id)
    assert view["lines"][1]["opened"] is False
    assert "does not match" in view["lines"][1]["problem"]
    assert list(opened(view)) == [0]


def test_the_bundle_carries_the_attestation_and_the_openings_its_reader_may_see(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    pinned = {"keys": client.get("/.well-known/jwks.json").get_json()["keys"]}
    url = f"/api/v1/footprints/{chain.juice_id}/verification"
    customer_bundle = client.get(url, headers=chain.customer.headers).get_json()
    verdict = verify_bundle(customer_bundle, pinned=pinned)
    assert verdict.ok, verdict.problems
    assert (verdict.attestation, verdict.openings, verdict.withheld) == ("committed", (), False)
    assert customer_bundle["bundle"]["provenance"]["withheld"]["count"] == 2

    brand_bundle = client.get(url, headers=chain.brand.headers).get_json()
    verdict = verify_bundle(brand_bundle, pinned=pinned)
    assert verdict.ok, verdict.problems
    assert verdict.openings == (0, 1)

    # An opening changed inside a bundle is refused by the offline verifier, even when
    # the bundle's own signature is made good again (the owner's commitments decide).
    tampered = copy.deepcopy(brand_bundle)
    tampered["bundle"]["provenance"]["openings"][1]["line"]["quantity"] = "99"
    key = app.extensions["exchange.key"]
    tampered["signature"]["value"] = key.sign(
        context="footprint-exchange:verification:v1", payload=tampered["bundle"]
    )
    verdict = verify_bundle(tampered, pinned=pinned)
    assert any("opening 1" in problem for problem in verdict.problems)
    # So is an attestation of another record, signed by the exchange's key.
    pulp_bundle = client.get(
        f"/api/v1/footprints/{chain.pulp_id}/verification", headers=chain.regulator.headers
    ).get_json()
    swapped = copy.deepcopy(brand_bundle)
    swapped["bundle"]["provenance"]["attestation"] = pulp_bundle["bundle"]["provenance"][
        "attestation"
    ]
    swapped["signature"]["value"] = key.sign(
        context="footprint-exchange:verification:v1", payload=swapped["bundle"]
    )
    verdict = verify_bundle(swapped, pinned=pinned)
    assert verdict.attestation is None
    assert any("another record" in problem for problem in verdict.problems)


# --- attacks at submission ------------------------------------------------------------------


def _submit(client: FlaskClient, member: Member, footprint: dict[str, Any]) -> Any:
    response = client.post(
        "/api/v1/footprints", json=member.key.sign_footprint(footprint), headers=member.headers
    )
    return response.status_code, response.get_json()


def test_a_provenance_the_exchange_did_not_prepare_is_refused_at_submission(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    brand, product_id = chain.brand, chain.juice_product["id"]

    def draft() -> dict[str, Any]:
        response = client.get(
            f"/api/v1/products/{product_id}/derived-footprint", headers=brand.headers
        )
        document: dict[str, Any] = json_of(response)
        return document

    def data_of(document: dict[str, Any]) -> dict[str, Any]:
        found = commitments.provenance_of(document)
        assert found is not None
        return found

    # A commitment changed (say, to hide a line) no longer has its root; both changed
    # together are not the provenance the exchange prepared.
    changed = draft()
    data = data_of(changed)
    data["commitments"][0] = hashlib.sha256(b"nothing").hexdigest()
    data["commitmentRoot"] = commitments.commitment_root(data["commitments"])
    status, body = _submit(client, brand, changed)
    assert (status, body["details"][0]["message"]) == (400, "provenance changed")

    # The provenance of another derived record (the earlier juice record), under a new id.
    foreign = draft()
    foreign["extensions"][0]["data"] = copy.deepcopy(signed_provenance(chain.juice))
    status, body = _submit(client, brand, foreign)
    assert (status, body["details"][0]["message"]) == (400, "provenance changed")
    copied = copy.deepcopy(foreign) | {"id": str(uuid.uuid4())}
    status, body = _submit(client, brand, copied)
    assert (status, body["details"][0]["message"]) == (400, "unknown provenance")

    # Figures changed before signing: not the totals the provenance states.
    lowered = draft()
    lowered["pcf"]["pcfExcludingBiogenicUptake"] = "0.5"
    lowered["pcf"]["pcfIncludingBiogenicUptake"] = "0.5"
    status, body = _submit(client, brand, lowered)
    assert (status, body["details"][0]["field"]) == (400, "pcf")

    # The old cleartext provenance is no longer accepted.
    cleartext = draft()
    cleartext["extensions"][0]["dataSchema"] = cleartext["extensions"][0]["dataSchema"].replace(
        "2.0.0", "1.0.0"
    )
    status, body = _submit(client, brand, cleartext)
    assert (status, body["details"][0]["message"]) == (400, "cleartext provenance")

    # Nothing of these was stored; the drafts fetched are kept only as drafts.
    with transaction(app.extensions["exchange.sessions"]) as session:
        bound = session.scalars(sa.select(Provenance).where(Provenance.bound_at.is_not(None)))
        assert sorted(item.footprint_id for item in bound) == sorted(
            [chain.juice_id, chain.pulp_id]
        )

    # A good draft signed unchanged is bound and attested, once.
    good = draft()
    status, body = _submit(client, brand, good)
    assert status == 201, body
    status, _ = _submit(client, brand, good)
    assert status == 200  # the same envelope again: unchanged
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).where(Attestation.record_id == good["id"]))
            == 1
        )


def test_a_draft_whose_inputs_do_not_verify_is_refused(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    # The sugar company withdraws its share: the brand may no longer derive from it.
    grants = client.get("/api/v1/shares", headers=chain.sugar_co.headers).get_json()["data"]
    for grant in grants:
        client.delete(f"/api/v1/shares/{grant['id']}", headers=chain.sugar_co.headers)
    response = client.get(
        f"/api/v1/products/{chain.juice_product['id']}/derived-footprint",
        headers=chain.brand.headers,
    )
    assert response.status_code == 409, response.get_json()
    assert "no longer shared" in response.get_json()["message"]


# --- the attestation, by an independent implementation ----------------------------------


def _jcs(value: Any) -> str:
    """RFC 8785 for the values an attestation holds (objects, arrays, strings, integers),
    written from the RFC: members sorted by their UTF-16 code units, strings escaped as
    ECMAScript's JSON.stringify does."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(_jcs(key) + ":" + _jcs(item) for key, item in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_jcs(item) for item in value) + "]"
    if isinstance(value, str):
        escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
        escapes |= {"\r": "\\r", "\t": "\\t"}
        out = []
        for character in value:
            if character in escapes:
                out.append(escapes[character])
            elif ord(character) < 0x20:
                out.append(f"\\u{ord(character):04x}")
            else:
                out.append(character)
        return '"' + "".join(out) + '"'
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    assert isinstance(value, int)
    return str(value)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_attestation_verifies_with_an_independent_implementation(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    _, view = provenance(client, chain.customer, chain.juice_id)
    signed = view["attestation"]
    statement, signature = signed["attestation"], signed["signature"]
    # The exchange's key from the published trust list (a JWK: x is the raw key).
    trust_list = client.get("/.well-known/trust-list.json").get_json()["trustList"]
    (key,) = [k for k in trust_list["exchange"]["keys"] if k["kid"] == signature["kid"]]
    verifier = nacl.signing.VerifyKey(_b64url(key["x"]))
    message = b"footprint-exchange:aggregation-attestation:v1\n" + _jcs(statement).encode()
    verifier.verify(message, _b64url(signature["value"]))
    # What it states, checked against the record the customer was served.
    footprint = chain.juice["footprint"]
    assert statement["record"] == footprint["id"]
    assert statement["footprintDigest"] == hashlib.sha256(_jcs(footprint).encode()).hexdigest()
    data = signed_provenance(chain.juice)
    root = hashlib.sha256(_jcs(data["commitments"]).encode()).hexdigest()
    assert statement["commitmentRoot"] == data["commitmentRoot"] == root
    assert statement["totals"] == data["totals"]
    assert Decimal(statement["totals"]["total"]) == Decimal(
        footprint["pcf"]["pcfIncludingBiogenicUptake"]
    )
    # One byte changed and it no longer verifies.
    changed = copy.deepcopy(statement) | {"totals": statement["totals"] | {"total": "1"}}
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verifier.verify(
            b"footprint-exchange:aggregation-attestation:v1\n" + _jcs(changed).encode(),
            _b64url(signature["value"]),
        )
    # A line's commitment, recomputed independently from an opening: SHA-256(salt || JCS).
    _, brand_view = provenance(client, chain.brand, chain.juice_id)
    opening = opened(brand_view)[1]
    recomputed = hashlib.sha256(
        _b64url(opening["salt"]) + _jcs(opening["line"]).encode()
    ).hexdigest()
    assert recomputed == data["commitments"][1]
    assert len(_b64url(opening["salt"])) * 8 >= 128


def test_the_attestation_is_in_the_log_and_the_audit_rebuilds_it(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    _, view = provenance(client, chain.customer, chain.juice_id)
    index = view["attestation"]["logIndex"]
    proof = client.get(f"/api/v1/log/proof/inclusion?index={index}").get_json()
    leaf = hashlib.sha256(
        b"\x00"
        + json.dumps(
            {k: view["attestation"][k] for k in ("attestation", "signature")},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    ).digest()
    assert base64.b64decode(proof["leafHash"]) == leaf
    key = app.extensions["exchange.key"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        report = log_services.audit(
            session,
            key.public_keys(),
            app.config["EXCHANGE_ORIGIN"],
            app.extensions["exchange.log_sources"],
        )
    assert report.ok, report.problem


def test_the_portal_shows_the_lines_the_reader_may_open_and_the_attestation(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    pages = {}
    for name, member in (("brand", chain.brand), ("customer", chain.customer)):
        browser = app.test_client()
        sign_in(browser, add_user(app, member, f"{name}-{uuid.uuid4().hex[:8]}@example.cn"))
        page = browser.get(f"/portal/records/{chain.juice_id}")
        assert page.status_code == 200
        pages[name] = page.get_data(as_text=True)
    brand, customer = pages["brand"], pages["customer"]
    assert 'id="provenance-lines"' in brand
    assert chain.sugar["footprint"]["id"] in brand and "0.46692016" in brand
    assert 'id="provenance-lines"' not in customer
    assert (
        "2 inputs from suppliers who have not shared them with you, attested by the exchange."
        in customer
    )
    assert "Attested by the exchange (committed, log index" in customer
    # The customer's page is in the scan above too: nothing of an input is on it.
    assert not [secret for secret in secrets_of(chain).values() if secret in customer]
