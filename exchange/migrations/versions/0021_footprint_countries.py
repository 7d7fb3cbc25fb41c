"""The country index of footprints: a geography filter naming a country reads one range

A ``geography`` filter naming a country finds the footprints given by the country and those
given by one of its subdivisions (``cn`` finds ``cn-hi``). The geography index holds those
in separate ranges, which no index gives in list order: every match was sorted for each
page. This index holds, for each record, the country of its geography (its
``geographyCountry``, or the country of its ``geographyCountrySubdivision``). The upgrade
fills it from the geography index; the downgrade drops it (nothing else refers to it).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# As exchange.pact_wire.filters.countries_of, frozen here: an ISO 3166-1 alpha-2 code, the
# whole term or the part of it before the first hyphen.
_COUNTRY = re.compile(r"[a-z]{2}")
_BATCH = 10_000


def upgrade() -> None:
    op.create_table(
        "footprint_countries",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_footprint_countries_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "country", name=op.f("pk_footprint_countries")),
    )
    with op.batch_alter_table("footprint_countries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_footprint_countries_country"),
            ["country", "received_at", "record_id"],
            unique=False,
        )
    geographies = sa.table(
        "footprint_geographies",
        sa.column("record_id", sa.String()),
        sa.column("geography", sa.String()),
        sa.column("received_at", UTCDateTime()),
    )
    countries = sa.table(
        "footprint_countries",
        sa.column("record_id", sa.String()),
        sa.column("country", sa.String()),
        sa.column("received_at", UTCDateTime()),
    )
    connection = op.get_bind()
    after = ""
    while True:
        # Whole records at a time (a record's terms are few), in the primary key's order.
        ids = list(
            connection.scalars(
                sa.select(geographies.c.record_id)
                .where(geographies.c.record_id > after)
                .group_by(geographies.c.record_id)
                .order_by(geographies.c.record_id)
                .limit(_BATCH)
            )
        )
        if not ids:
            break
        rows = connection.execute(
            sa.select(
                geographies.c.record_id, geographies.c.geography, geographies.c.received_at
            ).where(geographies.c.record_id.between(ids[0], ids[-1]))
        )
        found = {}
        for record_id, geography, received_at in rows:
            country = geography.split("-", 1)[0]
            if _COUNTRY.fullmatch(country):
                found[record_id, country] = received_at
        if found:
            connection.execute(
                countries.insert(),
                [
                    {"record_id": record_id, "country": country, "received_at": received_at}
                    for (record_id, country), received_at in sorted(found.items())
                ],
            )
        after = ids[-1]


def downgrade() -> None:
    with op.batch_alter_table("footprint_countries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footprint_countries_country"))
    op.drop_table("footprint_countries")
