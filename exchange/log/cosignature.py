"""Witness cosignatures of checkpoints, verifier keys and witness policies: pure functions.

- **Cosignature** (https://c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``): a
  signed-note signature line ``— <witness name> base64(key id ‖ timestamp ‖ signature)``
  where the key id is ``SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]``, the timestamp the
  POSIX seconds at which the witness signed (8 bytes, big-endian) and the signature an
  Ed25519 signature of ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole
  checkpoint body. It states that, as of that time, this is the largest checkpoint of the
  log (its origin line) that the witness saw, consistent with all it saw before.
- **Verifier key** (https://c2sp.org/signed-note, "Verifier keys"):
  ``<name>+<hex key id>+<base64(signature type ‖ public key)>``; type 0x01 for a log's
  Ed25519 note key, 0x04 for a witness's cosigning key.
- **Witness policy**: which witnesses count and how many must have cosigned ("2 of 3"), as
  a quorum tree of groups, read from and written as a https://c2sp.org/tlog-policy file.

A verifier holding the log's key and a policy checks a checkpoint with
:func:`check_witnessed`: the log's signature, then every cosignature by a known witness key
(one that fails rejects the whole note, as signed-note asks), then the quorum.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from exchange import signing
from exchange.log import note
from exchange.log.note import Checkpoint, NoteError

NOTE_ED25519: Final = 0x01
COSIGNATURE_ED25519: Final = 0x04
HEADER: Final = "cosignature/v1"
MAX_TIMESTAMP: Final = 2**63 - 1
# A witness's clock may run ahead of the verifier's a little; beyond this its cosignature
# is refused (the specification lets verifiers refuse timestamps in the future).
FUTURE_SKEW: Final = dt.timedelta(minutes=10)
_BLOB_BYTES: Final = 4 + 8 + signing.SIGNATURE_BYTES
_HEX_ID: Final = re.compile(r"[0-9a-f]{8}")


class CosignatureError(NoteError):
    """A cosignature, verifier key or policy is malformed, or a known witness's cosignature
    does not verify."""


# --- verifier keys ------------------------------------------------------------------------


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    """``SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]``: the key id of signed-note keys."""
    note.check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key).digest()[
        :4
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class VerifierKey:
    """A signed-note key: its name, signature type and Ed25519 public key."""

    name: str
    algorithm: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.algorithm, self.public_key)

    @property
    def text(self) -> str:
        """The ``name+hex(id)+base64(type ‖ key)`` string."""
        material = base64.b64encode(bytes([self.algorithm]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def parse_verifier_key(text: str, *, algorithm: int | None = None) -> VerifierKey:
    """A vkey taken apart and checked: its key id must be the one its name and key give.

    ``algorithm``: the one type the caller accepts (0x01 a log, 0x04 a witness).
    """
    if not isinstance(text, str):
        raise CosignatureError("a verifier key is text")
    # The name and the id hold no '+'; the base64 key may.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise CosignatureError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, hex_id, material_text = parts
    if not _HEX_ID.fullmatch(hex_id):
        raise CosignatureError("a verifier key's id is 8 lowercase hexadecimal digits")
    material = _b64decode(material_text)
    if len(material) != 1 + signing.PUBLIC_KEY_BYTES:
        raise CosignatureError("a verifier key holds a type byte and a 32-byte Ed25519 key")
    kind = material[0]
    if kind not in (NOTE_ED25519, COSIGNATURE_ED25519):
        raise CosignatureError(f"a verifier key of signature type 0x{kind:02x} is not supported")
    if algorithm is not None and kind != algorithm:
        raise CosignatureError(
            f"the verifier key is of signature type 0x{kind:02x}, not 0x{algorithm:02x}"
        )
    try:
        public_key = signing.checked_public_key(material[1:])
        found = VerifierKey(name, kind, public_key)
        expected = found.key_id
    except signing.SigningError as exc:
        raise CosignatureError(f"the verifier key is not valid: {exc}") from exc
    if expected.hex() != hex_id:
        raise CosignatureError("the verifier key's id does not match its name and key")
    return found


def cosigner_key(name: str, public_key: bytes) -> str:
    """A witness's verifier key (type 0x04)."""
    return VerifierKey(name, COSIGNATURE_ED25519, public_key).text


