"""C2SP cosignatures, verifier keys and tlog-policy files, held to the specifications' own
examples (known answers) and to forgeries."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from exchange import signing
from exchange.log import cosignature, merkle, note
from exchange.log.cosignature import CosignatureError, VerifierKey

# signed-note, "Verifier keys", Example: this vkey verifies this note.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3m"
    "FXmRKuwHjG1Yu72IneyaQM=\n"
)
# tlog-checkpoint / tlog-cosignature: the example checkpoint body, and its cosignature by
# witness.example.com/w1 (the witness's key is not published; its fields are).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_LOG_SIGNATURE = (
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
# tlog-cosignature, "Ed25519 signed message": the example message, at the example's time.
SPEC_MESSAGE = (
    "cosignature/v1\ntime 1679315147\n"
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

ORIGIN = "footprint-exchange.hainan.example"
LOG_SEED = bytes(range(32))
LOG_PUBLIC = signing.public_key_of(LOG_SEED)
WITNESS = "witness.vientiane.example/w1"
WITNESS_SEED = bytes(range(1, 33))
WITNESS_PUBLIC = signing.public_key_of(WITNESS_SEED)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
T = int(NOW.timestamp())


def witness_key(name: str = WITNESS, public_key: bytes = WITNESS_PUBLIC) -> VerifierKey:
    return VerifierKey(name, cosignature.COSIGNATURE_ED25519, public_key)


def checkpoint(size: int = 7, origin: str = ORIGIN, root: bytes | None = None) -> str:
    found = note.Checkpoint(origin, size, root or merkle.leaf_hash(b"%d" % size))
    return note.sign_checkpoint(found, name=origin, private_key=LOG_SEED)


def cosigned(signed: str, *, name: str = WITNESS, seed: bytes = WITNESS_SEED, at: int = T) -> str:
    body, _ = note.signature_lines(signed)
    return signed + cosignature.cosign(body, name=name, private_key=seed, timestamp=at)


# --- known answers ----------------------------------------------------------------------------


def test_the_signed_note_example_vkey_parses_and_verifies_its_note() -> None:
    key = cosignature.parse_verifier_key(SPEC_VKEY)
    assert (key.name, key.algorithm, key.key_id.hex()) == ("example.com/foo", 0x01, "530d903a")
    assert key.text == SPEC_VKEY
    assert note.open_note(SPEC_NOTE, name=key.name, public_key=key.public_key) == (
        "This is an example message.\n"
    )
    assert cosignature.log_key(key.name, key.public_key) == SPEC_VKEY
    assert note.verifier_key(key.name, key.public_key) == SPEC_VKEY


def test_the_cosigned_message_is_the_specifications_example() -> None:
    assert cosignature.signed_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE.encode()


def test_the_example_cosignature_is_key_id_timestamp_and_64_byte_signature() -> None:
    text, lines = note.signature_lines(SPEC_BODY + "\n" + SPEC_LOG_SIGNATURE + SPEC_COSIGNATURE)
    assert text == SPEC_BODY
    assert note.parse_checkpoint(text).size == 20852163
    (log_name, log_blob), (name, blob) = lines
    assert (log_name, len(log_blob)) == ("example.com/behind-the-sofa", 4 + 64)
    assert name == "witness.example.com/w1"
    assert len(blob) == 4 + 8 + 64
    # The example's timestamp is the signed-message example's time.
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    # A verifier that does not know this witness's key ignores the line; one that knows
    # another key under that name ignores it too (another key id).
    other = witness_key("witness.example.com/w1")
    assert cosignature.verify_cosignatures(SPEC_BODY + "\n" + SPEC_COSIGNATURE, [other])[1] == []


def test_a_cosignature_key_id_uses_type_0x04_not_the_note_type() -> None:
    vkey = cosignature.cosigner_key(WITNESS, WITNESS_PUBLIC)
    parsed = cosignature.parse_verifier_key(vkey, algorithm=0x04)
    assert parsed.key_id != note.note_key_id(WITNESS, WITNESS_PUBLIC)
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    with pytest.raises(CosignatureError, match="type 0x04, not 0x01"):
        cosignature.parse_verifier_key(vkey, algorithm=0x01)


@pytest.mark.parametrize(
    "text",
    [
        "example.com/foo+530d903a",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong id
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong name
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  # not base64
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AgkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # type 0x02
    ],
)
def test_malformed_or_inconsistent_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(note.NoteError):
        cosignature.parse_verifier_key(text)


# --- round trips and forgeries -----------------------------------------------------------------


def test_a_cosignature_round_trip() -> None:
    signed = cosigned(checkpoint())
    body, found = cosignature.verify_cosignatures(signed, [witness_key()], now=NOW)
    assert note.parse_checkpoint(body).size == 7
    assert [(item.name, item.timestamp) for item in found] == [(WITNESS, T)]
    assert found[0].time == NOW
    # The log's own signature still verifies: cosignatures are extra lines of the note.
    assert note.verify_checkpoint(signed, origin=ORIGIN, public_key=LOG_PUBLIC).size == 7


def test_a_cosignature_moved_to_another_checkpoint_does_not_verify() -> None:
    """Replayed on a larger checkpoint, a checkpoint of another log (origin) or a checkpoint
    of the same size with another root: the witness's key is known, so the note is refused."""
    line = cosigned(checkpoint(7)).split("\n\n")[1].split("\n")[1] + "\n"
    for victim in (
        checkpoint(8),
        checkpoint(7, origin="carbon-footprint.vientiane.example"),
        checkpoint(7, root=merkle.leaf_hash(b"another view")),
    ):
        with pytest.raises(CosignatureError, match="does not verify"):
            cosignature.verify_cosignatures(victim + line, [witness_key()], now=NOW)


