"""The portal's own logic: its users and their sign-in, drafts awaiting a signature, the
PACT footprint a form describes, and the regulator's dashboard figures.

Everything else a page shows or does goes through the services of its area, with a
:class:`~exchange.organisations.principals.Principal` made for the signed-in person.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from exchange import quantities, signing
from exchange.aggregation.models import Product, Result
from exchange.db import utcnow
from exchange.disclosure import services as disclosure
from exchange.disclosure.models import ComplianceState
from exchange.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from exchange.factors.models import Factor, FactorStatus
from exchange.footprints.models import (
    FootprintClassification,
    FootprintGeography,
    FootprintRecord,
    RecordStatus,
)
from exchange.footprints.services import visible_to
from exchange.labels.models import Certificate, CertificateStatus, Grade
from exchange.log.models import LogCheckpoint
from exchange.log.services import latest_checkpoint, tree_size
from exchange.organisations.models import Organisation, OrganisationRole, Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import SCOPES, get_organisation
from exchange.pact.models import FootprintRequest, RequestStatus
from exchange.partners.models import Decision as RecognitionDecision
from exchange.partners.models import Recognition
from exchange.portal.models import PortalSession, PortalUser, SigningDraft
from exchange.rules.models import AccountingRule, RuleStatus

LANGUAGES: Final = ("zh", "en")
MIN_PASSWORD_LENGTH: Final = 10
PASSWORD_METHOD: Final = "scrypt"  # noqa: S105 (the hashing method, not a password)
DRAFT_KINDS: Final = {
    "footprint": signing.FOOTPRINT_CONTEXT,
    "certificate": signing.CERTIFICATE_CONTEXT,
}
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@functools.cache
def _unknown_user_hash(method: str) -> str:
    """Checked against when the e-mail is unknown, so that the answer takes as long either
    way. Made at the first sign-in, not at import: a scrypt hash is ~0.1 s of CPU, which every
    process importing the portal (each CLI command, each server) paid for nothing."""
    return generate_password_hash("no such user: a fixed dummy", method)


# --- users -------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    organisation_id: str,
    email: str,
    name: str,
    password: str,
    language: str = "zh",
) -> PortalUser:
    """A person who signs in for ``organisation_id``; the password is kept as a scrypt hash."""
    get_organisation(session, organisation_id)
    errors: list[dict[str, str]] = []
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        errors.append({"field": "email", "message": "an e-mail address such as li@example.cn"})
    if not name.strip() or len(name) > 200:
        errors.append({"field": "name", "message": "a name of at most 200 characters"})
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(
            {"field": "password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"}
        )
    if language not in LANGUAGES:
        errors.append({"field": "language", "message": "zh or en"})
    if errors:
        raise ValidationFailed("the user is not valid", details=errors)
    if session.scalar(sa.select(PortalUser.id).where(PortalUser.email == email)) is not None:
        raise Conflict(f"a user with the e-mail {email} exists already")
    user = PortalUser(
        organisation_id=organisation_id,
        email=email,
        name=name.strip(),
        password_hash=generate_password_hash(password, PASSWORD_METHOD),
        language=language,
        disabled_at=None,
    )
    session.add(user)
    session.flush()
    return user


def sign_in(session: Session, *, email: str, password: str) -> PortalUser:
    """The user with these credentials; one answer for every failure, and the same work."""
    user = session.scalar(
        sa.select(PortalUser).where(PortalUser.email == email.strip().lower()[:320])
    )
    stored = user.password_hash if user is not None else _unknown_user_hash(PASSWORD_METHOD)
    matches = check_password_hash(stored, password)
    if user is None or not matches or user.disabled_at is not None:
        raise Unauthenticated("unknown e-mail or wrong password")
    return user


def active_user(session: Session, user_id: int) -> PortalUser | None:
    user = session.get(PortalUser, user_id)
    return None if user is None or user.disabled_at is not None else user


def user_by_email(session: Session, email: str) -> PortalUser:
    user = session.scalar(
        sa.select(PortalUser).where(PortalUser.email == email.strip().lower()[:320])
    )
    if user is None:
        raise NotFound(f"no portal user has the e-mail {email.strip().lower()[:320]}")
    return user


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "the new password is too short",
            details=[
                {"field": "password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"}
            ],
        )


def change_password(session: Session, user: PortalUser, *, current: str, new: str) -> None:
    """The user's own change: the current password proves it is them. Every session of the
    user ends (a thief's copy of a cookie too); the caller starts a new one for itself."""
    if not check_password_hash(user.password_hash, current):
        raise Unauthenticated("the current password is wrong")
    set_password(session, user, new)


def set_password(session: Session, user: PortalUser, password: str) -> None:
    """A new password (the operator's reset, or :func:`change_password`); ends every session."""
    _check_new_password(password)
    user.password_hash = generate_password_hash(password, PASSWORD_METHOD)
    end_sessions_of(session, user.id)
    session.flush()


def disable_user(session: Session, user: PortalUser, *, now: dt.datetime) -> None:
    """The user can no longer sign in, and every session it has ends at once."""
    if user.disabled_at is None:
        user.disabled_at = now
    end_sessions_of(session, user.id)
    session.flush()


def enable_user(session: Session, user: PortalUser) -> None:
    user.disabled_at = None
    session.flush()


# --- sessions ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a portal session lives: ``idle`` without a request, ``lifetime`` at most
    since sign-in; the last request's time is written at most once per ``touch``."""

    idle: dt.timedelta
    lifetime: dt.timedelta
    touch: dt.timedelta = dt.timedelta(minutes=1)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user: PortalUser, *, now: dt.datetime) -> str:
    """A new session for ``user``; the token its cookie carries (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hash=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return token


def session_user(
    session: Session, token: str, *, now: dt.datetime, policy: SessionPolicy
) -> PortalUser | None:
    """The active user whose live session ``token`` names, else None (and an expired
    session is ended). Moves the session's last-seen time forward."""
    if not token or len(token) > 100:
        return None
    found = session.get(PortalSession, _token_hash(token))
    if found is None:
        return None
    user = active_user(session, found.user_id)
    if (
        user is None
        or now - found.last_seen_at >= policy.idle
        or now - found.created_at >= policy.lifetime
    ):
        session.delete(found)
        session.flush()
        return None
    if now - found.last_seen_at >= policy.touch:
        found.last_seen_at = now
        session.flush()
    return user


