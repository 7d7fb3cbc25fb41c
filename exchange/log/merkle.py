"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification: pure functions.

The tree over leaf hashes ``D[0:n]`` is the one of RFC 9162: ``MTH`` of one leaf is its
leaf hash, of more it is ``node_hash(MTH(D[0:k]), MTH(D[k:n]))`` with ``k`` the largest
power of two below ``n``.

Every subtree that this recursion visits covers a range ``[a, b)`` where ``a`` is a
multiple of a power of two at least ``b - a``, so it is the concatenation of at most
log2(n) *perfect aligned* subtrees. Such a subtree is addressed as a node
``(level, position)``: the hash of leaves ``[position·2^level, (position+1)·2^level)``.
Nodes never change once complete, so a store can keep them as the tree grows and answer
any root or proof for any size from O(log n) nodes. Proof generation here asks a
:data:`NodeFetcher` for exactly those nodes, all at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Final

from exchange.signing import SigningError

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, position)``: the subtree over leaves ``[position·2^level, (position+1)·2^level)``."""

NodeFetcher = Callable[[Collection[NodeKey]], Mapping[NodeKey, bytes]]
"""Returns the stored hash of every node asked for (a store answers with one query)."""

Frontier = list[tuple[int, bytes]]
"""``(level, hash)`` of the perfect subtrees that make up a tree ``[0, size)``, largest first."""

NewNode = tuple[int, int, bytes]
"""``(level, position, hash)`` of a node completed by an append."""


class ProofError(SigningError):
    """A proof is malformed or does not prove what it claims."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` ≥ 2)."""
    if size < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((size - 1).bit_length() - 1)


# --- which nodes a root or proof needs ----------------------------------------------------


