"""History rows share their columns: certificate_events says decided_by and decided_at

The four history tables (accreditation, certificate, partner and agreement events) are
declared with one set of columns (exchange.lifecycle.HistoryRow); certificate events called
two of them actor_id and at. Only the names change: every row, its id and what its log
entry holds stay as they were.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _rename(actor: str, at: str, new_actor: str, new_at: str) -> None:
    with op.batch_alter_table("certificate_events", schema=None) as batch_op:
        batch_op.drop_constraint(f"fk_certificate_events_{actor}_organisations", type_="foreignkey")
        # Names only: the batch keeps each column's reflected type and nullability.
        batch_op.alter_column(actor, new_column_name=new_actor)
        batch_op.alter_column(at, new_column_name=new_at)
    # A second batch: SQLite's copy of the table only knows the new name once it is made.
    with op.batch_alter_table("certificate_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            f"fk_certificate_events_{new_actor}_organisations",
            "organisations",
            [new_actor],
            ["id"],
        )


def upgrade() -> None:
    _rename("actor_id", "at", "decided_by", "decided_at")


def downgrade() -> None:
    _rename("decided_by", "decided_at", "actor_id", "at")
