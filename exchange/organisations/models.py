"""Tables of organisations, their roles and company identifiers, signing keys and API clients."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange import limits, signing
from exchange.db import Base, iso_or_none, text_enum, utcnow
from exchange.lifecycle import LogKind


class Role(enum.StrEnum):
    SUPPLIER = "supplier"
    CHAIN_OWNER = "chain-owner"
    CERTIFICATION_BODY = "certification-body"
    REGULATOR = "regulator"
    PARTNER_PROGRAMME = "partner-programme"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(limits.ORGANISATION_NAME))
    country: Mapped[str] = mapped_column(sa.String(2))
    uscc: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[OrganisationRole]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )
    company_ids: Mapped[list[CompanyIdentifier]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )

    def has_role(self, role: Role) -> bool:
        return any(item.role == role for item in self.roles)


class OrganisationRole(Base):
    __tablename__ = "organisation_roles"

    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(
        text_enum(Role, length=32),
        primary_key=True,
    )

    organisation: Mapped[Organisation] = relationship(back_populates="roles")


class CompanyIdentifier(Base):
    """A PACT company URN naming the organisation; footprints it signs must carry one."""

    __tablename__ = "company_identifiers"

    urn: Mapped[str] = mapped_column(sa.String(limits.URN), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )

    organisation: Mapped[Organisation] = relationship(back_populates="company_ids")


class SigningKey(Base):
    """An organisation's Ed25519 public key; the private half never reaches the exchange."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(limits.REVOCATION_REASON))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def valid_at(self, moment: dt.datetime) -> bool:
        """Whether a signature made at ``moment`` counts: inside the window, before revocation."""
        if moment < self.not_before:
            return False
        if self.not_after is not None and moment >= self.not_after:
            return False
        return self.revoked_at is None or moment < self.revoked_at

    def log_entry(self) -> bytes:
        """The registration: the organisation, the public JWK and the validity window."""
        return signing.canonical_json(
            {
                "organisation": self.organisation_id,
                "jwk": signing.public_jwk(self.public_key),
                "kid": self.kid,
                "notBefore": self.not_before.isoformat(),
                "notAfter": iso_or_none(self.not_after),
            }
        )

    def revocation_log_entry(self) -> bytes:
        assert self.revoked_at is not None
        return signing.canonical_json(
            {
                "kid": self.kid,
                "revokedAt": self.revoked_at.isoformat(),
                "reason": self.revocation_reason,
            }
        )

    log = LogKind("key", entry=log_entry, key="kid")
    revocation_log = LogKind(
        "key-revocation",
        entry=revocation_log_entry,
        key="kid",
        present=lambda key: key.revoked_at is not None,
    )


class ApiClient(Base):
    """OAuth2 client credentials of one organisation; only a hash of the secret is kept."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None]

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class AccessToken(Base):
    """A bearer token, stored only as its SHA-256."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("api_clients.client_id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(sa.String(500))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

    client: Mapped[ApiClient] = relationship(lazy="joined")
