"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from exchange import create_app, signing
from exchange.aggregation import commitments
from exchange.db import UTCDateTime, make_engine
from exchange.footprints.models import FootprintRecord
from exchange.labels.models import Certificate, CertificateEvent
from exchange.log import services as log_services
from exchange.models import metadata
from exchange.organisations.models import Organisation, SigningKey
from exchange.system.services import alembic_config, upgrade_database
from tests.conftest import fresh_database
from tests.factories import add_member, pact_example

# Some tests here build databases of their own from EXCHANGE_TEST_DATABASE_URL.
pytestmark = pytest.mark.database


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_0004_indexes_the_records_already_stored(tmp_path: Path) -> None:
    """Records stored before the PACT host get their validity and filter terms on upgrade."""
    footprint = pact_example()
    del footprint["validityPeriodStart"], footprint["validityPeriodEnd"]
    received = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
    with fresh_database(tmp_path) as url:
        upgrade_database(url, "0003")
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                _store_a_0003_record(connection, footprint, received)
            upgrade_database(url)
            with engine.connect() as connection:
                records = sa.table(
                    "footprint_records",
                    sa.column("valid_from", UTCDateTime()),
                    sa.column("valid_until", UTCDateTime()),
                )
                record = connection.execute(
                    sa.select(records.c.valid_from, records.c.valid_until)
                ).one()
                terms = {}
                for name, column in (
                    ("footprint_products", "product_id"),
                    ("footprint_companies", "company_id"),
                    ("footprint_classifications", "classification"),
                    ("footprint_geographies", "geography"),
                ):
                    table = sa.table(
                        name, sa.column(column), sa.column("received_at", UTCDateTime())
                    )
                    terms[name] = connection.execute(sa.select(table)).all()
                years_table = sa.table(
                    "footprint_validity_years",
                    sa.column("kind"),
                    sa.column("year"),
                    sa.column("valid_until", UTCDateTime()),
                )
                years = sorted(connection.execute(sa.select(years_table)).all())
            command.downgrade(alembic_config(url), "0003")
        finally:
            engine.dispose()
    assert tuple(record) == (
        dt.datetime(2024, 12, 31, tzinfo=dt.UTC),
        dt.datetime(2027, 12, 31, tzinfo=dt.UTC),
    )
    values = {table: [row[0] for row in rows] for table, rows in terms.items()}
    assert values == {
        "footprint_products": ["urn:gtin:5695872369587"],
        "footprint_companies": ["urn:company:example:company1"],
        "footprint_classifications": ["urn:pact:productclassification:cas:1456"],
        "footprint_geographies": ["us-tx"],
    }
    assert {row[1] for rows in terms.values() for row in rows} == {received}
    # valid 2024-12-31 to 2027-12-31: from 2024, until 2027, on each year between
    end = dt.datetime(2027, 12, 31, tzinfo=dt.UTC)
    assert years == [
        ("from", 2024, end), ("on", 2024, end), ("on", 2025, end), ("on", 2026, end),
        ("on", 2027, end), ("until", 2027, end),
    ]  # fmt: skip


def _store_a_0003_record(
    connection: sa.Connection, footprint: dict[str, Any], received: dt.datetime
) -> None:
    organisation = str(uuid.uuid4())
    connection.execute(
        sa.text(
            "INSERT INTO organisations (id, name, country, created_at) "
            "VALUES (:id, 'Old Co', 'US', :at)"
        ),
        {"id": organisation, "at": received},
    )
    connection.execute(
        sa.text(
            "INSERT INTO signing_keys (kid, organisation_id, public_key, not_before, created_at) "
            "VALUES (:kid, :org, :key, :at, :at)"
        ),
        {"kid": "k" * 43, "org": organisation, "key": b"\0" * 32, "at": received},
    )
    connection.execute(
        sa.text(
            "INSERT INTO footprint_records (id, owner_id, status, disclosure, footprint_json, "
            "signature_kid, signature, envelope_digest, received_at, log_index) VALUES "
            "(:id, :org, 'Active', 'private', :json, :kid, :sig, :digest, :at, 0)"
        ),
        {
            "id": footprint["id"],
            "org": organisation,
            "json": json.dumps(footprint),
            "kid": "k" * 43,
            "sig": "s" * 86,
            "digest": "d" * 64,
            "at": received,
        },
    )
    connection.execute(
        sa.text("INSERT INTO footprint_products (record_id, product_id) VALUES (:id, :product)"),
        {"id": footprint["id"], "product": footprint["productIds"][0].lower()},
    )


