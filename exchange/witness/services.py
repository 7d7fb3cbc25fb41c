"""The witness role: cosign other logs' checkpoints (C2SP tlog-witness ``add-checkpoint``).

The regulator registers the logs this exchange witnesses (a partner programme's log, by its
origin and note verifier keys; a partner's pinned trust anchors also count as its log keys).
A submission is ``old <size>``, up to 63 consistency-proof lines, a blank line and the
signed checkpoint. The witness checks, in the order of the specification:

- the origin is a registered log (else 404), the checkpoint carries a valid signature by one
  of its keys and no failing one (else 403);
- the old size is at most the checkpoint's (else 400) and is the size it last cosigned for
  that log (else 409, answering that size as ``text/x.tlog.size``);
- a size-0 checkpoint has the empty tree's root; from old size 0 the proof is empty; at the
  same size the root is the same; otherwise the RFC 6962 consistency proof from the old
  checkpoint to the new one holds (else 422, and the refused checkpoint is kept as evidence);

then moves its record forward and answers the cosignature line. The check and the move are
one step: the log's row is locked (``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
serialises writers) and the update is a compare-and-swap on the old size and root, so two
concurrent submissions can never roll the record back. Nothing here commits.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import utcnow
from exchange.errors import (
    AccessDenied,
    BadRequest,
    Conflict,
    ExchangeError,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    ValidationFailed,
)
from exchange.log import cosignature, merkle, note
from exchange.witness.keys import WitnessKey
from exchange.witness.models import WitnessedLog, WitnessRefusal, WitnessStatus

MAX_REQUEST_BYTES: Final = 64 * 1024
MAX_PROOF_LINES: Final = 63
ORIGIN_LENGTH: Final = 300
_OLD: Final = re.compile(r"old (0|[1-9][0-9]{0,18})")
_ORIGIN_HASH: Final = re.compile(r"[0-9a-f]{64}")

PartnerLogKeys = Callable[[Session, str], Sequence[bytes]]
"""A partner programme's current log keys (its valid trust anchors), by partner id."""


@dataclasses.dataclass(frozen=True, slots=True)
class PartnerFacts:
    """What witnessing takes from a partner programme: its name and its log, if it has one."""

    name: str
    log_origin: str | None


PartnerLookup = Callable[[Session, str], PartnerFacts]
"""A partner programme's facts by id (raising NotFound): supplied by the app, since
partner programmes are an area above this one."""


class SizeConflict(Conflict):
    """The old size is not the size this witness last cosigned: that size is the answer."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the latest checkpoint this witness cosigned for the log has size {size}",
            details=[{"treeSize": size}],
        )
        self.size = size


@dataclasses.dataclass(frozen=True, slots=True)
class Submission:
    """An add-checkpoint request body taken apart (nothing in it checked yet)."""

    old_size: int
    proof: tuple[bytes, ...]
    signed_note: str
    checkpoint: note.Checkpoint
    text: str
    signatures: tuple[tuple[str, bytes], ...]


def origin_hash(origin: str) -> str:
    """The lowercase hex SHA-256 of an origin: its name in monitoring URLs."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def parse_submission(body: bytes) -> Submission:
    """The request body of ``add-checkpoint``; :class:`BadRequest` (400) when malformed."""
    if len(body) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"an add-checkpoint request has at most {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request is not UTF-8") from None
    head, blank, rest = text.partition("\n\n")
    if not blank:
        raise BadRequest("the request has no empty line before the checkpoint")
    lines = head.split("\n")
    found = _OLD.fullmatch(lines[0])
    if found is None:
        raise BadRequest("the request starts with 'old <size>' in decimal, no leading zeroes")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"a consistency proof has at most {MAX_PROOF_LINES} lines")
    proof = tuple(_hash_line(line) for line in lines[1:])
    try:
        body_text, signatures = note.signature_lines(rest)
        checkpoint = note.parse_checkpoint(body_text)
    except note.NoteError as exc:
        raise BadRequest(f"the checkpoint is not a signed note: {exc}") from None
    return Submission(
        old_size=int(found.group(1)),
        proof=proof,
        signed_note=rest,
        checkpoint=checkpoint,
        text=body_text,
        signatures=tuple(signatures),
    )


