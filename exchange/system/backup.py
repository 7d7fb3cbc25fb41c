"""Portable logical backups: every table as JSON lines, read in one consistent snapshot.

A dump is a header line (format, schema revision, time, tables) followed by one line per
table (its columns) and one per row (its values, in those columns' order), tables in
foreign-key order. Values are written exactly: decimals as their text, bytes as base64,
times in ISO 8601 with their offset, enums by name. It restores into a fresh database of
the same schema revision on SQLite or PostgreSQL, in one transaction, or not at all.

The exchange's keys live in the instance folder, not in the database: back them up
separately (a dump alone cannot sign, nor open the secrets sealed with the key).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import enum
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, cast

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from exchange.db import READ_ONLY, ExactDecimal, UTCDateTime, utcnow
from exchange.errors import BadRequest, Conflict
from exchange.models import metadata

FORMAT: Final = "footprint-exchange-backup"
VERSION: Final = 1
ROWS_PER_INSERT: Final = 1000
# Tables the migrations fill (the log's head at size 0): a fresh database has rows there,
# which the dump's replace.
MIGRATION_SEEDED: Final = frozenset({"log_head"})


@dataclasses.dataclass(frozen=True, slots=True)
class BackupReport:
    revision: str
    tables: int
    rows: int


def schema_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


# --- values -------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.name
    return value


def _decoder(column: sa.Column[Any]) -> Callable[[Any], Any]:
    kind = column.type
    if isinstance(kind, ExactDecimal | sa.Numeric):
        return Decimal
    if isinstance(kind, UTCDateTime | sa.DateTime):
        return dt.datetime.fromisoformat
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        enum_class = kind.enum_class
        return lambda name: enum_class[name]
    if isinstance(kind, sa.String) and kind.length is not None:
        return _bounded(f"{column.table.name}.{column.name}", kind.length)
    return lambda value: value


def _bounded(name: str, length: int) -> Callable[[Any], Any]:
    """Check a bounded text value before it is written: SQLite keeps any length, PostgreSQL
    refuses an over-long one with a driver error; either way the restore says which column."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise BadRequest(f"{name} holds {type(value).__name__}, not text")
        if len(value) > length:
            raise BadRequest(
                f"{name} holds a value of {len(value)} characters, more than its {length}: "
                "it was stored before the exchange checked that limit; shorten it in the "
                "source database and back up again"
            )
        return value

    return check


# --- backup -------------------------------------------------------------------------------


def _ordered(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table).order_by(*table.primary_key.columns)