def end_session(session: Session, token: str) -> None:
    session.execute(sa.delete(PortalSession).where(PortalSession.token_hash == _token_hash(token)))


def end_sessions_of(session: Session, user_id: int) -> None:
    session.execute(sa.delete(PortalSession).where(PortalSession.user_id == user_id))


def end_stale_sessions(session: Session, *, now: dt.datetime, policy: SessionPolicy) -> None:
    """Forget sessions nobody can use any more (idle, or past their lifetime)."""
    session.execute(
        sa.delete(PortalSession).where(
            (PortalSession.last_seen_at <= now - policy.idle)
            | (PortalSession.created_at <= now - policy.lifetime)
        )
    )


def principal_of(session: Session, user: PortalUser) -> Principal:
    """The user acting for its organisation, exactly as an API client of it with every scope."""
    organisation = get_organisation(session, user.organisation_id)
    return Principal.acting_for(organisation, client_id=f"portal-user:{user.id}", scopes=SCOPES)


# --- drafts ------------------------------------------------------------------------------


def create_draft(
    session: Session, principal: Principal, *, kind: str, payload: Mapping[str, Any]
) -> SigningDraft:
    if kind not in DRAFT_KINDS:
        raise ValidationFailed(f"a draft is one of {', '.join(DRAFT_KINDS)}")
    try:
        text = signing.canonical_json(payload).decode("utf-8")
    except signing.SigningError as exc:
        raise ValidationFailed(str(exc)) from exc
    draft = SigningDraft(
        id=str(uuid.uuid4()),
        organisation_id=principal.organisation_id,
        kind=kind,
        payload_json=text,
        submitted_ref=None,
    )
    session.add(draft)
    session.flush()
    return draft


