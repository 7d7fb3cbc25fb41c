"""Database wiring: the declarative base, column types and one session per request.

SQLite in the instance folder is the embedded default; PostgreSQL is production. The
schema itself is owned by the Alembic migrations in ``exchange/migrations``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from exchange import quantities

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """An exact decimal with up to 12 fractional digits: NUMERIC(38, 12) on PostgreSQL.

    SQLite has no exact decimal type (NUMERIC columns keep REAL, i.e. binary floats), so
    there the value is kept as its decimal text. A value with more fractional digits than
    the column holds is refused rather than silently rounded.
    """

    impl = sa.Numeric(38, quantities.PLACES, asdecimal=True)
    cache_ok = True
    SCALE = quantities.PLACES

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(48))
        return dialect.type_descriptor(sa.Numeric(38, self.SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"an exact decimal column takes a finite Decimal, not {value!r}")
        stored = quantities.rounded(value)
        if stored != value:
            raise ValueError(f"{value} has more than {self.SCALE} decimal places")
        if dialect.name == "sqlite":
            return format(stored, "f")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


# The largest row id: the tables' integer keys are PostgreSQL INTEGER (32 bits), so a larger
# id in a request names no row and must never reach the database (it would fail there).
ROW_ID_MAX: Final = 2**31 - 1


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        Decimal: ExactDecimal(),
    }


def text_enum(kind: type[enum.StrEnum], *, length: int) -> sa.Enum:
    """A column of a string enum's values, kept as plain text rather than a database enum
    type, so that a new member needs no migration (while it fits ``length``)."""
    return sa.Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_or_none(moment: dt.datetime | dt.date | None) -> str | None:
    """ISO 8601 text of an optional time, for JSON documents."""
    return None if moment is None else moment.isoformat()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _configure_sqlite)
        sa.event.listen(engine, "begin", _begin)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    sa.event.listen(engine, "begin", _forget_writes)
    sa.event.listen(engine, "before_cursor_execute", _note_writes)
    return engine


# Connection info key: the transaction has sent something other than a SELECT.
_WROTE: Final = "exchange_wrote"


def _forget_writes(connection: sa.Connection) -> None:
    connection.info.pop(_WROTE, None)


def _note_writes(connection: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":
        note_write(connection)


def note_write(connection: sa.Connection) -> None:
    """Mark the transaction as having written: for writes sent past SQLAlchemy's execution
    (a COPY through the driver), which :func:`close_session` would not see."""
    connection.info[_WROTE] = True


def close_session(session: Session, *, failed: bool) -> None:
    """Close a request's session; a transaction that changed nothing ends with COMMIT.

    Either end leaves the database as it was, but psycopg forgets every prepared statement
    of a connection at a ROLLBACK: a pool whose requests mostly read would then plan each
    statement afresh (a PACT page's took three times as long to plan as to run). So
    ``failed`` work, pending ORM changes, or any statement but a SELECT sent in the
    transaction still roll back, as does a transaction whose connection was lost (the
    close then discards it, as it always did, rather than fail an answer already made).
    """
    pending = session.new or session.dirty or session.deleted
    if not failed and session.in_transaction() and not pending:
        with suppress(sa.exc.PendingRollbackError, sa.exc.DBAPIError):
            if not session.connection().info.get(_WROTE):
                session.commit()
    session.close()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself so that writers take the lock up front (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Execution option of connections that only read (see :func:`reader`).
READ_ONLY: Final = "exchange_read_only"


def _begin(connection: sa.Connection) -> None:
    # A deferred SQLite transaction that reads and then writes can fail with "database is
    # locked" when another worker wrote in between; taking the write lock at BEGIN makes
    # concurrent workers wait their turn instead. A connection that only reads has no
    # such upgrade to fail, and in WAL mode a deferred transaction reads a snapshot without
    # taking the one write lock: readers then neither queue behind one another (SQLite's
    # busy handler sleeps a millisecond or more at each collision) nor behind writers.
    if connection.get_execution_options().get(READ_ONLY):
        # Straight to the driver: a read path (label verification) runs this on every
        # request, and a full SQLAlchemy execution costs as much as its query.
        driver = connection.connection.driver_connection
        assert driver is not None  # a checked-out connection always has one
        driver.execute("BEGIN DEFERRED")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def reader(engine: Engine) -> Engine:
    """The engine's pool, for connections that only read: on SQLite their transactions
    begin deferred (above); on PostgreSQL each statement is its own transaction
    (autocommit), which spares the BEGIN and ROLLBACK round trips around the one query that
    runs before most requests (whether an agreement has expired) and label verification's.
    Writes are not prevented, but one through such a connection could fail with "database
    is locked" under concurrency (SQLite) or not be atomic (PostgreSQL).

    Made once per app: each connection it hands out carries the option from the start.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


IN_LIST_CHUNK = 5000


def chunked(values: Iterable[str], size: int = IN_LIST_CHUNK) -> Iterator[list[str]]:
    """Distinct values in sorted runs of ``size``: one ``IN (...)`` list each, kept under the
    databases' limits on bound parameters."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def insert_unless_present(
    session: Session, table: sa.Table, rows: dict[str, Any] | list[dict[str, Any]]
) -> int:
    """Insert rows, skipping any whose key is already there (a concurrent writer's, say);
    how many were inserted. On PostgreSQL a row a concurrent transaction is inserting with
    the same key is waited for: skipped if that transaction commits, inserted if not.

    The count is of the keys the statement returns: the driver's row count is not to be
    trusted here (SQLAlchemy reports -1 for an INSERT on psycopg 3, inserted or not).
    """
    if not rows:
        return 0
    statement: sa.Insert
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).on_conflict_do_nothing()
    keys = list(table.primary_key.columns)
    result = session.execute(statement.returning(*keys), rows)
    return len(result.all())


def insert_rows(session: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``session.execute(sa.insert(table), rows)`` for many narrow rows (every row with the
    keys of the first), through the driver's own ``executemany``.

    The same statement and the same conversions (each column type's bind processor, as
    SQLAlchemy applies it; a value repeated across rows, such as one batch's time,
    converted once), without SQLAlchemy's bookkeeping per row and parameter, which costs
    more than the database's own work for an index row: a signed record writes ten.
    Errors are SQLAlchemy's (``IntegrityError`` ...), as for ``session.execute``.
    """
    if not rows:
        return
    connection = session.connection()
    statement, positional, names, processors = _insert_statement(
        table, connection.dialect, tuple(rows[0])
    )
    columns = [
        (name, None if processor is None else _memoised(processor))
        for name, processor in zip(names, processors, strict=True)
    ]
    try:
        values = [
            [row[name] if convert is None else convert(row[name]) for name, convert in columns]
            for row in rows
        ]
    except (TypeError, ValueError) as exc:  # a value the column's type refuses
        raise sa.exc.StatementError(str(exc), statement, None, exc) from exc
    parameters: list[Any] = (
        [tuple(row) for row in values]
        if positional
        else [dict(zip(names, row, strict=True)) for row in values]
    )
    connection.exec_driver_sql(statement, parameters)


_Processor = Callable[[Any], Any]


@functools.lru_cache(maxsize=256)
def _insert_statement(
    table: sa.Table, dialect: Dialect, keys: tuple[str, ...]
) -> tuple[str, bool, tuple[str, ...], tuple[_Processor | None, ...]]:
    """The SQL of inserting ``keys`` into ``table`` in ``dialect``, whether its parameters
    are positional, their names in order, and each one's bind processor: compiled once, as
    SQLAlchemy's own statement cache would."""
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup or ()) if compiled.positional else keys
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    return compiled.string, compiled.positional, names, processors


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert``, remembering what it made of each time (the one kind of value that
    repeats across a batch's rows and costs a conversion on SQLite). Keyed with the UTC
    offset: equal instants at different offsets are written differently."""
    seen: dict[tuple[dt.datetime, dt.timedelta | None], Any] = {}

    def memoised(value: Any) -> Any:
        if type(value) is not dt.datetime:
            return convert(value)
        key = (value, value.utcoffset())
        try:
            return seen[key]
        except KeyError:
            seen[key] = converted = convert(value)
            return converted

    return memoised


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session