def log_key(name: str, public_key: bytes) -> str:
    """A log's verifier key (type 0x01; the same string :func:`note.verifier_key` gives)."""
    return VerifierKey(name, NOTE_ED25519, public_key).text


# --- cosignatures -------------------------------------------------------------------------


def signed_message(body: str, timestamp: int) -> bytes:
    """What an Ed25519 cosignature signs: the header and time lines, then the checkpoint body."""
    _check_timestamp(timestamp)
    if not body.endswith("\n"):
        raise CosignatureError("a checkpoint body ends with a newline")
    return f"{HEADER}\ntime {timestamp}\n{body}".encode()


def cosign(body: str, *, name: str, private_key: bytes, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of the checkpoint ``body`` at ``timestamp``."""
    note.parse_checkpoint(body)
    public_key = signing.public_key_of(private_key)
    signature = signing.b64url_decode(
        signing.sign_bytes(message=signed_message(body, timestamp), private_key=private_key)
    )
    blob = key_id(name, COSIGNATURE_ED25519, public_key) + timestamp.to_bytes(8, "big") + signature
    return f"{note.SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: which witness (its key name), when, and its line."""

    name: str
    timestamp: int
    line: str

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp, dt.UTC)


def verify_cosignatures(
    signed_note: str,
    witnesses: Iterable[VerifierKey],
    *,
    now: dt.datetime | None = None,
    future_skew: dt.timedelta = FUTURE_SKEW,
) -> tuple[str, list[Cosignature]]:
    """The note's text and its valid cosignatures by ``witnesses`` (at most one each).

    Lines by other keys (the log's, unknown witnesses') are ignored; a line whose name and
    key id are a known witness's must verify, or the whole note is refused
    (:class:`CosignatureError`), as must its timestamp (not beyond ``now`` + ``future_skew``).
    The log's own signature is not checked here (see :func:`check_witnessed`).
    """
    known: dict[tuple[str, bytes], VerifierKey] = {}
    for witness in witnesses:
        if witness.algorithm != COSIGNATURE_ED25519:
            raise CosignatureError(f"{witness.name} is not a cosignature key (type 0x04)")
        known[(witness.name, witness.key_id)] = witness
    text, lines = note.signature_lines(signed_note)
    latest = (now or dt.datetime.now(dt.UTC)) + future_skew
    found: dict[str, Cosignature] = {}
    for name, blob in lines:
        signer = known.get((name, blob[:4]))
        if signer is None:
            continue
        if len(blob) != _BLOB_BYTES:
            raise CosignatureError(f"the cosignature by {name} is not a timestamped Ed25519 one")
        timestamp = int.from_bytes(blob[4:12], "big")
        _check_timestamp(timestamp)
        try:
            signing.verify_bytes(
                message=signed_message(text, timestamp),
                signature=signing.b64url_encode(blob[12:]),
                public_key=signer.public_key,
            )
        except signing.SigningError as exc:
            raise CosignatureError(f"the cosignature by {name} does not verify") from exc
        if timestamp > latest.timestamp():
            raise CosignatureError(f"the cosignature by {name} is dated in the future")
        line = f"{note.SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"
        found.setdefault(name, Cosignature(name, timestamp, line))
    return text, list(found.values())


def now_timestamp() -> int:
    return int(time.time())


