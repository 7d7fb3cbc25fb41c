"""Partner records judged at the partner's receipt: who owns the signer key on the partner's
side, when the partner received the record, and when its key was found revoked

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recognitions") as batch:
        batch.add_column(sa.Column("signer_owner", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("partner_received_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("key_revoked_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("partner_keys") as batch:
        batch.add_column(sa.Column("revocation_reason", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner_keys") as batch:
        batch.drop_column("revocation_reason")
    with op.batch_alter_table("recognitions") as batch:
        batch.drop_column("key_revoked_at")
        batch.drop_column("partner_received_at")
        batch.drop_column("signer_owner")