def test_a_forged_witness_key_is_ignored_and_a_bad_signature_refused() -> None:
    forger = signing.generate_private_key()
    # The forger's own key under the witness's name: another key id, so not the witness.
    forged = cosigned(checkpoint(), seed=forger)
    assert cosignature.verify_cosignatures(forged, [witness_key()], now=NOW)[1] == []
    # The witness's name and key id with a signature that is not the witness's: refused.
    genuine = cosigned(checkpoint())
    text, lines = note.signature_lines(genuine)
    name, blob = lines[1]
    broken = blob[:12] + bytes(64)
    altered = (
        text + "\n" + genuine.split("\n\n")[1].split("\n")[0] + "\n"
        f"\u2014 {name} {base64.b64encode(broken).decode()}\n"
    )
    with pytest.raises(CosignatureError, match="does not verify"):
        cosignature.verify_cosignatures(altered, [witness_key()], now=NOW)


def test_the_timestamp_is_signed_and_may_not_be_in_the_future() -> None:
    genuine = cosigned(checkpoint(), at=T)
    _, lines = note.signature_lines(genuine)
    name, blob = lines[1]
    later = blob[:4] + (T + 1).to_bytes(8, "big") + blob[12:]
    moved = genuine.rsplit("\u2014 ", 1)[0] + f"\u2014 {name} {base64.b64encode(later).decode()}\n"
    with pytest.raises(CosignatureError, match="does not verify"):
        cosignature.verify_cosignatures(moved, [witness_key()], now=NOW)
    tomorrow = cosigned(checkpoint(), at=T + 86400)
    with pytest.raises(CosignatureError, match="future"):
        cosignature.verify_cosignatures(tomorrow, [witness_key()], now=NOW)


# --- policies -----------------------------------------------------------------------------------


def _witnesses(count: int) -> list[tuple[str, bytes, VerifierKey]]:
    found = []
    for number in range(count):
        seed = bytes([number + 10]) * 32
        name = f"witness{number}.example/w"
        found.append((name, seed, witness_key(name, signing.public_key_of(seed))))
    return found


