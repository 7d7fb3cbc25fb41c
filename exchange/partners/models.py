"""Tables of partner programmes, their trust anchors, agreements, recognition decisions,
the partners' log checkpoints we saw and the evidence of a partner log that forked; the
lifecycles of partners and agreements, and what each logged row puts in the log."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange import signing
from exchange.db import Base, text_enum, utcnow
from exchange.lifecycle import HistoryRow, Lifecycle, LogKind


class PartnerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class AgreementStatus(enum.StrEnum):
    DRAFT = "draft"
    GRANTED = "granted"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


# A partner starts active when it is onboarded; withdrawal is final.
PARTNER: Final = Lifecycle(
    "a partner",
    {
        None: (PartnerStatus.ACTIVE,),
        PartnerStatus.ACTIVE: (PartnerStatus.SUSPENDED, PartnerStatus.WITHDRAWN),
        PartnerStatus.SUSPENDED: (PartnerStatus.ACTIVE, PartnerStatus.WITHDRAWN),
        PartnerStatus.WITHDRAWN: (),
    },
)
# An agreement is drafted, takes effect when granted, and is never rewritten once granted.
AGREEMENT: Final = Lifecycle(
    "an agreement",
    {
        None: (AgreementStatus.DRAFT,),
        AgreementStatus.DRAFT: (AgreementStatus.GRANTED, AgreementStatus.WITHDRAWN),
        AgreementStatus.GRANTED: (AgreementStatus.SUSPENDED, AgreementStatus.WITHDRAWN),
        AgreementStatus.SUSPENDED: (AgreementStatus.GRANTED, AgreementStatus.WITHDRAWN),
        AgreementStatus.WITHDRAWN: (),
    },
)


class VerificationLevel(enum.StrEnum):
    """Assurance an agreement requires of a record (ISO 14064-3 levels), weakest first."""

    NONE = "none"
    LIMITED = "limited"
    REASONABLE = "reasonable"


class Decision(enum.StrEnum):
    RECOGNISED = "recognised"
    REFUSED = "refused"


class PartnerProgramme(Base):
    """A foreign footprint programme and how we reach its PACT host.

    Its recognised records are footprint records owned by ``organisation_id``, a local
    organisation (role ``partner-programme``) that stands for the programme here.
    """

    __tablename__ = "partner_programmes"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    country: Mapped[str] = mapped_column(sa.String(2))
    operator: Mapped[str] = mapped_column(sa.String(300))
    contact: Mapped[str] = mapped_column(sa.String(500))
    pact_base_url: Mapped[str] = mapped_column(sa.String(500))
    # The origin line of the partner's transparency-log checkpoints; None: it has no log.
    log_origin: Mapped[str | None] = mapped_column(sa.String(300))
    client_id: Mapped[str | None] = mapped_column(sa.String(300))
    # The client secret its host gave us, sealed with a key derived from the exchange key.
    sealed_secret: Mapped[str | None] = mapped_column(sa.Text)
    # PACT list filters applied to every sync ({"geography": ["TH"]}, ...).
    sync_filters: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # Who may read a recognised record here: "public" or "regulator".
    recognised_disclosure: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[PartnerStatus] = mapped_column(text_enum(PartnerStatus, length=16))
    # Where an interrupted sync resumes (the next page's link), and where a sync stops: the
    # newest record of the last complete walk.
    sync_next_url: Mapped[str | None] = mapped_column(sa.Text)
    sync_walk_head: Mapped[str | None] = mapped_column(sa.String(36))
    sync_stop_id: Mapped[str | None] = mapped_column(sa.String(36))
    last_synced_at: Mapped[dt.datetime | None]
    last_sync_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PartnerEvent(HistoryRow, Base):
    """A change of a partner (onboarding, status, trust anchors), with a snapshot; logged.

    ``decided_by`` is the regulator's organisation, or None when the exchange decided (a
    log fork, anchors from the partner's own trust list)."""

    __tablename__ = "partner_events"
    reason_length = 2000
    decided_by_optional = True

    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_programmes.id"), index=True)
    status: Mapped[PartnerStatus] = mapped_column(text_enum(PartnerStatus, length=16))
    snapshot_json: Mapped[str] = mapped_column(sa.Text)

    def log_entry(self) -> bytes:
        return signing.canonical_json(
            {
                "partnerEvent": self.id,
                "partner": self.partner_id,
                "status": self.status.value,
                "reason": self.reason,
                "decidedBy": self.decided_by,
                "decidedAt": self.decided_at.isoformat(),
                "snapshot": json.loads(self.snapshot_json),
            }
        )

    log = LogKind("partner", entry=log_entry)


class PartnerKey(Base):
    """A trust anchor of a partner: pinned at onboarding, or added by its signed trust list."""

    __tablename__ = "partner_keys"

    partner_id: Mapped[str] = mapped_column(
        sa.ForeignKey("partner_programmes.id"), primary_key=True
    )
    kid: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    source: Mapped[str] = mapped_column(sa.String(16))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(2000))


