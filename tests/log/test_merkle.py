"""RFC 9162 hashing and proofs: Certificate Transparency known answers, a reference
implementation of the RFC's recursive definitions, and property tests."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import signing
from exchange.log import merkle

# Leaves and hashes of the Certificate Transparency reference tests
# (transparency-dev/merkle testonly/constants.go and proof/verify_test.go).
LEAVES = [
    bytes.fromhex(text)
    for text in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
INCLUSION = [  # (index, size, proof)
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def fetcher(size: int) -> merkle.NodeFetcher:
    return merkle.fetcher_of(merkle.levels_of(LEAF_HASHES[:size]))


# --- reference: RFC 9162 §2.1 definitions, written out recursively ---------------------------


def ref_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return merkle.node_hash(ref_root(leaves[:k]), ref_root(leaves[k:]))


def ref_path(index: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = merkle.split_point(len(leaves))
    if index < k:
        return [*ref_path(index, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(index - k, leaves[k:]), ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_root(leaves)]
    k = merkle.split_point(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_root(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_root(leaves[:k])]


def synthetic_leaves(count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


# --- known answers -----------------------------------------------------------------------------


def test_hashes_use_rfc_9162_domain_separation() -> None:
    assert merkle.leaf_hash(b"") == bytes.fromhex(NODES[0][0])
    assert merkle.node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == bytes.fromhex(NODES[1][0])
    assert bytes.fromhex(ROOTS[0]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_trees(size: int) -> None:
    assert merkle.root_of(LEAF_HASHES[:size]).hex() == ROOTS[size]
    assert merkle.root_hash(size, fetcher(size)).hex() == ROOTS[size]


def test_perfect_nodes_of_the_reference_tree() -> None:
    levels = merkle.levels_of(LEAF_HASHES)
    assert [[node.hex() for node in level] for level in levels] == NODES
    _, completed = merkle.append_leaves(0, [], LEAF_HASHES)
    for level, position, value in completed:
        assert value.hex() == NODES[level][position]
    assert len(completed) == 4 + 2 + 1


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_of_the_reference_tree(index: int, size: int, proof: list[str]) -> None:
    produced = merkle.inclusion_proof(index, size, fetcher(size))
    assert [value.hex() for value in produced] == proof
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], produced, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_reference_tree(
    first: int, second: int, proof: list[str]
) -> None:
    produced = merkle.consistency_proof(first, second, fetcher(second))
    assert [value.hex() for value in produced] == proof
    merkle.verify_consistency(
        first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]), produced
    )


@pytest.mark.parametrize(("index", "size", "proof"), [case for case in INCLUSION if case[2]])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(value) for value in proof]
    root, leaf = bytes.fromhex(ROOTS[size]), LEAF_HASHES[index]
    some_hash = bytes.fromhex("abacaba0" * 8)
    probes = [
        (index - 1, size, leaf, hashes, root),
        (index + 1, size, leaf, hashes, root),
        (index ^ 2, size, leaf, hashes, root),
        (index, size * 2, leaf, hashes, root),
        (index, size // 2, leaf, hashes, root),
        (index, size, some_hash, hashes, root),
        (index, size, leaf, hashes, merkle.EMPTY_ROOT),
        (index, size, leaf, [*hashes, root], root),
        (index, size, leaf, [root, *hashes], root),
        (index, size, leaf, hashes[:-1], root),
        (index, size, leaf, [hashes[0], some_hash, *hashes[1:]], root),
        (index, size, leaf, [*hashes, b""], root),
    ]
    for position in range(len(hashes)):
        flipped = list(hashes)
        flipped[position] = bytes([flipped[position][0] ^ 8]) + flipped[position][1:]
        probes.append((index, size, leaf, flipped, root))
    for probe in probes:
        with pytest.raises(signing.SigningError):
            merkle.verify_inclusion(*probe)


@pytest.mark.parametrize(("first", "second", "proof"), [case for case in CONSISTENCY if case[2]])
def test_corrupted_consistency_proofs_fail(first: int, second: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(value) for value in proof]
    root1, root2 = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    probes = [
        (first - 1, second, root1, root2, hashes),
        (first + 1, second, root1, root2, hashes),
        (first ^ 2, second, root1, root2, hashes),
        (first, second * 2, root1, root2, hashes),
        (first, second // 2, root1, root2, hashes),
        (first, second, merkle.EMPTY_ROOT, root2, hashes),
        (first, second, root1, merkle.EMPTY_ROOT, hashes),
        (first, second, root2, root1, hashes),
        (first, second, root1, root2, []),
        (first, second, root1, root2, [*hashes, root1]),
        (first, second, root1, root2, [*hashes, root2]),
        (first, second, root1, root2, [root1, *hashes]),
        (first, second, root1, root2, [hashes[0], *hashes]),
        (first, second, root1, root2, hashes[:-1]),
    ]
    for position in range(len(hashes)):
        flipped = list(hashes)
        flipped[position] = bytes([flipped[position][0] ^ 16]) + flipped[position][1:]
        probes.append((first, second, root1, root2, flipped))
    for probe in probes:
        with pytest.raises(signing.SigningError):
            merkle.verify_consistency(*probe)


def test_trivial_consistency() -> None:
    root = bytes.fromhex(ROOTS[3])
    merkle.verify_consistency(3, 3, root, root, [])
    merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, root, [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 3, root, bytes.fromhex(ROOTS[4]), [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 3, root, root, [root])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(4, 3, root, root, [])


# --- against the reference, exhaustively for small trees ------------------------------------


def test_every_proof_of_small_trees_matches_the_rfc_definitions() -> None:
    leaves = synthetic_leaves(70)
    for size in range(1, 71):
        fetch = merkle.fetcher_of(merkle.levels_of(leaves[:size]))
        root = ref_root(leaves[:size])
        assert merkle.root_hash(size, fetch) == root == merkle.root_of(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, fetch)
            assert proof == ref_path(index, leaves[:size])
            merkle.verify_inclusion(index, size, leaves[index], proof, root)
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(first, size, fetch)
            assert proof == ref_subproof(first, leaves[:size], True)
            merkle.verify_consistency(first, size, ref_root(leaves[:first]), root, proof)


def test_appending_in_batches_completes_every_node_once() -> None:
    leaves = synthetic_leaves(300)
    levels = merkle.levels_of(leaves)
    frontier: merkle.Frontier = []
    seen: dict[tuple[int, int], bytes] = {}
    size = 0
    for batch in (1, 2, 5, 64, 100, 3, 125):
        frontier, completed = merkle.append_leaves(size, frontier, leaves[size : size + batch])
        size += batch
        for level, position, value in completed:
            assert (level, position) not in seen
            seen[(level, position)] = value
        assert merkle.frontier_root(frontier) == ref_root(leaves[:size])
        assert [key for key, _ in frontier] == [level for level, _ in merkle.root_nodes(size)]
    expected = {
        (level, position): value
        for level, row in enumerate(levels[1:], 1)
        for position, value in enumerate(row)
    }
    assert seen == expected


def test_inclusion_proofs_in_bulk_equal_single_ones() -> None:
    leaves = synthetic_leaves(1000)
    levels = merkle.levels_of(leaves)
    nodes = {
        (level, position): value
        for level, row in enumerate(levels)
        for position, value in enumerate(row)
    }
    indexes = [0, 5, 511, 512, 997, 998]
    assert merkle.inclusion_proofs_from(indexes, 999, nodes) == [
        merkle.inclusion_proof_from(index, 999, nodes) for index in indexes
    ]


def test_a_proof_needs_only_logarithmically_many_nodes() -> None:
    size = 1_000_003
    for index in (0, 1, 524_287, 524_288, size - 2, size - 1):
        assert len(merkle.inclusion_nodes(index, size)) <= 2 * size.bit_length()
    for first in (1, 7, 524_288, 999_999, size - 1):
        assert len(merkle.consistency_nodes(first, size)) <= 2 * size.bit_length()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(0, 3)
    with pytest.raises(ValueError, match="not a subtree range"):
        merkle.subtree_nodes(1, 3)
    with pytest.raises(LookupError, match="missing"):
        merkle.inclusion_proof(0, 4, lambda keys: {})
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 0, LEAF_HASHES[0], [], merkle.EMPTY_ROOT)


# --- properties ----------------------------------------------------------------------------------

TREE = synthetic_leaves(2100)
TREE_FETCH = merkle.fetcher_of(merkle.levels_of(TREE))


def _flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2100).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.integers(0, 255),
    st.data(),
)
def test_inclusion_proofs_verify_and_any_altered_hash_fails(
    case: tuple[int, int], bit: int, data: st.DataObject
) -> None:
    size, index = case
    # A prefix of TREE's leaves is a tree of its own: the fetcher serves every size.
    proof = merkle.inclusion_proof(index, size, TREE_FETCH)
    root = merkle.root_hash(size, TREE_FETCH)
    merkle.verify_inclusion(index, size, TREE[index], proof, root)

    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, _flip(TREE[index], bit), proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, TREE[index], proof, _flip(root, bit))
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        altered = [*proof[:position], _flip(proof[position], bit), *proof[position + 1 :]]
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, TREE[index], altered, root)
    other = data.draw(st.integers(0, size - 1))
    if other != index:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(other, size, TREE[index], proof, root)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2100).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
    st.integers(0, 255),
    st.data(),
)
def test_consistency_proofs_verify_and_any_altered_hash_fails(
    case: tuple[int, int], bit: int, data: st.DataObject
) -> None:
    first, second = case
    proof = merkle.consistency_proof(first, second, TREE_FETCH)
    root1 = merkle.root_hash(first, TREE_FETCH)
    root2 = merkle.root_hash(second, TREE_FETCH)
    merkle.verify_consistency(first, second, root1, root2, proof)
    if first == second:
        return
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, _flip(root1, bit), root2, proof)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, root1, _flip(root2, bit), proof)
    position = data.draw(st.integers(0, len(proof) - 1))
    altered = [*proof[:position], _flip(proof[position], bit), *proof[position + 1 :]]
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, root1, root2, altered)
