"""Certification, grading and signed labels: accreditations, certificates and their events,
grading schemes and grades, label-signing keys of the exchange, labels

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import ExactDecimal, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_issuer_keys",
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_label_issuer_keys")),
    )
    op.create_table(
        "accreditation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body_id", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "granted",
                "suspended",
                "withdrawn",
                name="accreditationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["organisations.id"],
            name=op.f("fk_accreditation_events_body_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["organisations.id"],
            name=op.f("fk_accreditation_events_decided_by_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accreditation_events")),
    )
    with op.batch_alter_table("accreditation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accreditation_events_body_id"), ["body_id"], unique=False
        )

    op.create_table(
        "accreditations",
        sa.Column("body_id", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "granted",
                "suspended",
                "withdrawn",
                name="accreditationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["body_id"], ["organisations.id"], name=op.f("fk_accreditations_body_id_organisations")
        ),
        sa.PrimaryKeyConstraint("body_id", name=op.f("pk_accreditations")),
    )
    op.create_table(
        "grading_schemes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "benchmark-ratio",
                "percentile",
                "fixed-bands",
                name="gradingmethod",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("parameters_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["organisations.id"],
            name=op.f("fk_grading_schemes_created_by_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grading_schemes")),
        sa.UniqueConstraint("category", "version", name=op.f("uq_grading_schemes_category")),
    )
    with op.batch_alter_table("grading_schemes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grading_schemes_category"), ["category"], unique=False)

    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("body_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("category", sa.String(length=300), nullable=False),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("company_name", sa.String(length=300), nullable=False),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("signature", sa.String(length=86), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "revoked",
                name="certificatestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["body_id"], ["organisations.id"], name=op.f("fk_certificates_body_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["kid"], ["signing_keys.kid"], name=op.f("fk_certificates_kid_signing_keys")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["organisations.id"], name=op.f("fk_certificates_owner_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_certificates_record_id_footprint_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("log_index", name=op.f("uq_certificates_log_index")),
        sa.UniqueConstraint("uid", name=op.f("uq_certificates_uid")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_body_id"), ["body_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_gtin"), ["gtin"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_record_id"), ["record_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_certificates_valid_until"), ["valid_until"], unique=False
        )

    op.create_table(
        "certificate_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "revoked",
                name="certificatestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["organisations.id"],
            name=op.f("fk_certificate_events_actor_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_events_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_events")),
    )
    with op.batch_alter_table("certificate_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_events_certificate_id"), ["certificate_id"], unique=False
        )

    op.create_table(
        "grades",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("population_size", sa.Integer(), nullable=True),
        sa.Column("population_digest", sa.String(length=64), nullable=True),
        sa.Column("graded_at", UTCDateTime(), nullable=False),
        sa.Column("superseded_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_grades_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["grading_schemes.id"], name=op.f("fk_grades_scheme_id_grading_schemes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grades")),
    )
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grades_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_grades_scheme_id"), ["scheme_id"], unique=False)

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("grade_id", sa.Integer(), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("signature", sa.String(length=86), nullable=False),
        sa.Column("url", sa.String(length=600), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_labels_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["organisations.id"], name=op.f("fk_labels_created_by_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["grade_id"], ["grades.id"], name=op.f("fk_labels_grade_id_grades")
        ),
        sa.ForeignKeyConstraint(
            ["kid"], ["label_issuer_keys.kid"], name=op.f("fk_labels_kid_label_issuer_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("log_index", name=op.f("uq_labels_log_index")),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_labels_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_labels_gtin"), ["gtin"], unique=False)


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_table("grades")
    op.drop_table("certificate_events")
    op.drop_table("certificates")
    op.drop_table("grading_schemes")
    op.drop_table("accreditations")
    op.drop_table("accreditation_events")
    op.drop_table("label_issuer_keys")
