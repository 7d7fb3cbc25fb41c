"""organisations, keys, clients, footprint records and shares

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("uscc", name=op.f("uq_organisations_uscc")),
    )
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_api_clients_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_clients_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "company_identifiers",
        sa.Column("urn", sa.String(length=300), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_company_identifiers_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("urn", name=op.f("pk_company_identifiers")),
    )
    with op.batch_alter_table("company_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_company_identifiers_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "organisation_roles",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "supplier",
                "chain-owner",
                "certification-body",
                "regulator",
                "partner-programme",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_roles_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "role", name=op.f("pk_organisation_roles")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=43), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_signing_keys_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signing_keys_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.client_id"],
            name=op.f("fk_access_tokens_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_tokens")),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_tokens_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "footprint_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum("Active", "Deprecated", name="recordstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "disclosure",
            sa.Enum(
                "private", "regulator", "public", name="disclosure", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("footprint_json", sa.Text(), nullable=False),
        sa.Column("signature_kid", sa.String(length=43), nullable=False),
        sa.Column("signature", sa.String(length=86), nullable=False),
        sa.Column("envelope_digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("deprecated_by_id", sa.String(length=36), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["organisations.id"],
            name=op.f("fk_footprint_records_owner_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["signature_kid"],
            ["signing_keys.kid"],
            name=op.f("fk_footprint_records_signature_kid_signing_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint_records")),
        sa.UniqueConstraint("log_index", name=op.f("uq_footprint_records_log_index")),
    )
    with op.batch_alter_table("footprint_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_footprint_records_owner_id"), ["owner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_footprint_records_received_at"), ["received_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_footprint_records_signature_kid"), ["signature_kid"], unique=False
        )

    op.create_table(
        "footprint_products",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_footprint_products_record_id_footprint_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "product_id", name=op.f("pk_footprint_products")),
    )
    with op.batch_alter_table("footprint_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_footprint_products_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "shares",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("grantee_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("product_id", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(record_id IS NULL) <> (product_id IS NULL)", name=op.f("ck_shares_record_or_product")
        ),
        sa.ForeignKeyConstraint(
            ["grantee_id"], ["organisations.id"], name=op.f("fk_shares_grantee_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["organisations.id"], name=op.f("fk_shares_owner_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["footprint_records.id"],
            name=op.f("fk_shares_record_id_footprint_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shares_grantee_id"), ["grantee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shares_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shares_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shares_record_id"))
        batch_op.drop_index(batch_op.f("ix_shares_owner_id"))
        batch_op.drop_index(batch_op.f("ix_shares_grantee_id"))

    op.drop_table("shares")
    with op.batch_alter_table("footprint_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footprint_products_product_id"))

    op.drop_table("footprint_products")
    with op.batch_alter_table("footprint_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footprint_records_signature_kid"))
        batch_op.drop_index(batch_op.f("ix_footprint_records_received_at"))
        batch_op.drop_index(batch_op.f("ix_footprint_records_owner_id"))

    op.drop_table("footprint_records")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_access_tokens_client_id"))

    op.drop_table("access_tokens")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_organisation_id"))

    op.drop_table("signing_keys")
    op.drop_table("organisation_roles")
    with op.batch_alter_table("company_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_identifiers_organisation_id"))

    op.drop_table("company_identifiers")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_organisation_id"))

    op.drop_table("api_clients")
    op.drop_table("organisations")
