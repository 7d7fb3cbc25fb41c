"""C2SP signed notes and transparency-log checkpoints: build, sign, open and parse (pure).

A signed note (https://c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank
line, then one line per signature: ``— <key name> <base64(key id ‖ signature)>``. For
Ed25519 the key id is the first four bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
A checkpoint (https://c2sp.org/tlog-checkpoint) is a note whose text is the log's origin,
its tree size in decimal, and its root hash in standard padded base64, one per line.

The exchange names its checkpoint key after the log's origin, as C2SP logs do.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
from typing import Final

from exchange import signing
from exchange.log.merkle import HASH_SIZE

SIGNATURE_PREFIX: Final = "\u2014 "
ED25519_ALGORITHM: Final = 0x01
MAX_SIGNATURES: Final = 100

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class NoteError(signing.SigningError):
    """A note or checkpoint is malformed, or carries no valid signature by the expected key."""


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        return checkpoint_body(self.origin, self.size, self.root_hash, self.extensions)


def checkpoint_body(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...] = ()
) -> str:
    """The note text of a checkpoint: origin, size and root hash lines, then extensions."""
    _check_name(origin, what="origin")
    if size < 0 or len(root_hash) != HASH_SIZE:
        raise NoteError("a checkpoint has a size ≥ 0 and a 32-byte root hash")
    lines = [origin, str(size), base64.b64encode(root_hash).decode("ascii"), *extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note's text (its signatures already checked by :func:`open_note`)."""
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint's origin line is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError("the checkpoint's tree size is not a decimal number")
    root_hash = _b64decode(root_text)
    if len(root_hash) != HASH_SIZE:
        raise NoteError("the checkpoint's root hash does not have 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint extension line is empty")
    return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))


def note_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key."""
    _check_name(name, what="key name")
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_ALGORITHM]) + public_key
    return hashlib.sha256(material).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The ``<name>+<hex key id>+<base64(0x01 ‖ key)>`` string that note tooling pins."""
    encoded = base64.b64encode(bytes([ED25519_ALGORITHM]) + public_key).decode("ascii")
    return f"{name}+{note_key_id(name, public_key).hex()}+{encoded}"


def sign_note(text: str, *, name: str, private_key: bytes) -> str:
    """The signed note: ``text``, a blank line and one Ed25519 signature line."""
    _check_text(text)
    public_key = signing.public_key_of(private_key)
    signature = signing.b64url_decode(
        signing.sign_bytes(message=text.encode("utf-8"), private_key=private_key)
    )
    blob = base64.b64encode(note_key_id(name, public_key) + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def open_note(note: str, *, name: str, public_key: signing.PublicKeys) -> str:
    """The text of ``note`` if it carries a valid signature by ``name``'s ``public_key`` (or
    by one of several keys: an exchange's current and retired ones).

    Signatures by other keys (witness cosignatures, say) are ignored, as the format asks.
    """
    text, signature_lines = _split_note(note)
    key_ids = {note_key_id(name, key): key for key in signing.key_list(public_key)}
    found = False
    for line in signature_lines:
        signer, blob = _parse_signature_line(line)
        if signer != name or blob[:4] not in key_ids:
            continue
        if len(blob) != 4 + signing.SIGNATURE_BYTES:
            raise NoteError(f"the signature by {name} does not have 64 bytes")
        try:
            signing.verify_bytes(
                message=text.encode("utf-8"),
                signature=signing.b64url_encode(blob[4:]),
                public_key=key_ids[blob[:4]],
            )
        except signing.SigningError as exc:
            raise NoteError(f"the signature by {name} does not verify") from exc
        found = True
    if not found:
        raise NoteError(f"the note carries no signature by the key {name}")
    return text


def signature_lines(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text of a signed note and its signature lines as ``(key name, key id ‖ signature)``,
    none of them checked: for verifiers of other signature types (witness cosignatures)."""
    text, lines = _split_note(note)
    return text, [_parse_signature_line(line) for line in lines]


def check_key_name(name: str) -> None:
    """Raise :class:`NoteError` unless ``name`` may name a note key (no space, no '+')."""
    _check_name(name, what="key name")


def sign_checkpoint(checkpoint: Checkpoint, *, name: str, private_key: bytes) -> str:
    return sign_note(checkpoint.body(), name=name, private_key=private_key)


def verify_checkpoint(
    note: str, *, origin: str, public_key: signing.PublicKeys, name: str | None = None
) -> Checkpoint:
    """The checkpoint of ``origin`` in ``note``, signed by ``public_key``.

    The key's name in the note is ``origin`` unless ``name`` says otherwise.
    """
    checkpoint = parse_checkpoint(open_note(note, name=name or origin, public_key=public_key))
    if checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is of the log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def _split_note(note: str) -> tuple[str, list[str]]:
    if not isinstance(note, str):
        raise NoteError("a note is text")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a signed note has a blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not signatures.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("a signature line starts with an em dash and a space")
    name, space, blob_text = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not name or " " in blob_text:
        raise NoteError("a signature line is '— <key name> <base64 signature>'")
    _check_name(name, what="key name")
    blob = _b64decode(blob_text)
    if len(blob) < 5:
        raise NoteError("a signature is a 4-byte key id and the signature itself")
    return name, blob


def _check_text(text: str) -> None:
    if not text or not text.endswith("\n"):
        raise NoteError("a note's text is not empty and ends with a newline")
    if _CONTROL.search(text):
        raise NoteError("a note's text holds no control characters besides newlines")


def _check_name(name: str, *, what: str) -> None:
    if not name or "+" in name or any(char.isspace() for char in name) or _CONTROL.search(name):
        raise NoteError(f"the {what} {name!r} is empty or holds a space or a '+'")


def _b64decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError("not standard base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise NoteError("not canonical standard base64")
    return data
