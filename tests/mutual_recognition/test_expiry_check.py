"""The check before every request that ends recognitions whose agreement is out of term:
which requests skip it (issue 22: it was half of a label verification's own work)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import web
from exchange.mutual_recognition import services
from tests.labels.builders import programme


def test_only_label_verification_is_marked_as_reading_no_recognitions(app: Flask) -> None:
    # A view marked so never sees an agreement end before it answers: one that reads
    # records, derived footprints or recognitions must not carry the mark. Widening this
    # set is a decision to review, not a side effect.
    marked = {
        endpoint
        for endpoint, view in app.view_functions.items()
        if web.marked_reads_no_recognitions(view)
    }
    assert marked == {"labels.verify"}


def test_label_verification_skips_the_check_and_other_requests_run_it(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = programme(app, client)
    fx.accredit()
    fx.scheme()
    label = fx.label(fx.certify()["number"], lot="LOT7")
    asked: list[bool] = []
    checked = services.expiry_due

    def counting(*args: object, **kwargs: object) -> bool:
        result = checked(*args, **kwargs)  # type: ignore[arg-type]
        asked.append(result)
        return result

    monkeypatch.setattr(services, "expiry_due", counting)
    assert fx.verify(label["url"])["verdict"] == "valid"
    assert asked == []
    read = client.get("/3/footprints", headers=fx.supplier.headers)
    assert read.status_code == 200
    assert asked == [False]
    listed = client.get("/api/v1/agreements", headers=fx.regulator.headers)
    assert listed.status_code in (200, 403)
    assert asked == [False, False]
