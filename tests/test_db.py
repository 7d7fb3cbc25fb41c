"""exchange.db.insert_rows: the rows a Core insert would write, through the driver's executemany."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import insert_rows, insert_unless_present
from exchange.log.models import LogEntry

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