def subtree_nodes(begin: int, end: int) -> list[NodeKey]:
    """The perfect aligned subtrees whose concatenation is ``[begin, end)``, left to right.

    ``[begin, end)`` must be a range of the RFC 9162 recursion (``begin`` a multiple of a
    power of two at least ``end - begin``); then the subtrees follow the binary digits of
    the range's length, largest first.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"bad range [{begin}, {end})")
    keys: list[NodeKey] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin & ((1 << level) - 1):
            raise ValueError(f"[{begin}, {end}) is not a subtree range of a Merkle tree")
        keys.append((level, begin >> level))
        begin += 1 << level
    return keys


def range_hash(begin: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """``MTH(D[begin:end])`` assembled from the perfect subtrees in ``nodes``."""
    keys = subtree_nodes(begin, end)
    if not keys:
        return EMPTY_ROOT
    # Each binary digit's subtree is smaller than the rest put together only on the right,
    # so RFC 9162's split always falls after the first subtree: fold from the right.
    result = _node(nodes, keys[-1])
    for key in reversed(keys[:-1]):
        result = node_hash(_node(nodes, key), result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose ``MTH`` make ``PATH(index, D[0:size])``, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        middle = begin + split_point(end - begin)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((begin, middle))
            begin = middle
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges whose ``MTH`` make ``PROOF(first, D[0:second])`` (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, second
    # RFC 9162's SUBPROOF flag: whether D[0:first] is still the whole subtree at hand.
    whole = True
    while first != end:
        middle = begin + split_point(end - begin)
        if first <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((begin, middle))
            begin = middle
            whole = False
    if not whole:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def root_nodes(size: int) -> list[NodeKey]:
    return subtree_nodes(0, size)


def ranges_nodes(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    return {key for begin, end in ranges for key in subtree_nodes(begin, end)}


def inclusion_nodes(index: int, size: int) -> set[NodeKey]:
    return ranges_nodes(inclusion_ranges(index, size))


def consistency_nodes(first: int, second: int) -> set[NodeKey]:
    return ranges_nodes(consistency_ranges(first, second))


# --- assembling proofs ----------------------------------------------------------------------


def inclusion_proof_from(index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    return [range_hash(begin, end, nodes) for begin, end in inclusion_ranges(index, size)]


def consistency_proof_from(first: int, second: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    return [range_hash(begin, end, nodes) for begin, end in consistency_ranges(first, second)]


def inclusion_proofs_from(
    indexes: Sequence[int], size: int, nodes: Mapping[NodeKey, bytes]
) -> list[list[bytes]]:
    """Inclusion proofs of many indexes in one tree; shared subtree hashes are built once."""
    memo: dict[tuple[int, int], bytes] = {}
    proofs: list[list[bytes]] = []
    for index in indexes:
        proof: list[bytes] = []
        for subtree in inclusion_ranges(index, size):
            value = memo.get(subtree)
            if value is None:
                value = memo[subtree] = range_hash(*subtree, nodes)
            proof.append(value)
        proofs.append(proof)
    return proofs


def root_hash(size: int, fetch: NodeFetcher) -> bytes:
    return range_hash(0, size, fetch(root_nodes(size)))


def inclusion_proof(index: int, size: int, fetch: NodeFetcher) -> list[bytes]:
    return inclusion_proof_from(index, size, fetch(inclusion_nodes(index, size)))


def consistency_proof(first: int, second: int, fetch: NodeFetcher) -> list[bytes]:
    return consistency_proof_from(first, second, fetch(consistency_nodes(first, second)))


def _node(nodes: Mapping[NodeKey, bytes], key: NodeKey) -> bytes:
    try:
        return nodes[key]
    except KeyError:
        raise LookupError(f"tree node (level {key[0]}, position {key[1]}) is missing") from None


# --- in-memory trees and appends ------------------------------------------------------------


def levels_of(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every perfect node of the tree over ``leaf_hashes``: ``levels[level][position]``."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def fetcher_of(levels: Sequence[Sequence[bytes]]) -> NodeFetcher:
    """A :data:`NodeFetcher` over :func:`levels_of`'s result."""

    def fetch(keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {(level, position): levels[level][position] for level, position in keys}

    return fetch


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a list of leaf hashes."""
    frontier, _ = append_leaves(0, [], leaf_hashes)
    return frontier_root(frontier)


def append_leaves(
    size: int, frontier: Frontier, leaf_hashes: Iterable[bytes]
) -> tuple[Frontier, list[NewNode]]:
    """Extend a tree of ``size`` leaves, given by its frontier, with ``leaf_hashes``.

    Returns the new frontier and every node of level ≥ 1 that the new leaves complete,
    in the order they complete.
    """
    stack = list(frontier)
    completed: list[NewNode] = []
    end = size
    for value in leaf_hashes:
        end += 1
        level = 0
        current = value
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
            completed.append((level, (end >> level) - 1, current))
        stack.append((level, current))
    return stack, completed


def frontier_root(frontier: Frontier) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    result = frontier[-1][1]
    for _, value in reversed(frontier[:-1]):
        result = node_hash(value, result)
    return result


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")
    _check_hashes([leaf, *proof])
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows ``leaf`` at ``index`` under ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"the inclusion proof of index {index} does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows tree ``first`` is a prefix of ``second``."""
    _check_hashes([first_root, second_root, *proof])
    if not 0 <= first <= second:
        raise ProofError(f"no consistency from size {first} to the smaller size {second}")
    if first == second or first == 0:
        if proof:
            raise ProofError("a consistency proof between these sizes is empty")
        if first == second and first_root != second_root:
            raise ProofError("two trees of the same size have different roots")
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is wrong")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        # The old tree is a perfect subtree of the new one: the proof leaves its root out.
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = path[0]
    for value in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            first_result = node_hash(value, first_result)
            second_result = node_hash(value, second_result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_result = node_hash(second_result, value)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if first_result != first_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {first}")
    if second_result != second_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {second}")


def _check_hashes(values: Iterable[bytes]) -> None:
    for value in values:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError("every hash of a proof has 32 bytes")
