"""Disclosure requirements and compliance, trade exports, reductions and green procurement
in the portal, through the Flask test client."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY
from tests.portal.helpers import add_user, post, sign_in, text

REQUIREMENT = {
    "title": "Annual tea footprint disclosure",
    "basis": "Hainan product carbon footprint measures, article 20",
    "category": CATEGORY,
    "level": "total",
    "manner": "public",
    "kind": "annual",
    "month": "6",
    "day": "30",
    "dueSoonDays": "30",
    "effectiveFrom": "2026-01-01",
}


def signed_in(app: Flask, client: FlaskClient, role: Role, email: str) -> Member:
    member = add_member(app, role)
    sign_in(client, add_user(app, member, email))
    return member


def requirements(app: Flask) -> list[dict[str, object]]:
    regulator = add_member(app, Role.REGULATOR)
    response = app.test_client().get("/api/v1/disclosure/requirements", headers=regulator.headers)
    return response.get_json()["data"]  # type: ignore[no-any-return]


def test_regulator_defines_a_requirement_and_sees_the_overview(
    app: Flask, client: FlaskClient
) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    signed_in(app, client, Role.REGULATOR, "analyst@deeh.example")
    page = client.get("/portal/regulator/disclosure")
    assert page.status_code == 200 and "No requirements yet." in text(page)
    defined = post(
        client,
        "/portal/regulator/disclosure",
        {**REQUIREMENT, "organisationIds": supplier.organisation_id},
    )
    assert defined.status_code == 303, text(defined)[:1500]
    [requirement] = requirements(app)
    assert requirement["title"] == "Annual tea footprint disclosure"
    assert requirement["deadline"] == {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30}
    overview = text(client.get("/portal/regulator/disclosure"))
    assert "Annual tea footprint disclosure" in overview and 'id="overview"' in overview
    # An annual deadline on 31 February, or no title, defines nothing.
    bad = post(client, "/portal/regulator/disclosure", {**REQUIREMENT, "month": "2", "day": "31"})
    assert bad.status_code == 400
    assert (
        post(client, "/portal/regulator/disclosure", {**REQUIREMENT, "title": ""}).status_code
        == 400
    )
    assert len(requirements(app)) == 1


def test_a_company_sees_what_is_required_of_it(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    regulator = add_member(app, Role.REGULATOR)
    api = app.test_client()
    response = api.post(
        "/api/v1/disclosure/requirements",
        json={
            "title": "Annual tea footprint disclosure",
            "basis": "article 20",
            "scope": {"category": CATEGORY, "organisationIds": [supplier.organisation_id]},
            "content": {"level": "total"},
            "manner": "public",
            "deadline": {"kind": "annual", "month": 6, "day": 30},
            "effectiveFrom": "2026-01-01T00:00:00Z",
        },
        headers=regulator.headers,
    )
    assert response.status_code == 201, response.get_json()
    sign_in(client, add_user(app, supplier, "coop@example.cn"))
    page = client.get("/portal/compliance")
    assert page.status_code == 200
    assert "Annual tea footprint disclosure" in text(page), text(page)[-2000:]
    # Other roles do not have obligations of their own here; the form is refused to them.
    other = app.test_client()
    sign_in(other, add_user(app, add_member(app, Role.CERTIFICATION_BODY), "body@example.cn"))
    assert other.get("/portal/compliance").status_code == 403
    assert post(other, "/portal/regulator/disclosure", REQUIREMENT).status_code == 403
    assert requirements(app) != [] and len(requirements(app)) == 1


def test_trade_exports_show_the_missing_data_clearly(app: Flask, client: FlaskClient) -> None:
    supplier = signed_in(app, client, Role.SUPPLIER, "coop@example.cn")
    footprint = supplier.footprint()
    stored = app.test_client().post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    assert stored.status_code in (200, 201), stored.get_json()
    record = text(client.get(f"/portal/records/{footprint['id']}"))
    assert f"/portal/records/{footprint['id']}/exports/battery-declaration" in record
    assert f"/portal/records/{footprint['id']}/exports/cbam-report" in record
    # A plain footprint has no trade data: each export names the fields it lacks.
    for kind, field in (
        ("battery-declaration", "battery.ratedEnergyCapacityKWh"),
        ("cbam-report", "embeddedEmissions.direct"),
    ):
        page = client.get(f"/portal/records/{footprint['id']}/exports/{kind}")
        assert page.status_code == 422, (kind, text(page)[-1500:])
        assert 'id="missing-data"' in text(page) and field in text(page)
        assert 'id="export-document"' not in text(page)
    # Someone the record is not shared with does not see it at all.
    other = app.test_client()
    sign_in(other, add_user(app, add_member(app, Role.CHAIN_OWNER), "buyer@example.cn"))
    assert other.get(f"/portal/records/{footprint['id']}/exports/cbam-report").status_code == 404
    assert other.get(f"/portal/records/{footprint['id']}/reduction").status_code == 404


def test_reduction_page_renders_for_the_records_owner(app: Flask, client: FlaskClient) -> None:
    supplier = signed_in(app, client, Role.SUPPLIER, "coop@example.cn")
    footprint = supplier.footprint()
    app.test_client().post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    page = client.get(f"/portal/records/{footprint['id']}/reduction")
    # No grading scheme for its category: the page says why instead of a figure.
    assert page.status_code == 400, text(page)[-1500:]
    assert "grading scheme" in text(page) and 'id="reduction"' not in text(page)


def test_green_procurement_is_public_with_a_csv_link(app: Flask, client: FlaskClient) -> None:
    page = client.get("/portal/procurement")
    assert page.status_code == 200 and 'id="procurement-form"' in text(page)
    bad = client.get("/portal/procurement?category=x&grade=99")
    assert bad.status_code == 400
    client.set_cookie("portal_lang", "zh")
    assert "绿色采购" in text(client.get("/portal/procurement"))


def test_sites_and_their_roll_up(app: Flask, client: FlaskClient) -> None:
    supplier = signed_in(app, client, Role.SUPPLIER, "coop@example.cn")
    created = app.test_client().post(
        "/api/v1/sites",
        json={"kind": "factory", "name": "Wenchang coconut plant", "region": "CN-HI"},
        headers=supplier.headers,
    )
    assert created.status_code == 201, created.get_json()
    site_id = created.get_json()["id"]
    listing = text(client.get("/portal/sites"))
    assert "Wenchang coconut plant" in listing and f"/portal/sites/{site_id}" in listing
    page = client.get(f"/portal/sites/{site_id}")
    assert page.status_code == 200 and "No production recorded." in text(page)
    # Another company's factory is not found; a certification body has no sites page.
    other = app.test_client()
    sign_in(other, add_user(app, add_member(app, Role.SUPPLIER), "other@example.cn"))
    assert "Wenchang coconut plant" not in text(other.get("/portal/sites"))
    assert other.get(f"/portal/sites/{site_id}").status_code == 404
    body = app.test_client()
    sign_in(body, add_user(app, add_member(app, Role.CERTIFICATION_BODY), "body@example.cn"))
    assert body.get("/portal/sites").status_code == 403


def test_a_company_reads_its_own_disclosure_report(app: Flask, client: FlaskClient) -> None:
    supplier = signed_in(app, client, Role.SUPPLIER, "coop@example.cn")
    footprint = supplier.footprint()
    app.test_client().post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    assert "/portal/disclosure-report" in text(client.get("/portal/compliance"))
    page = client.get("/portal/disclosure-report")
    assert page.status_code == 200, text(page)[-1500:]
    # Its private record is in its own report, with the checkpoint the report cites.
    assert f"/portal/records/{footprint['id']}" in text(page)
    assert "Signed log checkpoint" in text(page)
    regulator = app.test_client()
    sign_in(regulator, add_user(app, add_member(app, Role.REGULATOR), "analyst@deeh.example"))
    assert regulator.get("/portal/disclosure-report").status_code == 403
