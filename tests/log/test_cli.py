"""``exchange audit`` on a log built through the real API; then records, leaves and
checkpoints are edited behind the exchange's back (on SQLite, and on PostgreSQL when the
suite runs there) and the audit must fail naming the first bad index."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import transaction
from exchange.footprints.models import FootprintRecord
from exchange.log import services
from exchange.log.merkle import leaf_hash
from exchange.log.models import LogCheckpoint, LogEntry
from exchange.organisations.models import Role
from tests.factories import Member, add_member


def run_audit(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["audit", *args])


@pytest.fixture
def supplier(app: Flask) -> Member:
    return add_member(app, Role.SUPPLIER)


@pytest.fixture
def records(app: Flask, client: FlaskClient, supplier: Member) -> list[dict[str, object]]:
    """Three submissions (one a batch of four) by one supplier: their receipts' log indexes."""
    logged: list[dict[str, object]] = []
    for _ in range(2):
        response = client.post(
            "/api/v1/footprints", json=supplier.envelope(), headers=supplier.headers
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        logged.append(response.get_json())
    batch = {"items": [supplier.envelope() for _ in range(4)]}
    response = client.post("/api/v1/footprints", json=batch, headers=supplier.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    logged.extend(response.get_json()["results"])
    return logged


def log_index(result: Mapping[str, object]) -> int:
    receipt = result["receipt"]
    assert isinstance(receipt, dict)
    return int(receipt["receipt"]["logIndex"])


def test_audit_passes_on_an_untouched_log(app: Flask, records: list[dict[str, object]]) -> None:
    result = run_audit(app)
    assert result.exit_code == 0, result.output
    assert "audit ok: 7 entries" in result.output  # the supplier's key, then six footprints


def test_audit_fails_at_the_index_of_a_record_edited_in_the_database(
    app: Flask, records: list[dict[str, object]]
) -> None:
    target = records[3]
    with transaction(app.extensions["exchange.sessions"]) as session:
        stored = session.get(FootprintRecord, target["id"])
        assert stored is not None
        footprint = json.loads(stored.footprint_json)
        footprint["productNameCompany"] = "A greener product than it was"
        # Straight SQL, as someone with database access would do it.
        session.execute(
            sa.text("UPDATE footprint_records SET footprint_json = :text WHERE id = :id"),
            {"text": signing.canonical_json(footprint).decode(), "id": target["id"]},
        )
    result = run_audit(app)
    assert result.exit_code == 1
    assert f"audit FAILED at index {log_index(target)}:" in result.output
    assert str(target["id"]) in result.output


def test_audit_fails_when_a_record_and_its_leaf_are_rewritten_together(
    app: Flask, records: list[dict[str, object]]
) -> None:
    """The tree nodes and signed checkpoints still hold the old leaf."""
    target = records[1]
    with transaction(app.extensions["exchange.sessions"]) as session:
        record = session.get(FootprintRecord, target["id"])
        assert record is not None
        record.footprint_json = record.footprint_json.replace('"Product 1"', '"Product 2"')
        sources = app.extensions["exchange.log_sources"]
        new_leaf = leaf_hash(sources["footprint"](session, [record.id])[record.id])
        session.execute(
            sa.update(LogEntry)
            .where(LogEntry.log_index == log_index(target))
            .values(leaf_hash=new_leaf)
        )
    result = run_audit(app)
    assert result.exit_code == 1
    # A signed checkpoint (or else the lowest stored node over the leaf) no longer matches;
    # either names the first entry it cannot vouch for.
    reported = int(result.output.split("at index ")[1].split(":")[0])
    assert log_index(target) - 1 <= reported <= log_index(target)


def test_audit_fails_on_a_forged_checkpoint(app: Flask, records: list[dict[str, object]]) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        checkpoint = session.scalars(sa.select(LogCheckpoint).limit(1)).one()
        checkpoint.note = checkpoint.note.replace("\n\n", "\nextra\n\n")
    result = run_audit(app)
    assert result.exit_code == 1
    assert "not validly signed" in result.output


def test_audit_fails_on_a_kind_nobody_can_rebuild(app: Flask) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.append_entries(session, [("mystery", "m1", b"?")])
    result = run_audit(app)
    assert result.exit_code == 1
    assert "at index 0" in result.output and "mystery" in result.output


def test_audit_reads_the_sources_the_app_registers(app: Flask) -> None:
    stored = {"a": b"alpha", "b": b"beta"}

    def source(_session: Session, refs: Sequence[str]) -> dict[str, bytes]:
        return {ref: stored[ref] for ref in refs if ref in stored}

    app.extensions["exchange.log_sources"] = {"letter": source}
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.append_entries(session, [("letter", ref, data) for ref, data in stored.items()])
    assert run_audit(app, "--chunk-size", "1").exit_code == 0
    stored["b"] = b"bravo"
    result = run_audit(app, "--chunk-size", "1")
    assert result.exit_code == 1 and "at index 1" in result.output
