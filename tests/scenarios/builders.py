"""A small programme for the scenario tests: regulator, accredited body, suppliers, and
certified products with hand-picked values (kg CO2e per declared amount)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exchange.client.labels import certificate_document, sign_certificate
from exchange.labels import gs1
from exchange.organisations.models import Role
from exchange.rules.schemas import BOUNDARY_SCHEMA, PROGRAMME_NAME
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY

BENCHMARK_SCHEME: dict[str, Any] = {
    "category": CATEGORY,
    "method": "benchmark-ratio",
    "unit": "kilogram",
    # Per kilogram: grade 1 up to 6, 2 up to 8, 3 up to 12, 4 up to 20, 5 above.
    "parameters": {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
}


def gtin(number: int) -> str:
    body = f"695{number:010d}"
    return body + str(gs1.check_digit(body))


@dataclasses.dataclass
class Programme:
    app: Flask
    client: FlaskClient
    regulator: Member
    body: Member
    suppliers: list[Member]

    def accredit(self) -> None:
        response = self.client.post(
            f"/api/v1/accreditations/{self.body.organisation_id}",
            json={"status": "granted", "reason": "audit"},
            headers=self.regulator.headers,
        )
        assert response.status_code == 200, response.get_json()

    def scheme(self, **changes: Any) -> Any:
        response = self.client.post(
            "/api/v1/grading-schemes",
            json={**BENCHMARK_SCHEME, **changes},
            headers=self.regulator.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def push(
        self,
        supplier: Member,
        *,
        product: str,
        value: str,
        amount: str = "1",
        unit: str = "kilogram",
        number: int = 1,
        region: str = "CN-HI",
        disclosure: str | None = "public",
        mass: str | None = None,
        rule: str | None = None,
        category: str = CATEGORY,
        extensions: list[dict[str, Any]] | None = None,
        preceding: str | None = None,
    ) -> dict[str, Any]:
        """A signed record of ``supplier`` pushed (and published unless told otherwise)."""
        footprint = supplier.footprint(
            productIds=[f"urn:gtin:{gtin(number)}"], productNameCompany=product
        )
        footprint.pop("precedingPfIds", None)
        if preceding is not None:
            footprint["precedingPfIds"] = [preceding]
        footprint["productClassifications"] = [category]
        pcf = footprint["pcf"]
        pcf["declaredUnitOfMeasurement"] = unit
        pcf["declaredUnitAmount"] = amount
        pcf["pcfIncludingBiogenicUptake"] = value
        pcf["geographyCountrySubdivision"] = region
        if mass is not None:
            pcf["productMassPerDeclaredUnit"] = mass
        if rule is not None:
            pcf["productOrSectorSpecificRules"] = [
                {"operator": "Other", "otherOperatorName": PROGRAMME_NAME, "ruleNames": [rule]}
            ]
            footprint["extensions"] = [
                {
                    "specVersion": "2.0.0",
                    "dataSchema": BOUNDARY_SCHEMA,
                    "data": {
                        "systemBoundary": "cradle-to-gate",
                        "lifeCycleStages": ["raw-material-acquisition", "production"],
                    },
                }
            ]
        if extensions is not None:
            footprint["extensions"] = extensions
        pushed = self.client.post(
            "/api/v1/footprints",
            json=supplier.key.sign_footprint(footprint),
            headers=supplier.headers,
        )
        assert pushed.status_code == 201, pushed.get_json()
        if disclosure is not None:
            published = self.client.put(
                f"/api/v1/footprints/{footprint['id']}/disclosure",
                json={"disclosure": disclosure},
                headers=supplier.headers,
            )
            assert published.status_code == 200, published.get_json()
        return footprint

    def certify(
        self,
        supplier: Member,
        footprint: dict[str, Any],
        *,
        number: int = 1,
        valid_for: dt.timedelta | None = None,
    ) -> dict[str, Any]:
        shared = self.client.post(
            "/api/v1/shares",
            json={"organisationId": self.body.organisation_id, "recordId": footprint["id"]},
            headers=supplier.headers,
        )
        assert shared.status_code == 201, shared.get_json()
        issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
        document = certificate_document(
            body_id=self.body.organisation_id,
            record_id=footprint["id"],
            footprint=footprint,
            gtin=gtin(number),
            category=footprint["productClassifications"][0],
            issued=issued,
            valid_until=None if valid_for is None else issued + valid_for,
        )
        response = self.client.post(
            "/api/v1/certificates",
            json=sign_certificate(self.body.key, document),
            headers=self.body.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    def product(self, supplier: Member, *, number: int, **record: Any) -> dict[str, Any]:
        """A pushed, published and certified product; returns its certificate."""
        valid_for = record.pop("valid_for", None)
        footprint = self.push(supplier, number=number, **record)
        return self.certify(supplier, footprint, number=number, valid_for=valid_for)

    def suspend(self, certificate: int) -> None:
        response = self.client.post(
            f"/api/v1/certificates/{certificate}/suspend",
            json={"reason": "audit finding"},
            headers=self.body.headers,
        )
        assert response.status_code == 200, response.get_json()


def programme(app: Flask, client: FlaskClient, suppliers: int = 2) -> Programme:
    found = Programme(
        app=app,
        client=client,
        regulator=add_member(app, Role.REGULATOR),
        body=add_member(app, Role.CERTIFICATION_BODY),
        suppliers=[add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER) for _ in range(suppliers)],
    )
    found.accredit()
    return found
