"""The transparency log's storage: appends, roots and proofs, checkpoints, receipts, audit.

Appends are serialised by the database, not by process memory: every append locks the
single ``log_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the project's
engine opens every transaction with ``BEGIN IMMEDIATE``), so workers on several machines
never hand out one index twice or leave a gap. The caller's transaction commits the
logged object and its entry together; nothing here commits.

Besides each entry's leaf hash the log keeps every complete perfect subtree (see
:mod:`exchange.log.models`), so a root or a proof for any size costs one query for
O(log n) rows.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Final, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import insert_rows, insert_unless_present, utcnow
from exchange.errors import BadRequest, NotFound
from exchange.keyring import ExchangeKey
from exchange.log import merkle, note
from exchange.log.models import LogCheckpoint, LogEntry, LogHead, LogNode

MAX_PAGE: Final = 1000
AUDIT_CHUNK: Final = 5000
KIND_LENGTH: Final = 32
REF_LENGTH: Final = 300

# A node's key is level·2^56 + position; a leaf (level 0) is keyed by its log index.
_LEVEL_SHIFT: Final = 56
_POSITION_MASK: Final = (1 << _LEVEL_SHIFT) - 1
# Up to this many ids go into the one cached point query; beyond, runs become ranges.
_POINT_QUERY_LIMIT: Final = 512
_IN_LIST_CHUNK: Final = 5000
_MIN_RUN: Final = 4

# The tables themselves, for Core inserts that skip the ORM's per-row bookkeeping.
_ENTRIES: Final = cast(sa.Table, LogEntry.__table__)
_NODES: Final = cast(sa.Table, LogNode.__table__)
_HEAD: Final = cast(sa.Table, LogHead.__table__)
_CHECKPOINTS: Final = cast(sa.Table, LogCheckpoint.__table__)

Source = Callable[[Session, Sequence[str]], Mapping[str, bytes]]
"""Rebuilds the entry bytes of the logged objects of one kind from their tables, by ref."""

_POINT_QUERY: Final = sa.union_all(
    sa.select(LogEntry.log_index.label("node_id"), LogEntry.leaf_hash.label("hash")).where(
        LogEntry.log_index.in_(sa.bindparam("leaf_ids", expanding=True))
    ),
    sa.select(LogNode.node_id, LogNode.hash).where(
        LogNode.node_id.in_(sa.bindparam("node_ids", expanding=True))
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]
    root_hash: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    proof: list[bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class EntrySummary:
    """What the public may see of an entry: never the logged object itself."""

    index: int
    kind: str
    leaf_hash: bytes
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AuditReport:
    tree_size: int
    entries_checked: int
    checkpoints_checked: int
    root_hash: bytes | None
    first_bad_index: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


# --- appends ------------------------------------------------------------------------------


def tree_size(session: Session) -> int:
    size = session.execute(sa.select(LogHead.tree_size).where(LogHead.id == 1)).scalar()
    return size or 0


def append_entries(session: Session, entries: Sequence[tuple[str, str, bytes]]) -> list[int]:
    """Append ``(kind, ref, entry bytes)`` entries; their indexes, contiguous and in order.

    Holds the log head's lock until the caller's transaction ends; under it, one statement
    locks the head and grows it, one inserts the entries, one the tree nodes they complete
    (if any), and the frontier is read again only if another writer appended meanwhile.
    """
    if not entries:
        return []
    for kind, ref, data in entries:
        if not kind or len(kind) > KIND_LENGTH or not ref or len(ref) > REF_LENGTH:
            raise BadRequest(f"a log entry needs a kind and a ref (got {kind!r}, {ref!r})")
        if not isinstance(data, bytes):
            raise BadRequest("a log entry's content is bytes")
    # What needs no lock is done before it, so that every other writer waits less: the
    # leaf hashes, and the frontier (the tree's root nodes) of the size the head has now.
    # Nodes never change once written, so that frontier is right if no other writer
    # appends before the lock is granted; otherwise it is read again under the lock.
    leaves = [merkle.leaf_hash(data) for _, _, data in entries]
    guessed = tree_size(session)
    stored = fetch_nodes(session, merkle.root_nodes(guessed))
    size = _lock_head(session, len(entries))
    if size != guessed:
        stored = fetch_nodes(session, merkle.root_nodes(size))
    frontier = [(key[0], _stored(stored, key)) for key in merkle.root_nodes(size)]
    _, completed = merkle.append_leaves(size, frontier, leaves)

    now = utcnow()
    insert_rows(
        session,
        _ENTRIES,
        [
            {
                "log_index": size + offset,
                "kind": kind,
                "ref": ref,
                "leaf_hash": leaf,
                "created_at": now,
            }
            for offset, ((kind, ref, _), leaf) in enumerate(zip(entries, leaves, strict=True))
        ],
    )
    if completed:
        insert_rows(
            session,
            _NODES,
            [
                {"node_id": node_id(level, position), "hash": value}
                for level, position, value in completed
            ],
        )
    return list(range(size, size + len(entries)))


def lock_head(session: Session) -> None:
    """Take the log head's lock now, for the rest of the transaction, as an append would.

    For a writer that is about to take row locks which another transaction takes after
    appending (a revocation marks results stale once logged): taking the head first keeps
    one order of locks everywhere, so the two never wait for each other in a cycle.
    """
    _lock_head(session, 0)


def _lock_head(session: Session, count: int) -> int:
    """Lock the head row for the rest of the transaction and grow the tree by ``count``
    entries, in one statement; the size it had (where the new entries begin)."""
    grow = (
        sa.update(_HEAD)
        .where(_HEAD.c.id == 1)
        .values(tree_size=_HEAD.c.tree_size + count)
        .returning(_HEAD.c.tree_size)
    )
    size = session.execute(grow).scalar_one_or_none()
    if size is None:
        # A fresh (or emptied) database: create the row; a concurrent creator wins quietly.
        insert_unless_present(session, _HEAD, {"id": 1, "tree_size": 0})
        size = session.execute(grow).scalar_one()
    return int(size) - count


# --- tree nodes ---------------------------------------------------------------------------


def node_id(level: int, position: int) -> int:
    """The storage key of a node; a leaf's is its log index."""
    if not 0 <= level < 64 or not 0 <= position <= _POSITION_MASK:
        raise ValueError(f"no tree node at level {level}, position {position}")
    return (level << _LEVEL_SHIFT) | position


