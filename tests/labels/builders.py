"""A small certification programme for the label tests: regulator, accredited body, supplier."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exchange.client.labels import certificate_document, sign_certificate
from exchange.organisations.models import Role
from tests.factories import Member, add_member

GTIN = "09506000134352"  # GS1's own example GTIN (check digit 2)
CATEGORY = "urn:pact:productclassification:hainan:tea"


@dataclasses.dataclass
class Programme:
    app: Flask
    client: FlaskClient
    regulator: Member
    body: Member
    supplier: Member

    def accredit(self, status: str = "granted", body: Member | None = None) -> Any:
        target = body or self.body
        response = self.client.post(
            f"/api/v1/accreditations/{target.organisation_id}",
            json={"status": status, "reason": f"{status} after audit"},
            headers=self.regulator.headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def record(
        self, value: str = "-18.44", amount: str = "2", unit: str = "kilogram", **changes: Any
    ) -> dict[str, Any]:
        """A supplier record shared with the body: PCF ``value`` for ``amount`` units."""
        footprint = self.supplier.footprint(productIds=[f"urn:gtin:{GTIN}"], **changes)
        footprint["productClassifications"] = [CATEGORY]
        footprint["pcf"]["declaredUnitOfMeasurement"] = unit
        footprint["pcf"]["declaredUnitAmount"] = amount
        footprint["pcf"]["pcfIncludingBiogenicUptake"] = value
        footprint.pop("precedingPfIds", None)
        pushed = self.client.post(
            "/api/v1/footprints",
            json=self.supplier.key.sign_footprint(footprint),
            headers=self.supplier.headers,
        )
        assert pushed.status_code == 201, pushed.get_json()
        shared = self.client.post(
            "/api/v1/shares",
            json={"organisationId": self.body.organisation_id, "recordId": footprint["id"]},
            headers=self.supplier.headers,
        )
        assert shared.status_code == 201, shared.get_json()
        return footprint

    def envelope(
        self, footprint: dict[str, Any], *, body: Member | None = None, **changes: Any
    ) -> dict[str, Any]:
        signer = body or self.body
        document = certificate_document(
            body_id=signer.organisation_id,
            record_id=footprint["id"],
            footprint=footprint,
            gtin=GTIN,
            category=CATEGORY,
        )
        document.update(changes)
        return sign_certificate(signer.key, document)

    def certify(self, footprint: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/certificates",
            json=self.envelope(footprint or self.record(), **changes),
            headers=self.body.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    def scheme(self, method: str = "benchmark-ratio", **parameters: Any) -> Any:
        body = {
            "category": CATEGORY,
            "method": method,
            "unit": "kilogram",
            "parameters": parameters
            or {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
        }
        response = self.client.post(
            "/api/v1/grading-schemes", json=body, headers=self.regulator.headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def label(self, number: int, lot: str | None = None, member: Member | None = None) -> Any:
        body: dict[str, Any] = {"certificate": number}
        if lot is not None:
            body["lot"] = lot
        response = self.client.post(
            "/api/v1/labels", json=body, headers=(member or self.body).headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def verify(self, text: str) -> Any:
        response = self.client.post("/api/v1/labels/verify", json={"text": text})
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def programme(app: Flask, client: FlaskClient) -> Programme:
    return Programme(
        app=app,
        client=client,
        regulator=add_member(app, Role.REGULATOR),
        body=add_member(app, Role.CERTIFICATION_BODY),
        supplier=add_member(app, Role.SUPPLIER),
    )


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