class Agreement(Base):
    """A mutual-recognition agreement with a partner (in the spirit of ISO/TS 14029)."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_programmes.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    scope: Mapped[list[str]] = mapped_column(sa.JSON)
    accepted_standards: Mapped[list[str]] = mapped_column(sa.JSON)
    accepted_rules: Mapped[list[str]] = mapped_column(sa.JSON)
    accepted_gwp_sets: Mapped[list[str]] = mapped_column(sa.JSON)
    min_primary_data_share: Mapped[Decimal | None]
    max_dqr: Mapped[Decimal | None]
    max_exempted_share: Mapped[Decimal | None]
    max_reference_age_days: Mapped[int | None]
    required_verification: Mapped[VerificationLevel] = mapped_column(
        text_enum(VerificationLevel, length=16)
    )
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    review_date: Mapped[dt.datetime | None]
    # {"zh": ..., "en": ..., "partner": {"language": ..., "text": ...}}
    texts: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[AgreementStatus] = mapped_column(text_enum(AgreementStatus, length=16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgreementEvent(HistoryRow, Base):
    """A step of an agreement's life (drafted, amended, granted, ...) with its terms; logged."""

    __tablename__ = "agreement_events"
    reason_length = 2000

    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    status: Mapped[AgreementStatus] = mapped_column(text_enum(AgreementStatus, length=16))
    terms_json: Mapped[str] = mapped_column(sa.Text)

    def log_entry(self) -> bytes:
        return signing.canonical_json(
            {
                "agreementEvent": self.id,
                "agreement": self.agreement_id,
                "status": self.status.value,
                "reason": self.reason,
                "decidedBy": self.decided_by,
                "decidedAt": self.decided_at.isoformat(),
                "terms": json.loads(self.terms_json),
            }
        )

    log = LogKind("agreement", entry=log_entry)


class Recognition(Base):
    """The exchange's signed decision on one partner record: recognised or refused, why.

    A recognised record is stored as a footprint record (``record_id``); while its
    recognition is ``flagged`` (agreement or partner no longer in good standing) the record
    is hidden from everyone, so that no new computation or certificate can use it.
    """

    __tablename__ = "recognitions"
    __table_args__ = (sa.Index(None, "partner_id", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_programmes.id"))
    agreement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    record_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    footprint_digest: Mapped[str] = mapped_column(sa.String(64))
    decision: Mapped[Decision] = mapped_column(text_enum(Decision, length=16))
    reasons: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON)
    # The envelope as the partner served it, kept as evidence of what was decided on.
    envelope_json: Mapped[str] = mapped_column(sa.Text)
    # The signed decision: RFC 8785 text of the document and the exchange's signature.
    document_json: Mapped[str] = mapped_column(sa.Text)
    kid: Mapped[str] = mapped_column(sa.String(43))
    signature: Mapped[str] = mapped_column(sa.String(86))
    source: Mapped[str] = mapped_column(sa.String(16))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    flagged_at: Mapped[dt.datetime | None]
    flag_reason: Mapped[str | None] = mapped_column(sa.String(2000))
    # The organisation that owns the signer's key on the partner's side (its JWKS is where
    # a later revocation shows), and when the partner's log received the record: the key is
    # judged at that time, never at the ``created`` its signer wrote.
    signer_owner: Mapped[str | None] = mapped_column(sa.String(36))
    partner_received_at: Mapped[dt.datetime | None]
    # Set once the signer's key is found revoked (by the partner, or a pinned anchor by the
    # regulator): the recognition never stands again, whatever the agreement does.
    key_revoked_at: Mapped[dt.datetime | None]

    def log_entry(self) -> bytes:
        """The RFC 8785 form of the signed decision."""
        return signing.canonical_json(
            {
                "recognition": json.loads(self.document_json),
                "signature": {"alg": signing.ALGORITHM, "kid": self.kid, "value": self.signature},
            }
        )

    log = LogKind("recognition", entry=log_entry)


class PartnerCheckpoint(Base):
    """A signed checkpoint of a partner's log that we verified, newest kept as reference."""

    __tablename__ = "partner_checkpoints"
    __table_args__ = (sa.UniqueConstraint("partner_id", "tree_size"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_programmes.id"))
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    note: Mapped[str] = mapped_column(sa.Text)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PartnerFork(Base):
    """Evidence that a partner's log was rewritten: two checkpoints it signed that no
    append-only log can both have produced, and the proof (if any) it offered."""

    __tablename__ = "partner_forks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_programmes.id"), index=True)
    earlier_note: Mapped[str] = mapped_column(sa.Text)
    later_note: Mapped[str] = mapped_column(sa.Text)
    proof: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    problem: Mapped[str] = mapped_column(sa.String(2000))
    detected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