def get_draft(session: Session, principal: Principal, draft_id: str) -> SigningDraft:
    """One of the caller's own drafts; another organisation's is "not found"."""
    draft = session.get(SigningDraft, draft_id)
    if draft is None or draft.organisation_id != principal.organisation_id:
        raise NotFound(f"you have no draft {draft_id}")
    return draft


def draft_message(draft: SigningDraft) -> bytes:
    """The exact bytes to sign: the context line, a newline, the RFC 8785 payload."""
    return DRAFT_KINDS[draft.kind].encode("ascii") + b"\n" + draft.payload_json.encode("utf-8")


def draft_payload(draft: SigningDraft) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(draft.payload_json)
    return payload


def signed_envelope(draft: SigningDraft, *, kid: str, value: str) -> dict[str, Any]:
    """The envelope the area's service takes, from a signature over the draft's message."""
    kid, value = kid.strip(), value.strip()
    if not kid or not value:
        raise ValidationFailed(
            "give the key id and the signature",
            details=[
                {"field": name, "message": "required"}
                for name, given in (("kid", kid), ("signature", value))
                if not given
            ],
        )
    member = "footprint" if draft.kind == "footprint" else "certificate"
    return {
        member: draft_payload(draft),
        "signature": {"alg": signing.ALGORITHM, "kid": kid, "value": value},
    }


def pasted_signature(text: str) -> tuple[str, str] | None:
    """``(kid, value)`` from a pasted signed envelope or signature object, if it is one."""
    try:
        document = signing.parse_json(text)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("signature"), dict):
        document = document["signature"]
    if isinstance(document, dict) and isinstance(document.get("kid"), str):
        value = document.get("value")
        if isinstance(value, str):
            return document["kid"], value
    return None


# --- a footprint from a form -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FootprintForm:
    """What a clerk types for a simple cradle-to-gate record; the rest is filled in."""

    product_name: str
    product_description: str
    product_id: str
    classification: str
    declared_unit: str
    declared_amount: str
    pcf_excluding: str
    pcf_including: str
    fossil: str
    biogenic_uptake: str
    reference_year: str
    geography: str
    mass_per_unit: str = ""
    preceding_id: str = ""


def _decimal_text(errors: list[dict[str, str]], field: str, text: str) -> str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        errors.append({"field": field, "message": "a decimal number such as 0.52"})
        return "0"
    if not value.is_finite():
        errors.append({"field": field, "message": "a finite number"})
        return "0"
    return quantities.text(value)


