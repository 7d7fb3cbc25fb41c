"""Builders of organisations with keys and tokens, and of valid PACT footprints, for tests."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.organisations import services
from exchange.organisations.models import Role
from exchange.organisations.uscc import check_character
from tests.conftest import PACT_DIR


@dataclasses.dataclass
class Member:
    """An organisation as a test sees it: ids, its local signing key and a bearer token."""

    organisation_id: str
    company_ids: list[str]
    key: LocalKey
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def footprint(self, **changes: Any) -> dict[str, Any]:
        document = pact_example()
        document["id"] = str(uuid.uuid4())
        document["companyIds"] = list(self.company_ids)
        document.update(changes)
        return document

    def envelope(self, **changes: Any) -> dict[str, Any]:
        return self.key.sign_footprint(self.footprint(**changes))


_counter = iter(range(10**6))


def add_member(
    app: Flask,
    *roles: Role,
    register_key: bool = True,
    country: str = "CN",
    company_ids: list[str] | None = None,
) -> Member:
    number = next(_counter)
    body = f"9146000{number:010d}"
    uscc = body + check_character(body) if country == "CN" else None
    key = LocalKey.generate()
    with transaction(app.extensions["exchange.sessions"]) as session:
        organisation = services.create_organisation(
            session,
            name=f"Test company {number}",
            country=country,
            uscc=uscc,
            roles=roles or (Role.SUPPLIER,),
            company_ids=company_ids or (),
        )
        if register_key:
            services.register_key(
                session,
                organisation_id=organisation.id,
                public_jwk=key.public_jwk(),
            )
        credentials = services.create_client(session, organisation_id=organisation.id, name="test")
        issued = services.issue_token(
            session, client_id=credentials.client_id, client_secret=credentials.client_secret
        )
        urns = [f"urn:uuid:{organisation.id}"]
    return Member(
        organisation_id=organisation.id,
        company_ids=urns,
        key=key,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        token=issued.access_token,
    )


def pact_example(name: str = "example-1.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((PACT_DIR / "examples" / name).read_text())
    return copy.deepcopy(document)


def cloud_event(event_type: str, data: dict[str, Any], source: str) -> dict[str, Any]:
    """A structured-mode CloudEvent as a PACT client sends it to ``/3/events``."""
    return {
        "type": event_type,
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "time": "2026-11-26T08:00:00Z",
        "data": data,
    }


def json_of(response: TestResponse) -> Any:
    """A test-client response's JSON document; the test fails here when there is none."""
    document = response.get_json()
    assert document is not None, response.data[:200]
    return document
