"""Aggregation benchmark: a synthetic supply network, recomputed in full and incrementally.

    python bench/aggregate.py [--products 100000] [--edges 300000] [--records 20000]

The network is a chain-owner's product graph in four tiers (finished goods at the top,
components sourced from supplier records and factors at the bottom), with ``--edges``
bill-of-materials lines over ``--products`` products; the leaf lines resolve to
``--records`` suppliers' records (public) and a few approved factors. In one run:

* full: read every product, line, record, factor from the database, resolve every supplier
  line again, compute the whole graph in the pure engine, store the results (one
  transaction) - timed on a recomputation, after a first computation (also printed) that
  extracted each record's figures once. Only results whose figures changed are written
  row by row, so it is timed twice: with nothing changed (printed), and with every stored
  figure spoiled beforehand so that all 100,000 rows are written again (the headline);
* incremental: a supplier supersedes one leaf record; the affected ancestors are marked
  stale and exactly those are recomputed and stored. Repeated for ``--changes`` distinct
  leaves, one change at a time; the first (statements not yet built in this process) is
  printed, the median is the headline: what a running exchange sees on each change.

Ends with ``RESULT full_s=… incremental_s=… speedup=…`` (goal: full ≤ 2 s on SQLite,
incremental ≥ 100x faster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange import signing
from exchange.aggregation import services
from exchange.aggregation.models import BomLine, Product, Result
from exchange.db import make_engine, make_session_factory, transaction
from exchange.factors.models import Factor
from exchange.footprints.models import FootprintProduct, FootprintRecord
from exchange.organisations import services as organisations
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database
from tests.factories import pact_example

FACTORS = ("bench.grid", "bench.truck", "bench.steam", "bench.waste")
FACTOR_UNITS = ("kWh", "t·km", "MJ", "kg")
# Tier shares of the products, top (finished goods) to bottom (sourced components).
TIERS = (0.1, 0.2, 0.3, 0.4)


def footprint_json(record_id: str, company_id: str, urn: str, total: str) -> str:
    document = pact_example()
    document.update(id=record_id, companyIds=[company_id], productIds=[urn])
    document["pcf"].update(
        declaredUnitAmount="10",
        pcfIncludingBiogenicUptake=total,
        pcfExcludingBiogenicUptake="4",
        fossilGhgEmissions="3.2",
        landUseChangeGhgEmissions="0.8",
    )
    return signing.canonical_json(document).decode()


def record_row(
    number: int, owner: str, company_id: str, log_index: int, total: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    record_id = str(uuid.uuid4())
    urn = f"urn:gtin:{number:014d}"
    moment = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    row = {
        "id": record_id,
        "owner_id": owner,
        "status": "Active",
        "disclosure": "public",
        "footprint_json": footprint_json(record_id, company_id, urn, total),
        "signature_kid": None,
        "signature": None,
        "envelope_digest": "0" * 64,
        "received_at": moment + dt.timedelta(seconds=log_index),
        "deprecated_by_id": None,
        "log_index": log_index,
        "valid_from": moment,
        "valid_until": moment.replace(year=2028),
    }
    # A term row copies its record's received_at (the list indexes are ordered by it).
    return row, {"record_id": record_id, "product_id": urn, "received_at": row["received_at"]}


def build(
    url: str, products: int, edges: int, records: int, seed: int, changes: int
) -> tuple[str, list[str]]:
    """The network; returns the supplier's id and the products whose records change."""
    rng = random.Random(seed)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        owner = organisations.create_organisation(
            session, name="Bench chain-owner", country="TH", roles=[Role.CHAIN_OWNER]
        )
        supplier = organisations.create_organisation(
            session,
            name="Bench supplier",
            country="TH",
            roles=[Role.SUPPLIER],
            company_ids=["urn:pact:company:customcode:bench:supplier"],
        )
        owner_id, supplier_id = owner.id, supplier.id
    with engine.begin() as connection:
        rows, terms = zip(
            *(
                record_row(
                    number,
                    supplier_id,
                    "urn:pact:company:customcode:bench:supplier",
                    number,
                    "-2.5" if number % 7 == 0 else "1.25",
                )
                for number in range(records)
            ),
            strict=True,
        )
        connection.execute(sa.insert(FootprintRecord), list(rows))
        connection.execute(sa.insert(FootprintProduct), list(terms))
        connection.execute(
            sa.insert(Factor),
            [
                {
                    "id": str(uuid.uuid4()),
                    "code": code,
                    "version": 1,
                    "kind": "activity",
                    "name": code,
                    "category": "bench",
                    "value": value,
                    "unit": unit,
                    "region": "CN",
                    "year": 2025,
                    "gwp_set": "AR6",
                    "gases_json": None,
                    "scope": "life-cycle",
                    "source": "bench",
                    "licence": "bench",
                    "uncertainty": None,
                    "evidence": None,
                    "footprint_record_id": None,
                    "declared_by_id": None,
                    "status": "approved",
                    "content_digest": "0" * 64,
                    "created_at": dt.datetime.now(dt.UTC),
                }
                for code, unit, value in zip(
                    FACTORS,
                    FACTOR_UNITS,
                    map(Decimal, ("0.5306", "0.1", "0.07", "0.02")),
                    strict=True,
                )
            ],
        )
        ids = [str(uuid.uuid4()) for _ in range(products)]
        bounds = [0]
        for share in TIERS:
            bounds.append(bounds[-1] + round(share * products))
        bounds[-1] = products
        now = dt.datetime.now(dt.UTC)
        connection.execute(
            sa.insert(Product),
            [
                {
                    "id": product_id,
                    "owner_id": owner_id,
                    "code": f"P{number:06d}",
                    "name": f"Product {number}",
                    "declared_unit": "kg",
                    "declared_amount": Decimal(1),
                    "mass_per_declared_unit": None,
                    "product_urn": f"urn:uuid:{product_id}",
                    "created_at": now,
                    "updated_at": now,
                }
                for number, product_id in enumerate(ids)
            ],
        )
        per_product = [edges // products] * products
        for extra in rng.sample(range(products), edges % products):
            per_product[extra] += 1
        lines = []
        tier_of = [0] * products
        for tier in range(len(TIERS)):
            for number in range(bounds[tier], bounds[tier + 1]):
                tier_of[number] = tier
        for number, product_id in enumerate(ids):
            tier = tier_of[number]
            for position in range(per_product[number]):
                quantity = Decimal(rng.randint(1, 2000)).scaleb(-3)
                line: dict[str, Any] = {
                    "product_id": product_id,
                    "position": position,
                    "category": "component",
                    "label": "",
                    "quantity": quantity,
                    "unit": "kg",
                    "supplier_id": None,
                    "supplier_product": None,
                    "record_id": None,
                    "child_product_id": None,
                    "factor_code": None,
                    "resolved_record_id": None,
                    "resolved_factor_id": None,
                }
                last = position == per_product[number] - 1
                if last:
                    index = rng.randrange(len(FACTORS))
                    line.update(
                        factor_code=FACTORS[index], unit=FACTOR_UNITS[index], category="electricity"
                    )
                elif tier == len(TIERS) - 1:
                    line.update(
                        supplier_id=supplier_id,
                        supplier_product=f"urn:gtin:{rng.randrange(records):014d}",
                    )
                else:
                    child = rng.randrange(bounds[tier + 1], bounds[tier + 2])
                    line.update(child_product_id=ids[child])
                lines.append(line)
        connection.execute(sa.insert(BomLine), lines)
    engine.dispose()
    used = sorted({line["supplier_product"] for line in lines if line["supplier_product"]})
    return supplier_id, rng.sample(used, changes)


def supersede_and_recompute(
    engine: sa.Engine, factory: Any, supplier_id: str, changed_urn: str
) -> tuple[int, float]:
    """Supersede the leaf record of ``changed_urn``; time marking and recomputing."""
    with engine.begin() as connection:
        old_id = connection.execute(
            sa.select(FootprintProduct.record_id)
            .join(FootprintRecord, FootprintRecord.id == FootprintProduct.record_id)
            .where(FootprintProduct.product_id == changed_urn, FootprintRecord.status == "Active")
        ).scalar_one()
        log_index = connection.execute(sa.select(sa.func.max(FootprintRecord.log_index)))
        row, term = record_row(
            int(changed_urn.rsplit(":", 1)[1]),
            supplier_id,
            "urn:pact:company:customcode:bench:supplier",
            int(log_index.scalar_one()) + 1,
            "0.75",
        )
        connection.execute(sa.insert(FootprintRecord), [row])
        connection.execute(sa.insert(FootprintProduct), [term])
        connection.execute(
            sa.update(FootprintRecord)
            .where(FootprintRecord.id == old_id)
            .values(status="Deprecated", deprecated_by_id=row["id"])
        )

    started = time.perf_counter()
    with transaction(factory) as session:
        stale = services.mark_inputs_stale(session, [old_id], "bench: record superseded")
        incremental = services.recompute_stale(session)
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        left = connection.execute(
            sa.select(sa.func.count()).select_from(Result).where(Result.stale.is_(True))
        ).scalar_one()
        moved = connection.execute(
            sa.select(BomLine.resolved_record_id, sa.func.count())
            .where(BomLine.resolved_record_id.in_([old_id, row["id"]]))
            .group_by(BomLine.resolved_record_id)
        ).all()
    assert left == 0 and incremental.computed == len(stale)
    # Every line that used the old record now uses the new one.
    assert not moved or [record_id for record_id, _ in moved] == [row["id"]]
    return len(stale), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--changes", type=int, default=5, help="leaf records superseded")
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temp dir)")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        url = arguments.database or f"sqlite:///{Path(directory) / 'bench.db'}"
        upgrade_database(url)
        started = time.perf_counter()
        supplier_id, changed_urns = build(
            url,
            arguments.products,
            arguments.edges,
            arguments.records,
            arguments.seed,
            arguments.changes,
        )
        print(
            f"built {arguments.products} products, {arguments.edges} BOM lines, "
            f"{arguments.records} supplier records in {time.perf_counter() - started:.1f} s"
        )
        engine = make_engine(url)
        factory = make_session_factory(engine)

        # The first computation also resolves every supplier line to its record and extracts
        # each record's figures once; a recomputation finds both in place.
        started = time.perf_counter()
        with transaction(factory) as session:
            services.recompute(session)
        print(f"first computation: {time.perf_counter() - started:.3f} s")

        # A full recomputation rewrites only the results whose figures changed (every row
        # gets its new computed_at either way). Two cases are timed: nothing changed (what
        # a periodic full run mostly meets), and every stored figure differs, so each row
        # is written again as on a first computation: the headline, the honest worst case.
        started, cpu = time.perf_counter(), time.process_time()
        with transaction(factory) as session:
            same = services.recompute(session)
        same_s = time.perf_counter() - started
        print(
            f"full recomputation, inputs unchanged: {same.computed} products in {same_s:.3f} s "
            f"({time.process_time() - cpu:.3f} s of CPU in this process)"
        )
        with engine.begin() as connection:
            # Not a change of inputs: the stored figures are spoiled so that every result
            # the recomputation writes differs from what is stored.
            connection.execute(sa.update(Result).values(total=Decimal("-999999")))
        started, cpu = time.perf_counter(), time.process_time()
        with transaction(factory) as session:
            full = services.recompute(session)
        full_s = time.perf_counter() - started
        with engine.connect() as connection:
            spoiled = connection.execute(
                sa.select(sa.func.count())
                .select_from(Result)
                .where(Result.total == Decimal("-999999"))
            ).scalar_one()
        assert spoiled == 0  # every row was rewritten
        print(
            f"full recomputation, every result rewritten: {full.computed} products in "
            f"{full_s:.3f} s ({time.process_time() - cpu:.3f} s of CPU in this process)"
        )

        # A supplier supersedes one leaf record (stored as the submission path stores it;
        # the submission hook then calls mark_inputs_stale, timed below). Done for several
        # distinct leaves, one change at a time: the first runs in a process that has not
        # yet built those statements (printed), the median is what a running exchange sees.
        timings = []
        for changed_urn in changed_urns:
            stale_count, seconds = supersede_and_recompute(
                engine, factory, supplier_id, changed_urn
            )
            timings.append(seconds)
            print(
                f"incremental recomputation: {changed_urn} superseded, {stale_count} stale "
                f"ancestors recomputed in {seconds:.4f} s"
            )
        incremental_s = statistics.median(timings)
        print(f"incremental: first {timings[0]:.4f} s, median {incremental_s:.4f} s")
        engine.dispose()

    speedup = full_s / incremental_s
    print(f"full / incremental = {speedup:.0f}x")
    print(f"RESULT full_s={full_s:.3f} incremental_s={incremental_s:.4f} speedup={speedup:.0f}")


if __name__ == "__main__":
    main()