def test_k_of_n_policy_over_a_checkpoint() -> None:
    witnesses = _witnesses(3)
    policy = cosignature.WitnessPolicy.k_of_n([key for _, _, key in witnesses], 2)
    assert policy.required() == 2
    signed = checkpoint()
    once = cosigned(signed, name=witnesses[0][0], seed=witnesses[0][1])
    twice = cosigned(once, name=witnesses[2][0], seed=witnesses[2][1])
    short = cosignature.check_witnessed(
        once, origin=ORIGIN, log_keys=LOG_PUBLIC, policy=policy, now=NOW
    )
    assert (short.by, short.met, short.required, short.known) == (
        (witnesses[0][0],),
        False,
        2,
        3,
    )
    met = cosignature.check_witnessed(
        twice, origin=ORIGIN, log_keys=LOG_PUBLIC, policy=policy, now=NOW
    )
    assert met.met and len(met.by) == 2
    # The same cosignature twice counts once.
    again = once + once.split("\n\n")[1].split("\n")[1] + "\n"
    assert not cosignature.check_witnessed(
        again, origin=ORIGIN, log_keys=LOG_PUBLIC, policy=policy, now=NOW
    ).met
    # A checkpoint the log did not sign is refused before any cosignature is counted.
    with pytest.raises(note.NoteError):
        cosignature.check_witnessed(
            twice, origin=ORIGIN, log_keys=signing.public_key_of(bytes(32)), policy=policy
        )
    assert cosignature.WitnessPolicy.k_of_n([], 0).satisfied([])


def test_policy_files_round_trip_and_read_the_specifications_example() -> None:
    witnesses = _witnesses(6)
    log = VerifierKey(ORIGIN, 0x01, LOG_PUBLIC)
    text = cosignature.policy_text(
        logs=[log],
        witnesses=[
            cosignature.PolicyWitness(name, key, "https://w.example/w")
            for name, _, key in witnesses[:3]
        ],
        quorum=2,
    )
    parsed = cosignature.parse_policy(text)
    assert parsed.logs == (log,)
    assert parsed.policy.required() == 2
    assert parsed.policy.satisfied([witnesses[0][0], witnesses[1][0]])
    assert not parsed.policy.satisfied([witnesses[0][0]])
    # tlog-policy's example: two of the X witnesses and any of the Y witnesses.
    x, y = witnesses[:3], witnesses[3:]
    example = "\n".join(
        [
            f"log {log.text}",
            "",
            *(f"witness X{i + 1} {key.text}" for i, (_, _, key) in enumerate(x)),
            "group X-witnesses 2 X1 X2 X3",
            "  # comments and blank lines are allowed",
            *(f"witness Y{i + 1}\t{key.text}" for i, (_, _, key) in enumerate(y)),
            "group Y-witnesses any Y1 Y2 Y3",
            "group X-and-Y all X-witnesses Y-witnesses",
            "quorum X-and-Y",
            "",
        ]
    )
    policy = cosignature.parse_policy(example).policy
    assert policy.required() == 3
    assert policy.satisfied([x[0][0], x[2][0], y[1][0]])
    assert not policy.satisfied([x[0][0], x[1][0], x[2][0]])
    assert not policy.satisfied([x[0][0], y[0][0], y[1][0]])
    none = cosignature.parse_policy(f"log {log.text}\nquorum none\n").policy
    assert none.required() == 0 and none.satisfied([])


@pytest.mark.parametrize(
    "lines",
    [
        ["quorum none", "quorum none"],  # two quorum lines
        [],  # no quorum line
        ["quorum W"],  # not defined
        ["witness W {w0}", "witness W {w1}", "quorum W"],  # one name twice
        ["witness A {w0}", "witness B {w0}", "quorum A"],  # one key twice
        ["witness A {w0}", "group G 2 A", "quorum G"],  # threshold above members
        ["witness A {w0}", "group G 1 A A", "quorum G"],  # a member twice
        ["witness none {w0}", "quorum none"],  # the reserved name
        ["witness A {log}", "quorum A"],  # a log key as a witness key
        ["log {w0}", "quorum none"],  # a witness key as a log key
        ["frobnicate", "quorum none"],
        ["witness A {w0}", "group G 0 A", "quorum G"],
    ],
)
def test_policy_files_that_break_the_rules_are_refused(lines: list[str]) -> None:
    witnesses = _witnesses(2)
    values = {
        "w0": witnesses[0][2].text,
        "w1": witnesses[1][2].text,
        "log": VerifierKey(ORIGIN, 0x01, LOG_PUBLIC).text,
    }
    with pytest.raises(CosignatureError):
        cosignature.parse_policy("\n".join(line.format(**values) for line in lines) + "\n")
    with pytest.raises(CosignatureError):
        cosignature.parse_policy("quorum none\x00\n")
