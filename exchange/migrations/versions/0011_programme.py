"""Programme administration: disclosure requirements and compliance, sites and their output

Revision ID: 0011
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import ExactDecimal, UTCDateTime

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_requirements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=300), nullable=True),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column(
            "content_level",
            sa.Enum(
                "total",
                "by-stage",
                "with-data-quality",
                name="contentlevel",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column(
            "manner",
            sa.Enum(
                "public", "customers", "regulator", name="manner", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "deadline_kind",
            sa.Enum("annual", "after-change", name="deadlinekind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("annual_month", sa.Integer(), nullable=True),
        sa.Column("annual_day", sa.Integer(), nullable=True),
        sa.Column("within_days", sa.Integer(), nullable=True),
        sa.Column("due_soon_days", sa.Integer(), nullable=False),
        sa.Column("effective_from", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["organisations.id"],
            name=op.f("fk_disclosure_requirements_created_by_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_requirements")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("factory", "park", name="sitekind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("park_id", sa.String(length=36), nullable=True),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["organisations.id"], name=op.f("fk_sites_owner_id_organisations")
        ),
        sa.ForeignKeyConstraint(["park_id"], ["sites.id"], name=op.f("fk_sites_park_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sites_park_id"), ["park_id"], unique=False)

    op.create_table(
        "disclosure_group_members",
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_disclosure_group_members_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["disclosure_requirements.id"],
            name=op.f("fk_disclosure_group_members_requirement_id_disclosure_requirements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "requirement_id", "organisation_id", name=op.f("pk_disclosure_group_members")
        ),
    )
    op.create_table(
        "disclosure_reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=300), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "met",
                "pending",
                "due-soon",
                "overdue",
                name="compliancestate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_disclosure_reminders_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["disclosure_requirements.id"],
            name=op.f("fk_disclosure_reminders_requirement_id_disclosure_requirements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_reminders")),
    )
    with op.batch_alter_table("disclosure_reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disclosure_reminders_organisation_id"),
            ["organisation_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "disclosure_states",
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=300), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "met",
                "pending",
                "due-soon",
                "overdue",
                name="compliancestate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_disclosure_states_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["disclosure_requirements.id"],
            name=op.f("fk_disclosure_states_requirement_id_disclosure_requirements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "requirement_id", "organisation_id", "product_id", name=op.f("pk_disclosure_states")
        ),
    )
    op.create_table(
        "site_productions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_site_productions_period_order")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_site_productions_record_id_footprint_records"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_productions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_productions")),
        sa.UniqueConstraint(
            "site_id", "record_id", "period_start", name=op.f("uq_site_productions_site_id")
        ),
    )
    with op.batch_alter_table("site_productions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_site_productions_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("site_productions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_productions_record_id"))

    op.drop_table("site_productions")
    op.drop_table("disclosure_states")
    with op.batch_alter_table("disclosure_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_reminders_organisation_id"))

    op.drop_table("disclosure_reminders")
    op.drop_table("disclosure_group_members")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_park_id"))
        batch_op.drop_index(batch_op.f("ix_sites_owner_id"))

    op.drop_table("sites")
    op.drop_table("disclosure_requirements")
