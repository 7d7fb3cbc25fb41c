"""Inbound recognition: the checks of one partner record and the exchange's signed decision.

A record is recognised only when every check holds: its signature verifies under a key
the partner vouches for (a pinned trust anchor, or a key whose envelope is in the
partner's log under a checkpoint signed by an anchor), it is in the partner's log where
the partner has one, the partner is active, and a granted agreement in force covers its
product and meets every condition. Otherwise it is refused, with every reason. Either
way the decision is signed by the exchange (``footprint-exchange:recognition:v1``) and
logged; a recognised record is stored as a footprint record of the partner's local
organisation, so that aggregation and labels use it like any other record they may see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities, signing
from exchange.db import iso_or_none, utcnow
from exchange.errors import ExchangeError, ValidationFailed
from exchange.footprints import services as footprints
from exchange.footprints.flows import services as flows
from exchange.footprints.models import Disclosure
from exchange.footprints.schemas import parse_envelope
from exchange.keyring import ExchangeKey
from exchange.log import merkle, note
from exchange.organisations.models import SigningKey
from exchange.organisations.services import register_key
from exchange.pact_wire import ProductFootprint, parse_product_footprint
from exchange.partners.models import (
    Agreement,
    AgreementStatus,
    Decision,
    PartnerProgramme,
    PartnerStatus,
    Recognition,
    VerificationLevel,
)

_LEVEL_ORDER: Final = {
    VerificationLevel.NONE: 0,
    VerificationLevel.LIMITED: 1,
    VerificationLevel.REASONABLE: 2,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# --- the agreement's conditions (pure) ------------------------------------------------------


def verification_level(footprint: ProductFootprint) -> VerificationLevel:
    """The assurance a record states. PACT v3's ``verification`` names no level: its
    presence is a third-party verification (limited assurance), and a statement naming
    "reasonable" assurance in its standard or comments counts as reasonable."""
    verification = footprint.pcf.verification
    if verification is None:
        return VerificationLevel.NONE
    text = " ".join(filter(None, [verification.standard_name, verification.comments]))
    if "reasonable" in text.casefold():
        return VerificationLevel.REASONABLE
    return VerificationLevel.LIMITED


def covers(agreement: Agreement, footprint: ProductFootprint) -> bool:
    """Whether the agreement's scope names one of the record's product classifications."""
    scope = {urn.lower() for urn in agreement.scope}
    return bool(scope & {urn.lower() for urn in footprint.product_classifications or ()})


def in_force(agreement: Agreement, now: dt.datetime) -> bool:
    return (
        agreement.status == AgreementStatus.GRANTED
        and agreement.valid_from <= now < agreement.valid_until
    )


def condition_reasons(
    agreement: Agreement, footprint: ProductFootprint, now: dt.datetime
) -> list[Reason]:
    """Every condition of ``agreement`` that ``footprint`` does not meet."""
    pcf = footprint.pcf
    reasons: list[Reason] = []
    accepted = {item.casefold() for item in agreement.accepted_standards}
    if accepted and not accepted & {item.casefold() for item in pcf.cross_sectoral_standards}:
        reasons.append(
            Reason(
                "standard-not-accepted",
                f"crossSectoralStandards {', '.join(pcf.cross_sectoral_standards)} name none "
                f"of the accepted {', '.join(agreement.accepted_standards)}",
            )
        )
    rules = {item.casefold() for item in agreement.accepted_rules}
    if rules:
        cited = [
            name for rule in pcf.product_or_sector_specific_rules or () for name in rule.rule_names
        ]
        unaccepted = [name for name in cited if name.casefold() not in rules]
        if unaccepted:
            reasons.append(
                Reason(
                    "rule-not-accepted",
                    f"product rules {', '.join(unaccepted)} are not accepted by the agreement",
                )
            )
    gwp = set(agreement.accepted_gwp_sets)
    if gwp:
        unaccepted_sets = [s for s in pcf.ipcc_characterization_factors if s not in gwp]
        if unaccepted_sets:
            reasons.append(
                Reason(
                    "gwp-set-not-accepted",
                    f"GWP sets {', '.join(unaccepted_sets)} are not among the accepted "
                    f"{', '.join(sorted(gwp))}",
                )
            )
    floor = agreement.min_primary_data_share
    if floor is not None:
        share = pcf.primary_data_share
        if share is None or share < floor:
            stated = "no primary-data share" if share is None else f"{quantities.text(share)} %"
            reasons.append(
                Reason(
                    "primary-data-share-below-floor",
                    f"the agreement needs at least {quantities.text(floor)} % primary data; "
                    f"the record states {stated}",
                )
            )
    ceiling = agreement.max_dqr
    if ceiling is not None:
        if pcf.dqi is None:
            reasons.append(
                Reason("dqr-missing", "the agreement caps the DQR; the record states none")
            )
        else:
            worst = max(pcf.dqi.technological_dqr, pcf.dqi.geographical_dqr, pcf.dqi.temporal_dqr)
            if worst > ceiling:
                reasons.append(
                    Reason(
                        "dqr-above-ceiling",
                        f"the agreement allows a DQR of at most {quantities.text(ceiling)}; "
                        f"the record's worst is {quantities.text(worst)}",
                    )
                )
    exempted_ceiling = agreement.max_exempted_share
    if exempted_ceiling is not None and pcf.exempted_emissions_percent > exempted_ceiling:
        reasons.append(
            Reason(
                "exempted-share-above-ceiling",
                f"the agreement allows at most {quantities.text(exempted_ceiling)} % exempted "
                "emissions; "
                f"the record exempts {quantities.text(pcf.exempted_emissions_percent)} %",
            )
        )
    if agreement.max_reference_age_days is not None:
        age = now - pcf.reference_period_end
        if age > dt.timedelta(days=agreement.max_reference_age_days):
            reasons.append(
                Reason(
                    "reference-period-too-old",
                    f"the reference period ended {age.days} days ago; the agreement accepts "
                    f"at most {agreement.max_reference_age_days}",
                )
            )
    level = verification_level(footprint)
    if _LEVEL_ORDER[level] < _LEVEL_ORDER[agreement.required_verification]:
        reasons.append(
            Reason(
                "verification-insufficient",
                f"the agreement requires {agreement.required_verification.value} assurance; "
                f"the record has {level.value}",
            )
        )
    return reasons


def choose_agreement(
    agreements: Sequence[Agreement], footprint: ProductFootprint, now: dt.datetime
) -> tuple[Agreement | None, list[Reason]]:
    """The agreement a record is recognised under, or the reasons it is refused."""
    current = [agreement for agreement in agreements if in_force(agreement, now)]
    if not current:
        return None, [
            Reason("no-agreement-in-force", "no granted agreement with the partner is in force")
        ]
    covering = [agreement for agreement in current if covers(agreement, footprint)]
    if not covering:
        classes = ", ".join(footprint.product_classifications or ()) or "none"
        return None, [
            Reason(
                "out-of-scope",
                f"no agreement in force covers the record's product classifications ({classes})",
            )
        ]
    first_reasons: list[Reason] = []
    for agreement in covering:
        reasons = condition_reasons(agreement, footprint, now)
        if not reasons:
            return agreement, []
        if not first_reasons:
            first_reasons = reasons
    return covering[0], first_reasons


# --- the record's signature and the partner's log ---------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LogEvidence:
    """A partner's signed checkpoint and the inclusion proof of one envelope under it."""

    checkpoint: note.Checkpoint
    note: str
    log_index: int
    proof: Sequence[bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class Inbound:
    """One record as it reached us from a partner, with what vouches for its signer."""

    envelope: Mapping[str, Any]
    signer_jwk: Mapping[str, Any] | None = None
    log: LogEvidence | None = None
    # Problems found while fetching its evidence (a proof the partner could not give, ...).
    problems: tuple[Reason, ...] = ()
    # When the partner received it (its log entry, its receipt); None: not known, and the
    # signer's key is judged at the time we receive it.
    received_at: dt.datetime | None = None
    # The partner's own verdict on the signer's key at its receipt ("valid", "revoked", ...).
    partner_key_status: str | None = None
    # The organisation on the partner's side whose JWKS publishes the signer's key.
    owner: str | None = None


def envelope_entry(envelope: Mapping[str, Any]) -> bytes:
    """The log entry of an envelope: its RFC 8785 form, as this software logs records."""
    return signing.canonical_json(
        {"footprint": envelope["footprint"], "signature": envelope["signature"]}
    )


def _jwk_moment(jwk: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = jwk.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return None


def jwk_status_reason(kid: str, jwk: Mapping[str, Any], moment: dt.datetime) -> Reason | None:
    """Why a key published as ``jwk`` did not vouch for a record received at ``moment``."""
    revoked = jwk.get("revoked")
    revoked_at = _jwk_moment(revoked, "revoked_at") if isinstance(revoked, Mapping) else None
    if revoked_at is not None and revoked_at <= moment:
        return Reason(
            "signer-key-revoked",
            f"key {kid} was revoked from {revoked_at.isoformat()}, at or before the partner "
            f"received the record ({moment.isoformat()})",
        )
    not_before, not_after = _jwk_moment(jwk, "nbf"), _jwk_moment(jwk, "exp")
    if not_before is not None and moment < not_before:
        return Reason("signer-key-not-valid", f"key {kid} was not yet valid at the receipt")
    if not_after is not None and moment >= not_after:
        return Reason("signer-key-not-valid", f"key {kid} had expired at the receipt")
    return None


def signature_reasons(
    partner: PartnerProgramme,
    anchors: Mapping[str, bytes],
    inbound: Inbound,
    footprint: ProductFootprint,
    now: dt.datetime | None = None,
) -> tuple[list[Reason], bytes | None]:
    """Whether the record's signer is vouched for by the partner and its signature holds."""
    now = now or utcnow()
    reasons: list[Reason] = list(inbound.problems)
    signature = inbound.envelope["signature"]
    kid = signature["kid"]
    public_key = anchors.get(kid)
    vouched_by_anchor = public_key is not None
    if public_key is None and inbound.signer_jwk is not None:
        try:
            candidate = signing.public_key_from_jwk(
                {n: inbound.signer_jwk[n] for n in ("kty", "crv", "x") if n in inbound.signer_jwk}
            )
        except signing.SigningError:
            candidate = None
        if candidate is not None and signing.key_id(candidate) == kid:
            public_key = candidate
    if public_key is None:
        reasons.append(
            Reason(
                "unknown-signer",
                f"key {kid} is neither a trust anchor nor published by the partner",
            )
        )
    else:
        try:
            signing.verify(
                context=signing.FOOTPRINT_CONTEXT,
                payload=inbound.envelope["footprint"],
                signature=signature["value"],
                public_key=public_key,
            )
        except signing.SigningError:
            reasons.append(
                Reason("signature-invalid", "the signature does not match the footprint")
            )
        # The key is judged when the partner received the record, never at the
        # ``created`` its signer wrote (a back-dated revocation must not be outrun).
        moment = inbound.received_at or now
        if inbound.signer_jwk is not None and not vouched_by_anchor:
            problem = jwk_status_reason(kid, inbound.signer_jwk, moment)
            if problem is not None:
                reasons.append(problem)
        status = inbound.partner_key_status
        if status is not None and status != "valid":
            reasons.append(
                Reason(
                    "signer-key-revoked" if status == "revoked" else "signer-key-not-valid",
                    f"the partner itself holds key {kid} as {status} when it received the record",
                )
            )
    if partner.log_origin is not None:
        evidence = inbound.log
        if evidence is None:
            if not any(reason.code.startswith("partner-log") for reason in reasons):
                reasons.append(
                    Reason(
                        "not-in-partner-log", "the partner gave no proof of the record in its log"
                    )
                )
        else:
            try:
                merkle.verify_inclusion(
                    evidence.log_index,
                    evidence.checkpoint.size,
                    merkle.leaf_hash(envelope_entry(inbound.envelope)),
                    evidence.proof,
                    evidence.checkpoint.root_hash,
                )
            except (signing.SigningError, ValueError):
                reasons.append(
                    Reason(
                        "not-in-partner-log",
                        f"the record is not at index {evidence.log_index} of the partner's "
                        f"log of size {evidence.checkpoint.size}: it differs from what was logged",
                    )
                )
    elif public_key is not None and not vouched_by_anchor:
        reasons.append(
            Reason(
                "unknown-signer",
                f"key {kid} is not a trust anchor and the partner has no log to vouch for it",
            )
        )
    return reasons, public_key


# --- the decision -----------------------------------------------------------------------------


def footprint_digest(footprint: Mapping[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(footprint)).hexdigest()


def _ensure_signer(
    session: Session,
    partner: PartnerProgramme,
    kid: str,
    public_key: bytes,
    signer_jwk: Mapping[str, Any] | None,
    footprint: ProductFootprint,
) -> Reason | None:
    """Register the signer's key to the partner's organisation (records refer to it)."""
    existing = session.get(SigningKey, kid)
    if existing is not None:
        if existing.organisation_id != partner.organisation_id:
            return Reason("signer-key-conflict", f"key {kid} belongs to another organisation here")
        return None
    jwk = signer_jwk or {}
    not_before = min(_jwk_moment(jwk, "nbf") or footprint.created, footprint.created)
    not_after = _jwk_moment(jwk, "exp")
    register_key(
        session,
        organisation_id=partner.organisation_id,
        public_jwk=signing.public_jwk(public_key),
        not_before=not_before,
        not_after=not_after if not_after is not None and not_after > not_before else None,
    )
    return None


def previous_decision(
    session: Session, partner_id: str, record_id: str, digest: str
) -> Recognition | None:
    return session.scalar(
        sa.select(Recognition)
        .where(
            Recognition.partner_id == partner_id,
            Recognition.record_id == record_id.lower(),
            Recognition.footprint_digest == digest,
        )
        .order_by(Recognition.id.desc())
        .limit(1)
    )


def decide(
    session: Session,
    partner: PartnerProgramme,
    inbound: Inbound,
    *,
    key: ExchangeKey,
    origin: str,
    anchors: Mapping[str, bytes],
    agreements: Sequence[Agreement],
    source: str,
    on_accepted: footprints.RecordsAccepted | None = None,
    now: dt.datetime | None = None,
) -> Recognition:
    """Check one inbound record, store it if recognised, and sign and log the decision."""
    now = now or utcnow()
    try:
        envelope = parse_envelope(inbound.envelope)
    except ValidationFailed as exc:
        raise ValidationFailed("not a signed footprint envelope", details=exc.details) from exc
    footprint_doc = envelope.footprint
    record_id = str(footprint_doc.get("id", "")).lower()[:36]
    digest = footprint_digest(footprint_doc)
    reasons: list[Reason] = []
    agreement: Agreement | None = None
    try:
        footprint = parse_product_footprint(footprint_doc)
    except ValidationFailed as exc:
        footprint = None
        fields = ", ".join(d.get("field", "") for d in exc.details[:5])
        reasons.append(Reason("invalid-footprint", f"not a PACT v3 footprint ({fields})"))
    public_key: bytes | None = None
    if footprint is not None:
        found, public_key = signature_reasons(partner, anchors, inbound, footprint, now)
        reasons += found
        if partner.status != PartnerStatus.ACTIVE:
            reasons.append(
                Reason("partner-not-active", f"the partner programme is {partner.status.value}")
            )
        agreement, agreement_reasons = choose_agreement(agreements, footprint, now)
        reasons += agreement_reasons
    stored = False
    if not reasons:
        assert footprint is not None and public_key is not None and agreement is not None
        conflict = _ensure_signer(
            session,
            partner,
            envelope.signature.kid,
            public_key,
            inbound.signer_jwk,
            footprint,
        )
        if conflict is not None:
            reasons.append(conflict)
        else:
            [outcome] = footprints.store_recognised(
                session,
                organisation_id=partner.organisation_id,
                envelopes=[dict(inbound.envelope)],
                disclosure=Disclosure(partner.recognised_disclosure),
                on_accepted=on_accepted,
            )
            if outcome.error is not None:
                reasons.append(_storage_reason(outcome.error))
            stored = outcome.accepted
            if outcome.created and outcome.record is not None:
                flows.record_federation_in(
                    session, outcome.record, partner=partner, agreement_id=agreement.id, now=now
                )
    decision = Decision.RECOGNISED if stored and not reasons else Decision.REFUSED
    evidence = inbound.log
    document: dict[str, Any] = {
        "decision": decision.value,
        "exchange": origin,
        "partner": {"id": partner.id, "name": partner.name, "country": partner.country},
        "agreement": agreement.id
        if agreement is not None and decision == Decision.RECOGNISED
        else None,
        "record": record_id,
        "footprintDigest": digest,
        "signature": {"kid": envelope.signature.kid, "value": envelope.signature.value},
        "partnerLog": None
        if evidence is None
        else {
            "origin": evidence.checkpoint.origin,
            "treeSize": evidence.checkpoint.size,
            "rootHash": _b64(evidence.checkpoint.root_hash),
            "logIndex": evidence.log_index,
        },
        "reasons": [reason.to_json() for reason in reasons],
        "decidedAt": now.isoformat(),
    }
    if inbound.received_at is not None or inbound.partner_key_status is not None:
        document["partnerReceipt"] = {
            "receivedAt": iso_or_none(inbound.received_at),
            "keyStatusAtReceipt": inbound.partner_key_status,
        }
    recognition = Recognition(
        partner_id=partner.id,
        agreement_id=agreement.id if agreement is not None else None,
        record_id=record_id,
        footprint_digest=digest,
        decision=decision,
        reasons=document["reasons"],
        envelope_json=json.dumps(dict(inbound.envelope), ensure_ascii=False),
        document_json=signing.canonical_json(document).decode("utf-8"),
        kid=key.kid,
        signature=key.sign(context=signing.RECOGNITION_CONTEXT, payload=document),
        source=source,
        decided_at=now,
        log_index=-1,
        flagged_at=None,
        flag_reason=None,
        signer_owner=inbound.owner[:36] if inbound.owner else None,
        partner_received_at=inbound.received_at,
        key_revoked_at=None,
    )
    session.add(recognition)
    session.flush()
    Recognition.log.append(session, [recognition])
    session.flush()
    return recognition


def _storage_reason(error: ExchangeError) -> Reason:
    details = "; ".join(f"{d.get('field', '')}: {d.get('message', '')}" for d in error.details)
    message = error.message + (f" ({details})" if details else "")
    return Reason("record-not-stored", message[:1000])


def _b64(value: bytes) -> str:
    import base64

    return base64.b64encode(value).decode("ascii")


def recognitions_of_record(session: Session, record_id: str) -> list[Recognition]:
    return list(
        session.scalars(
            sa.select(Recognition)
            .where(
                Recognition.record_id == record_id.lower(),
                Recognition.decision == Decision.RECOGNISED,
            )
            .order_by(Recognition.id)
        )
    )


def list_recognitions(
    session: Session,
    *,
    partner_id: str | None = None,
    decision: Decision | None = None,
    limit: int = 100,
) -> list[Recognition]:
    query = sa.select(Recognition).order_by(Recognition.id.desc()).limit(limit)
    if partner_id is not None:
        query = query.where(Recognition.partner_id == partner_id)
    if decision is not None:
        query = query.where(Recognition.decision == decision)
    return list(session.scalars(query))
