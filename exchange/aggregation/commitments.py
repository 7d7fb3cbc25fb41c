"""Confidential provenance of derived footprints: salted commitments to the input lines,
their openings, and the offline check of the exchange's aggregation attestation.

Pure (PyNaCl and rfc8785, through :mod:`exchange.signing`): the offline verifiers, the
client and the tests use it without a server. The bytes, as the privacy model documents
them (``docs/topics/privacy-model.md``):

* a *line* is the JSON object of one input line of the computation: its position,
  category, label, quantity and unit, the input it names (a supplier record by id, owner,
  signature key id, signature and log index; a factor by id, code and version; a product
  by id), the input's declared unit and amount, the converted quantity, the contribution
  by part and the input's quality figures;
* its *salt* is 32 fresh random bytes (256 bits), written base64url without padding;
* its *commitment* is the lowercase hex SHA-256 of ``salt || JCS(line)``: the raw salt
  bytes, then the RFC 8785 canonical bytes of the line;
* the *commitment root* is the lowercase hex SHA-256 of ``JCS([commitment, ...])``, the
  commitments in line order;
* the exchange's *attestation* is an Ed25519 signature over
  ``footprint-exchange:aggregation-attestation:v1`` + ``\\n`` + ``JCS(attestation)``.

An *opening* is ``{"index": n, "salt": ..., "line": {...}}``; it holds when the
commitment it recomputes is the one the owner signed at index ``n`` of the list. A line changed in
any byte, a salt from another line and an opening from another derived record all
recompute to another value and are refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from exchange import signing

PROVENANCE_FORMAT: Final = "footprint-exchange:confidential-provenance:v1"
# The signed provenance extension's schema, under the exchange's base URL; the 1.0.0 one
# carried every input line in clear and is no longer accepted.
PROVENANCE_PATH: Final = "/api/v1/aggregation/extensions/provenance/2.0.0/schema.json"
CLEARTEXT_PROVENANCE_PATH: Final = "/api/v1/aggregation/extensions/provenance/1.0.0/schema.json"
ATTESTATION_CONTEXT: Final = signing.AGGREGATION_ATTESTATION_CONTEXT
SALT_BYTES: Final = 32
# A salt shorter than this is refused whatever made it: 128 bits are the floor.
MIN_SALT_BYTES: Final = 16
# What the exchange checked before it attested: the names an attestation lists.
CHECKS: Final = (
    "input-signatures",
    "input-key-status",
    "input-record-status",
    "input-log-inclusion",
    "totals-recomputed",
)
# A footprint signed in clear before the scheme: the exchange checks its owner's signature
# too, and recomputes each supplier and factor line; a product line's contribution is the
# one its owner signed (the child's figures at the time are not kept).
MIGRATED_CHECKS: Final = ("owner-signature", *CHECKS)
COMMITTED: Final = "committed"  # signed by its owner with commitments (this scheme)
MIGRATED: Final = "migrated"  # signed in clear before the scheme; the exchange withholds it


class OpeningRefused(ValueError):
    """An opening that does not open the commitment its owner signed; ``args[0]`` says why."""


def new_salt() -> str:
    """A fresh 256-bit salt, base64url without padding."""
    return signing.b64url_encode(secrets.token_bytes(SALT_BYTES))


def _salt_bytes(salt: object) -> bytes:
    if not isinstance(salt, str):
        raise OpeningRefused("the salt is not a base64url string")
    try:
        raw = signing.b64url_decode(salt)
    except signing.SigningError as exc:
        raise OpeningRefused(f"the salt is not base64url: {exc}") from exc
    if len(raw) < MIN_SALT_BYTES:
        raise OpeningRefused(f"the salt has {len(raw) * 8} bits; at least 128 are required")
    return raw


def commit(salt: str, line: Mapping[str, Any]) -> str:
    """The commitment to ``line`` under ``salt``: hex SHA-256 of the salt's bytes and
    the line's RFC 8785 bytes."""
    return hashlib.sha256(_salt_bytes(salt) + signing.canonical_json(line)).hexdigest()


def commitment_root(commitments: Sequence[str]) -> str:
    """The hex SHA-256 of the RFC 8785 array of the commitments, in line order."""
    return hashlib.sha256(signing.canonical_json(list(commitments))).hexdigest()