def _hash_line(line: str) -> bytes:
    try:
        value = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise BadRequest("a consistency proof line is one base64 hash") from None
    if len(value) != merkle.HASH_SIZE or base64.b64encode(value).decode() != line:
        raise BadRequest("a consistency proof line is one base64 32-byte hash")
    return value


# --- the logs this exchange witnesses -------------------------------------------------------


def log_keys(
    session: Session, log: WitnessedLog, partner_keys: PartnerLogKeys | None
) -> list[cosignature.VerifierKey]:
    """Every key that may sign the log's checkpoints: its registered verifier keys, and a
    partner programme's valid trust anchors under the origin's name."""
    keys = [
        cosignature.parse_verifier_key(text, algorithm=cosignature.NOTE_ED25519)
        for text in log.verifier_keys
    ]
    if log.partner_id is not None and partner_keys is not None:
        known = {key.public_key for key in keys}
        keys.extend(
            cosignature.VerifierKey(log.origin, cosignature.NOTE_ED25519, public_key)
            for public_key in partner_keys(session, log.partner_id)
            if public_key not in known
        )
    return keys


def register_log(
    session: Session,
    *,
    origin: str,
    verifier_keys: Sequence[str] = (),
    partner_id: str | None = None,
) -> WitnessedLog:
    """Witness the log of ``origin`` (again): its keys are replaced, what was cosigned stays."""
    if not origin or len(origin) > ORIGIN_LENGTH or _has_control(origin):
        raise ValidationFailed(f"an origin is 1 to {ORIGIN_LENGTH} characters on one line")
    try:
        keys = [
            cosignature.parse_verifier_key(text, algorithm=cosignature.NOTE_ED25519).text
            for text in verifier_keys
        ]
    except note.NoteError as exc:
        raise ValidationFailed(f"a log verifier key is not valid: {exc}") from exc
    if not keys and partner_id is None:
        raise ValidationFailed("a witnessed log needs its verifier keys (or its partner's)")
    found = session.scalars(
        sa.select(WitnessedLog).where(WitnessedLog.origin == origin).with_for_update()
    ).first()
    if found is None:
        found = WitnessedLog(
            origin=origin,
            verifier_keys=keys,
            partner_id=partner_id,
            status=WitnessStatus.ACTIVE,
            tree_size=0,
            root_hash=merkle.EMPTY_ROOT,
            note=None,
            cosigned_at=None,
            created_at=utcnow(),
        )
        session.add(found)
    else:
        found.verifier_keys = keys
        found.partner_id = partner_id
        found.status = WitnessStatus.ACTIVE
    session.flush()
    return found


def remove_log(session: Session, origin: str) -> WitnessedLog:
    """Stop witnessing a log; its record stays, so witnessing it again never rolls back."""
    found = session.scalars(sa.select(WitnessedLog).where(WitnessedLog.origin == origin)).first()
    if found is None:
        raise NotFound(f"this exchange does not witness the log {origin!r}")
    found.status = WitnessStatus.REMOVED
    session.flush()
    return found


def witnessed_logs(session: Session) -> list[WitnessedLog]:
    return list(
        session.scalars(
            sa.select(WitnessedLog)
            .where(WitnessedLog.status == WitnessStatus.ACTIVE)
            .order_by(WitnessedLog.origin)
        )
    )


def latest_cosigned(session: Session, hashed_origin: str) -> str:
    """The latest checkpoint cosigned for the log whose origin hashes to ``hashed_origin``,
    with the log's signatures this witness verified and its cosignature."""
    if not _ORIGIN_HASH.fullmatch(hashed_origin):
        raise NotFound("an origin hash is 64 lowercase hexadecimal digits")
    notes = {
        origin_hash(origin): text
        for origin, text in session.execute(
            sa.select(WitnessedLog.origin, WitnessedLog.note).where(WitnessedLog.note.is_not(None))
        )
    }
    found = notes.get(hashed_origin)
    if found is None:
        raise NotFound("this witness has cosigned no checkpoint of that log")
    return found


# --- add-checkpoint -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: the cosignature lines, or the refusal (kept as evidence if it is one)."""

    lines: str | None = None
    refusal: ExchangeError | None = None


