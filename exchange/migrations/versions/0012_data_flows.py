"""Data-flow supervision: one row per transfer of a non-public record

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FLOW_KINDS = (
    "api-read",
    "pact-list",
    "pact-get",
    "share-granted",
    "share-withdrawn",
    "pact-delivery",
    "pact-delivery-refused",
    "verification-bundle",
    "federation-out",
    "federation-in",
)
GRANTS = ("share", "ownership", "regulator", "agreement", "none")


def upgrade() -> None:
    op.create_table(
        "data_flows",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(*FLOW_KINDS, name="flowkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=36), nullable=True),
        sa.Column("partner_id", sa.String(length=36), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "grant", sa.Enum(*GRANTS, name="grant", native_enum=False, length=24), nullable=False
        ),
        sa.Column("share_id", sa.Integer(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_flows")),
    )
    op.create_index(op.f("ix_data_flows_owner_id"), "data_flows", ["owner_id", "id"], unique=False)
    op.create_index(op.f("ix_data_flows_occurred_at"), "data_flows", ["occurred_at"], unique=False)
    op.create_index(op.f("ix_data_flows_record_id"), "data_flows", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_data_flows_record_id"), table_name="data_flows")
    op.drop_index(op.f("ix_data_flows_occurred_at"), table_name="data_flows")
    op.drop_index(op.f("ix_data_flows_owner_id"), table_name="data_flows")
    op.drop_table("data_flows")
