"""Offline verification of a label URL and of the signed trust list. Pure.

The server verifier, the Python client and the browser page (``static/verify.js``) apply the
same rules: the URL must be in canonical form; its key-id prefix must name a label key of
the trust list; that key must have been valid on the issue date (a label issued on or after
the day of a key's revocation is refused); the Ed25519 signature must cover the claims with
the trust list's origin; and the label must not have expired.

A trust list is only good until its ``nextUpdate``: one held past it may predate a key's
revocation, so :func:`open_trust_list` refuses it (:class:`TrustListStale`) and a verifier
holding it can only say "cannot confirm", never "valid". An offline check proves a
signature, not that the exchange issued the label: only the exchange's answer online
(``POST /api/v1/labels/verify``) does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from exchange import signing
from exchange.labels import claims as label_claims


@dataclasses.dataclass(frozen=True, slots=True)
class TrustedKey:
    kid: str
    public_key: bytes
    not_before: dt.datetime
    revoked_at: dt.datetime | None = None

    def valid_on(self, day: dt.date) -> bool:
        if day < self.not_before.date():
            return False
        return self.revoked_at is None or day < self.revoked_at.date()


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """``claims`` are set once the signature checked out, even if the label is expired."""

    reasons: list[Reason]
    claims: label_claims.Claims | None = None
    scanned: label_claims.Scanned | None = None

    @property
    def valid(self) -> bool:
        return not self.reasons


# How many label signature checks a process remembers (under a kilobyte each).
SIGNATURE_MEMO: Final = 4096


@functools.lru_cache(maxsize=SIGNATURE_MEMO)
def signature_holds(message: bytes, signature: str, public_key: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature over ``message``.

    Remembered: whether a signature holds depends on these exact bytes alone, and the
    server is asked about the same few labels over and over (each scan of a package in a
    shop), where the check was a tenth of a verification (issue 22). Everything that can
    change (the key's validity and revocation, the dates, the certificate's status) is
    judged afresh by the caller on every scan; a change of any byte of the message, the
    signature or the key is another question, answered by Ed25519."""
    try:
        signing.verify_bytes(message=message, signature=signature, public_key=public_key)
    except signing.SigningError:
        return False
    return True


def verify_label(text: str, *, origin: str, keys: Sequence[TrustedKey], today: dt.date) -> Verdict:
    """Check a scanned label against the trust list's origin and label keys."""
    try:
        scanned = label_claims.decode(text)
    except label_claims.LabelFormatError as exc:
        return Verdict([Reason("malformed", f"not a label of this programme: {exc}")])
    return verify_scanned(scanned, origin=origin, keys=keys, today=today)


def verify_scanned(
    scanned: label_claims.Scanned, *, origin: str, keys: Sequence[TrustedKey], today: dt.date
) -> Verdict:
    """:func:`verify_label` of a label already taken apart."""
    if scanned.origin != origin.lower():
        return Verdict(
            [Reason("wrong-origin", f"issued for {scanned.origin}, not {origin}")],
            scanned=scanned,
        )
    hint = scanned.kid_hint
    candidates = [key for key in keys if key.kid.startswith(hint)]
    if not candidates:
        return Verdict(
            [Reason("unknown-key", "signed by a key the trust list does not name")],
            scanned=scanned,
        )
    for key in candidates:
        claims = scanned.claims(key.kid)
        message = label_claims.signed_message(claims)
        if not signature_holds(message, scanned.signature, key.public_key):
            continue
        reasons: list[Reason] = []
        if not key.valid_on(scanned.issued):
            reasons.append(
                Reason(
                    "key-revoked" if key.revoked_at is not None else "key-not-valid",
                    f"key {key.kid} could not sign on {scanned.issued.isoformat()}",
                )
            )
        if today > scanned.expires:
            reasons.append(Reason("expired", f"expired on {scanned.expires.isoformat()}"))
        if scanned.issued > today + dt.timedelta(days=1):
            reasons.append(Reason("not-yet-valid", f"issued in the future ({scanned.issued})"))
        return Verdict(reasons, claims=claims, scanned=scanned)
    return Verdict(
        [Reason("bad-signature", "the signature does not match the label's contents")],
        scanned=scanned,
    )


class TrustListError(Exception):
    """A trust list that is malformed or not signed by a pinned exchange key."""


class TrustListStale(TrustListError):
    """A genuine trust list past its ``nextUpdate``, or naming none: it may predate a key's
    revocation, so nothing checked against it can be called valid ("cannot confirm")."""

    def __init__(self, message: str, next_update: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.next_update = next_update


def _moment(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TrustListError("a time is an ISO 8601 string")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise TrustListError("times carry a zone")
    return moment


def check_current(payload: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """The signed list's ``nextUpdate`` when ``now`` is before it; else :class:`TrustListStale`."""
    issued = payload.get("issuedAt")
    try:
        next_update = _moment(payload.get("nextUpdate"))
    except (TrustListError, ValueError) as exc:
        raise TrustListStale(
            "the trust list names no nextUpdate, so it cannot be known to be current "
            f"(issued {issued}): fetch a fresh one"
        ) from exc
    if now >= next_update:
        raise TrustListStale(
            f"the trust list (issued {issued}) passed its nextUpdate at "
            f"{next_update.isoformat()}: a key revoked since would not show in it, so no label "
            "can be confirmed until a fresh list is fetched",
            next_update,
        )
    return next_update


def open_trust_list(
    document: Any, *, pinned: Sequence[bytes], now: dt.datetime | None = None
) -> tuple[str, list[TrustedKey], dict[str, Any]]:
    """Check a trust list's signature under a pinned exchange key, and that it is still
    current at ``now`` (this moment); its origin, label keys and payload."""
    if not isinstance(document, dict) or set(document) != {"trustList", "signature"}:
        raise TrustListError('a trust list is {"trustList": ..., "signature": ...}')
    payload, signature = document["trustList"], document["signature"]
    if not isinstance(signature, dict) or not isinstance(payload, dict):
        raise TrustListError("malformed trust list")
    by_kid = {signing.key_id(key): key for key in pinned}
    public_key = by_kid.get(signature.get("kid", ""))
    if public_key is None:
        raise TrustListError("the trust list is not signed by a pinned exchange key")
    try:
        signing.verify(
            context=signing.TRUST_LIST_CONTEXT,
            payload=payload,
            signature=str(signature.get("value", "")),
            public_key=public_key,
        )
    except signing.SigningError as exc:
        raise TrustListError(f"the trust list's signature does not verify: {exc}") from exc
    check_current(payload, now or dt.datetime.now(dt.UTC))
    try:
        keys = [
            TrustedKey(
                kid=item["kid"],
                public_key=signing.public_key_from_jwk(item),
                not_before=_moment(item["notBefore"]),
                revoked_at=_moment(item["revokedAt"]) if item.get("revokedAt") else None,
            )
            for item in payload["exchange"]["labelKeys"]
        ]
        origin = payload["origin"]
    except (KeyError, TypeError, ValueError, signing.SigningError) as exc:
        raise TrustListError(f"malformed trust list: {exc}") from exc
    for key in keys:
        if signing.key_id(key.public_key) != key.kid:
            raise TrustListError(f"key {key.kid} does not match its thumbprint")
    if not isinstance(origin, str):
        raise TrustListError("the trust list names no origin")
    return origin, keys, payload