def dump(engine: Engine, out: IO[str]) -> BackupReport:
    """Write every table to ``out``, all read in one transaction (one snapshot)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    rows = 0
    with engine.connect().execution_options(**options) as connection, connection.begin():
        revision = schema_revision(connection)
        if revision is None:
            raise BadRequest("the database has no schema: nothing to back up")
        _check_tables(connection)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "revision": revision,
            "dialect": engine.dialect.name,
            "createdAt": utcnow().isoformat(),
            "tables": [table.name for table in metadata.sorted_tables],
        }
        out.write(json.dumps(header) + "\n")
        for table in metadata.sorted_tables:
            names = [column.name for column in table.columns]
            out.write(json.dumps({"table": table.name, "columns": names}) + "\n")
            result = connection.execution_options(stream_results=True, yield_per=1000).execute(
                _ordered(table)
            )
            for row in result:
                out.write(json.dumps([_encode(value) for value in row], ensure_ascii=False))
                out.write("\n")
                rows += 1
    return BackupReport(revision=revision, tables=len(metadata.sorted_tables), rows=rows)


def _check_tables(connection: sa.Connection) -> None:
    """Refuse a database holding tables this code does not know: they would not be backed up."""
    present = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
    unknown = present - set(metadata.tables)
    if unknown:
        raise Conflict(f"tables unknown to this version: {', '.join(sorted(unknown))}")


# --- restore ------------------------------------------------------------------------------


def _lines(source: IO[str]) -> Iterator[Any]:
    for number, line in enumerate(source, start=1):
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"line {number} of the backup is not JSON: {exc}") from exc


def restore(engine: Engine, source: IO[str]) -> BackupReport:
    """Load a dump into an empty database of the dump's schema revision, all or nothing."""
    lines = _lines(source)
    header = next(lines, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadRequest("not a Footprint Exchange backup")
    if header.get("version") != VERSION:
        raise BadRequest(f"backup format version {header.get('version')} is not {VERSION}")
    rows = 0
    with engine.begin() as connection:
        revision = schema_revision(connection)
        if revision != header["revision"]:
            raise Conflict(
                f"the backup is of schema revision {header['revision']}, the database is at "
                f"{revision}: restore into a database of the same revision"
            )
        _check_tables(connection)
        for each in metadata.sorted_tables:
            if each.name in MIGRATION_SEEDED:
                continue
            if connection.execute(sa.select(sa.literal(1)).select_from(each).limit(1)).first():
                raise Conflict(f"the database is not empty (table {each.name}): restore refused")
        for name in MIGRATION_SEEDED:
            connection.execute(sa.delete(metadata.tables[name]))
        table: sa.Table | None = None
        columns: list[sa.Column[Any]] = []
        decoders: list[Callable[[Any], Any]] = []
        pending: list[dict[str, Any]] = []
        # Rows pointing at rows of their own table are inserted without those references,
        # which are set once every row is in (PostgreSQL checks each insert at once).
        later: list[tuple[sa.Table, dict[str, Any]]] = []

        def flush() -> None:
            if table is not None and pending:
                connection.execute(sa.insert(table), pending)
            pending.clear()

        for item in lines:
            if isinstance(item, dict):
                flush()
                table = metadata.tables.get(str(item.get("table")))
                if table is None:
                    raise BadRequest(f"the backup holds an unknown table {item.get('table')!r}")
                try:
                    columns = [table.columns[name] for name in item["columns"]]
                except KeyError as exc:
                    raise BadRequest(f"{table.name} has no column {exc}") from exc
                decoders = [_decoder(column) for column in columns]
                continue
            if table is None or not isinstance(item, list) or len(item) != len(columns):
                raise BadRequest("a row of the backup does not match its table's columns")
            row = {
                column.key: None if value is None else decode(value)
                for column, decode, value in zip(columns, decoders, item, strict=True)
            }
            for key in _self_references(table):
                if row[key] is not None:
                    later.append((table, {key: row[key], **_primary_key(table, row)}))
                    row[key] = None
            pending.append(row)
            rows += 1
            if len(pending) >= ROWS_PER_INSERT:
                flush()
        flush()
        for owner, values in later:
            key_values = _primary_key(owner, values)
            connection.execute(
                sa.update(owner)
                .where(*(owner.columns[name] == value for name, value in key_values.items()))
                .values({k: v for k, v in values.items() if k not in key_values})
            )
        if connection.dialect.name == "postgresql":
            _advance_sequences(connection)
    return BackupReport(revision=str(header["revision"]), tables=len(header["tables"]), rows=rows)


def _self_references(table: sa.Table) -> list[str]:
    return [fk.parent.key for fk in table.foreign_keys if fk.column.table is table]


def _primary_key(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    return {column.key: row[column.key] for column in table.primary_key.columns}


def _advance_sequences(connection: sa.Connection) -> None:
    """Let ids generated after the restore follow the restored ones."""
    for table in metadata.sorted_tables:
        [*keys] = table.primary_key.columns
        if len(keys) != 1 or not isinstance(keys[0].type, sa.Integer):
            continue
        sequence = connection.scalar(
            sa.select(sa.func.pg_get_serial_sequence(table.name, keys[0].name))
        )
        if sequence is None:
            continue
        connection.execute(
            sa.select(
                sa.func.setval(
                    sequence,
                    sa.func.coalesce(sa.select(sa.func.max(keys[0])).scalar_subquery(), 1),
                    sa.select(sa.func.max(keys[0])).scalar_subquery().is_not(None),
                )
            )
        )


# --- files --------------------------------------------------------------------------------


def _open_text(path: Path, mode: str, *, compressed: bool) -> IO[str]:
    if compressed:
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8"))
    return path.open(mode, encoding="utf-8")


def backup_to_file(engine: Engine, path: Path) -> BackupReport:
    """Dump into ``path`` (gzip when it ends in ``.gz``); the file appears only when complete."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    os.close(descriptor)
    try:
        with _open_text(Path(temporary), "w", compressed=path.name.endswith(".gz")) as out:
            report = dump(engine, out)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return report


def restore_from_file(engine: Engine, path: Path) -> BackupReport:
    with _open_text(path, "r", compressed=path.name.endswith(".gz")) as source:
        return restore(engine, source)