def add_checkpoint(
    session: Session,
    body: bytes,
    *,
    witness: WitnessKey,
    partner_keys: PartnerLogKeys | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Check a submission and cosign it, or say why not; see the module doc for the order.

    Malformed requests, unknown logs and bad signatures raise at once (nothing to keep); a
    validly signed checkpoint that is not consistent is refused in the outcome, with a
    :class:`WitnessRefusal` added to the session: the caller commits, then answers.
    """
    submission = parse_submission(body)
    checkpoint = submission.checkpoint
    log = session.scalars(
        sa.select(WitnessedLog)
        .where(
            WitnessedLog.origin == checkpoint.origin, WitnessedLog.status == WitnessStatus.ACTIVE
        )
        .with_for_update()
    ).first()
    if log is None:
        raise NotFound(f"this witness does not witness the log {checkpoint.origin!r}")
    verified = _verified_log_signatures(submission, log_keys(session, log, partner_keys))
    if submission.old_size > checkpoint.size:
        raise BadRequest(
            f"the old size {submission.old_size} is above the checkpoint's size {checkpoint.size}"
        )
    if submission.old_size != log.tree_size:
        raise SizeConflict(log.tree_size)
    problem = _inconsistency(submission, log)
    if problem is not None:
        session.add(
            WitnessRefusal(
                log_id=log.id,
                status=Unprocessable.status,
                problem=problem,
                request=body.decode("utf-8"),
                cosigned_size=log.tree_size,
                cosigned_root=log.root_hash,
                received_at=now or utcnow(),
            )
        )
        session.flush()
        return Outcome(refusal=Unprocessable(problem))
    moment = now or utcnow()
    line = cosignature.cosign(
        submission.text,
        name=witness.name,
        private_key=witness.key.private_key,
        timestamp=max(1, int(moment.timestamp())),
    )
    kept = submission.text + "\n" + "".join(verified) + line
    # Compare-and-swap on what was checked: under the row lock it always holds; without it
    # (a database that ignored FOR UPDATE) a concurrent move makes this a 409, never a rollback.
    moved: sa.CursorResult[Any] = session.execute(  # type: ignore[assignment]
        sa.update(WitnessedLog)
        .where(
            WitnessedLog.id == log.id,
            WitnessedLog.tree_size == submission.old_size,
            WitnessedLog.root_hash == log.root_hash,
        )
        .values(
            tree_size=checkpoint.size, root_hash=checkpoint.root_hash, note=kept, cosigned_at=moment
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        session.refresh(log)
        raise SizeConflict(log.tree_size)
    return Outcome(lines=line)


def _verified_log_signatures(
    submission: Submission, keys: Sequence[cosignature.VerifierKey]
) -> list[str]:
    """The signature lines by the log's keys, each verified; 403 if one fails or none is."""
    by_id = {(key.name, key.key_id): key for key in keys}
    message = submission.text.encode("utf-8")
    verified: list[str] = []
    for name, blob in submission.signatures:
        key = by_id.get((name, blob[:4]))
        if key is None:
            continue
        try:
            if len(blob) != 4 + signing.SIGNATURE_BYTES:
                raise signing.SigningError("not an Ed25519 note signature")
            signing.verify_bytes(
                message=message,
                signature=signing.b64url_encode(blob[4:]),
                public_key=key.public_key,
            )
        except signing.SigningError:
            raise AccessDenied(f"the signature by the log key {name} does not verify") from None
        verified.append(f"{note.SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n")
    if not verified:
        raise AccessDenied("the checkpoint carries no signature by a key of the log")
    return verified


def _inconsistency(submission: Submission, log: WitnessedLog) -> str | None:
    """Why the checkpoint is not consistent with the one last cosigned, if it is not."""
    checkpoint = submission.checkpoint
    if checkpoint.size == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
        return "a checkpoint of size 0 has the root hash of the empty tree"
    if submission.old_size == 0:
        if submission.proof:
            return "from old size 0 the consistency proof is empty"
        return None
    try:
        merkle.verify_consistency(
            submission.old_size,
            checkpoint.size,
            log.root_hash,
            checkpoint.root_hash,
            list(submission.proof),
        )
    except merkle.ProofError as exc:
        if submission.old_size == checkpoint.size:
            return f"the log already had another root at size {checkpoint.size}: {exc}"
        return (
            f"the checkpoint of size {checkpoint.size} is not consistent with the one of size "
            f"{submission.old_size} this witness cosigned: {exc}"
        )
    return None


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)
