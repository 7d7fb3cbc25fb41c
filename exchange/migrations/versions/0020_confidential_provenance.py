"""Confidential provenance: openings of derived footprints' committed lines, the exchange's
attestations, and the withheld form of records signed with their inputs in clear

Derived records signed before this revision keep their signed documents unchanged (their
signatures, log entries and certificates cover those bytes). The upgrade commits to each
of their cleartext input lines with a fresh salt, keeps the openings, and stores a
withheld form whose provenance is those commitments: from now on only the owner, the
regulator and a certification body the record was shared with are served the cleartext.
Nothing is deleted; the downgrade drops only what this revision made.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agg_provenance",
        sa.Column("footprint_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("commitment_root", sa.String(length=64), nullable=False),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("counts_json", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("bound_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("footprint_id", name=op.f("pk_agg_provenance")),
    )
    with op.batch_alter_table("agg_provenance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agg_provenance_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agg_provenance_product_id"), ["product_id"], unique=False
        )
    op.create_table(
        "agg_provenance_lines",
        sa.Column("footprint_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("line_json", sa.Text(), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("input_record_id", sa.String(length=36), nullable=True),
        sa.Column("input_owner_id", sa.String(length=36), nullable=True),
        sa.Column("input_product_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["footprint_id"],
            ["agg_provenance.footprint_id"],
            name=op.f("fk_agg_provenance_lines_footprint_id_agg_provenance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("footprint_id", "position", name=op.f("pk_agg_provenance_lines")),
    )
    with op.batch_alter_table("agg_provenance_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agg_provenance_lines_input_record_id"), ["input_record_id"], unique=False
        )
    op.create_table(
        "agg_attestations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("signature", sa.String(length=86), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_agg_attestations_record_id_footprint_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agg_attestations")),
        sa.UniqueConstraint("log_index", name=op.f("uq_agg_attestations_log_index")),
        sa.UniqueConstraint("record_id", name=op.f("uq_agg_attestations_record_id")),
    )
    op.create_table(
        "footprint_withheld_forms",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("footprint_json", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_footprint_withheld_forms_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_footprint_withheld_forms")),
    )
    # Imported here: the conversion uses Core statements against this revision's tables.
    from exchange.aggregation.services.cleartext import convert_cleartext

    convert_cleartext(op.get_bind())


def downgrade() -> None:
    op.drop_table("footprint_withheld_forms")
    op.drop_table("agg_attestations")
    with op.batch_alter_table("agg_provenance_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agg_provenance_lines_input_record_id"))
    op.drop_table("agg_provenance_lines")
    with op.batch_alter_table("agg_provenance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agg_provenance_product_id"))
        batch_op.drop_index(batch_op.f("ix_agg_provenance_owner_id"))
    op.drop_table("agg_provenance")
