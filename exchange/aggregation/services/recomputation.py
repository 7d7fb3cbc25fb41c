"""Computing and storing results: a full recomputation, a set of products, or exactly the
stale ones (the incremental path)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.aggregation import engine
from exchange.aggregation.models import BomLine, Product, Result
from exchange.aggregation.services.common import WRITE_SCOPE, own_product
from exchange.aggregation.services.loading import (
    RESULT_COLUMNS,
    RESULTS,
    LoadedGraph,
    fetch_rows,
    load_graph,
    stored_sources,
)
from exchange.aggregation.services.staleness import mark_products_stale, stale_products
from exchange.db import chunked, note_write, utcnow
from exchange.errors import ValidationFailed
from exchange.organisations.principals import Principal

# --- computing -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Recomputation:
    computed: int
    changed: int
    newly_stale: tuple[str, ...]


def _copy_in(
    connection: sa.Connection, table: str, columns: Sequence[str], rows: list[Any]
) -> None:
    """PostgreSQL's COPY of positional rows into ``table``: one stream, no statement per row."""
    driver = connection.connection.driver_connection
    assert driver is not None
    note_write(connection)
    with (
        driver.cursor() as cursor,
        cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # fixed names only
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _executemany(session: Session, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    """Insert positional rows in bulk, without per-value processing."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_in(connection, table, columns, rows)
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - fixed names only
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    connection.exec_driver_sql(statement, rows)


def _update_many(
    session: Session, table: str, sets: Sequence[str], key: str, rows: list[Any]
) -> None:
    """Update rows by ``key``; each row holds the ``sets`` values, then the key."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One UPDATE statement per row costs PostgreSQL a round trip and an execution
        # each (about 40 s per million rows here); a COPY into a scratch table and one
        # joined UPDATE write the same rows several times faster. The scratch table takes
        # its column types from the target, so COPY parses each value as the column does.
        scratch = f"bulk_{table}"
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {scratch} ON COMMIT DROP AS "  # noqa: S608 - fixed names
            f"SELECT {', '.join(sets)}, {key} FROM {table} WITH NO DATA"
        )
        _copy_in(connection, scratch, [*sets, key], rows)
        connection.exec_driver_sql(
            f"UPDATE {table} AS target SET "  # noqa: S608 - fixed names only
            f"{', '.join(f'{column} = source.{column}' for column in sets)} "
            f"FROM {scratch} AS source WHERE target.{key} = source.{key}"
        )
        connection.exec_driver_sql(f"DROP TABLE {scratch}")
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"UPDATE {table} SET {', '.join(f'{c} = {marker}' for c in sets)} "  # noqa: S608
        f"WHERE {key} = {marker}"
    )
    connection.exec_driver_sql(statement, rows)


# SQLite's page cache for a whole-graph computation, in KiB (negative: a size, not pages).
LARGE_PAGE_CACHE_KIB: Final = -262144
_SCIENTIFIC: Final = re.compile(r"-?\d(?:\.\d+)?E[-+]\d+")


