"""The least a signed record can cost with the libraries the exchange uses, without the exchange.

    python bench/ingest_floor.py [--records 5000] [--index-rows 11]

``bench/ingest.py`` divides the service layer's rate by bare verification's (goal 0.5). This
measures, in one run on the same footprints, what every accepted record needs whatever the
code around it: its RFC 8785 bytes (``exchange.signing.canonical_json``), a SHA-256 digest,
one Ed25519 signature (its receipt, over a text shorter than a real receipt's) and its rows
written through the bare ``sqlite3`` driver (the record, ``--index-rows`` index rows, its log
entry and a tree node, 1,000 to a transaction): no PACT validation, no ORM, no Merkle hashing.
Verification runs in other processes while the caller does this (``exchange.verifying``), so
the caller's floor bounds the rate: the ceiling ratio is one verification's CPU over the
floor's. A ceiling near 0.5 says the goal needs less work per record (a receipt signed per
batch, fewer index rows), not only faster code around it.

Ends with ``RESULT verify_us=… canonical_us=… digest_us=… sign_us=… rows_us=… floor_us=…
ceiling_ratio=…`` (CPU microseconds per record).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import COMPANY_ID, bare_verify_rate, make_envelopes
from exchange import signing
from exchange.client.keys import LocalKey


def cpu_us_per(count: int, work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) / count * 1e6


def write_rows(
    path: Path, footprints: list[dict[str, Any]], texts: list[str], index_rows: int
) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE records (id TEXT PRIMARY KEY, owner_id TEXT, status TEXT, "
        "footprint_json TEXT, signature_kid TEXT, signature TEXT, envelope_digest TEXT, "
        "received_at TEXT, log_index INTEGER UNIQUE, valid_from TEXT, valid_until TEXT);"
        "CREATE TABLE terms (record_id TEXT, term TEXT, received_at TEXT, "
        "PRIMARY KEY (record_id, term));"
        "CREATE INDEX terms_by_term ON terms (term, received_at);"
        "CREATE TABLE log_entries (log_index INTEGER PRIMARY KEY, kind TEXT, ref TEXT, "
        "leaf_hash BLOB, created_at TEXT);"
        "CREATE TABLE log_nodes (node_id INTEGER PRIMARY KEY, hash BLOB);"
    )
    now = "2026-12-07T00:00:00+00:00"
    for start in range(0, len(footprints), 1000):
        chunk = range(start, min(start + 1000, len(footprints)))
        with connection:
            connection.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (footprints[i]["id"], "owner", "Active", texts[i], "kid", "s" * 86,
                     "d" * 64, now, i, now, now)
                    for i in chunk
                ],
            )  # fmt: skip
            connection.executemany(
                "INSERT INTO terms VALUES (?, ?, ?)",
                [
                    (footprints[i]["id"], f"term-{n}-{i}", now)
                    for i in chunk
                    for n in range(index_rows)
                ],
            )
            connection.executemany(
                "INSERT INTO log_entries VALUES (?, ?, ?, ?, ?)",
                [(i, "footprint", footprints[i]["id"], bytes(32), now) for i in chunk],
            )
            # A tree of n leaves has n - 1 inner nodes: about one stored node per entry.
            connection.executemany(
                "INSERT INTO log_nodes VALUES (?, ?)", [(i, bytes(32)) for i in chunk]
            )
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument(
        "--index-rows",
        type=int,
        default=11,
        help="index rows per record (the exchange writes 11 for the example footprint)",
    )
    args = parser.parse_args()
    count = args.records
    key = LocalKey.generate()
    envelopes = make_envelopes(key, COMPANY_ID, count)
    footprints = [envelope["footprint"] for envelope in envelopes]
    _, verify_us = bare_verify_rate(envelopes, key)
    canonical_us = cpu_us_per(count, lambda: [signing.canonical_json(f) for f in footprints])
    texts = [signing.canonical_json(footprint).decode() for footprint in footprints]
    digest_us = cpu_us_per(count, lambda: [hashlib.sha256(t.encode()).hexdigest() for t in texts])
    # A receipt's signed text is longer (checkpoint, inclusion proof): this short one makes
    # the floor a lower bound.
    receipts = [
        f"{signing.RECEIPT_CONTEXT}\n{hashlib.sha256(t.encode()).hexdigest()}".encode()
        for t in texts
    ]
    sign_us = cpu_us_per(
        count,
        lambda: [signing.sign_bytes(message=m, private_key=key.private_key) for m in receipts],
    )
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "floor.db"
        rows_us = cpu_us_per(count, lambda: write_rows(path, footprints, texts, args.index_rows))
    floor_us = canonical_us + digest_us + sign_us + rows_us
    ceiling = verify_us / floor_us
    print(
        f"records: {count}, each with {args.index_rows} index rows, a log entry and a tree "
        "node (bare sqlite3)"
    )
    print(f"verify (the baseline): {verify_us:7.1f} us of CPU per record")
    print(f"canonical JSON:        {canonical_us:7.1f} us")
    print(f"SHA-256 digest:        {digest_us:7.1f} us")
    print(f"receipt signature:     {sign_us:7.1f} us")
    print(f"rows (bare driver):    {rows_us:7.1f} us")
    print(
        f"floor:                 {floor_us:7.1f} us, so at most {ceiling:.2f} of bare verify "
        "with every verification in other processes"
    )
    print(
        f"RESULT verify_us={verify_us:.1f} canonical_us={canonical_us:.1f} "
        f"digest_us={digest_us:.1f} sign_us={sign_us:.1f} rows_us={rows_us:.1f} "
        f"floor_us={floor_us:.1f} ceiling_ratio={ceiling:.2f}"
    )


if __name__ == "__main__":
    main()
