"""Witnessed logs: the logs this exchange cosigns (and the submissions it refused), the
witnesses of its own log, their cosignatures and incidents, and the quorum

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_witnesses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("operator", sa.String(length=300), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "partner-programme", "independent", name="witnesskind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("partner_id", sa.String(length=36), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "removed", name="witnessstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_witnesses")),
        sa.UniqueConstraint("name", name=op.f("uq_log_witnesses_name")),
        sa.UniqueConstraint("public_key", name=op.f("uq_log_witnesses_public_key")),
    )
    op.create_table(
        "witness_policy",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_witness_policy_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witness_policy")),
    )
    op.create_table(
        "witnessed_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("verifier_keys", sa.JSON(), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "removed", name="witnessstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("cosigned_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witnessed_logs")),
        sa.UniqueConstraint("origin", name=op.f("uq_witnessed_logs_origin")),
    )
    op.create_table(
        "log_cosignatures",
        sa.Column("witness_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["witness_id"],
            ["log_witnesses.id"],
            name=op.f("fk_log_cosignatures_witness_id_log_witnesses"),
        ),
        sa.PrimaryKeyConstraint("witness_id", "tree_size", name=op.f("pk_log_cosignatures")),
    )
    with op.batch_alter_table("log_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_log_cosignatures_tree_size"), ["tree_size"], unique=False
        )

    op.create_table(
        "log_witness_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("witness_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["witness_id"],
            ["log_witnesses.id"],
            name=op.f("fk_log_witness_incidents_witness_id_log_witnesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_witness_incidents")),
    )
    with op.batch_alter_table("log_witness_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_log_witness_incidents_witness_id"), ["witness_id"], unique=False
        )

    op.create_table(
        "witness_refusals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=False),
        sa.Column("cosigned_root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["witnessed_logs.id"],
            name=op.f("fk_witness_refusals_log_id_witnessed_logs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witness_refusals")),
    )
    with op.batch_alter_table("witness_refusals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_witness_refusals_log_id"), ["log_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("witness_refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_witness_refusals_log_id"))

    op.drop_table("witness_refusals")
    with op.batch_alter_table("log_witness_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_witness_incidents_witness_id"))

    op.drop_table("log_witness_incidents")
    with op.batch_alter_table("log_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_cosignatures_tree_size"))

    op.drop_table("log_cosignatures")
    op.drop_table("witnessed_logs")
    op.drop_table("witness_policy")
    op.drop_table("log_witnesses")
