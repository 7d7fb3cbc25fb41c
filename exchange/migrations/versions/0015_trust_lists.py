"""Signed trust lists as published, each with its nextUpdate (re-signed by the worker)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_lists")),
    )


def downgrade() -> None:
    op.drop_table("trust_lists")