def test_0004_downgrade_drops_unsigned_imports_with_what_refers_to_them(
    tmp_path: Path,
) -> None:
    with fresh_database(tmp_path) as url:
        upgrade_database(url)
        app = create_app({"DATABASE_URL": url, "TESTING": True}, instance_path=str(tmp_path / "i"))
        try:
            document = pact_example()
            importer, customer = (
                add_member(app, company_ids=document["companyIds"]),
                add_member(app),
            )
            client = app.test_client()
            imported = client.post(
                "/api/v1/footprints/import", json=document, headers=importer.headers
            )
            assert imported.status_code == 201
            signed = client.post(
                "/api/v1/footprints", json=importer.envelope(), headers=importer.headers
            )
            assert signed.status_code == 201
            for record_id in (document["id"], signed.get_json()["id"]):
                shared = client.post(
                    "/api/v1/shares",
                    json={"organisationId": customer.organisation_id, "recordId": record_id},
                    headers=importer.headers,
                )
                assert shared.status_code == 201
        finally:
            app.extensions["exchange.engine"].dispose()
        command.downgrade(alembic_config(url), "0003")
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                records = connection.execute(sa.text("SELECT id FROM footprint_records")).all()
                shares = connection.execute(sa.text("SELECT record_id FROM shares")).all()
        finally:
            engine.dispose()
    assert records == [(signed.get_json()["id"],)]
    assert shares == [(signed.get_json()["id"],)]