def _figures(
    results: Mapping[str, engine.NodeResult], *, as_text: bool
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Each result's figures in column order, as they are written.

    ``as_text``: as SQLite keeps them (ExactDecimal's fixed-point text). The engine's
    figures have exactly 12 places, so str() already gives that text except below 1e-6
    (scientific: "E", zero included); all of them are converted in one run of str() and
    the few scientific ones mended after, rather than looked at one by one.
    """
    if not as_text:
        for product_id, (_, values, (pds, dqr, coverage), _) in results.items():
            yield product_id, (*values, pds, *(dqr or (None, None, None)), coverage)
        return
    ids: list[str] = []
    flat: list[Decimal] = []
    for product_id, (_, values, (pds, dqr, coverage), _) in results.items():
        if pds is None or dqr is None or coverage is None:
            yield (
                product_id,
                tuple(
                    None if value is None else format(value, "f")
                    for value in (*values, pds, *(dqr or (None, None, None)), coverage)
                ),
            )
        else:
            ids.append(product_id)
            flat += (*values, pds, *dqr, coverage)
    if not ids:
        return
    text = "\n" + "\n".join(map(str, flat))
    if "E" in text:
        text = text.replace("\n0E-12", "\n0.000000000000").replace("\n-0E-12", "\n-0.000000000000")
        if "E" in text:
            text = _SCIENTIFIC.sub(lambda match: format(Decimal(match.group()), "f"), text)
    texts = iter(text[1:].split("\n"))
    yield from zip(ids, zip(*[texts] * len(RESULT_COLUMNS[1:]), strict=True), strict=True)


def _write_results(
    session: Session,
    results: Mapping[str, engine.NodeResult],
    *,
    everything: bool,
    now: dt.datetime,
) -> None:
    dialect = session.get_bind().dialect
    processor = Result.__table__.c.computed_at.type.bind_processor(dialect)
    moment: Any = processor(now) if processor else now
    if dialect.name == "sqlite" and isinstance(moment, dt.datetime):
        moment = moment.isoformat(" ")  # what the sqlite3 module stores for a datetime
    # Rows already there are updated in place (cheaper than deleting and inserting them),
    # and on a full recomputation only where a figure changed: the stored figures are
    # read back (as the cursor gives them: text on SQLite, Decimal on PostgreSQL) and
    # compared with what would be written.
    stored = {
        row[0]: tuple(row[1:])
        for row in fetch_rows(
            session,
            sa.select(*(RESULTS.c[name] for name in RESULT_COLUMNS)),
            RESULTS.c.product_id,
            None if everything else results,
            raw=True,
        )
    }
    updates = []
    # Rows are updated in the order the table keeps them (the order they were read in):
    # at random positions each update would touch another page of the table.
    figures_of = dict(_figures(results, as_text=dialect.name == "sqlite"))
    for product_id, before in stored.items():
        figures = figures_of.pop(product_id)
        if not everything:
            updates.append((*figures, moment, False, None, None, product_id))
        elif before != figures:
            updates.append((*figures, moment, product_id))
    inserts = [(product_id, *figures, moment, False) for product_id, figures in figures_of.items()]
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    if everything and stored:
        # Every stored row was computed again just now: changed figures are written row by
        # row with their time, then set-wide statements give the unchanged rows their time
        # and make every row fresh (rows written just now already have this time).
        if updates:
            columns = [*RESULT_COLUMNS[1:], "computed_at"]
            _update_many(session, "agg_results", columns, "product_id", updates)
        connection.exec_driver_sql(
            f"UPDATE agg_results SET computed_at = {marker} "  # noqa: S608 - fixed names only
            f"WHERE computed_at <> {marker}",
            (moment, moment),
        )
        connection.exec_driver_sql(
            f"UPDATE agg_results SET stale = {marker}, stale_since = NULL, "  # noqa: S608
            f"stale_reason = NULL WHERE stale = {marker}",
            (False, True),
        )
    elif updates:
        columns = [*RESULT_COLUMNS[1:], "computed_at", "stale", "stale_since", "stale_reason"]
        _update_many(session, "agg_results", columns, "product_id", updates)
    if inserts:
        _executemany(session, "agg_results", [*RESULT_COLUMNS, "computed_at", "stale"], inserts)


def _write_resolutions(session: Session, loaded: LoadedGraph) -> None:
    if loaded.resolution_changes:
        _update_many(
            session,
            "agg_lines",
            ["resolved_record_id", "resolved_factor_id"],
            "id",
            loaded.resolution_changes,
        )


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk computation, restored after.

    A full recomputation allocates several hundred thousand tuples (lines, nodes, sources,
    results) that stay alive until it ends and form no reference cycles; the collector
    would walk all of them again at every collection of the oldest generation, which cost
    about a third of the CPU of a 100,000-product run. Reference counting still frees
    everything as usual; only cycle detection waits until the end.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def recompute(session: Session, targets: Collection[str] | None = None) -> Recomputation:
    """Compute ``targets`` (None: every product) bottom-up and store their results.

    Children outside ``targets`` are read as stored. A parent outside ``targets`` of a
    product whose figures changed goes stale.
    """
    with _without_cyclic_gc(), _page_cache(session, large=targets is None):
        return _recompute(session, targets)


@contextlib.contextmanager
def _page_cache(session: Session, *, large: bool) -> Iterator[None]:
    """On SQLite, a page cache that holds the results table for a whole-graph computation.

    Its 100,000 row updates would otherwise spill dirty pages out of SQLite's default
    2 MiB cache in the middle of the transaction and read them back again. The
    connection's own setting is restored after.
    """
    connection = session.connection()
    if not large or connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = {LARGE_PAGE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _recompute(session: Session, targets: Collection[str] | None) -> Recomputation:
    session.flush()
    before = stored_sources(session, targets) if targets is not None else {}
    loaded = load_graph(session, targets, pinned=False)
    try:
        results = engine.compute(
            loaded.nodes, loaded.sources, known=loaded.known, names=loaded.names
        )
    except engine.AggregationError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc
    now = utcnow()
    _write_resolutions(session, loaded)
    _write_results(session, results, everything=targets is None, now=now)
    newly: list[str] = []
    if targets is not None:
        changed = [
            product_id
            for product_id, result in results.items()
            if product_id not in before
            or before[product_id].values != result.values
            or before[product_id].quality != result.quality
        ]
        if changed:
            parents: set[str] = set()
            for chunk in chunked(changed):
                parents.update(
                    session.scalars(
                        sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(chunk))
                    )
                )
            parents -= set(results)
            if parents:
                newly = mark_products_stale(session, parents, "a component was recomputed")
    else:
        changed = list(results)
    session.expire_all()
    return Recomputation(len(results), len(changed), tuple(newly))


def _needing_computation(session: Session, root: Product) -> set[str]:
    """The root and its own descendants (same owner) that are stale or never computed."""
    wanted = {root.id}
    frontier = {root.id}
    while frontier:
        rows = session.execute(
            sa.select(BomLine.child_product_id, Product.owner_id, Result.stale)
            .join(Product, Product.id == BomLine.child_product_id)
            .outerjoin(Result, Result.product_id == BomLine.child_product_id)
            .where(BomLine.product_id.in_(sorted(frontier)))
        )
        frontier = set()
        for child, owner, stale in rows:
            assert child is not None
            if owner == root.owner_id and stale is not False and child not in wanted:
                wanted.add(child)
                frontier.add(child)
    return wanted


def compute_product(session: Session, principal: Principal, product_id: str) -> Recomputation:
    """Compute one of the caller's products, with its own stale or uncomputed components."""
    principal.require_scope(WRITE_SCOPE)
    product = own_product(session, principal, product_id)
    return recompute(session, _needing_computation(session, product))


def recompute_stale(session: Session, owner_id: str | None = None) -> Recomputation:
    """Recompute exactly the stale products (of one owner, or all): the incremental path."""
    targets = stale_products(session, owner_id)
    if not targets:
        return Recomputation(0, 0, ())
    return recompute(session, targets)
