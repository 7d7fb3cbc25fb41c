"""factor database and accounting rules: factors and their reviews, rules, decisions, demands

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import ExactDecimal, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str, length: int = 16) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length)


def upgrade() -> None:
    op.create_table(
        "factors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("factorkind", "activity", "product"), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("gwp_set", _enum("gwpset", "AR4", "AR5", "AR6", length=8), nullable=False),
        sa.Column("gases_json", sa.Text(), nullable=True),
        sa.Column("scope", _enum("factorscope", "combustion", "life-cycle"), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("licence", sa.String(length=300), nullable=False),
        sa.Column("uncertainty", ExactDecimal(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("footprint_record_id", sa.String(length=36), nullable=True),
        sa.Column("declared_by_id", sa.String(length=36), nullable=True),
        sa.Column(
            "status",
            _enum("factorstatus", "submitted", "approved", "returned", "rejected", "retired"),
            nullable=False,
        ),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["declared_by_id"],
            ["organisations.id"],
            name=op.f("fk_factors_declared_by_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["footprint_record_id"],
            ["footprint_records.id"],
            name=op.f("fk_factors_footprint_record_id_footprint_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factors")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_factors_code")),
    )
    with op.batch_alter_table("factors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_factors_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_factors_content_digest"), ["content_digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_factors_declared_by_id"), ["declared_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_factors_region"), ["region"], unique=False)
        batch_op.create_index(batch_op.f("ix_factors_status"), ["status"], unique=False)

    op.create_table(
        "factor_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("factor_id", sa.String(length=36), nullable=False),
        sa.Column(
            "decision", _enum("decision", "approve", "return", "reject", "retire"), nullable=False
        ),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.String(length=36), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["factor_id"], ["factors.id"], name=op.f("fk_factor_reviews_factor_id_factors")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["organisations.id"],
            name=op.f("fk_factor_reviews_reviewer_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factor_reviews")),
        sa.UniqueConstraint("factor_id", "decision", name=op.f("uq_factor_reviews_factor_id")),
        sa.UniqueConstraint("log_index", name=op.f("uq_factor_reviews_log_index")),
    )

    op.create_table(
        "accounting_rules",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("classifications_json", sa.Text(), nullable=False),
        sa.Column("standard_basis", sa.String(length=300), nullable=False),
        sa.Column("declared_unit", sa.String(length=32), nullable=False),
        sa.Column(
            "system_boundary",
            _enum("systemboundary", "cradle-to-gate", "cradle-to-grave", "gate-to-gate"),
            nullable=False,
        ),
        sa.Column("required_stages_json", sa.Text(), nullable=False),
        sa.Column("min_primary_data_share", ExactDecimal(), nullable=True),
        sa.Column("max_dqr", ExactDecimal(), nullable=True),
        sa.Column(
            "status",
            _enum("rulestatus", "proposed", "assessed", "listed", "withdrawn"),
            nullable=False,
        ),
        sa.Column("proposed_by_id", sa.String(length=36), nullable=True),
        sa.Column("status_comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["organisations.id"],
            name=op.f("fk_accounting_rules_proposed_by_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_accounting_rules")),
    )
    with op.batch_alter_table("accounting_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounting_rules_status"), ["status"], unique=False)

    op.create_table(
        "rule_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            _enum("rulestatus", "proposed", "assessed", "listed", "withdrawn"),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.String(length=36), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["organisations.id"],
            name=op.f("fk_rule_decisions_decided_by_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_code"],
            ["accounting_rules.code"],
            name=op.f("fk_rule_decisions_rule_code_accounting_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_decisions")),
        sa.UniqueConstraint("log_index", name=op.f("uq_rule_decisions_log_index")),
        sa.UniqueConstraint("rule_code", "status", name=op.f("uq_rule_decisions_rule_code")),
    )
    op.create_table(
        "rule_demands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=300), nullable=False),
        sa.Column("classification", sa.String(length=300), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.String(length=36), nullable=True),
        sa.Column("rule_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["organisations.id"],
            name=op.f("fk_rule_demands_requested_by_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_code"],
            ["accounting_rules.code"],
            name=op.f("fk_rule_demands_rule_code_accounting_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_demands")),
    )


def downgrade() -> None:
    op.drop_table("rule_demands")
    op.drop_table("rule_decisions")
    with op.batch_alter_table("accounting_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounting_rules_status"))

    op.drop_table("accounting_rules")
    op.drop_table("factor_reviews")
    with op.batch_alter_table("factors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_factors_status"))
        batch_op.drop_index(batch_op.f("ix_factors_region"))
        batch_op.drop_index(batch_op.f("ix_factors_declared_by_id"))
        batch_op.drop_index(batch_op.f("ix_factors_content_digest"))
        batch_op.drop_index(batch_op.f("ix_factors_category"))

    op.drop_table("factors")