def test_0014_keeps_the_oldest_of_duplicate_shares(tmp_path: Path) -> None:
    """Concurrent grants made duplicates before 0014; the upgrade keeps one of each."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with fresh_database(tmp_path) as url:
        upgrade_database(url, "0013")
        engine = make_engine(url)
        try:
            organisations = sa.table(
                "organisations",
                sa.column("id"),
                sa.column("name"),
                sa.column("country"),
                sa.column("created_at", UTCDateTime()),
            )
            shares = sa.table(
                "shares",
                sa.column("id"),
                sa.column("owner_id"),
                sa.column("grantee_id"),
                sa.column("product_id"),
                sa.column("created_at", UTCDateTime()),
            )
            ids = [str(uuid.uuid4()) for _ in range(3)]
            with engine.begin() as connection:
                connection.execute(
                    sa.insert(organisations),
                    [{"id": i, "name": i, "country": "DE", "created_at": now} for i in ids],
                )
                owner, first, second = ids
                rows = [
                    (1, first, "urn:x:a"),
                    (2, first, "urn:x:a"),
                    (3, second, "urn:x:a"),
                    (4, first, "urn:x:b"),
                    (5, first, "urn:x:a"),
                ]
                connection.execute(
                    sa.insert(shares),
                    [
                        {"id": n, "owner_id": owner, "grantee_id": g, "product_id": p}
                        | {"created_at": now}
                        for n, g, p in rows
                    ],
                )
            upgrade_database(url, "0014")
            with engine.connect() as connection:
                kept = connection.scalars(sa.select(shares.c.id).order_by(shares.c.id)).all()
            command.downgrade(alembic_config(url), "0013")
        finally:
            engine.dispose()
    assert kept == [1, 3, 4]


def test_0018_renames_the_certificate_history_and_its_entries_still_verify(
    tmp_path: Path,
) -> None:
    """certificate_events.actor_id/at become decided_by/decided_at (the history rows' one
    set of columns); the rows, their ids and the log entries written before stay valid."""
    at = dt.datetime(2026, 2, 1, 9, 30, tzinfo=dt.UTC)
    body, owner = str(uuid.uuid4()), str(uuid.uuid4())
    events = sa.table(
        "certificate_events",
        sa.column("id"),
        sa.column("certificate_id"),
        sa.column("status"),
        sa.column("reason"),
        sa.column("actor_id"),
        sa.column("at", UTCDateTime()),
    )
    written = {
        "certificate": 1,
        "status": "suspended",
        "reason": "audit finding",
        "actor": body,
        "at": at.isoformat(),
    }
    with fresh_database(tmp_path) as url:
        upgrade_database(url, "0017")
        engine = make_engine(url)
        try:
            with Session(engine) as session, session.begin():
                _store_a_0017_certificate(session, body, owner, at)
                session.execute(
                    sa.insert(events),
                    [
                        {"id": 7, "certificate_id": 1, "status": "active", "reason": "issued"}
                        | {"actor_id": body, "at": at},
                        {"id": 8, "certificate_id": 1, "status": "suspended"}
                        | {"reason": "audit finding", "actor_id": body, "at": at},
                    ],
                )
                # The entry as the exchange wrote it before 0018.
                log_services.append_entries(
                    session, [("certificate-status", "8", signing.canonical_json(written))]
                )
            upgrade_database(url)
            with Session(engine) as session:
                history = session.scalars(
                    sa.select(CertificateEvent).order_by(CertificateEvent.id)
                ).all()
                kept = [
                    (e.id, e.status.value, e.reason, e.decided_by, e.decided_at) for e in history
                ]
                report = log_services.audit(
                    session,
                    {},
                    "origin",
                    {"certificate-status": CertificateEvent.log.rebuild},
                )
            command.downgrade(alembic_config(url), "0017")
            with engine.connect() as connection:
                restored = connection.execute(
                    sa.select(events.c.id, events.c.actor_id, events.c.at).order_by(events.c.id)
                ).all()
        finally:
            engine.dispose()
    assert kept == [(7, "active", "issued", body, at), (8, "suspended", "audit finding", body, at)]
    assert report.ok, report.problem
    assert report.entries_checked == 1
    assert restored == [(7, body, at), (8, body, at)]


def _store_a_0017_certificate(session: Session, body: str, owner: str, at: dt.datetime) -> None:
    """Certificate 1 of ``body`` on a record of ``owner``, in the tables as 0017 left them
    (they are unchanged since)."""
    session.execute(
        sa.insert(Organisation),
        [{"id": org, "name": org, "country": "CN", "created_at": at} for org in (body, owner)],
    )
    session.execute(
        sa.insert(SigningKey),
        {"kid": "k" * 43, "organisation_id": body, "public_key": b"\0" * 32, "not_before": at},
    )
    record = str(uuid.uuid4())
    session.execute(
        sa.insert(FootprintRecord),
        {
            "id": record,
            "owner_id": owner,
            "status": "Active",
            "disclosure": "private",
            "footprint_json": "{}",
            "envelope_digest": "d" * 64,
            "received_at": at,
            "log_index": -1,
            "valid_from": at,
            "valid_until": at,
        },
    )
    session.execute(
        sa.insert(Certificate),
        {
            "id": 1,
            "uid": str(uuid.uuid4()),
            "body_id": body,
            "owner_id": owner,
            "record_id": record,
            "gtin": "0" * 14,
            "category": "tea",
            "product_name": "tea",
            "company_name": "owner",
            "value": Decimal(1),
            "unit": "kilogram",
            "document_json": "{}",
            "kid": "k" * 43,
            "signature": "s" * 86,
            "issued_at": at,
            "valid_until": at,
            "status": "suspended",
            "log_index": -2,
        },
    )


def test_0020_withholds_cleartext_provenance_and_loses_nothing(tmp_path: Path) -> None:
    """A derived record signed with its inputs in clear gets commitments and a withheld form
    on upgrade; its signed document is untouched, and the downgrade only drops what 0020
    made."""
    received = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    organisation, product, record_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    secret = "5ec12e70-0000-4000-8000-00000000f00d"
    line = {
        "position": 0,
        "kind": "record",
        "input": {"recordId": secret, "owner": organisation, "kid": "k" * 43, "logIndex": 3},
        "quantity": "0.5",
        "contribution": {"total": "1.35914091"},
    }
    footprint = pact_example()
    footprint["id"] = record_id
    footprint["extensions"] = [
        {
            "specVersion": "2.0.0",
            "dataSchema": "https://fx.example/api/v1/aggregation/extensions/provenance/1.0.0"
            "/schema.json",
            "data": {
                "productId": product,
                "resultDigest": "a" * 64,
                "result": {"pcf": {"total": "1.35914091"}, "inputs": [line]},
            },
        }
    ]
    signed = json.dumps(footprint, sort_keys=True, separators=(",", ":"))
    with fresh_database(tmp_path) as url:
        upgrade_database(url, "0019")
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                _store_a_0019_derived_record(
                    connection, organisation, product, record_id, signed, received
                )
            upgrade_database(url)
            with engine.connect() as connection:
                kept = connection.execute(
                    sa.text("SELECT footprint_json FROM footprint_records WHERE id = :id"),
                    {"id": record_id},
                ).scalar_one()
                kind, data = connection.execute(
                    sa.text("SELECT kind, data_json FROM agg_provenance")
                ).one()
                (opening,) = connection.execute(
                    sa.text("SELECT salt, line_json, commitment FROM agg_provenance_lines")
                ).all()
                withheld = connection.execute(
                    sa.text("SELECT footprint_json FROM footprint_withheld_forms")
                ).scalar_one()
            command.downgrade(alembic_config(url), "0019")
            with engine.connect() as connection:
                after = connection.execute(
                    sa.text("SELECT footprint_json FROM footprint_records")
                ).scalar_one()
                tables = set(sa.inspect(connection).get_table_names())
        finally:
            engine.dispose()
    assert kept == after == signed
    assert kind == "migrated"
    salt, line_json, value = opening
    assert json.loads(line_json) == line
    assert commitments.commit(salt, line) == value
    assert json.loads(data)["commitments"] == [value]
    assert secret not in withheld and "1.35914091" in withheld  # the totals stay
    assert commitments.provenance_of(json.loads(withheld)) == json.loads(data)
    assert not {"agg_provenance", "footprint_withheld_forms"} & tables


def _store_a_0019_derived_record(
    connection: sa.Connection,
    organisation: str,
    product: str,
    record_id: str,
    footprint_json: str,
    received: dt.datetime,
) -> None:
    values = {"org": organisation, "at": received, "product": product, "id": record_id}
    for statement in (
        "INSERT INTO organisations (id, name, country, created_at) "
        "VALUES (:org, 'Old Co', 'CN', :at)",
        "INSERT INTO signing_keys (kid, organisation_id, public_key, not_before, created_at) "
        "VALUES ('" + "k" * 43 + "', :org, :key, :at, :at)",
        "INSERT INTO footprint_records (id, owner_id, status, disclosure, footprint_json, "
        "signature_kid, signature, envelope_digest, received_at, log_index, valid_from, "
        "valid_until) VALUES (:id, :org, 'Active', 'private', :json, '"
        + "k" * 43
        + "', '"
        + "s" * 86
        + "', '"
        + "d" * 64
        + "', :at, 0, :at, :at)",
        "INSERT INTO agg_products (id, owner_id, code, name, declared_unit, declared_amount, "
        "product_urn, created_at, updated_at) VALUES (:product, :org, 'P', 'P', 'kg', 1, "
        "'urn:gtin:1', :at, :at)",
        "INSERT INTO agg_derived_records (record_id, product_id, result_digest, "
        "matched_result, linked_at) VALUES (:id, :product, '" + "a" * 64 + "', :yes, :at)",
    ):
        connection.execute(
            sa.text(statement),
            {**values, "key": b"\0" * 32, "json": footprint_json, "yes": True},
        )


def test_0021_fills_the_country_index_as_a_push_writes_it(tmp_path: Path) -> None:
    """Records stored before 0021 are indexed by country on upgrade, as a push indexes them
    now: a country, a subdivision's country, no region."""
    geographies = [
        {"geographyCountry": "CN"},
        {"geographyCountrySubdivision": "CN-HI"},
        {"geographyCountrySubdivision": "US-TX"},
        {"geographyRegionOrSubregion": "Europe"},
    ]
    countries = sa.table(
        "footprint_countries",
        sa.column("record_id"),
        sa.column("country"),
        sa.column("received_at", UTCDateTime()),
    )
    with fresh_database(tmp_path) as url:
        upgrade_database(url)
        app = create_app({"DATABASE_URL": url, "TESTING": True}, instance_path=str(tmp_path / "i"))
        try:
            member = add_member(app)
            client = app.test_client()
            for geography in geographies:
                footprint = member.footprint()
                pcf = {k: v for k, v in footprint["pcf"].items() if not k.startswith("geography")}
                footprint["pcf"] = pcf | geography
                pushed = client.post(
                    "/api/v1/footprints",
                    json=member.key.sign_footprint(footprint),
                    headers=member.headers,
                )
                assert pushed.status_code == 201, pushed.get_json()
        finally:
            app.extensions["exchange.engine"].dispose()
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                written = set(connection.execute(sa.select(countries)).all())
                connection.execute(sa.delete(countries))
            command.downgrade(alembic_config(url), "0020")
            with engine.connect() as connection:
                assert "footprint_countries" not in sa.inspect(connection).get_table_names()
            upgrade_database(url)
            with engine.connect() as connection:
                filled = set(connection.execute(sa.select(countries)).all())
        finally:
            engine.dispose()
    assert sorted(country for _, country, _ in written) == ["cn", "cn", "us"]
    assert filled == written
