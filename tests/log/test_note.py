"""C2SP signed notes and checkpoints: the Go reference example, round trips, forgeries."""

from __future__ import annotations

import base64

import pytest

from exchange import signing
from exchange.log import merkle, note

# The example of golang.org/x/mod/sumdb/note, the reference implementation of the format.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    + "ngotpRZb6KE6RyyBwJnAM=\n"
)
GO_SEED = base64.b64decode(GO_SIGNER.split("+", 4)[4])[1:]
GO_PUBLIC = base64.b64decode(GO_VERIFIER.split("+", 2)[2])[1:]

ORIGIN = "footprint-exchange.hainan.example"
SEED = bytes(range(32))
PUBLIC = signing.public_key_of(SEED)
ROOT = merkle.leaf_hash(b"root")
URL_SAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    assert signing.public_key_of(GO_SEED) == GO_PUBLIC
    assert note.note_key_id("PeterNeumann", GO_PUBLIC).hex() == "c74f20a3"
    assert note.verifier_key("PeterNeumann", GO_PUBLIC) == GO_VERIFIER
    assert note.sign_note(GO_TEXT, name="PeterNeumann", private_key=GO_SEED) == GO_NOTE
    assert note.open_note(GO_NOTE, name="PeterNeumann", public_key=GO_PUBLIC) == GO_TEXT


def test_checkpoint_body_is_origin_size_and_padded_base64_root() -> None:
    body = note.checkpoint_body(ORIGIN, 42, bytes(32))
    assert body == f"{ORIGIN}\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert note.parse_checkpoint(body) == note.Checkpoint(ORIGIN, 42, bytes(32))


def test_signed_checkpoint_round_trip() -> None:
    text = note.sign_checkpoint(note.Checkpoint(ORIGIN, 7, ROOT), name=ORIGIN, private_key=SEED)
    body, signature = text.split("\n\n")
    assert body + "\n" == note.checkpoint_body(ORIGIN, 7, ROOT)
    assert signature.startswith(f"\u2014 {ORIGIN} ")
    blob = base64.b64decode(signature.split(" ")[2])
    assert blob[:4] == note.note_key_id(ORIGIN, PUBLIC) and len(blob) == 68
    checkpoint = note.verify_checkpoint(text, origin=ORIGIN, public_key=PUBLIC)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (ORIGIN, 7, ROOT)


def test_other_signatures_are_ignored_and_extensions_kept() -> None:
    body = note.checkpoint_body(ORIGIN, 3, ROOT, ("extension line",))
    signed = note.sign_note(body, name=ORIGIN, private_key=SEED)
    witness = note.sign_note(body, name="witness.example", private_key=GO_SEED)
    both = signed + witness.split("\n\n")[1]
    checkpoint = note.verify_checkpoint(both, origin=ORIGIN, public_key=PUBLIC)
    assert checkpoint.extensions == ("extension line",)
    note.open_note(both, name="witness.example", public_key=GO_PUBLIC)


@pytest.mark.parametrize(
    "forge",
    [
        lambda text: text.replace("\n7\n", "\n8\n"),
        lambda text: text.replace(ORIGIN, "other.example", 1),
        lambda text: text.replace("\n\n", "\n"),
        lambda text: text[:-1],
        lambda text: text.replace("\u2014", "-"),
        lambda text: text.split("\n\n")[0] + "\n",
        lambda text: text + "\u2014 x\n",
        lambda text: text.replace(f"\u2014 {ORIGIN}", "\u2014 other.example"),
    ],
)
def test_altered_notes_fail(forge: object) -> None:
    text = note.sign_checkpoint(note.Checkpoint(ORIGIN, 7, ROOT), name=ORIGIN, private_key=SEED)
    forged = forge(text)  # type: ignore[operator]
    with pytest.raises(signing.SigningError):
        note.verify_checkpoint(forged, origin=ORIGIN, public_key=PUBLIC)


def test_a_flipped_signature_bit_or_another_key_fails() -> None:
    text = note.sign_checkpoint(note.Checkpoint(ORIGIN, 7, ROOT), name=ORIGIN, private_key=SEED)
    body, line = text.split("\n\n")
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 1
    forged = f"{body}\n\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(note.NoteError, match="does not verify"):
        note.verify_checkpoint(forged, origin=ORIGIN, public_key=PUBLIC)
    with pytest.raises(note.NoteError, match="no signature by"):
        note.verify_checkpoint(text, origin=ORIGIN, public_key=GO_PUBLIC)


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n7\n",
        f"{ORIGIN}\n07\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode().rstrip('=')}\n",
        f"{ORIGIN}\n7\n{URL_SAFE_ROOT}\n",
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"\n7\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode()}\n\n",
    ],
)
def test_malformed_checkpoints_are_refused(body: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_checkpoint(body)


def test_bad_names_and_texts_are_refused() -> None:
    for name in ("", "a b", "a+b"):
        with pytest.raises(note.NoteError):
            note.sign_note("text\n", name=name, private_key=SEED)
    for text in ("", "no newline", "tab\there\n"):
        with pytest.raises(note.NoteError):
            note.sign_note(text, name=ORIGIN, private_key=SEED)
