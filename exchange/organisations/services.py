"""Organisations, their signing keys, API clients and bearer tokens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session, defaultload

from exchange import lifecycle, limits, signing
from exchange.db import utcnow
from exchange.errors import (
    AccessDenied,
    Conflict,
    NotFound,
    TokenExpired,
    Unauthenticated,
    ValidationFailed,
)
from exchange.organisations.models import (
    AccessToken,
    ApiClient,
    CompanyIdentifier,
    Organisation,
    OrganisationRole,
    Role,
    SigningKey,
)
from exchange.organisations.principals import Principal
from exchange.organisations.uscc import InvalidUSCC, normalise_uscc

SCOPES = frozenset({"footprints:read", "footprints:write", "keys:write", "labels:write"})
DEFAULT_TOKEN_LIFETIME = dt.timedelta(hours=1)


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def hash_secret(secret: str) -> str:
    # Secrets and tokens are 256-bit random values, so a plain SHA-256 is enough to keep a
    # database leak from revealing them; slow password hashes are for human passwords.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# --- organisations ---------------------------------------------------------------------


def company_urn_for_uscc(uscc: str) -> str:
    return f"urn:pact:company:customcode:cn-uscc:{uscc}"


def create_organisation(
    session: Session,
    *,
    name: str,
    country: str,
    roles: Iterable[Role],
    uscc: str | None = None,
    company_ids: Sequence[str] = (),
) -> Organisation:
    """Register an organisation; a Chinese one needs a valid unified social credit code."""
    errors: list[dict[str, str]] = []
    country = country.strip().upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        errors.append({"field": "country", "message": "an ISO 3166-1 alpha-2 code such as CN"})
    if not name.strip():
        errors.append({"field": "name", "message": "an organisation needs a name"})
    elif len(name.strip()) > limits.ORGANISATION_NAME:
        errors.append(
            {"field": "name", "message": f"at most {limits.ORGANISATION_NAME} characters"}
        )
    role_set = set(roles)
    if not role_set:
        errors.append({"field": "roles", "message": "an organisation needs at least one role"})
    normalised_uscc: str | None = None
    if uscc:
        try:
            normalised_uscc = normalise_uscc(uscc)
        except InvalidUSCC as exc:
            errors.append({"field": "uscc", "message": str(exc)})
    elif country == "CN":
        errors.append(
            {
                "field": "uscc",
                "message": "a Chinese organisation needs its unified social credit code",
            }
        )
    for index, urn in enumerate(company_ids):
        if not urn.lower().startswith("urn:") or len(urn) > limits.URN:
            errors.append(
                {
                    "field": f"companyIds.{index}",
                    "message": f"a company id is a URN of at most {limits.URN} characters",
                }
            )
    if errors:
        raise ValidationFailed("the organisation is not valid", details=errors)
    if normalised_uscc is not None and session.scalar(
        sa.select(Organisation.id).where(Organisation.uscc == normalised_uscc)
    ):
        raise Conflict(f"an organisation with the code {normalised_uscc} is already registered")

    organisation_id = str(uuid.uuid4())
    urns = [f"urn:uuid:{organisation_id}", *company_ids]
    if normalised_uscc is not None:
        urns.append(company_urn_for_uscc(normalised_uscc))
    taken = session.scalars(
        sa.select(CompanyIdentifier.urn).where(CompanyIdentifier.urn.in_(urns))
    ).all()
    if taken:
        raise Conflict(f"company ids already belong to another organisation: {', '.join(taken)}")
    organisation = Organisation(
        id=organisation_id,
        name=name.strip(),
        country=country,
        uscc=normalised_uscc,
        roles=[OrganisationRole(role=role) for role in sorted(role_set)],
        company_ids=[CompanyIdentifier(urn=urn) for urn in dict.fromkeys(urns)],
    )
    session.add(organisation)
    session.flush()
    return organisation


def get_organisation(session: Session, organisation_id: str) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    return organisation


# --- signing keys ----------------------------------------------------------------------


def register_key(
    session: Session,
    *,
    organisation_id: str,
    public_jwk: object,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> SigningKey:
    """Register an organisation's public key; the kid is its RFC 7638 thumbprint."""
    try:
        public_key = signing.public_key_from_jwk(public_jwk)
    except signing.SigningError as exc:
        raise ValidationFailed(
            f"the key is not valid: {exc}", details=[{"field": "jwk", "message": str(exc)}]
        ) from exc
    now = utcnow()
    not_before = not_before or now
    if not_after is not None and not_after <= not_before:
        raise ValidationFailed(
            "the key is not valid",
            details=[{"field": "notAfter", "message": "must be later than notBefore"}],
        )
    kid = signing.key_id(public_key)
    existing = session.get(SigningKey, kid)
    if existing is not None:
        if existing.organisation_id != organisation_id:
            raise Conflict("this key is registered to another organisation")
        return existing
    key = SigningKey(
        kid=kid,
        organisation_id=organisation_id,
        public_key=public_key,
        not_before=not_before,
        not_after=not_after,
        revoked_at=None,
        revocation_reason=None,
    )
    session.add(key)
    session.flush()
    SigningKey.log.append(session, [key])
    return key