def fetch_nodes(session: Session, keys: Collection[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    """The stored hashes of the nodes ``keys`` (leaves at level 0), in one query when few.

    Many keys (a batch of receipts, an audit chunk) lie in runs of consecutive positions
    per level; those are fetched as ranges rather than as one huge IN list.
    """
    leaf_ids = sorted({position for level, position in keys if level == 0})
    inner_ids = sorted({node_id(level, position) for level, position in keys if level > 0})
    rows: list[tuple[int, bytes]] = []
    if len(leaf_ids) + len(inner_ids) <= _POINT_QUERY_LIMIT:
        parameters = {"leaf_ids": leaf_ids, "node_ids": inner_ids}
        rows.extend(session.execute(_POINT_QUERY, parameters))
    else:
        for statement in _span_queries(LogEntry.log_index, LogEntry.leaf_hash, leaf_ids):
            rows.extend(session.execute(statement))
        for statement in _span_queries(LogNode.node_id, LogNode.hash, inner_ids):
            rows.extend(session.execute(statement))
    return {(key >> _LEVEL_SHIFT, key & _POSITION_MASK): value for key, value in rows}


def _span_queries(
    key: sa.orm.InstrumentedAttribute[int],
    value: sa.orm.InstrumentedAttribute[bytes],
    ids: Sequence[int],
) -> Iterator[sa.Select[int, bytes]]:
    ranges: list[tuple[int, int]] = []
    points: list[int] = []
    start = 0
    while start < len(ids):
        end = start
        while end + 1 < len(ids) and ids[end + 1] == ids[end] + 1:
            end += 1
        if end - start + 1 >= _MIN_RUN:
            ranges.append((ids[start], ids[end]))
        else:
            points.extend(ids[start : end + 1])
        start = end + 1
    columns = (key.label("node_id"), value.label("hash"))
    for offset in range(0, len(ranges), _IN_LIST_CHUNK // 2):
        chunk = ranges[offset : offset + _IN_LIST_CHUNK // 2]
        yield sa.select(*columns).where(sa.or_(*(key.between(low, high) for low, high in chunk)))
    for offset in range(0, len(points), _IN_LIST_CHUNK):
        yield sa.select(*columns).where(key.in_(points[offset : offset + _IN_LIST_CHUNK]))


def _stored(nodes: Mapping[merkle.NodeKey, bytes], key: merkle.NodeKey) -> bytes:
    try:
        return nodes[key]
    except KeyError:
        raise LookupError(f"the log is missing tree node {key}: run `exchange audit`") from None


def _fetcher(session: Session) -> merkle.NodeFetcher:
    return lambda keys: fetch_nodes(session, keys)


# --- roots and proofs ---------------------------------------------------------------------


def root_hash(session: Session, size: int) -> bytes:
    return merkle.root_hash(size, _fetcher(session))


def inclusion_proof(session: Session, index: int, size: int | None = None) -> InclusionProof:
    """The proof that entry ``index`` is in the tree of ``size`` (default: the current one)."""
    current = tree_size(session)
    size = current if size is None else size
    if not 0 < size <= current:
        raise BadRequest(f"size must be from 1 to the log's size {current}")
    if not 0 <= index < size:
        raise BadRequest(f"index must be from 0 to {size - 1}")
    keys = merkle.inclusion_nodes(index, size) | set(merkle.root_nodes(size)) | {(0, index)}
    nodes = fetch_nodes(session, keys)
    return InclusionProof(
        index=index,
        size=size,
        leaf_hash=_stored(nodes, (0, index)),
        proof=merkle.inclusion_proof_from(index, size, nodes),
        root_hash=merkle.range_hash(0, size, nodes),
    )


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """The proof that the tree of ``first`` entries is a prefix of the tree of ``second``."""
    current = tree_size(session)
    second = current if second is None else second
    if not 0 < second <= current:
        raise BadRequest(f"second must be from 1 to the log's size {current}")
    if not 0 < first <= second:
        raise BadRequest(f"first must be from 1 to second ({second})")
    keys = (
        merkle.consistency_nodes(first, second)
        | set(merkle.root_nodes(first))
        | set(merkle.root_nodes(second))
    )
    nodes = fetch_nodes(session, keys)
    return ConsistencyProof(
        first=first,
        second=second,
        first_root=merkle.range_hash(0, first, nodes),
        second_root=merkle.range_hash(0, second, nodes),
        proof=merkle.consistency_proof_from(first, second, nodes),
    )


def list_entries(session: Session, start: int, end: int | None = None) -> list[EntrySummary]:
    """Entries ``[start, end)``, at most :data:`MAX_PAGE` of them, stopping at the log's end."""
    size = tree_size(session)
    if not 0 <= start <= size:
        raise BadRequest(f"start must be from 0 to the log's size {size}")
    end = size if end is None else end
    if end < start:
        raise BadRequest("end must not be before start")
    end = min(end, start + MAX_PAGE, size)
    rows = session.execute(
        sa.select(LogEntry.log_index, LogEntry.kind, LogEntry.leaf_hash, LogEntry.created_at)
        .where(LogEntry.log_index >= start, LogEntry.log_index < end)
        .order_by(LogEntry.log_index)
    )
    return [EntrySummary(*row) for row in rows]


# --- checkpoints and receipts -------------------------------------------------------------


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    return session.scalars(
        sa.select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc()).limit(1)
    ).first()


def checkpoint_at(session: Session, size: int) -> LogCheckpoint:
    found = session.get(LogCheckpoint, size)
    if found is None:
        raise NotFound(f"the exchange signed no checkpoint at size {size}")
    return found


def ensure_checkpoint(session: Session, key: ExchangeKey, origin: str) -> LogCheckpoint:
    """The signed checkpoint at the log's current size, signing and storing it if new."""
    size = tree_size(session)
    existing = session.get(LogCheckpoint, size)
    if existing is not None:
        return existing
    _store_checkpoint(session, key, origin, size, root_hash(session, size))
    stored = session.get(LogCheckpoint, size, populate_existing=True)
    assert stored is not None
    return stored


def _store_checkpoint(
    session: Session, key: ExchangeKey, origin: str, size: int, root: bytes
) -> str:
    """Sign the checkpoint of ``size`` and store it unless one is stored already; the
    stored note's text (another worker may sign the same size at the same moment: either
    note will do)."""
    text = note.sign_checkpoint(
        note.Checkpoint(origin, size, root), name=origin, private_key=key.private_key
    )
    row = {"tree_size": size, "root_hash": root, "note": text, "created_at": utcnow()}
    if insert_unless_present(session, _CHECKPOINTS, row):
        return text
    return session.execute(
        sa.select(LogCheckpoint.note).where(LogCheckpoint.tree_size == size)
    ).scalar_one()


def issue_receipts(
    session: Session,
    key: ExchangeKey,
    origin: str,
    indexes: Sequence[int],
    *,
    size: int | None = None,
) -> list[dict[str, object]]:
    """A signed receipt per log index, all against one checkpoint.

    ``size``: a tree size known to hold every index, such as the size a push's own append
    reached (its entries were the last ones when it committed); then the nodes of the
    proofs and of the checkpoint's root are read in one query and the checkpoint is signed
    and stored at once (that size is new but for a race): a push's receipts cost two
    statements. By default, the checkpoint of the log's current size (usually stored).
    """
    stored: LogCheckpoint | None = None
    if size is None:
        stored = ensure_checkpoint(session, key, origin)
        size, checkpoint = stored.tree_size, stored.note
    for index in indexes:
        if not 0 <= index < size:
            raise BadRequest(f"log index {index} is not in the log of size {size}")
    if not indexes:
        return []
    keys: set[merkle.NodeKey] = {(0, index) for index in indexes}
    for index in indexes:
        keys |= merkle.inclusion_nodes(index, size)
    if stored is None:
        keys |= set(merkle.root_nodes(size))
    nodes = fetch_nodes(session, keys)
    if stored is None:
        root = merkle.range_hash(0, size, nodes)
        checkpoint = _store_checkpoint(session, key, origin, size, root)
    proofs = merkle.inclusion_proofs_from(indexes, size, nodes)
    issued_at = utcnow().isoformat()
    signed = _ReceiptText(checkpoint, issued_at, size)
    receipts: list[dict[str, object]] = []
    for index, proof in zip(indexes, proofs, strict=True):
        leaf_hash = _b64(_stored(nodes, (0, index)))
        inclusion = [_b64(value) for value in proof]
        body: dict[str, object] = {
            "logIndex": index,
            "leafHash": leaf_hash,
            "treeSize": size,
            "checkpoint": checkpoint,
            "inclusionProof": inclusion,
            "issuedAt": issued_at,
        }
        message = signed.message(index, leaf_hash, inclusion)
        receipts.append(
            {
                "receipt": body,
                "signature": {
                    "alg": signing.ALGORITHM,
                    "kid": key.kid,
                    "value": signing.sign_bytes(message=message, private_key=key.private_key),
                },
            }
        )
    return receipts


class _ReceiptText:
    """The signed bytes of the receipts of one batch: ``RECEIPT_CONTEXT``, a newline and
    the RFC 8785 form of the body, put together from the parts canonicalised once per batch
    (the checkpoint note, the time) and the per-receipt parts, which are ASCII that needs no
    escaping (base64, integers): canonicalising every body again cost as much as its
    signature. The members are in RFC 8785 order; a test holds the bytes equal to
    :func:`exchange.signing.signed_message` of the body."""

    def __init__(self, note_text: str, issued_at: str, size: int) -> None:
        self.head = (
            signing.RECEIPT_CONTEXT.encode("ascii")
            + b'\n{"checkpoint":'
            + signing.canonical_json(note_text)
            + b',"inclusionProof":['
        )
        self.issued = b'],"issuedAt":' + signing.canonical_json(issued_at) + b',"leafHash":"'
        self.tail = f',"treeSize":{size}}}'.encode("ascii")

    def message(self, index: int, leaf_hash: str, inclusion: Sequence[str]) -> bytes:
        proof = ",".join(f'"{value}"' for value in inclusion).encode("ascii")
        return b"".join(
            (
                self.head,
                proof,
                self.issued,
                leaf_hash.encode("ascii"),
                f'","logIndex":{index}'.encode("ascii"),
                self.tail,
            )
        )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# --- audit --------------------------------------------------------------------------------


def audit(
    session: Session,
    public_key: signing.PublicKeys,
    origin: str,
    sources: Mapping[str, Source],
    *,
    chunk_size: int = AUDIT_CHUNK,
    release_between_chunks: bool = False,
) -> AuditReport:
    """Hold the stored log to the objects it logged and to the checkpoints it signed.

    Every leaf is recomputed from its object (through ``sources``), the tree is rebuilt
    from those leaves and compared with every stored node, and every stored checkpoint
    must carry a valid signature and the rebuilt root at its size. Since one rebuilt tree
    answers all checkpoints, checkpoints that pass are consistent with one another.

    The audit covers the log as it stood when it began; appends may go on meanwhile.
    Chunks of ``chunk_size`` entries keep memory flat for millions of entries; with
    ``release_between_chunks`` the session's (read-only) transaction is rolled back after
    each, so that a long audit does not hold SQLite's write lock against submissions.
    """
    size = tree_size(session)
    auditor = _Auditor(session, public_key, origin, sources)
    for start in range(0, size, chunk_size):
        problem = auditor.check_chunk(start, min(start + chunk_size, size))
        if problem is not None:
            return auditor.report(size, *problem)
        if release_between_chunks:
            session.rollback()
    problem = auditor.check_tail(size)
    if problem is not None:
        return auditor.report(size, *problem)
    return auditor.report(size, None, None)


class _CheckpointRow(NamedTuple):
    tree_size: int
    root_hash: bytes
    note: str


class _Auditor:
    """The state of one audit pass: the rebuilt tree's frontier and counts so far."""

    def __init__(
        self,
        session: Session,
        public_key: signing.PublicKeys,
        origin: str,
        sources: Mapping[str, Source],
    ) -> None:
        self.session = session
        self.public_key = public_key
        self.origin = origin
        self.sources = sources
        self.frontier: merkle.Frontier = []
        self.checked = 0
        self.checkpoints = 0
        # Entries below the last checkpoint that matched are vouched for by its signature.
        self.vouched = 0

    def report(self, size: int, index: int | None, problem: str | None) -> AuditReport:
        return AuditReport(
            tree_size=size,
            entries_checked=self.checked,
            checkpoints_checked=self.checkpoints,
            root_hash=merkle.frontier_root(self.frontier) if problem is None else None,
            first_bad_index=index,
            problem=problem,
        )

    def check_chunk(self, start: int, end: int) -> tuple[int | None, str] | None:
        rows = self.session.execute(
            sa.select(LogEntry.log_index, LogEntry.kind, LogEntry.ref, LogEntry.leaf_hash)
            .where(LogEntry.log_index >= start, LogEntry.log_index < end)
            .order_by(LogEntry.log_index)
        ).all()
        by_kind: dict[str, list[str]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row.ref)
        rebuilt: dict[str, Mapping[str, bytes]] = {}
        for kind, refs in by_kind.items():
            source = self.sources.get(kind)
            if source is not None:
                rebuilt[kind] = source(self.session, refs)

        leaves: list[bytes] = []
        for expected, row in enumerate(rows, start):
            self.checked = expected
            if row.log_index != expected:
                return expected, f"entry {expected} is missing from the log"
            if row.kind not in rebuilt:
                return expected, f"no source can rebuild entries of kind {row.kind!r}"
            data = rebuilt[row.kind].get(row.ref)
            if data is None:
                return expected, f"the {row.kind} {row.ref} logged at index {expected} is gone"
            leaf = merkle.leaf_hash(data)
            if leaf != row.leaf_hash:
                return expected, (
                    f"the {row.kind} {row.ref} logged at index {expected} was altered: "
                    "it no longer hashes to its logged leaf"
                )
            leaves.append(leaf)
        self.checked = start + len(rows)
        if len(rows) != end - start:
            return start + len(rows), f"entry {start + len(rows)} is missing from the log"

        # A checkpoint of the empty tree comes before any entry.
        low = LogCheckpoint.tree_size >= 0 if start == 0 else LogCheckpoint.tree_size > start
        checkpoints = self._checkpoints(low, LogCheckpoint.tree_size <= end)
        completed: list[merkle.NewNode] = []
        position = start
        for checkpoint in checkpoints:
            self.frontier, nodes = merkle.append_leaves(
                position, self.frontier, leaves[position - start : checkpoint.tree_size - start]
            )
            completed.extend(nodes)
            position = checkpoint.tree_size
            problem = self._check_checkpoint(checkpoint)
            if problem is not None:
                return problem
        self.frontier, nodes = merkle.append_leaves(
            position, self.frontier, leaves[position - start :]
        )
        completed.extend(nodes)

        stored = fetch_nodes(self.session, [(level, pos) for level, pos, _ in completed])
        for level, pos, value in completed:
            if stored.get((level, pos)) != value:
                first, last = pos << level, ((pos + 1) << level) - 1
                return first, (
                    f"the stored tree node over entries {first}..{last} does not match them"
                )
        return None

    def check_tail(self, size: int) -> tuple[int | None, str] | None:
        if size == 0:
            for checkpoint in self._checkpoints(LogCheckpoint.tree_size == 0):
                problem = self._check_checkpoint(checkpoint)
                if problem is not None:
                    return problem
        # Entries and checkpoints read before the head, so that an append committing in
        # between (PostgreSQL reads each statement afresh) only raises the head.
        last_entry = self.session.execute(sa.select(sa.func.max(LogEntry.log_index))).scalar()
        last_checkpoint = self.session.execute(
            sa.select(sa.func.max(LogCheckpoint.tree_size))
        ).scalar()
        head = tree_size(self.session)
        if last_entry is not None and last_entry >= head:
            return head, f"entries up to {last_entry} lie beyond the log head's size {head}"
        if last_checkpoint is not None and last_checkpoint > head:
            return size, (
                f"a checkpoint of size {last_checkpoint} lies beyond the log's size {head}"
            )
        return None

    def _checkpoints(self, *conditions: sa.ColumnElement[bool]) -> list[_CheckpointRow]:
        rows = self.session.execute(
            sa.select(LogCheckpoint.tree_size, LogCheckpoint.root_hash, LogCheckpoint.note)
            .where(*conditions)
            .order_by(LogCheckpoint.tree_size)
        )
        return [_CheckpointRow(*row) for row in rows]

    def _check_checkpoint(self, row: _CheckpointRow) -> tuple[int | None, str] | None:
        size, stored_root, text = row
        self.checkpoints += 1
        try:
            signed = note.verify_checkpoint(text, origin=self.origin, public_key=self.public_key)
        except signing.SigningError as exc:
            return None, f"the checkpoint at size {size} is not validly signed: {exc}"
        rebuilt = merkle.frontier_root(self.frontier)
        if signed.size != size or signed.root_hash != stored_root:
            return None, f"the stored checkpoint at size {size} differs from its signed note"
        if signed.root_hash != rebuilt:
            suspects = (
                f"entry {self.vouched}"
                if self.vouched == size - 1
                else f"an entry from index {self.vouched} to {size - 1}"
            )
            return self.vouched, (
                f"the signed checkpoint at size {size} does not match the log's entries: "
                f"{suspects} was rewritten"
            )
        self.vouched = size
        return None
