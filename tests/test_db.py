"""exchange.db: ``insert_rows`` writes the rows a Core insert would, through the driver's
executemany; ``insert_unless_present`` counts what it inserted; ``close_session`` commits only
a transaction that changed nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from exchange.db import (
    close_session,
    insert_rows,
    insert_unless_present,
    make_session_factory,
    note_write,
)
from exchange.log.models import LogEntry, LogHead

ENTRIES = cast(sa.Table, LogEntry.__table__)
MOMENT = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _rows(start: int) -> list[dict[str, Any]]:
    # The same instant at two offsets, and a repeated one: what insert_rows converts once
    # must not be confused.
    moments = [
        MOMENT,
        MOMENT.astimezone(dt.timezone(dt.timedelta(hours=8))),
        MOMENT.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
        MOMENT,
        MOMENT + dt.timedelta(days=400),
    ]
    return [
        {
            "log_index": start + number,
            "kind": "thing",
            "ref": f"ref-{number}-ü",
            "leaf_hash": bytes([number]) * 32,
            "created_at": moment,
        }
        for number, moment in enumerate(moments)
    ]


def _stored(session: Session, start: int) -> list[tuple[Any, ...]]:
    rows = session.execute(
        sa.select(ENTRIES.c.kind, ENTRIES.c.ref, ENTRIES.c.leaf_hash, ENTRIES.c.created_at)
        .where(ENTRIES.c.log_index >= start, ENTRIES.c.log_index < start + 100)
        .order_by(ENTRIES.c.log_index)
    )
    return [tuple(row) for row in rows]


def test_insert_rows_stores_what_a_core_insert_stores(db_session: Session) -> None:
    db_session.execute(sa.insert(ENTRIES), _rows(0))
    insert_rows(db_session, ENTRIES, _rows(100))
    assert _stored(db_session, 100) == _stored(db_session, 0)
    assert len(_stored(db_session, 100)) == 5
    insert_rows(db_session, ENTRIES, [])  # nothing to do


def test_insert_rows_raises_what_a_core_insert_raises(db_session: Session) -> None:
    insert_rows(db_session, ENTRIES, _rows(0)[:1])
    with pytest.raises(sa.exc.IntegrityError):
        insert_rows(db_session, ENTRIES, _rows(0)[:1])
    db_session.rollback()
    naive = [{**_rows(10)[0], "created_at": MOMENT.replace(tzinfo=None)}]
    with pytest.raises(sa.exc.StatementError, match="naive datetimes are not stored"):
        db_session.execute(sa.insert(ENTRIES), naive)
    with pytest.raises(sa.exc.StatementError, match="naive datetimes are not stored"):
        insert_rows(db_session, ENTRIES, naive)


def test_insert_unless_present_counts_what_it_inserted(db_session: Session) -> None:
    """The count callers act on (a grant's flow is recorded only by the request that made
    it; a checkpoint's note is read back when another writer's is stored): on PostgreSQL
    the driver's row count said -1, inserted or not."""
    assert insert_unless_present(db_session, ENTRIES, _rows(0)[0]) == 1
    assert insert_unless_present(db_session, ENTRIES, _rows(0)[0]) == 0
    assert insert_unless_present(db_session, ENTRIES, _rows(0)[:3]) == 2
    assert insert_unless_present(db_session, ENTRIES, []) == 0
    assert len(_stored(db_session, 0)) == 3


class _Ends:
    """How each transaction on ``engine`` ended, in order."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        self.engine = engine

    def __enter__(self) -> list[str]:
        sa.event.listen(self.engine, "commit", self._commit)
        sa.event.listen(self.engine, "rollback", self._rollback)
        return self.seen

    def _commit(self, _connection: sa.Connection) -> None:
        self.seen.append("commit")

    def _rollback(self, _connection: sa.Connection) -> None:
        self.seen.append("rollback")

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "commit", self._commit)
        sa.event.remove(self.engine, "rollback", self._rollback)


def test_close_session_commits_only_what_changed_nothing(
    engine: Engine, db_session: Session
) -> None:
    """Work a request left uncommitted is never kept: a statement sent (Core or flushed),
    an object added but not flushed, a failed request. Only reads end with COMMIT."""
    factory = make_session_factory(engine)
    with _Ends(engine) as ends:
        session = factory()
        session.execute(sa.insert(ENTRIES), _rows(0)[:1])  # sent, not committed
        close_session(session, failed=False)

        session = factory()
        session.scalar(sa.select(LogHead.tree_size))  # a read begins the transaction ...
        session.add(LogHead(id=1, tree_size=7))  # ... and an object waits for a flush
        close_session(session, failed=False)

        session = factory()
        session.execute(sa.text("UPDATE log_entries SET kind = 'x'"))  # a text statement
        close_session(session, failed=False)

        session = factory()
        note_write(session.connection())  # what a COPY through the driver says of itself
        close_session(session, failed=False)

        session = factory()
        assert session.scalar(sa.select(sa.func.count()).select_from(ENTRIES)) == 0
        close_session(session, failed=True)

        session = factory()
        assert session.scalar(sa.select(sa.func.count()).select_from(ENTRIES)) == 0
        close_session(session, failed=False)

        close_session(factory(), failed=False)  # never began: nothing to end
    assert ends == ["rollback"] * 5 + ["commit"]
    assert _stored(db_session, 0) == []
    assert db_session.get(LogHead, 1) is None


def test_reads_keep_their_prepared_statements(engine: Engine) -> None:
    """On PostgreSQL psycopg prepares a statement run often enough on a connection and
    forgets all of them at a ROLLBACK: requests that only read must not end with one."""
    if engine.dialect.name != "postgresql":
        pytest.skip("prepared statements of psycopg (PostgreSQL)")
    single = sa.create_engine(engine.url, poolclass=sa.pool.StaticPool)  # one connection
    try:
        factory = make_session_factory(single)
        query = sa.select(sa.func.count()).select_from(ENTRIES).where(ENTRIES.c.kind == "y")
        for _ in range(8):  # one request each
            session = factory()
            session.scalar(query)
            close_session(session, failed=False)
        with single.connect() as connection:
            prepared = (
                connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements")
                .scalars()
                .all()
            )
        assert any("log_entries" in statement for statement in prepared), prepared
    finally:
        single.dispose()


def test_close_session_after_a_lost_connection_rolls_back_quietly(
    engine: Engine, db_session: Session
) -> None:
    """The answer was made before teardown: a connection lost meanwhile must neither turn it
    into an error nor have anything of the transaction kept."""
    factory = make_session_factory(engine)
    with _Ends(engine) as ends:
        session = factory()
        assert session.scalar(sa.select(sa.func.count()).select_from(ENTRIES)) == 0
        session.connection().invalidate()  # as a database restart or a killed backend leaves it
        close_session(session, failed=False)
    assert "commit" not in ends
    assert _stored(db_session, 0) == []
