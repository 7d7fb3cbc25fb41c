"""transparency log: entries, tree nodes, head row, checkpoints

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# As in exchange.log.models: on SQLite an INTEGER primary key is the row id itself.
LogIndex = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("log_index", LogIndex, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_log_entries")),
    )
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_entries_kind"), ["kind", "ref"], unique=False)

    op.create_table(
        "log_nodes",
        sa.Column("node_id", LogIndex, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_log_nodes")),
    )
    log_head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_log_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("tree_size", LogIndex, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_log_checkpoints")),
    )
    # The row whose lock serialises appends; the log starts empty.
    op.bulk_insert(log_head, [{"id": 1, "tree_size": 0}])


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_head")
    op.drop_table("log_nodes")
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_entries_kind"))

    op.drop_table("log_entries")