def footprint_from_form(
    form: FootprintForm, organisation: Organisation, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A PACT v3 ProductFootprint built from a form; the area's schema checks it later."""
    now = (now or utcnow()).replace(microsecond=0)
    errors: list[dict[str, str]] = []
    if not form.product_name.strip():
        errors.append({"field": "productName", "message": "required"})
    if not form.product_id.strip().lower().startswith("urn:"):
        errors.append({"field": "productId", "message": "a URN such as urn:gtin:06901234500011"})
    year_text = form.reference_year.strip()
    if not (year_text.isascii() and year_text.isdigit() and 1990 <= int(year_text) <= now.year):
        errors.append({"field": "referenceYear", "message": f"a year from 1990 to {now.year}"})
        year_text = str(now.year - 1)
    amount = _decimal_text(errors, "declaredAmount", form.declared_amount)
    if Decimal(amount) <= 0:
        errors.append({"field": "declaredAmount", "message": "more than zero"})
    unit = form.declared_unit.strip() or "kilogram"
    mass_text = form.mass_per_unit.strip() or ("1" if unit == "kilogram" else "")
    if not mass_text:
        errors.append({"field": "productMassPerDeclaredUnit", "message": "required for this unit"})
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": unit,
        "declaredUnitAmount": amount,
        "productMassPerDeclaredUnit": _decimal_text(
            errors, "productMassPerDeclaredUnit", mass_text or "0"
        ),
        "referencePeriodStart": f"{year_text}-01-01T00:00:00Z",
        "referencePeriodEnd": f"{int(year_text) + 1}-01-01T00:00:00Z",
        "pcfExcludingBiogenicUptake": _decimal_text(
            errors, "pcfExcludingBiogenicUptake", form.pcf_excluding
        ),
        "pcfIncludingBiogenicUptake": _decimal_text(
            errors, "pcfIncludingBiogenicUptake", form.pcf_including
        ),
        "fossilGhgEmissions": _decimal_text(errors, "fossilGhgEmissions", form.fossil),
        "biogenicCO2Uptake": _decimal_text(errors, "biogenicCO2Uptake", form.biogenic_uptake),
        "fossilCarbonContent": "0",
        "biogenicCarbonContent": "0",
        "packagingEmissionsIncluded": True,
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["ISO14067"],
        "boundaryProcessesDescription": "cradle to gate",
        "exemptedEmissionsPercent": "0",
    }
    geography = form.geography.strip()
    if len(geography) == 2:
        pcf["geographyCountry"] = geography.upper()
    elif geography:
        pcf["geographyCountrySubdivision"] = geography.upper()
    if errors:
        raise ValidationFailed("the footprint form is not complete", details=errors)
    company_ids = sorted(item.urn for item in organisation.company_ids)
    footprint: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "specVersion": "3.0.0",
        "created": now.isoformat().replace("+00:00", "Z"),
        "status": RecordStatus.ACTIVE.value,
        "companyName": organisation.name,
        "companyIds": company_ids,
        "productDescription": form.product_description.strip() or form.product_name.strip(),
        "productIds": [form.product_id.strip()],
        "productClassifications": [form.classification.strip()]
        if form.classification.strip()
        else [],
        "productNameCompany": form.product_name.strip(),
        "comment": "",
        "pcf": pcf,
    }
    if not footprint["productClassifications"]:
        del footprint["productClassifications"]
    if form.preceding_id.strip():
        footprint["precedingPfIds"] = [form.preceding_id.strip().lower()]
    return footprint


def footprint_from_json(text: str) -> dict[str, Any]:
    """A PACT footprint pasted or uploaded as JSON (bare, or a PACT ``{"data": ...}`` answer)."""
    try:
        document = signing.parse_json(text)
    except ValueError as exc:
        raise ValidationFailed(
            "the file is not JSON", details=[{"field": "json", "message": str(exc)}]
        ) from exc
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]
    if isinstance(document, dict) and isinstance(document.get("footprint"), dict):
        document = document["footprint"]
    if not isinstance(document, dict):
        raise ValidationFailed("a PACT ProductFootprint is a JSON object")
    return document


# --- the regulator's dashboard -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    """The tiles a regulator asks for first."""

    companies: int
    records: int
    certified_products: int
    categories_with_rules: int
    categories_without_rules: int
    obligations: int
    obligations_met: int
    recognised_records: int


@dataclasses.dataclass(frozen=True, slots=True)
class Dashboard:
    by_category: dict[str, dict[str, int]]
    by_region: dict[str, dict[str, int]]
    grades: dict[str, dict[int, int]]
    expiring: list[Certificate]
    log_size: int
    checkpoint: LogCheckpoint | None
    figures: Figures
    # Records by the month their validity begins (when the company issued the figure, not
    # when the exchange received it: a programme loaded at once still shows its years) and
    # certificates by the month issued ("2026-03").
    records_per_month: dict[str, int]
    certificates_per_month: dict[str, int]