def revoke_key(
    session: Session,
    *,
    organisation_id: str,
    kid: str,
    reason: str,
    revoked_at: dt.datetime | None = None,
) -> SigningKey:
    """Revoke a key from ``revoked_at`` (now by default, never in the future); final.

    The key row is locked first and "now" read after: submissions holding the key finish
    before it (their records were received before the revocation), later ones see it.
    """
    key = session.get(SigningKey, kid, with_for_update=True, populate_existing=True)
    if key is None or key.organisation_id != organisation_id:
        raise NotFound(f"no key {kid} of yours")
    reason = lifecycle.reason(
        reason, column=SigningKey.revocation_reason, message="a revocation needs a reason"
    )
    key.revoked_at = revocation_moment(revoked_at, already=key.revoked_at, what=f"key {kid}")
    key.revocation_reason = reason
    session.flush()
    SigningKey.revocation_log.append(session, [key])
    return key


def revocation_moment(
    requested: dt.datetime | None, *, already: dt.datetime | None, what: str
) -> dt.datetime:
    """When a key's revocation takes effect: now, or a moment in the past (a leak found
    late); never in the future, and never a second time."""
    now = utcnow()
    moment = requested or now
    if moment > now:
        raise ValidationFailed(
            "a key cannot be revoked in the future",
            details=[{"field": "revokedAt", "message": "must not be later than now"}],
        )
    if already is not None:
        raise Conflict(f"{what} was already revoked at {already.isoformat()}")
    return moment


def keys_of(session: Session, organisation_id: str) -> list[SigningKey]:
    return list(
        session.scalars(
            sa.select(SigningKey)
            .where(SigningKey.organisation_id == organisation_id)
            .order_by(SigningKey.created_at, SigningKey.kid)
        )
    )


def keys_by_kid(
    session: Session, kids: Iterable[str], *, lock: bool = False
) -> dict[str, SigningKey]:
    """The keys of ``kids`` that exist. ``lock``: share-lock them until the transaction ends,
    so that a revocation in progress is waited for and then seen (a submission must not
    accept a key that is being revoked)."""
    wanted = sorted(set(kids))
    if not wanted:
        return {}
    query = sa.select(SigningKey).where(SigningKey.kid.in_(wanted)).order_by(SigningKey.kid)
    if lock:
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    return {key.kid: key for key in session.scalars(query)}


def key_status(key: SigningKey, moment: dt.datetime) -> str:
    """What a key was at ``moment``: valid, revoked (at or before it), not yet valid or
    expired. A signature stands when its key was valid when the exchange received it."""
    if key.revoked_at is not None and key.revoked_at <= moment:
        return "revoked"
    if moment < key.not_before:
        return "not-yet-valid"
    if key.not_after is not None and moment >= key.not_after:
        return "expired"
    return "valid"


