"""The disclosure report: who reads what, certificates and grades, derived footprints with
their coverage, log references that verify against the cited checkpoint, CSV and page."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.log.models import LogCheckpoint
from exchange.log.verify import verify_inclusion_proof
from exchange.scenarios.schemas import DISCLOSURE_COLUMNS
from tests.aggregation.test_views import compute, define, load_factors
from tests.factories import Member, add_member
from tests.scenarios.builders import Programme, programme


class Company:
    """Company A's records of every disclosure, a certified tea, and B's view of them."""

    def __init__(self, fx: Programme) -> None:
        self.fx = fx
        self.a, self.b = fx.suppliers
        fx.scheme()
        self.tea_certificate = fx.product(
            self.a, number=1, product="Baisha green tea", value="-18.44", amount="2"
        )
        self.secret = fx.push(self.a, number=2, product="Secret recipe", value="3", disclosure=None)
        self.for_regulator = fx.push(
            self.a, number=3, product="Pepper for the regulator", value="4", disclosure="regulator"
        )
        self.for_b = fx.push(
            self.a, number=4, product="Shared with B only", value="5", disclosure=None
        )
        shared = fx.client.post(
            "/api/v1/shares",
            json={"organisationId": self.b.organisation_id, "recordId": self.for_b["id"]},
            headers=self.a.headers,
        )
        assert shared.status_code == 201
        self.old = fx.push(self.a, number=5, product="Coconut oil", value="9")
        self.new = fx.push(
            self.a, number=5, product="Coconut oil", value="8", preceding=self.old["id"]
        )
        # B's own private record: never in A's report, whoever asks.
        fx.push(self.b, number=6, product="B's private record", value="1", disclosure=None)

    def report(self, member: Member | None, **params: str) -> Any:
        headers = member.headers if member is not None else {}
        response = self.fx.client.get(
            f"/api/v1/scenarios/disclosure/{self.a.organisation_id}",
            query_string=params,
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json() if params.get("format", "json") == "json" else response


@pytest.fixture
def company(app: Flask, client: FlaskClient) -> Company:
    return Company(programme(app, client))


def _names(report: Any) -> set[str]:
    return {item["productName"] for item in report["footprints"]}


def test_the_company_itself_reads_its_full_report(company: Company) -> None:
    report = company.report(company.a)
    assert report["scope"] == "full"
    assert report["company"]["id"] == company.a.organisation_id
    assert _names(report) == {
        "Baisha green tea",
        "Secret recipe",
        "Pepper for the regulator",
        "Shared with B only",
        "Coconut oil",
    }
    (oil,) = [item for item in report["footprints"] if item["productName"] == "Coconut oil"]
    assert oil["id"] == company.new["id"]  # the superseded one only on request
    with_history = company.report(company.a, includeDeprecated="true")
    ids = {item["id"] for item in with_history["footprints"]}
    assert company.old["id"] in ids
    assert "B's private record" not in _names(with_history)


def test_the_regulator_reads_everything_disclosed_to_it_but_nothing_private(
    company: Company,
) -> None:
    report = company.report(company.fx.regulator)
    assert report["scope"] == "full"
    assert _names(report) == {"Baisha green tea", "Pepper for the regulator", "Coconut oil"}


def test_another_company_and_the_public_read_only_the_public_part(
    company: Company, app: Flask
) -> None:
    for viewer in (company.b, add_member(app), None):
        report = company.report(viewer)
        assert report["scope"] == "public"
        # Even the record A shared with B stays out of a report B asks for.
        assert _names(report) == {"Baisha green tea", "Coconut oil"}
        assert all(item["disclosure"] == "public" for item in report["footprints"])
        # The certificates are in the public registry anyway.
        assert [item["number"] for item in report["certificates"]] == [
            company.tea_certificate["number"]
        ]
        text = str(report)
        for hidden in (company.secret, company.for_regulator, company.for_b):
            assert hidden["id"] not in text


def test_certificates_grades_and_values_per_declared_unit(company: Company) -> None:
    report = company.report(None)
    (certificate,) = report["certificates"]
    assert certificate["value"] == "-9.22"  # -18.44 for 2 kg
    assert certificate["per"] == "1 kilogram"
    assert certificate["status"] == "active"
    assert certificate["grade"]["grade"] == 1
    assert certificate["grade"]["schemeVersion"] == 1
    assert certificate["record"] == company.tea_certificate["record"]
    (tea,) = [item for item in report["footprints"] if item["productName"] == "Baisha green tea"]
    assert tea["valuePerUnit"] == {"value": "-9.22", "unit": "kg CO2e", "per": "1 kilogram"}
    assert tea["pcf"] == "-18.44" and tea["declaredUnitAmount"] == "2"
    assert tea["certificates"] == [certificate["number"]]
    assert report["summary"] == {
        "records": 2,
        "truncated": False,
        "certificates": 1,
        "activeCertificates": 1,
        "derivedFootprints": 0,
        "activeGrades": {"1": 1},
    }


def test_every_log_reference_verifies_against_the_cited_checkpoint(
    company: Company, app: Flask
) -> None:
    report = company.report(company.a)
    checkpoint = report["log"]["checkpoint"]
    size = report["log"]["treeSize"]
    assert checkpoint.splitlines()[1] == str(size)
    key = app.extensions["exchange.key"]
    references = [item["log"] for item in report["footprints"] + report["certificates"]]
    assert len(references) == 6
    for reference in references:
        assert reference["inclusionProof"].endswith(f"&size={size}")
        proof = company.fx.client.get(reference["inclusionProof"]).get_json()
        assert proof["leafHash"] == reference["leafHash"]
        index = verify_inclusion_proof(
            proof, checkpoint, public_key=key.public_key, origin=app.config["EXCHANGE_ORIGIN"]
        )
        assert index == reference["logIndex"]


def test_derived_footprints_carry_their_signed_coverage_and_primary_data_share(
    company: Company, app: Flask
) -> None:
    fx, a, b = company.fx, company.a, company.b
    load_factors(app)
    leaves = fx.push(b, number=7, product="Tea leaves", value="2")
    product = define(
        fx.client,
        a,
        code="GIFTBOX",
        name="Tea gift box",
        declaredUnit="piece",
        declaredAmount="1",
        lines=[
            {
                "label": "tea leaves",
                "quantity": "0.5",
                "unit": "kg",
                "supplierId": b.organisation_id,
                "supplierProduct": leaves["productIds"][0],
            },
            {"category": "electricity", "quantity": "3.6", "unit": "MJ", "factorCode": "test.grid"},
        ],
    )
    quality = compute(fx.client, a, product["id"])["result"]["quality"]
    draft = fx.client.get(
        f"/api/v1/products/{product['id']}/derived-footprint", headers=a.headers
    ).get_json()
    submitted = fx.client.post(
        "/api/v1/footprints", json=a.key.sign_footprint(draft), headers=a.headers
    )
    assert submitted.status_code == 201, submitted.get_json()

    report = company.report(a)
    (derived,) = report["derivedFootprints"]
    assert derived["record"] == draft["id"]
    assert derived["product"] == product["id"]
    assert derived["matchedResult"] is True
    # 0.5 kg x 2 from a supplier record, 1 kWh x 0.5306 from a factor: coverage 1 / 1.5306.
    assert derived["coverage"] == quality["coverage"]
    assert abs(Decimal(derived["coverage"]) - Decimal(1) / Decimal("1.5306")) < Decimal("1e-9")
    assert derived["primaryDataShare"] == quality["primaryDataShare"] is not None
    assert derived["valuePerUnit"]["value"] == "1.5306"
    assert report["summary"]["derivedFootprints"] == 1
    # The derived record is private: the public part does not show it.
    assert company.report(None)["derivedFootprints"] == []


def test_an_unknown_company_is_404_and_writes_no_checkpoint(company: Company, app: Flask) -> None:
    with app.extensions["exchange.sessions"]() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(LogCheckpoint))
    response = company.fx.client.get("/api/v1/scenarios/disclosure/no-such-company")
    assert response.status_code == 404
    assert response.get_json()["code"] == "NotFound"
    bad = company.fx.client.get(
        f"/api/v1/scenarios/disclosure/{company.a.organisation_id}?includeDeprecated=yes"
    )
    assert bad.status_code == 400
    assert bad.get_json()["details"][0]["field"] == "includeDeprecated"
    with app.extensions["exchange.sessions"]() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(LogCheckpoint)) == before


def test_csv_has_a_row_per_record_and_certificate(company: Company) -> None:
    response = company.report(company.a, format="csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(DISCLOSURE_COLUMNS)
    table = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(table) == 5
    assert {row["kind"] for row in table} == {"footprint"}
    (tea,) = [row for row in table if row["product_name"] == "Baisha green tea"]
    assert tea["footprint_kgco2e_per_unit"] == "-9.22"
    assert tea["pcf_kgco2e_per_declared_amount"] == "-18.44"
    assert tea["certificate_number"] == str(company.tea_certificate["number"])
    assert (tea["grade"], tea["scheme_version"], tea["certificate_status"]) == ("1", "1", "active")
    (secret,) = [row for row in table if row["product_name"] == "Secret recipe"]
    assert secret["disclosure"] == "private" and secret["certificate_number"] == ""

    public = company.report(None, format="csv").get_data(as_text=True)
    assert "Secret recipe" not in public and "Shared with B only" not in public
    assert len(public.strip().splitlines()) == 3  # header, tea, coconut oil


def test_a_certificate_of_an_unlisted_record_gets_its_own_row(company: Company) -> None:
    # A private record, certified: the registry shows the certificate to everyone.
    fx = company.fx
    private = fx.push(
        company.a, number=8, product="Private but certified", value="6", disclosure=None
    )
    certificate = fx.certify(company.a, private, number=8)
    response = company.report(None, format="csv")
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    (row,) = [row for row in table if row["kind"] == "certificate"]
    assert row["certificate_number"] == str(certificate["number"])
    assert row["record_id"] == private["id"]
    assert row["footprint_kgco2e_per_unit"] == "6"
    assert row["record_status"] == "" and row["disclosure"] == ""


def test_the_printable_report_is_bilingual_and_shows_only_what_the_reader_may_see(
    company: Company,
) -> None:
    response = company.report(None, format="html")
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "碳信息披露报告" in page and "Carbon disclosure report" in page
    assert "公开部分" in page and "Public part" in page
    assert "Baisha green tea" in page and "-9.22" in page
    assert "Secret recipe" not in page and "Shared with B only" not in page
    assert "<script" not in page and "style=" not in page
    # The signed checkpoint is printed as it is, so a reader can check it by hand.
    assert company.report(None)["log"]["checkpoint"].split("\n")[0] in page
    full = company.report(company.a, format="html").get_data(as_text=True)
    assert "Secret recipe" in full and "完整" in full
