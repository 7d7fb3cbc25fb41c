"""Properties of Merkle proofs for any tree: inclusion and consistency proofs verify, and any
change of hash, index or size fails; the JSON checks of a partner fail with the one error."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import signing
from exchange.log import merkle, note, verify

ORIGIN = "footprint-exchange.test/log"
KEY = signing.KeyPair.from_private_key(bytes(range(2, 34)))
MAX_SIZE = 300


def tree(size: int, salt: int) -> merkle.NodeFetcher:
    """A tree whose leaves (``fetch({(0, i)})``) differ with ``salt``; every prefix is the
    tree of that size."""
    leaves = [merkle.leaf_hash(f"{salt}:{n}".encode()) for n in range(size)]
    return merkle.fetcher_of(merkle.levels_of(leaves))


def leaf_at(fetch: merkle.NodeFetcher, index: int) -> bytes:
    return fetch({(0, index)})[(0, index)]


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8 % len(value)] ^= 1 << (bit % 8)
    return bytes(changed)


def checkpoint(size: int, fetch: merkle.NodeFetcher) -> str:
    signed = note.Checkpoint(ORIGIN, size, merkle.root_hash(size, fetch))
    return note.sign_checkpoint(signed, name=ORIGIN, private_key=KEY.private_key)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


sizes = st.integers(1, MAX_SIZE)


@settings(max_examples=120)
@given(
    sizes.flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.integers(0, 9),
    st.integers(0, 255),
    st.data(),
)
def test_inclusion_proofs_verify_and_any_changed_index_or_size_fails(
    case: tuple[int, int], salt: int, bit: int, data: st.DataObject
) -> None:
    size, index = case
    fetch = tree(MAX_SIZE, salt)
    leaf = leaf_at(fetch, index)
    proof = merkle.inclusion_proof(index, size, fetch)
    root = merkle.root_hash(size, fetch)
    merkle.verify_inclusion(index, size, leaf, proof, root)

    other_index = data.draw(st.integers(0, MAX_SIZE).filter(lambda i: i != index), label="index")
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(other_index, size, leaf, proof, root)
    # Another size is a claim about another tree: checked against that tree's root.
    other_size = data.draw(st.integers(1, MAX_SIZE).filter(lambda n: n != size), label="size")
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, other_size, leaf, proof, merkle.root_hash(other_size, fetch))
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, flip(leaf, bit), proof, root)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(
                index,
                size,
                leaf,
                [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]],
                root,
            )
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, leaf, [*proof, leaf], root)


@settings(max_examples=120)
@given(st.tuples(sizes, sizes).map(sorted), st.integers(0, 9), st.integers(0, 255), st.data())
def test_consistency_proofs_between_any_two_sizes(
    case: list[int], salt: int, bit: int, data: st.DataObject
) -> None:
    first, second = case
    fetch = tree(MAX_SIZE, salt)
    proof = merkle.consistency_proof(first, second, fetch)
    root1, root2 = merkle.root_hash(first, fetch), merkle.root_hash(second, fetch)
    merkle.verify_consistency(first, second, root1, root2, proof)
    if first == second:
        assert proof == []
        return
    # Backwards, or from a tree that is not this one's prefix: refused.
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(second, first, root2, root1, proof)
    other = data.draw(st.integers(1, second).filter(lambda n: n != first), label="first")
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(other, second, merkle.root_hash(other, fetch), root2, proof)
    forked = tree(MAX_SIZE, salt + 10)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, merkle.root_hash(first, forked), root2, proof)
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            first,
            second,
            root1,
            root2,
            [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]],
        )


json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=150)
@given(
    sizes.flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.sampled_from(["index", "size", "leafHash", "proof", "rootHash"]),
    json_junk,
)
def test_a_partners_inclusion_check_fails_only_with_the_signing_error(
    case: tuple[int, int], field: str, junk: Any
) -> None:
    size, index = case
    fetch = tree(MAX_SIZE, 0)
    signed = checkpoint(size, fetch)
    body = {
        "index": index,
        "size": size,
        "leafHash": b64(leaf_at(fetch, index)),
        "proof": [b64(value) for value in merkle.inclusion_proof(index, size, fetch)],
        "rootHash": b64(merkle.root_hash(size, fetch)),
    }
    assert (
        verify.verify_inclusion_proof(body, signed, public_key=KEY.public_key, origin=ORIGIN)
        == index
    )
    tampered = {**body, field: junk}
    if tampered == body:
        return
    with pytest.raises(signing.SigningError):
        verify.verify_inclusion_proof(tampered, signed, public_key=KEY.public_key, origin=ORIGIN)


@settings(max_examples=100)
@given(
    st.tuples(sizes, sizes).map(sorted), st.sampled_from(["first", "second", "proof"]), json_junk
)
def test_a_partners_consistency_check_fails_only_with_the_signing_error(
    case: list[int], field: str, junk: Any
) -> None:
    first, second = case
    fetch = tree(MAX_SIZE, 0)
    old, new = checkpoint(first, fetch), checkpoint(second, fetch)
    body = {
        "first": first,
        "second": second,
        "proof": [b64(value) for value in merkle.consistency_proof(first, second, fetch)],
    }
    verify.verify_consistency_proof(body, old, new, public_key=KEY.public_key, origin=ORIGIN)
    tampered = {**body, field: junk}
    if tampered == body:
        return
    with pytest.raises(signing.SigningError):
        verify.verify_consistency_proof(
            tampered, old, new, public_key=KEY.public_key, origin=ORIGIN
        )
