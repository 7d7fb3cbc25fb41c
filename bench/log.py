"""Transparency-log benchmark: appends through the log service on a SQLite file, then the
cost of inclusion and consistency proofs at that size next to one SHA-256 of a leaf.

    python bench/log.py [--entries 1000000] [--batch 100000] [--proofs 2000]

Every figure is measured in this one run. Ends with one line
``RESULT append_per_s=… inclusion_ms=… consistency_ms=… hash_us=…``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from exchange.db import make_engine, make_session_factory, transaction
from exchange.keyring import ExchangeKey
from exchange.log import merkle, services
from exchange.system.services import upgrade_database

ENTRY_BYTES = 512  # a key record is smaller, a footprint envelope a few times larger
ORIGIN = "bench.footprint-exchange.example"


def entry(number: int) -> bytes:
    return number.to_bytes(8, "big") * (ENTRY_BYTES // 8)


def per_call_ms(calls: list[Callable[[], object]]) -> tuple[float, float]:
    """Mean and 99th-percentile milliseconds of each call, run one after another."""
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.fmean(times), statistics.quantiles(times, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="entries per transaction")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs of each kind timed")
    args = parser.parse_args()
    if args.entries < 2:
        parser.error("--entries must be at least 2")

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'log.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        key = ExchangeKey.from_private_key(bytes(range(32)))

        # -- appends, in large transactions, each ending with its checkpoint --------------
        started = time.perf_counter()
        for first in range(0, args.entries, args.batch):
            numbers = range(first, min(first + args.batch, args.entries))
            batch = [("bench", str(number), entry(number)) for number in numbers]
            with transaction(factory) as session:
                services.append_entries(session, batch)
                services.ensure_checkpoint(session, key, ORIGIN)
        append_seconds = time.perf_counter() - started
        append_rate = args.entries / append_seconds
        size_mb = (Path(directory) / "log.db").stat().st_size / 1e6
        print(
            f"appended {args.entries:,} entries of {ENTRY_BYTES} bytes in "
            f"{append_seconds:.1f} s: {append_rate:,.0f} entries/s (database {size_mb:,.0f} MB)"
        )

        # -- proofs at the full size, at random indexes and sizes -------------------------
        size = args.entries
        rng = random.Random(9162)
        indexes = [rng.randrange(size) for _ in range(args.proofs)]
        firsts = [rng.randrange(1, size) for _ in range(args.proofs)]
        with factory() as session:
            root = services.root_hash(session, size)
            # Warm the statement cache and the page cache the way a running server has them.
            for index in indexes[:50]:
                services.inclusion_proof(session, index, size)
                services.consistency_proof(session, firsts[0], size)
            inclusion_ms, inclusion_p99 = per_call_ms(
                [lambda i=i: services.inclusion_proof(session, i, size) for i in indexes]
            )
            consistency_ms, consistency_p99 = per_call_ms(
                [lambda m=m: services.consistency_proof(session, m, size) for m in firsts]
            )
            # The proofs are right, not merely fast.
            for index in indexes[:20]:
                proof = services.inclusion_proof(session, index, size)
                merkle.verify_inclusion(
                    index, size, merkle.leaf_hash(entry(index)), proof.proof, root
                )
            for first in firsts[:20]:
                consistency = services.consistency_proof(session, first, size)
                merkle.verify_consistency(
                    first, size, consistency.first_root, root, consistency.proof
                )
            receipt_started = time.perf_counter()
            receipt_indexes = list(range(size - min(size, 10_000), size))
            services.issue_receipts(session, key, ORIGIN, receipt_indexes)
            receipts_seconds = time.perf_counter() - receipt_started
            session.rollback()
        engine.dispose()

    sample = entry(123_456)
    repeats = 200_000
    hash_us = (
        timeit.timeit(lambda: hashlib.sha256(b"\x00" + sample).digest(), number=repeats)
        / repeats
        * 1e6
    )
    print(f"one SHA-256 leaf hash of {ENTRY_BYTES} bytes: {hash_us:.2f} µs")
    print(
        f"inclusion proof at {size:,}: mean {inclusion_ms:.3f} ms, p99 {inclusion_p99:.3f} ms "
        f"= {inclusion_ms * 1000 / hash_us:,.0f} leaf hashes"
    )
    print(
        f"consistency proof to {size:,}: mean {consistency_ms:.3f} ms, "
        f"p99 {consistency_p99:.3f} ms = {consistency_ms * 1000 / hash_us:,.0f} leaf hashes"
    )
    print(
        f"{len(receipt_indexes):,} signed receipts of the newest entries: {receipts_seconds:.2f} s"
    )
    print(
        f"RESULT append_per_s={append_rate:.0f} inclusion_ms={inclusion_ms:.3f} "
        f"consistency_ms={consistency_ms:.3f} hash_us={hash_us:.3f}"
    )


if __name__ == "__main__":
    main()
