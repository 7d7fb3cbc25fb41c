"""Bounds on what one request may ask for: body size, JSON nesting, list lengths; each
refusal is a clear JSON error and changes nothing."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask

from exchange.aggregation.schemas import MAX_LINES
from exchange.footprints.models import FootprintRecord
from exchange.organisations.models import Role
from exchange.pact_wire.events import MAX_EVENT_ITEMS, PUBLISHED
from tests.factories import add_member, cloud_event


def stored_records(app: Flask) -> int:
    with app.extensions["exchange.engine"].connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(FootprintRecord)))


@pytest.mark.parametrize("path", ["/api/v1/footprints", "/api/v1/footprints/import"])
def test_a_body_over_the_limit_is_413_and_stores_nothing(app: Flask, path: str) -> None:
    member = add_member(app)
    body = json.dumps({"items": [member.envelope() for _ in range(5)]}).encode()
    app.config["MAX_CONTENT_LENGTH"] = len(body) - 1
    response = app.test_client().post(
        path, data=body, content_type="application/json", headers=member.headers
    )
    assert response.status_code == 413
    assert response.json == {
        "code": "PayloadTooLarge",
        "message": f"the body is larger than the limit of {len(body) - 1} bytes",
        "details": [],
    }
    assert stored_records(app) == 0


def test_deeply_nested_json_is_400_not_a_crash(app: Flask) -> None:
    member = add_member(app)
    deep = "[" * 100_000 + "]" * 100_000
    client = app.test_client()
    for path in ("/api/v1/footprints", "/api/v1/labels/verify", "/api/v1/keys"):
        response = client.post(
            path, data=deep, content_type="application/json", headers=member.headers
        )
        assert response.status_code == 400, path
        assert response.json is not None
        assert response.json["message"] == "the JSON document is nested too deeply", path
    assert stored_records(app) == 0


def test_a_batch_over_the_item_limit_is_refused_whole(app: Flask) -> None:
    member = add_member(app)
    app.config["MAX_BATCH_ITEMS"] = 3
    response = app.test_client().post(
        "/api/v1/footprints",
        json={"items": [member.envelope() for _ in range(4)]},
        headers=member.headers,
    )
    assert response.status_code in {400, 413}
    assert response.json is not None and "3" in response.json["message"]
    assert stored_records(app) == 0


def test_a_bill_of_materials_has_a_bounded_number_of_lines(app: Flask) -> None:
    owner = add_member(app, Role.CHAIN_OWNER)
    client = app.test_client()
    product = client.post(
        "/api/v1/products",
        json={"code": "BIG", "name": "Big", "declaredUnit": "kg"},
        headers=owner.headers,
    )
    assert product.status_code == 201, product.json
    line = {"quantity": "1", "unit": "kg", "factorId": "none"}
    response = client.put(
        f"/api/v1/products/{product.json['id']}/bom",  # type: ignore[index]
        json={"lines": [line] * (MAX_LINES + 1)},
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["details"] == [
        {"field": "lines", "message": f"a bill of materials has at most {MAX_LINES} lines"}
    ]


def test_a_pact_event_carries_a_bounded_number_of_ids(app: Flask) -> None:
    member = add_member(app)
    ids = [str(uuid.uuid4()) for _ in range(MAX_EVENT_ITEMS + 1)]
    response = app.test_client().post(
        "/3/events",
        data=json.dumps(cloud_event(PUBLISHED, {"pfIds": ids}, "https://buyer.example")),
        content_type="application/cloudevents+json; charset=UTF-8",
        headers=member.headers,
    )
    assert response.status_code == 400
    assert response.json is not None
    assert any(item["field"] == "data.pfIds" for item in response.json["details"])
