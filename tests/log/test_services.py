"""The log's storage: appends, proofs from few queries, checkpoints, receipts, audit, and
concurrent appenders in separate processes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from exchange import signing
from exchange.errors import BadRequest
from exchange.keyring import ExchangeKey
from exchange.log import merkle, note, services, verify
from exchange.log.models import LogCheckpoint, LogEntry, LogNode

ORIGIN = "log.test.example"
KEY = ExchangeKey.from_private_key(bytes(range(32)))


def content(ref: str) -> bytes:
    return f"object {ref}".encode()


def entries_for(refs: Sequence[str], kind: str = "thing") -> list[tuple[str, str, bytes]]:
    return [(kind, ref, content(ref)) for ref in refs]


class Objects:
    """A stand-in for a table of logged objects, and the audit source that rebuilds them."""

    def __init__(self) -> None:
        self.by_ref: dict[str, bytes] = {}

    def add(self, session: Session, refs: Sequence[str], kind: str = "thing") -> list[int]:
        for ref in refs:
            self.by_ref[ref] = content(ref)
        return services.append_entries(session, entries_for(refs, kind))

    def source(self, _session: Session, refs: Sequence[str]) -> Mapping[str, bytes]:
        return {ref: self.by_ref[ref] for ref in refs if ref in self.by_ref}

    def audit(self, session: Session, chunk_size: int = 64) -> services.AuditReport:
        return services.audit(
            session, KEY.public_key, ORIGIN, {"thing": self.source}, chunk_size=chunk_size
        )


@contextmanager
def selects(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements sent to the database inside the block."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def leaves_of(count: int) -> list[bytes]:
    return [merkle.leaf_hash(content(str(i))) for i in range(count)]


def test_appends_get_contiguous_indexes_and_build_the_rfc_tree(db_session: Session) -> None:
    objects = Objects()
    size = 0
    for batch in (1, 1, 2, 5, 8, 16, 50, 3, 100, 1):
        indexes = objects.add(db_session, [str(i) for i in range(size, size + batch)])
        assert indexes == list(range(size, size + batch))
        size += batch
        assert services.tree_size(db_session) == size
        db_session.commit()
    leaves = leaves_of(size)
    for n in range(1, size + 1):
        assert services.root_hash(db_session, n) == merkle.root_of(leaves[:n])
    fetch = merkle.fetcher_of(merkle.levels_of(leaves))
    for index, n in [(0, 1), (0, size), (size - 1, size), (100, 129), (64, 65)]:
        proof = services.inclusion_proof(db_session, index, n)
        assert proof.leaf_hash == leaves[index]
        assert proof.proof == merkle.inclusion_proof(index, n, fetch)
        assert proof.root_hash == merkle.root_of(leaves[:n])
    for first, second in [(1, size), (7, 8), (100, 129), (size, size), (64, 65)]:
        consistency = services.consistency_proof(db_session, first, second)
        assert consistency.proof == merkle.consistency_proof(first, second, fetch)
        merkle.verify_consistency(
            first, second, consistency.first_root, consistency.second_root, consistency.proof
        )
    stored_nodes = db_session.scalar(sa.select(sa.func.count()).select_from(LogNode))
    assert stored_nodes == size - size.bit_count()  # one per completed inner node


def test_a_proof_is_one_query_for_logarithmically_many_nodes(
    db_session: Session, engine: Engine
) -> None:
    objects = Objects()
    objects.add(db_session, [str(i) for i in range(3000)])
    db_session.commit()
    with selects(engine) as seen:
        services.inclusion_proof(db_session, 1234, 2999)
    node_queries = [s for s in seen if "log_nodes" in s]
    assert len(node_queries) == 1 and len(seen) <= 2  # the log's size, then the nodes
    with selects(engine) as seen:
        services.consistency_proof(db_session, 1000, 2999)
    assert len([s for s in seen if "log_nodes" in s]) == 1 and len(seen) <= 2
    # The IN list names O(log n) nodes, never a walk over the leaves.
    assert seen[-1].count("?") + seen[-1].count("%(") <= 4 * (3000).bit_length()


def test_receipts_for_ten_thousand_entries_take_a_few_queries(
    db_session: Session, engine: Engine
) -> None:
    objects = Objects()
    objects.add(db_session, [str(i) for i in range(37)])
    db_session.commit()
    indexes = objects.add(db_session, [str(i) for i in range(37, 10_037)])
    with selects(engine) as seen:
        receipts = services.issue_receipts(db_session, KEY, ORIGIN, indexes)
    db_session.commit()
    assert len(seen) <= 8, seen
    assert len(receipts) == 10_000
    assert db_session.scalar(sa.select(sa.func.count()).select_from(LogCheckpoint)) == 1
    leaves = leaves_of(10_037)
    for receipt, index in list(zip(receipts, indexes, strict=True))[::997]:
        verified = verify.verify_receipt(
            receipt, public_key=KEY.public_key, origin=ORIGIN, entry=content(str(index))
        )
        assert verified.log_index == index
        assert verified.checkpoint.size == 10_037
        assert verified.checkpoint.root_hash == merkle.root_of(leaves)
    body = receipts[0]["receipt"]
    assert isinstance(body, dict)
    assert set(body) == {
        "logIndex",
        "leafHash",
        "treeSize",
        "checkpoint",
        "inclusionProof",
        "issuedAt",
    }


def test_each_receipt_signs_exactly_the_canonical_form_of_its_body(db_session: Session) -> None:
    """The signed bytes are put together from parts (services._ReceiptText): they must be
    the RFC 8785 form of the body served, for every proof length, an origin needing
    escapes in the note, and the first and last entries."""
    origin = 'log.test.example/"ünïcode"\\path'
    objects = Objects()
    indexes = objects.add(db_session, [str(i) for i in range(21)])
    receipts = services.issue_receipts(db_session, KEY, origin, indexes)
    for receipt in receipts:
        body, signature = receipt["receipt"], receipt["signature"]
        assert isinstance(body, dict) and isinstance(signature, dict)
        signing.verify(
            context=signing.RECEIPT_CONTEXT,
            payload=body,
            signature=signature["value"],
            public_key=KEY.public_key,
        )
    lengths = {len(receipt["receipt"]["inclusionProof"]) for receipt in receipts}  # type: ignore[index]
    assert len(lengths) > 1


def test_receipts_at_a_known_size_prove_against_that_tree(
    db_session: Session, engine: Engine
) -> None:
    """A push's receipts are issued at the size its own append reached: other writers may
    have appended since, a concurrent writer may have signed that size already (its note
    is used), and a size that does not hold an index is refused."""
    objects = Objects()
    indexes = objects.add(db_session, [str(i) for i in range(13)])
    db_session.commit()
    objects.add(db_session, ["later", "still later"])  # appended after "our" commit
    db_session.commit()
    with selects(engine) as seen:
        receipts = services.issue_receipts(db_session, KEY, ORIGIN, indexes[-3:], size=13)
    db_session.commit()
    assert len(seen) == 1, seen  # the nodes of the proofs and of the root, at once
    for receipt, index in zip(receipts, indexes[-3:], strict=True):
        verified = verify.verify_receipt(
            receipt, public_key=KEY.public_key, origin=ORIGIN, entry=content(str(index))
        )
        assert verified.checkpoint.size == 13
        assert verified.checkpoint.root_hash == merkle.root_of(leaves_of(13))
    stored = services.checkpoint_at(db_session, 13).note
    assert receipts[0]["receipt"]["checkpoint"] == stored  # type: ignore[index]
    # Signed again at that size (under another origin, so that the two notes differ), as a
    # concurrent writer would: the note stored first stays, and the receipts carry it.
    again = services.issue_receipts(db_session, KEY, "elsewhere.example", [0], size=13)
    assert again[0]["receipt"]["checkpoint"] == stored  # type: ignore[index]
    with pytest.raises(BadRequest):
        services.issue_receipts(db_session, KEY, ORIGIN, [13], size=13)


def test_one_checkpoint_per_size(db_session: Session) -> None:
    objects = Objects()
    empty = services.ensure_checkpoint(db_session, KEY, ORIGIN)
    assert empty.tree_size == 0 and empty.root_hash == merkle.EMPTY_ROOT
    objects.add(db_session, ["a", "b"])
    first = services.issue_receipts(db_session, KEY, ORIGIN, [0])
    again = services.issue_receipts(db_session, KEY, ORIGIN, [1])
    db_session.commit()
    assert first[0]["receipt"]["checkpoint"] == again[0]["receipt"]["checkpoint"]  # type: ignore[index]
    sizes = db_session.scalars(sa.select(LogCheckpoint.tree_size)).all()
    assert sorted(sizes) == [0, 2]
    assert services.latest_checkpoint(db_session).tree_size == 2  # type: ignore[union-attr]
    signed = note.verify_checkpoint(
        services.checkpoint_at(db_session, 2).note, origin=ORIGIN, public_key=KEY.public_key
    )
    assert signed.size == 2
    assert services.issue_receipts(db_session, KEY, ORIGIN, []) == []
    with pytest.raises(BadRequest):
        services.issue_receipts(db_session, KEY, ORIGIN, [2])


def test_bad_entries_and_ranges_are_refused(db_session: Session) -> None:
    assert services.append_entries(db_session, []) == []
    for bad in [("", "r", b"x"), ("k", "", b"x"), ("k" * 33, "r", b"x"), ("k", "r", "text")]:
        with pytest.raises(BadRequest):
            services.append_entries(db_session, [bad])  # type: ignore[list-item]
    Objects().add(db_session, ["a", "b", "c"])
    for index, size in [(3, 3), (0, 4), (0, 0), (-1, 2)]:
        with pytest.raises(BadRequest):
            services.inclusion_proof(db_session, index, size)
    for first, second in [(0, 3), (3, 2), (1, 4)]:
        with pytest.raises(BadRequest):
            services.consistency_proof(db_session, first, second)
    with pytest.raises(BadRequest):
        services.list_entries(db_session, 4)
    with pytest.raises(BadRequest):
        services.list_entries(db_session, 2, 1)


def test_entry_pages_are_bounded(db_session: Session) -> None:
    Objects().add(db_session, [str(i) for i in range(1200)])
    page = services.list_entries(db_session, 100, 5000)
    assert [entry.index for entry in page] == list(range(100, 1100))
    assert page[0].kind == "thing" and page[0].created_at.tzinfo is not None
    assert [entry.index for entry in services.list_entries(db_session, 1190)] == list(
        range(1190, 1200)
    )
    assert services.list_entries(db_session, 1200) == []


# --- audit -------------------------------------------------------------------------------------


@pytest.fixture
def logged(db_session: Session) -> Objects:
    """300 entries in three submissions, each with its receipts (and so its checkpoint)."""
    objects = Objects()
    for start, end in [(0, 100), (100, 229), (229, 300)]:
        indexes = objects.add(db_session, [str(i) for i in range(start, end)])
        services.issue_receipts(db_session, KEY, ORIGIN, indexes)
        db_session.commit()
    return objects


def test_audit_of_an_intact_log(db_session: Session, logged: Objects) -> None:
    report = logged.audit(db_session)
    assert report.ok, report.problem
    assert (report.tree_size, report.entries_checked, report.checkpoints_checked) == (300, 300, 3)
    assert report.root_hash == merkle.root_of(leaves_of(300))


def test_audit_names_an_altered_object(db_session: Session, logged: Objects) -> None:
    logged.by_ref["137"] = b"object 137, quietly changed"
    report = logged.audit(db_session)
    assert not report.ok
    assert report.first_bad_index == 137
    assert "altered" in (report.problem or "")


def test_audit_names_a_vanished_object_and_an_unknown_kind(
    db_session: Session, logged: Objects
) -> None:
    del logged.by_ref["42"]
    report = logged.audit(db_session)
    assert (report.first_bad_index, report.ok) == (42, False)
    logged.by_ref["42"] = content("42")
    logged.add(db_session, ["x"], kind="mystery")
    db_session.commit()
    report = logged.audit(db_session)
    assert report.first_bad_index == 300 and "mystery" in (report.problem or "")


def test_audit_names_an_altered_leaf_or_node(db_session: Session, logged: Objects) -> None:
    db_session.execute(
        sa.update(LogEntry).where(LogEntry.log_index == 250).values(leaf_hash=bytes(32))
    )
    db_session.commit()
    assert logged.audit(db_session).first_bad_index == 250
    db_session.execute(
        sa.update(LogEntry)
        .where(LogEntry.log_index == 250)
        .values(leaf_hash=merkle.leaf_hash(content("250")))
    )
    node = services.node_id(2, 30)  # entries 120..123
    db_session.execute(sa.update(LogNode).where(LogNode.node_id == node).values(hash=bytes(32)))
    db_session.commit()
    report = logged.audit(db_session)
    assert report.first_bad_index == 120 and "node" in (report.problem or "")


def test_audit_names_a_missing_entry(db_session: Session, logged: Objects) -> None:
    db_session.execute(sa.delete(LogEntry).where(LogEntry.log_index == 77))
    db_session.commit()
    report = logged.audit(db_session)
    assert report.first_bad_index == 77 and "missing" in (report.problem or "")


def test_audit_catches_a_forged_checkpoint(db_session: Session, logged: Objects) -> None:
    stored = services.checkpoint_at(db_session, 229)
    forged_text = stored.note.replace("\n229\n", "\n228\n")
    db_session.execute(
        sa.update(LogCheckpoint).where(LogCheckpoint.tree_size == 229).values(note=forged_text)
    )
    db_session.commit()
    report = logged.audit(db_session)
    assert not report.ok and "229" in (report.problem or "")


def test_audit_catches_history_rewritten_behind_consistent_storage(
    db_session: Session, logged: Objects
) -> None:
    """Someone changes an object and recomputes its leaf and every tree node to match: only
    the signed checkpoints still remember the old tree."""
    logged.by_ref["150"] = b"rewritten"
    leaves = leaves_of(300)
    leaves[150] = merkle.leaf_hash(b"rewritten")
    db_session.execute(
        sa.update(LogEntry).where(LogEntry.log_index == 150).values(leaf_hash=leaves[150])
    )
    for level, row in enumerate(merkle.levels_of(leaves)[1:], 1):
        for position, value in enumerate(row):
            db_session.execute(
                sa.update(LogNode)
                .where(LogNode.node_id == services.node_id(level, position))
                .values(hash=value)
            )
    db_session.commit()
    assert services.root_hash(db_session, 300) == merkle.root_of(leaves)
    report = logged.audit(db_session)
    assert not report.ok
    assert report.first_bad_index == 100  # vouched for up to the checkpoint at 100
    assert "229" in (report.problem or "")


def test_audit_catches_entries_and_checkpoints_beyond_the_head(
    db_session: Session, logged: Objects
) -> None:
    assert services.audit(
        db_session,
        KEY.public_key,
        ORIGIN,
        {"thing": logged.source},
        chunk_size=7,
        release_between_chunks=True,
    ).ok
    db_session.add(LogEntry(log_index=305, kind="thing", ref="x", leaf_hash=bytes(32)))
    db_session.commit()
    report = logged.audit(db_session)
    assert report.first_bad_index == 300 and "beyond" in (report.problem or "")
    db_session.execute(sa.delete(LogEntry).where(LogEntry.log_index == 305))
    db_session.add(LogCheckpoint(tree_size=400, root_hash=bytes(32), note="forged"))
    db_session.commit()
    report = logged.audit(db_session)
    assert not report.ok and "400" in (report.problem or "")


def test_audit_of_an_empty_log(db_session: Session) -> None:
    services.ensure_checkpoint(db_session, KEY, ORIGIN)
    db_session.commit()
    report = Objects().audit(db_session)
    assert report.ok and report.checkpoints_checked == 1
    assert report.root_hash == merkle.EMPTY_ROOT


def test_audit_refuses_a_checkpoint_signed_by_another_key(
    db_session: Session, logged: Objects
) -> None:
    other = ExchangeKey.from_private_key(bytes(32))
    report = services.audit(
        db_session, other.public_key, ORIGIN, {"thing": logged.source}, chunk_size=1000
    )
    assert not report.ok and "not validly signed" in (report.problem or "")


# --- concurrency -------------------------------------------------------------------------------

WORKER = """
import json, sys, time
from exchange.db import make_engine, make_session_factory, transaction
from exchange.keyring import ExchangeKey
from exchange.log.services import append_entries, issue_receipts