def _month(moment: Any) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    return sa.extract("year", moment), sa.extract("month", moment)


def _month_key(year: Any, month: Any) -> str:
    return f"{int(year):04d}-{int(month):02d}"


def _counts_by_month(
    session: Session, principal: Principal, table: Any, column: str
) -> dict[str, dict[str, int]]:
    """Records the regulator may see, per value of a term and month their validity begins."""
    value = getattr(table, column)
    year, month = _month(FootprintRecord.valid_from)
    rows = session.execute(
        sa.select(value, year, month, sa.func.count())
        .join(FootprintRecord, FootprintRecord.id == table.record_id)
        .where(visible_to(principal.organisation_id, regulator=True))
        .group_by(value, year, month)
    )
    counts: dict[str, dict[str, int]] = {}
    for term, row_year, row_month, count in rows:
        counts.setdefault(str(term), {})[_month_key(row_year, row_month)] = int(count)
    return counts


def dashboard(
    session: Session, principal: Principal, *, days_ahead: int = 90, now: dt.datetime | None = None
) -> Dashboard:
    """The figures of the regulator's dashboard.

    Record counts cover what the regulator may read (public records and those disclosed to
    it), by the same rule as every list; certificates and grades are public already.
    """
    now = now or utcnow()
    grades: dict[str, dict[int, int]] = {}
    for category, grade, count in session.execute(
        sa.select(Certificate.category, Grade.grade, sa.func.count())
        .join(Grade, Grade.certificate_id == Certificate.id)
        .where(Grade.superseded_at.is_(None))
        .group_by(Certificate.category, Grade.grade)
    ):
        grades.setdefault(category, {})[int(grade)] = int(count)
    expiring = list(
        session.scalars(
            sa.select(Certificate)
            .where(
                Certificate.status == CertificateStatus.ACTIVE,
                Certificate.valid_until > now,
                Certificate.valid_until <= now + dt.timedelta(days=days_ahead),
            )
            .order_by(Certificate.valid_until)
            .limit(200)
        )
    )
    by_category = _counts_by_month(session, principal, FootprintClassification, "classification")
    records_per_month: dict[str, int] = {}
    year, month = _month(FootprintRecord.valid_from)
    for row_year, row_month, count in session.execute(
        sa.select(year, month, sa.func.count())
        .where(visible_to(principal.organisation_id, regulator=True))
        .group_by(year, month)
    ):
        records_per_month[_month_key(row_year, row_month)] = int(count)
    certificates_per_month: dict[str, int] = {}
    year, month = _month(Certificate.issued_at)
    for row_year, row_month, count in session.execute(
        sa.select(year, month, sa.func.count()).group_by(year, month)
    ):
        certificates_per_month[_month_key(row_year, row_month)] = int(count)
    return Dashboard(
        by_category=by_category,
        by_region=_counts_by_month(session, principal, FootprintGeography, "geography"),
        grades=grades,
        expiring=expiring,
        log_size=tree_size(session),
        checkpoint=latest_checkpoint(session),
        figures=_figures(session, set(by_category), now=now),
        records_per_month=records_per_month,
        certificates_per_month=certificates_per_month,
    )


