"""One share per owner, grantee and record (or product): concurrent grants made duplicates

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Duplicates made by concurrent requests before this revision: keep the oldest grant.
    for column in ("record_id", "product_id"):
        shares = sa.table(
            "shares", sa.column("id"), sa.column("owner_id"), sa.column("grantee_id"),
            sa.column(column),
        )  # fmt: skip
        older = shares.alias("older")
        op.execute(
            sa.delete(shares).where(
                sa.exists().where(
                    older.c.owner_id == shares.c.owner_id,
                    older.c.grantee_id == shares.c.grantee_id,
                    older.c[column] == shares.c[column],
                    older.c.id < shares.c.id,
                )
            )
        )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index(
            "uq_shares_owner_grantee_record", ["owner_id", "grantee_id", "record_id"], unique=True
        )
        batch_op.create_index(
            "uq_shares_owner_grantee_product",
            ["owner_id", "grantee_id", "product_id"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index("uq_shares_owner_grantee_product")
        batch_op.drop_index("uq_shares_owner_grantee_record")