url, worker, rounds, batch = sys.argv[1:5]
engine = make_engine(url)
factory = make_session_factory(engine)
key = ExchangeKey.from_private_key(bytes(range(32)))
# A start barrier: all the workers are ready before any of them appends.
print("ready", flush=True)
sys.stdin.readline()
out = []
for r in range(int(rounds)):
    refs = [f"{worker}-{r}-{i}" for i in range(int(batch))]
    entries = [("thing", ref, f"object {ref}".encode()) for ref in refs]
    began = time.time()
    with transaction(factory) as session:
        indexes = append_entries(session, entries)
        receipts = issue_receipts(session, key, "log.test.example", indexes)
    out.append(
        {"refs": refs, "indexes": indexes, "receipt": receipts[-1], "began": began,
         "ended": time.time()}
    )
engine.dispose()
print(json.dumps(out))
"""


def test_processes_appending_at_once_get_contiguous_indexes_and_one_tree(
    db_session: Session, database_url: str
) -> None:
    workers, rounds, batch = 6, 15, 4
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                database_url,
                str(n),
                str(rounds),
                str(batch),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    for process in processes:  # each worker is ready (or ended: then communicate says why)
        assert process.stdout is not None
        process.stdout.readline()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    windows = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        rounds_done = json.loads(stdout)
        windows.append((rounds_done[0]["began"], rounds_done[-1]["ended"]))
        results.extend(rounds_done)
    # The workers really did append at the same time: every one was trying before any was
    # done (its first transaction began before the first worker's last one ended).
    assert max(began for began, _ in windows) < min(ended for _, ended in windows), windows

    total = workers * rounds * batch
    by_index: dict[int, str] = {}
    for result in results:
        indexes = result["indexes"]
        assert indexes == list(range(indexes[0], indexes[0] + batch))  # one block per transaction
        by_index.update(zip(indexes, result["refs"], strict=True))
        verify.verify_receipt(
            result["receipt"],
            public_key=KEY.public_key,
            origin=ORIGIN,
            entry=content(result["refs"][-1]),
        )
    assert sorted(by_index) == list(range(total))  # no duplicate, no gap
    writers = [by_index[i].split("-")[0] for i in range(0, total, batch)]
    switches = sum(1 for a, b in itertools.pairwise(writers) if a != b)
    if not database_url.startswith("sqlite"):
        # PostgreSQL queues the log head's row lock in order, so the writers take turns;
        # SQLite's busy handler lets one process take its write lock again and again, so
        # there the overlap above is the proof.
        assert switches >= workers
    assert services.tree_size(db_session) == total

    objects = Objects()
    objects.by_ref = {ref: content(ref) for ref in by_index.values()}
    report = objects.audit(db_session, chunk_size=50)
    assert report.ok, report.problem
    assert report.checkpoints_checked == workers * rounds
    leaves = [merkle.leaf_hash(content(by_index[i])) for i in range(total)]
    assert report.root_hash == merkle.root_of(leaves)
    # Every checkpoint any worker signed is consistent with the final tree.
    final = services.root_hash(db_session, total)
    for checkpoint in db_session.scalars(sa.select(LogCheckpoint)):
        proof = services.consistency_proof(db_session, checkpoint.tree_size, total)
        merkle.verify_consistency(
            checkpoint.tree_size, total, checkpoint.root_hash, final, proof.proof
        )
    assert signing.key_id(KEY.public_key) == KEY.kid