def _figures(session: Session, categories: set[str], *, now: dt.datetime) -> Figures:
    """``categories``: those of the records the regulator may see (and of certificates)."""
    companies = session.scalar(
        sa.select(sa.func.count(sa.distinct(OrganisationRole.organisation_id))).where(
            OrganisationRole.role.in_([Role.SUPPLIER, Role.CHAIN_OWNER])
        )
    )
    records = session.scalar(sa.select(sa.func.count()).select_from(FootprintRecord))
    certified = session.scalar(
        sa.select(sa.func.count(sa.distinct(Certificate.gtin))).where(
            Certificate.status == CertificateStatus.ACTIVE, Certificate.valid_until > now
        )
    )
    categories = {c.lower() for c in categories} | {
        str(c).lower() for c in session.scalars(sa.select(Certificate.category).distinct())
    }
    ruled: set[str] = set()
    for text in session.scalars(
        sa.select(AccountingRule.classifications_json).where(
            AccountingRule.status == RuleStatus.LISTED
        )
    ):
        ruled |= {str(item).lower() for item in json.loads(text)}
    obligations = disclosure.all_obligations(session, now=now)
    recognised = session.scalar(
        sa.select(sa.func.count(sa.distinct(Recognition.record_id))).where(
            Recognition.decision == RecognitionDecision.RECOGNISED,
            Recognition.flagged_at.is_(None),
        )
    )
    return Figures(
        companies=int(companies or 0),
        records=int(records or 0),
        certified_products=int(certified or 0),
        categories_with_rules=len(categories & ruled),
        categories_without_rules=len(categories - ruled),
        obligations=len(obligations),
        obligations_met=sum(1 for o in obligations if o.state is ComplianceState.MET),
        recognised_records=int(recognised or 0),
    )


def certified_categories(session: Session) -> list[str]:
    """The categories that have certificates: what the registry and green procurement can
    be searched by (a person picks a name, the page sends its code)."""
    return sorted(str(c) for c in session.scalars(sa.select(Certificate.category).distinct()))


# --- what needs the person's attention (the home page) -----------------------------------


def attention(
    session: Session, principal: Principal, *, now: dt.datetime, days_ahead: int = 90
) -> dict[str, int]:
    """Counts of what waits for the signed-in organisation, by kind; only kinds that concern
    its roles, and only those above zero (the home page lists what needs doing, not a
    wall of zeros)."""
    found: dict[str, int] = {}
    soon = now + dt.timedelta(days=days_ahead)
    expiring = sa.select(sa.func.count()).where(
        Certificate.status == CertificateStatus.ACTIVE,
        Certificate.valid_until > now,
        Certificate.valid_until <= soon,
    )
    organisation = principal.organisation_id
    if principal.has_role(Role.SUPPLIER) or principal.has_role(Role.CHAIN_OWNER):
        found["requests"] = int(
            session.scalar(
                sa.select(sa.func.count()).where(
                    FootprintRequest.supplier_id == organisation,
                    FootprintRequest.status == RequestStatus.OPEN,
                )
            )
            or 0
        )
        found["obligations"] = sum(
            1
            for o in disclosure.all_obligations(session, now=now, organisation_ids=[organisation])
            if o.state in (ComplianceState.DUE_SOON, ComplianceState.OVERDUE)
        )
        found["own-certificates"] = int(
            session.scalar(expiring.where(Certificate.owner_id == organisation)) or 0
        )
    if principal.has_role(Role.CHAIN_OWNER):
        found["stale-products"] = int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Result)
                .join(Product, Product.id == Result.product_id)
                .where(Product.owner_id == organisation, Result.stale.is_(True))
            )
            or 0
        )
    if principal.has_role(Role.CERTIFICATION_BODY):
        found["issued-certificates"] = int(
            session.scalar(expiring.where(Certificate.body_id == organisation)) or 0
        )
    if principal.has_role(Role.REGULATOR):
        found["factor-declarations"] = int(
            session.scalar(
                sa.select(sa.func.count()).where(Factor.status == FactorStatus.SUBMITTED)
            )
            or 0
        )
        found["rule-proposals"] = int(
            session.scalar(
                sa.select(sa.func.count()).where(
                    AccountingRule.status.in_([RuleStatus.PROPOSED, RuleStatus.ASSESSED])
                )
            )
            or 0
        )
        found["overdue"] = sum(
            1
            for o in disclosure.all_obligations(session, now=now)
            if o.state is ComplianceState.OVERDUE
        )
        found["certificates"] = int(session.scalar(expiring) or 0)
    return {kind: count for kind, count in found.items() if count}