def key_as_jwk(key: SigningKey) -> dict[str, object]:
    jwk: dict[str, object] = {
        **signing.public_jwk(key.public_key),
        "kid": key.kid,
        "alg": "EdDSA",
        "use": "sig",
        "nbf": int(key.not_before.timestamp()),
    }
    if key.not_after is not None:
        jwk["exp"] = int(key.not_after.timestamp())
    if key.revoked_at is not None:
        jwk["revoked"] = {
            "revoked_at": int(key.revoked_at.timestamp()),
            "reason": key.revocation_reason,
        }
    return jwk


# --- API clients and tokens ------------------------------------------------------------


def create_client(
    session: Session, *, organisation_id: str, name: str, scopes: Iterable[str] = SCOPES
) -> ClientCredentials:
    """A new client of ``organisation_id``; the secret is shown this once and never stored."""
    get_organisation(session, organisation_id)
    scope_set = frozenset(scopes)
    unknown = scope_set - SCOPES
    if unknown:
        raise ValidationFailed(f"unknown scopes: {' '.join(sorted(unknown))}")
    credentials = ClientCredentials(
        client_id=f"fx-{secrets.token_hex(12)}", client_secret=secrets.token_urlsafe(32)
    )
    session.add(
        ApiClient(
            client_id=credentials.client_id,
            organisation_id=organisation_id,
            name=name,
            secret_hash=hash_secret(credentials.client_secret),
            scopes=" ".join(sorted(scope_set)),
            disabled_at=None,
        )
    )
    session.flush()
    return credentials


def issue_token(
    session: Session,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: Iterable[str] | None = None,
    lifetime: dt.timedelta = DEFAULT_TOKEN_LIFETIME,
) -> IssuedToken:
    """Exchange client credentials for a bearer token (OAuth2 client credentials grant)."""
    client = session.get(ApiClient, client_id)
    # Compare against a hash even for unknown clients so timing does not reveal which exist.
    expected = client.secret_hash if client is not None else hash_secret(secrets.token_hex(16))
    if not hmac.compare_digest(expected, hash_secret(client_secret)) or client is None:
        raise Unauthenticated("invalid client credentials")
    if client.disabled_at is not None:
        raise Unauthenticated("this client is disabled")
    granted = frozenset(client.scopes.split())
    scopes = granted if requested_scopes is None else frozenset(requested_scopes)
    if not scopes <= granted:
        raise AccessDenied(
            f"scopes not granted to this client: {' '.join(sorted(scopes - granted))}"
        )
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(
        sa.delete(AccessToken).where(AccessToken.expires_at < now - dt.timedelta(days=1))
    )
    session.add(
        AccessToken(
            token_hash=hash_secret(token),
            client_id=client.client_id,
            scopes=" ".join(sorted(scopes)),
            issued_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return IssuedToken(access_token=token, expires_in=int(lifetime.total_seconds()), scopes=scopes)


_PRINCIPAL_ONLY: Final = (
    defaultload(AccessToken.client)
    .defaultload(ApiClient.organisation)
    .lazyload(Organisation.company_ids),
    # The roles in the same statement as the token: a second round trip per call otherwise.
    defaultload(AccessToken.client)
    .defaultload(ApiClient.organisation)
    .joinedload(Organisation.roles),
)


def authenticate(session: Session, token: str) -> Principal:
    """The principal behind a bearer token; unknown, forged or expired tokens are refused."""
    # Every API call comes through here: one statement. The organisation's company ids,
    # which a principal does not hold, are left to load if something asks for them.
    stored = session.get(AccessToken, hash_secret(token), options=_PRINCIPAL_ONLY)
    if stored is None or stored.client.disabled_at is not None:
        raise Unauthenticated("invalid access token")
    if stored.expires_at <= utcnow():
        raise TokenExpired("the access token has expired")
    return Principal.acting_for(
        stored.client.organisation, client_id=stored.client_id, scopes=stored.scopes.split()
    )
