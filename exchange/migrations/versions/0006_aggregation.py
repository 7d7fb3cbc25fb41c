"""Aggregation: chain-owners' products, bills of materials, results, stale notices, derived records

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import ExactDecimal, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agg_products",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("declared_unit", sa.String(length=32), nullable=False),
        sa.Column("declared_amount", ExactDecimal(), nullable=False),
        sa.Column("mass_per_declared_unit", ExactDecimal(), nullable=True),
        sa.Column("product_urn", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["organisations.id"], name=op.f("fk_agg_products_owner_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agg_products")),
        sa.UniqueConstraint("owner_id", "code", name=op.f("uq_agg_products_owner_id")),
    )
    with op.batch_alter_table("agg_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agg_products_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agg_products_product_urn"), ["product_urn"], unique=False
        )

    op.create_table(
        "agg_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("supplier_id", sa.String(length=36), nullable=True),
        sa.Column("supplier_product", sa.String(length=300), nullable=True),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("child_product_id", sa.String(length=36), nullable=True),
        sa.Column("factor_code", sa.String(length=100), nullable=True),
        sa.Column("resolved_record_id", sa.String(length=36), nullable=True),
        sa.Column("resolved_factor_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_product_id"],
            ["agg_products.id"],
            name=op.f("fk_agg_lines_child_product_id_agg_products"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["agg_products.id"],
            name=op.f("fk_agg_lines_product_id_agg_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["organisations.id"],
            name=op.f("fk_agg_lines_supplier_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agg_lines")),
        sa.UniqueConstraint("product_id", "position", name=op.f("uq_agg_lines_product_id")),
    )
    with op.batch_alter_table("agg_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agg_lines_child_product_id"), ["child_product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agg_lines_resolved_record_id"), ["resolved_record_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agg_lines_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "agg_results",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("total", ExactDecimal(), nullable=False),
        sa.Column("fossil", ExactDecimal(), nullable=False),
        sa.Column("biogenic", ExactDecimal(), nullable=False),
        sa.Column("land_use", ExactDecimal(), nullable=False),
        sa.Column("packaging", ExactDecimal(), nullable=False),
        sa.Column("primary_data_share", ExactDecimal(), nullable=True),
        sa.Column("dqr_technological", ExactDecimal(), nullable=True),
        sa.Column("dqr_geographical", ExactDecimal(), nullable=True),
        sa.Column("dqr_temporal", ExactDecimal(), nullable=True),
        sa.Column("coverage", ExactDecimal(), nullable=True),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("stale_since", UTCDateTime(), nullable=True),
        sa.Column("stale_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["agg_products.id"],
            name=op.f("fk_agg_results_product_id_agg_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_agg_results")),
    )
    with op.batch_alter_table("agg_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agg_results_stale"), ["stale"], unique=False)

    op.create_table(
        "agg_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_agg_notices_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["agg_products.id"],
            name=op.f("fk_agg_notices_product_id_agg_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agg_notices")),
    )
    with op.batch_alter_table("agg_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agg_notices_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "agg_derived_records",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("result_digest", sa.String(length=64), nullable=False),
        sa.Column("matched_result", sa.Boolean(), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["agg_products.id"],
            name=op.f("fk_agg_derived_records_product_id_agg_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_agg_derived_records_record_id_footprint_records"),
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_agg_derived_records")),
    )
    with op.batch_alter_table("agg_derived_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agg_derived_records_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "agg_record_values",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("declared_unit", sa.String(length=32), nullable=False),
        sa.Column("declared_amount", ExactDecimal(), nullable=False),
        sa.Column("mass_per_declared_unit", ExactDecimal(), nullable=True),
        sa.Column("total", ExactDecimal(), nullable=False),
        sa.Column("fossil", ExactDecimal(), nullable=False),
        sa.Column("biogenic", ExactDecimal(), nullable=False),
        sa.Column("land_use", ExactDecimal(), nullable=False),
        sa.Column("packaging", ExactDecimal(), nullable=False),
        sa.Column("primary_data_share", ExactDecimal(), nullable=True),
        sa.Column("dqr_technological", ExactDecimal(), nullable=True),
        sa.Column("dqr_geographical", ExactDecimal(), nullable=True),
        sa.Column("dqr_temporal", ExactDecimal(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_agg_record_values_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_agg_record_values")),
    )


def downgrade() -> None:
    for table in (
        "agg_record_values",
        "agg_derived_records",
        "agg_notices",
        "agg_results",
        "agg_lines",
        "agg_products",
    ):
        op.drop_table(table)
