"""PACT host: filter terms, validity and list indexes of records, unsigned imports, requests,
events, jobs

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# As in exchange.jobs.models: on SQLite an INTEGER primary key is the row id itself.
JobId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _term_table(name: str, column: str, length: int) -> None:
    op.create_table(
        name,
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column(column, sa.String(length=length), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f(f"fk_{name}_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", column, name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{name}_{column}"), [column, "received_at", "record_id"], unique=False
        )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", JobId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "abandoned", name="jobstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_status"), ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "event_endpoints",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=300), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_event_endpoints_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_event_endpoints")),
    )
    op.create_table(
        "footprint_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requester_id", sa.String(length=36), nullable=False),
        sa.Column("supplier_id", sa.String(length=36), nullable=True),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open", "fulfilled", "rejected", name="requeststatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=300), nullable=True),
        sa.Column("event_source", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["organisations.id"],
            name=op.f("fk_footprint_requests_requester_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["organisations.id"],
            name=op.f("fk_footprint_requests_supplier_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint_requests")),
    )
    with op.batch_alter_table("footprint_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_footprint_requests_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_footprint_requests_supplier_id"),
            ["supplier_id", "status"],
            unique=False,
        )

    op.create_table(
        "received_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["organisations.id"],
            name=op.f("fk_received_events_sender_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_events")),
        sa.UniqueConstraint(
            "sender_id", "source", "event_id", name=op.f("uq_received_events_sender_id")
        ),
    )
    _term_table("footprint_classifications", "classification", 300)
    _term_table("footprint_companies", "company_id", 300)
    _term_table("footprint_geographies", "geography", 64)
    op.create_table(
        "footprint_validity_years",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_footprint_validity_years_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "record_id", "kind", "year", name=op.f("pk_footprint_validity_years")
        ),
    )
    with op.batch_alter_table("footprint_validity_years", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_footprint_validity_years_kind"),
            ["kind", "year", "received_at", "record_id", "valid_from", "valid_until"],
            unique=False,
        )

    # New columns start empty, are filled from each stored footprint, then required.
    with op.batch_alter_table("footprint_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("valid_until", UTCDateTime(), nullable=True))
    with op.batch_alter_table("footprint_products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", UTCDateTime(), nullable=True))
    _backfill_terms()
    with op.batch_alter_table("footprint_products", schema=None) as batch_op:
        batch_op.alter_column("received_at", existing_type=UTCDateTime(), nullable=False)
        batch_op.drop_index(batch_op.f("ix_footprint_products_product_id"))
        batch_op.create_index(
            batch_op.f("ix_footprint_products_product_id"),
            ["product_id", "received_at", "record_id"],
            unique=False,
        )
    with op.batch_alter_table("footprint_records", schema=None) as batch_op:
        batch_op.alter_column("valid_from", existing_type=UTCDateTime(), nullable=False)
        batch_op.alter_column("valid_until", existing_type=UTCDateTime(), nullable=False)
        batch_op.alter_column("signature_kid", existing_type=sa.String(length=43), nullable=True)
        batch_op.alter_column("signature", existing_type=sa.String(length=86), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_footprint_records_signed_or_not"),
            "(signature_kid IS NULL) = (signature IS NULL)",
        )
        # Newest-first runs of a caller's own records and of public (or regulator) ones.
        batch_op.drop_index(batch_op.f("ix_footprint_records_owner_id"))
        batch_op.create_index(
            batch_op.f("ix_footprint_records_owner_id"),
            ["owner_id", "received_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_footprint_records_disclosure"),
            ["disclosure", "received_at", "id"],
            unique=False,
        )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shares_grantee_id"))
        batch_op.create_index(
            batch_op.f("ix_shares_grantee_id"),
            ["grantee_id", "owner_id", "product_id"],
            unique=False,
        )


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("z", "Z")).astimezone(dt.UTC)


def _terms(footprint: dict[str, Any]) -> dict[str, Any]:
    """The same terms as exchange.pact.filters.terms_of, frozen here as of this revision."""
    pcf = footprint["pcf"]
    reference_end = _moment(pcf["referencePeriodEnd"])
    try:
        default_end = reference_end.replace(year=reference_end.year + 3)
    except ValueError:
        default_end = reference_end.replace(year=reference_end.year + 3, day=28)
    geography_keys = (
        "geographyRegionOrSubregion",
        "geographyCountry",
        "geographyCountrySubdivision",
    )
    return {
        "valid_from": _moment(footprint["validityPeriodStart"])
        if "validityPeriodStart" in footprint
        else reference_end,
        "valid_until": _moment(footprint["validityPeriodEnd"])
        if "validityPeriodEnd" in footprint
        else default_end,
        "company_id": {urn.lower() for urn in footprint["companyIds"]},
        "classification": {urn.lower() for urn in footprint.get("productClassifications", [])},
        "geography": {pcf[key].lower() for key in geography_keys if key in pcf},
    }


def _validity_years(start: dt.datetime, end: dt.datetime) -> list[tuple[str, int]]:
    """As exchange.pact.filters.validity_years, frozen here as of this revision."""
    covered = range(max(start.year, 1900), min(end.year, 2200) + 1)
    return [("from", start.year), ("until", end.year), *(("on", year) for year in covered)]


def _backfill_terms() -> None:
    connection = op.get_bind()
    records = sa.table(
        "footprint_records",
        sa.column("id", sa.String),
        sa.column("footprint_json", sa.Text),
        sa.column("received_at", UTCDateTime()),
        sa.column("valid_from", UTCDateTime()),
        sa.column("valid_until", UTCDateTime()),
    )
    products = sa.table(
        "footprint_products", sa.column("record_id"), sa.column("received_at", UTCDateTime())
    )
    rows = connection.execute(
        sa.select(records.c.id, records.c.footprint_json, records.c.received_at)
    ).all()
    for record_id, footprint_json, received_at in rows:
        terms = _terms(json.loads(footprint_json))
        connection.execute(
            records.update()
            .where(records.c.id == record_id)
            .values(valid_from=terms["valid_from"], valid_until=terms["valid_until"])
        )
        connection.execute(
            products.update()
            .where(products.c.record_id == record_id)
            .values(received_at=received_at)
        )
        years = sa.table(
            "footprint_validity_years",
            sa.column("record_id"),
            sa.column("kind"),
            sa.column("year"),
            sa.column("received_at", UTCDateTime()),
            sa.column("valid_from", UTCDateTime()),
            sa.column("valid_until", UTCDateTime()),
        )
        period = {"valid_from": terms["valid_from"], "valid_until": terms["valid_until"]}
        connection.execute(
            years.insert(),
            [
                {"record_id": record_id, "kind": kind, "year": year, "received_at": received_at}
                | period
                for kind, year in _validity_years(terms["valid_from"], terms["valid_until"])
            ],
        )
        for table, column in (
            ("footprint_companies", "company_id"),
            ("footprint_classifications", "classification"),
            ("footprint_geographies", "geography"),
        ):
            target = sa.table(
                table,
                sa.column("record_id"),
                sa.column(column),
                sa.column("received_at", UTCDateTime()),
            )
            values = [
                {"record_id": record_id, column: value, "received_at": received_at}
                for value in sorted(terms[column])
            ]
            if values:
                connection.execute(target.insert(), values)


def downgrade() -> None:
    # Unsigned imports cannot be kept by the older schema, which requires a signature; what
    # refers to them goes first (foreign keys are not enforced while migrating on SQLite).
    unsigned = "SELECT id FROM footprint_records WHERE signature IS NULL"
    for table in (
        "shares",
        "footprint_products",
        "footprint_companies",
        "footprint_classifications",
        "footprint_geographies",
        "footprint_validity_years",
    ):
        op.execute(f"DELETE FROM {table} WHERE record_id IN ({unsigned})")  # noqa: S608
    op.execute("DELETE FROM footprint_records WHERE signature IS NULL")
    with op.batch_alter_table("footprint_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footprint_products_product_id"))
        batch_op.create_index(
            batch_op.f("ix_footprint_products_product_id"), ["product_id"], unique=False
        )
        batch_op.drop_column("received_at")
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shares_grantee_id"))
        batch_op.create_index(batch_op.f("ix_shares_grantee_id"), ["grantee_id"], unique=False)
    with op.batch_alter_table("footprint_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footprint_records_disclosure"))
        batch_op.drop_index(batch_op.f("ix_footprint_records_owner_id"))
        batch_op.create_index(
            batch_op.f("ix_footprint_records_owner_id"), ["owner_id"], unique=False
        )
        batch_op.drop_constraint(op.f("ck_footprint_records_signed_or_not"), type_="check")
        batch_op.alter_column("signature", existing_type=sa.String(length=86), nullable=False)
        batch_op.alter_column("signature_kid", existing_type=sa.String(length=43), nullable=False)
        batch_op.drop_column("valid_until")
        batch_op.drop_column("valid_from")
    for table in (
        "footprint_validity_years",
        "footprint_geographies",
        "footprint_companies",
        "footprint_classifications",
    ):
        op.drop_table(table)
    op.drop_table("received_events")
    op.drop_table("footprint_requests")
    op.drop_table("event_endpoints")
    op.drop_table("jobs")