def footprint_digest(footprint: Mapping[str, Any]) -> str:
    """The hex SHA-256 of a footprint's RFC 8785 bytes (as certificates name records)."""
    return hashlib.sha256(signing.canonical_json(footprint)).hexdigest()


def is_provenance_extension(extension: object, path: str = PROVENANCE_PATH) -> bool:
    return isinstance(extension, Mapping) and str(extension.get("dataSchema", "")).endswith(path)


def provenance_of(footprint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The data of the footprint's confidential provenance extension, if it has one."""
    for extension in footprint.get("extensions") or ():
        if is_provenance_extension(extension):
            data = extension.get("data")
            return data if isinstance(data, dict) else None
    return None


def commitments_of(data: Mapping[str, Any]) -> list[str]:
    """The commitments of a provenance extension's data, in line order, after checking
    that each is a SHA-256 in hex and that their root is the one stated."""
    commitments = data.get("commitments")
    if not isinstance(commitments, list):
        raise OpeningRefused("the provenance holds no list of commitments")
    for index, value in enumerate(commitments):
        if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
            raise OpeningRefused(f"commitment {index} of the provenance is not a SHA-256")
    if data.get("commitmentRoot") != commitment_root(commitments):
        raise OpeningRefused("the provenance's commitment root is not that of its commitments")
    return list(commitments)


def check_opening(data: Mapping[str, Any], opening: Mapping[str, Any]) -> dict[str, Any]:
    """The line an opening reveals, if it opens the commitment signed at its index.

    ``data``: the signed provenance extension's data (see :func:`provenance_of`).
    Raises :class:`OpeningRefused` otherwise.
    """
    commitments = commitments_of(data)
    if not isinstance(opening, Mapping):
        raise OpeningRefused("an opening is a JSON object")
    index, line = opening.get("index"), opening.get("line")
    if type(index) is not int or not 0 <= index < len(commitments):
        raise OpeningRefused("the opening names no line of this provenance")
    if not isinstance(line, dict):
        raise OpeningRefused("the opened line is not a JSON object")
    try:
        recomputed = commit(opening.get("salt"), line)  # type: ignore[arg-type]
    except signing.SigningError as exc:
        raise OpeningRefused(f"the opened line is not JSON that can be signed: {exc}") from exc
    if not secrets.compare_digest(recomputed, commitments[index]):
        raise OpeningRefused(f"the opening does not match the commitment signed at line {index}")
    return line


# --- the attestation, checked offline -----------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeKey:
    """An exchange key as the trust list publishes it: it signs within its window."""

    kid: str
    public_key: bytes
    not_before: dt.datetime | None = None
    retired_at: dt.datetime | None = None

    def signed_within(self, moment: dt.datetime) -> bool:
        if self.not_before is not None and moment < self.not_before:
            return False
        return self.retired_at is None or moment < self.retired_at


@dataclasses.dataclass(frozen=True, slots=True)
class AttestationVerdict:
    """What an attestation proves about a derived footprint, and every problem found."""

    problems: tuple[str, ...]
    record_id: str | None = None
    provenance: str | None = None
    commitment_root: str | None = None
    lines: int | None = None
    issued_at: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _moment(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def exchange_keys(published: Sequence[Mapping[str, Any]]) -> dict[str, ExchangeKey]:
    """Exchange keys by kid from a trust list's ``exchange.keys`` (or a JWK Set's keys)."""
    found: dict[str, ExchangeKey] = {}
    for item in published:
        public_key = signing.public_key_from_jwk(
            {name: item[name] for name in ("kty", "crv", "x") if name in item}
        )
        kid = signing.key_id(public_key)
        if item.get("kid") not in (None, kid):
            raise signing.SigningError(f"key {item.get('kid')} does not match its thumbprint")
        found[kid] = ExchangeKey(
            kid, public_key, _moment(item.get("notBefore")), _moment(item.get("retiredAt"))
        )
    return found


def keys_from_trust_list(
    trust_list: Mapping[str, Any], *, pinned: Sequence[bytes], now: dt.datetime | None = None
) -> dict[str, ExchangeKey]:
    """The exchange keys a signed trust list publishes, once the list checks out under a
    pinned exchange key and is current at ``now`` (else ``TrustListError``)."""
    from exchange.labels.verify import open_trust_list

    _origin, _labels, payload = open_trust_list(trust_list, pinned=pinned, now=now)
    return exchange_keys(payload["exchange"]["keys"])


def verify_attestation(
    signed: Any, *, keys: Mapping[str, ExchangeKey], footprint: Mapping[str, Any] | None = None
) -> AttestationVerdict:
    """Check an attestation ``{"attestation": ..., "signature": ...}`` under the exchange's
    keys and, with ``footprint`` (as served to the reader), that it is about that footprint:
    its id, its bytes, its commitment root and its totals.

    A document of the wrong shape is a problem like any other, never an exception.
    """
    try:
        return _verify_attestation(signed, keys=keys, footprint=footprint)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        return AttestationVerdict((f"the attestation is malformed: {type(exc).__name__}: {exc}",))


def _verify_attestation(
    signed: Any, *, keys: Mapping[str, ExchangeKey], footprint: Mapping[str, Any] | None
) -> AttestationVerdict:
    if not isinstance(signed, Mapping):
        return AttestationVerdict(("the attestation is not a JSON object",))
    document, signature = signed.get("attestation"), signed.get("signature")
    if not isinstance(document, dict) or not isinstance(signature, Mapping):
        return AttestationVerdict(('an attestation is {"attestation": ..., "signature": ...}',))
    key = keys.get(str(signature.get("kid")))
    if key is None:
        return AttestationVerdict(("the attestation is signed by a key the exchange never had",))
    try:
        signing.verify(
            context=ATTESTATION_CONTEXT,
            payload=document,
            signature=str(signature.get("value")),
            public_key=key.public_key,
        )
    except signing.SigningError as exc:
        return AttestationVerdict((f"the attestation's signature does not verify: {exc}",))
    problems: list[str] = []
    issued = _moment(document.get("issuedAt"))
    if issued is None or not key.signed_within(issued):
        problems.append("the attestation was issued outside its exchange key's window")
    kind = document.get("provenance")
    if document.get("checks") != list(MIGRATED_CHECKS if kind == MIGRATED else CHECKS):
        problems.append("the attestation does not state every check of the procedure")
    if footprint is not None:
        if str(footprint.get("id", "")).lower() != document.get("record"):
            problems.append("the attestation is about another record")
        digest = footprint_digest(footprint)
        # A migrated record is served to most readers in its withheld form, to its owner and
        # a few others as signed (its cleartext lines: the commitments are the exchange's).
        signed_form = digest == document["footprintDigest"]
        served_form = kind == MIGRATED and digest == document.get("servedFootprintDigest")
        if not signed_form and not served_form:
            problems.append("the attestation is about other bytes than this footprint's")
        data = provenance_of(footprint)
        if kind == MIGRATED and signed_form:
            pass
        elif data is None:
            problems.append("the footprint carries no confidential provenance")
        else:
            try:
                commitments = commitments_of(data)
            except OpeningRefused as exc:
                problems.append(str(exc))
            else:
                if commitment_root(commitments) != document.get("commitmentRoot"):
                    problems.append("the attestation names another commitment root")
                if len(commitments) != document.get("lines", {}).get("total"):
                    problems.append("the attestation counts another number of lines")
            if data.get("totals") != document.get("totals"):
                problems.append("the attestation states other totals than the footprint")
    return AttestationVerdict(
        problems=tuple(problems),
        record_id=str(document.get("record")),
        provenance=str(kind),
        commitment_root=str(document.get("commitmentRoot")),
        lines=document.get("lines", {}).get("total"),
        issued_at=str(document.get("issuedAt")),
    )


__all__ = [
    "ATTESTATION_CONTEXT",
    "CHECKS",
    "CLEARTEXT_PROVENANCE_PATH",
    "COMMITTED",
    "MIGRATED",
    "MIGRATED_CHECKS",
    "PROVENANCE_FORMAT",
    "PROVENANCE_PATH",
    "AttestationVerdict",
    "ExchangeKey",
    "OpeningRefused",
    "check_opening",
    "commit",
    "commitment_root",
    "commitments_of",
    "exchange_keys",
    "footprint_digest",
    "keys_from_trust_list",
    "new_salt",
    "provenance_of",
    "verify_attestation",
]