# --- policies -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    """At least ``threshold`` of ``members`` (witnesses by policy name, or groups) witnessed."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """The witnesses a verifier knows (by policy name) and the quorum their cosignatures must
    meet. ``quorum`` names a witness, a group, or is None (no cosignature required)."""

    witnesses: Mapping[str, VerifierKey]
    groups: Mapping[str, Group]
    quorum: str | None

    @classmethod
    def k_of_n(cls, witnesses: Sequence[VerifierKey], k: int) -> WitnessPolicy:
        """``k`` of the ``witnesses`` (named by their key names); k = 0: none required."""
        if not 0 <= k <= len(witnesses):
            raise CosignatureError(f"a quorum of {k} of {len(witnesses)} witnesses is impossible")
        named = {witness.name: witness for witness in witnesses}
        if len(named) != len(witnesses):
            raise CosignatureError("two witnesses share one name")
        if len({witness.public_key for witness in witnesses}) != len(witnesses):
            raise CosignatureError("two witnesses share one key")
        if k == 0:
            return cls(named, {}, None)
        group = Group(_GROUP_NAME, k, tuple(named))
        return cls(named, {group.name: group}, group.name)

    @property
    def keys(self) -> list[VerifierKey]:
        return list(self.witnesses.values())

    def required(self) -> int:
        """How many cosignatures the quorum needs at least (0 when none)."""
        return 0 if self.quorum is None else self._needed(self.quorum)

    def _needed(self, name: str) -> int:
        group = self.groups.get(name)
        if group is None:
            return 1
        return sum(sorted(self._needed(member) for member in group.members)[: group.threshold])

    def satisfied(self, cosigners: Iterable[str]) -> bool:
        """Whether cosignatures by these key names meet the quorum."""
        by_key = set(cosigners)
        witnessed = {name for name, key in self.witnesses.items() if key.name in by_key}
        return self.quorum is None or self._witnessed(self.quorum, witnessed)

    def _witnessed(self, name: str, witnessed: set[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in witnessed
        done = sum(self._witnessed(member, witnessed) for member in group.members)
        return done >= group.threshold


_GROUP_NAME: Final = "witnesses"


@dataclasses.dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint whose log signature holds, who cosigned it, and whether that is enough."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]
    required: int
    known: int
    met: bool

    @property
    def by(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.cosignatures)


def check_witnessed(
    signed_note: str,
    *,
    origin: str,
    log_keys: signing.PublicKeys,
    policy: WitnessPolicy,
    now: dt.datetime | None = None,
) -> Witnessed:
    """Check a checkpoint against the log's keys and a witness policy.

    Raises :class:`NoteError` when the log did not sign it or a known witness's cosignature
    is forged; otherwise says who cosigned and whether the quorum is met (a checkpoint
    short of it is genuine but unwitnessed: a weaker state, never to be called valid by a
    verifier that requires the policy).
    """
    checkpoint = note.verify_checkpoint(signed_note, origin=origin, public_key=log_keys)
    _, found = verify_cosignatures(signed_note, policy.keys, now=now)
    return Witnessed(
        checkpoint=checkpoint,
        cosignatures=tuple(found),
        required=policy.required(),
        known=len(policy.witnesses),
        met=policy.satisfied(item.name for item in found),
    )


# --- tlog-policy files --------------------------------------------------------------------

_NONE: Final = "none"
_ALLOWED: Final = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f]*")


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyWitness:
    """A witness line: its policy name, key and (optional) submission prefix URL."""

    name: str
    key: VerifierKey
    url: str | None = None


def policy_text(
    *, logs: Sequence[VerifierKey], witnesses: Sequence[PolicyWitness], quorum: int
) -> str:
    """A tlog-policy file: the log keys, the witnesses and a quorum of ``quorum`` of them."""
    if not 0 <= quorum <= len(witnesses):
        raise CosignatureError(f"a quorum of {quorum} of {len(witnesses)} witnesses is impossible")
    lines = [f"log {key.text}" for key in logs]
    for witness in witnesses:
        lines.append(
            " ".join(filter(None, ("witness", witness.name, witness.key.text, witness.url)))
        )
    if quorum == 0:
        lines.append(f"quorum {_NONE}")
    elif len(witnesses) == 1:
        lines.append(f"quorum {witnesses[0].name}")
    else:
        members = " ".join(witness.name for witness in witnesses)
        lines.append(f"group {_GROUP_NAME} {quorum} {members}")
        lines.append(f"quorum {_GROUP_NAME}")
    text = "\n".join(lines) + "\n"
    parse_policy(text)  # what is written must read back
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedPolicy:
    logs: tuple[VerifierKey, ...]
    witnesses: tuple[PolicyWitness, ...]
    policy: WitnessPolicy


def parse_policy(text: str) -> ParsedPolicy:
    """Read a tlog-policy file (logs, witnesses, groups, exactly one quorum line)."""
    if not isinstance(text, str) or not _ALLOWED.fullmatch(text):
        raise CosignatureError("a policy is text without control characters but tab and newline")
    logs: list[VerifierKey] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    quorum_seen = False
    for number, raw in enumerate(text.split("\n"), start=1):
        words = raw.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        keyword, arguments = words[0], words[1:]
        where = f"policy line {number}"
        if keyword == "log" and len(arguments) in (1, 2):
            key = parse_verifier_key(arguments[0], algorithm=NOTE_ED25519)
            if any(other.public_key == key.public_key for other in logs):
                raise CosignatureError(f"{where}: the log key is listed twice")
            logs.append(key)
        elif keyword == "witness" and len(arguments) in (2, 3):
            name = arguments[0]
            _new_name(name, witnesses, groups, where)
            key = parse_verifier_key(arguments[1], algorithm=COSIGNATURE_ED25519)
            if any(other.key.public_key == key.public_key for other in witnesses.values()):
                raise CosignatureError(f"{where}: the witness key is listed twice")
            url = arguments[2] if len(arguments) == 3 else None
            witnesses[name] = PolicyWitness(name, key, url)
        elif keyword == "group" and len(arguments) >= 3:
            name, threshold_text, members = arguments[0], arguments[1], tuple(arguments[2:])
            _new_name(name, witnesses, groups, where)
            for member in members:
                if member not in witnesses and member not in groups:
                    raise CosignatureError(f"{where}: {member!r} is not defined before")
            if len(set(members)) != len(members):
                raise CosignatureError(f"{where}: a member is listed twice")
            threshold = _threshold(threshold_text, len(members), where)
            groups[name] = Group(name, threshold, members)
        elif keyword == "quorum" and len(arguments) == 1:
            if quorum_seen:
                raise CosignatureError(f"{where}: a policy has exactly one quorum line")
            quorum_seen = True
            name = arguments[0]
            if name != _NONE and name not in witnesses and name not in groups:
                raise CosignatureError(f"{where}: the quorum names {name!r}, not defined before")
            quorum = None if name == _NONE else name
        else:
            raise CosignatureError(f"{where}: not a log, witness, group or quorum line")
    if not quorum_seen:
        raise CosignatureError("a policy has exactly one quorum line")
    keys = {name: witness.key for name, witness in witnesses.items()}
    key_names = [key.name for key in keys.values()]
    if len(set(key_names)) != len(key_names):
        # Cosignature lines name key names: two policy witnesses under one would be ambiguous.
        raise CosignatureError("two witnesses of the policy share one key name")
    return ParsedPolicy(tuple(logs), tuple(witnesses.values()), WitnessPolicy(keys, groups, quorum))


def _new_name(
    name: str, witnesses: Mapping[str, object], groups: Mapping[str, object], where: str
) -> None:
    if name == _NONE:
        raise CosignatureError(f"{where}: 'none' is a reserved name")
    if name in witnesses or name in groups:
        raise CosignatureError(f"{where}: the name {name!r} is defined twice")


def _threshold(text: str, members: int, where: str) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not re.fullmatch(r"[1-9][0-9]{0,3}", text) or not 1 <= int(text) <= members:
        raise CosignatureError(f"{where}: a threshold is all, any or 1 to {members}")
    return int(text)


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError("a cosignature's timestamp is from 0 to 2^63 - 1")


def _b64decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CosignatureError("not standard base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise CosignatureError("not canonical standard base64")
    return data
