"""Mutual recognition: partner programmes, agreements, recognitions, partner checkpoints and forks

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import ExactDecimal, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_programmes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("operator", sa.String(length=300), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("pact_base_url", sa.String(length=500), nullable=False),
        sa.Column("log_origin", sa.String(length=300), nullable=True),
        sa.Column("client_id", sa.String(length=300), nullable=True),
        sa.Column("sealed_secret", sa.Text(), nullable=True),
        sa.Column("sync_filters", sa.JSON(), nullable=False),
        sa.Column("recognised_disclosure", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "withdrawn",
                name="partnerstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("sync_next_url", sa.Text(), nullable=True),
        sa.Column("sync_walk_head", sa.String(length=36), nullable=True),
        sa.Column("sync_stop_id", sa.String(length=36), nullable=True),
        sa.Column("last_synced_at", UTCDateTime(), nullable=True),
        sa.Column("last_sync_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_partner_programmes_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_programmes")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_partner_programmes_organisation_id")),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("accepted_standards", sa.JSON(), nullable=False),
        sa.Column("accepted_rules", sa.JSON(), nullable=False),
        sa.Column("accepted_gwp_sets", sa.JSON(), nullable=False),
        sa.Column("min_primary_data_share", ExactDecimal(), nullable=True),
        sa.Column("max_dqr", ExactDecimal(), nullable=True),
        sa.Column("max_exempted_share", ExactDecimal(), nullable=True),
        sa.Column("max_reference_age_days", sa.Integer(), nullable=True),
        sa.Column(
            "required_verification",
            sa.Enum(
                "none",
                "limited",
                "reasonable",
                name="verificationlevel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("review_date", UTCDateTime(), nullable=True),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "granted",
                "suspended",
                "withdrawn",
                name="agreementstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_agreements_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "partner_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_partner_checkpoints_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_checkpoints")),
        sa.UniqueConstraint(
            "partner_id", "tree_size", name=op.f("uq_partner_checkpoints_partner_id")
        ),
    )
    op.create_table(
        "partner_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "withdrawn",
                name="partnerstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("snapshot_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["organisations.id"],
            name=op.f("fk_partner_events_decided_by_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_partner_events_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_events")),
    )
    with op.batch_alter_table("partner_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_events_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "partner_forks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("earlier_note", sa.Text(), nullable=False),
        sa.Column("later_note", sa.Text(), nullable=False),
        sa.Column("proof", sa.JSON(), nullable=True),
        sa.Column("problem", sa.String(length=2000), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_partner_forks_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_forks")),
    )
    with op.batch_alter_table("partner_forks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_forks_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "partner_keys",
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_partner_keys_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("partner_id", "kid", name=op.f("pk_partner_keys")),
    )
    op.create_table(
        "agreement_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "granted",
                "suspended",
                "withdrawn",
                name="agreementstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("terms_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_events_agreement_id_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["organisations.id"],
            name=op.f("fk_agreement_events_decided_by_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_events")),
    )
    with op.batch_alter_table("agreement_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_events_agreement_id"), ["agreement_id"], unique=False
        )

    op.create_table(
        "recognitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("footprint_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "decision",
            sa.Enum("recognised", "refused", name="decision", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("envelope_json", sa.Text(), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("signature", sa.String(length=86), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("flagged_at", UTCDateTime(), nullable=True),
        sa.Column("flag_reason", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_recognitions_agreement_id_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_programmes.id"],
            name=op.f("fk_recognitions_partner_id_partner_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recognitions")),
        sa.UniqueConstraint("log_index", name=op.f("uq_recognitions_log_index")),
    )
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recognitions_agreement_id"), ["agreement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recognitions_partner_id"), ["partner_id", "record_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recognitions_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recognitions_record_id"))
        batch_op.drop_index(batch_op.f("ix_recognitions_partner_id"))
        batch_op.drop_index(batch_op.f("ix_recognitions_agreement_id"))

    op.drop_table("recognitions")
    with op.batch_alter_table("agreement_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_events_agreement_id"))

    op.drop_table("agreement_events")
    op.drop_table("partner_keys")
    with op.batch_alter_table("partner_forks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_forks_partner_id"))

    op.drop_table("partner_forks")
    with op.batch_alter_table("partner_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_events_partner_id"))

    op.drop_table("partner_events")
    op.drop_table("partner_checkpoints")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_partner_id"))

    op.drop_table("agreements")
    op.drop_table("partner_programmes")
