"""PACT ListFootprints benchmark (issue 4): ``GET /3/footprints`` with each filter against the
unfiltered ``limit=1`` call, on 100,000 signed footprints.

    python bench/pact_list.py [--records 100000] [--batch 2500] [--repeat 30]
                              [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The footprints are signed here (in a worker process) and stored through
``exchange.footprints.services.submit`` (signature checks and Merkle log included), oldest
reference period first, by a supplier of five companies (85%) and a second supplier whose
records the caller may not see (15%): 6,000 products, one in 2% of the first one's records,
10 classifications, countries, subdivisions and regions, reference years 2018-2025 with
explicit or default validity, and one record in ten deprecated by a successor naming it in
``precedingPfIds``. The calls go through ``app.test_client()``, in process, so a ratio
measures the query against the fixed cost of a call (routing, token check, JSON), not HTTP.
The caller is the supplier that owns the records; a chain owner who sees 100 products only
through product shares is measured too. On PostgreSQL a private database is created and
dropped, and the tables are analysed after the load, as autovacuum would; SQLite is measured
as the exchange leaves it (no ``ANALYZE``) unless ``--sqlite-analyze``.

Ends with ``RESULT base_p50_ms=… worst_filter_p50_ms=… worst_ratio=…`` (worst over the
filtered ``limit=1`` calls of the owner; the goal is every ratio within 3).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import random
import statistics
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import create_app
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints import services as footprints
from exchange.organisations import services as organisations
from exchange.organisations.models import Role
from exchange.pact_wire.filters import criteria_from_query
from exchange.system.services import upgrade_database

GOAL_RATIO = 3.0
SEED = 4
TEMPLATE: dict[str, Any] = {
    "specVersion": "3.0.0",
    "companyName": "Bench company",
    "productDescription": "Synthetic product of the ListFootprints benchmark",
    "productNameCompany": "Bench product",
    "pcf": {
        "declaredUnitOfMeasurement": "kilogram",
        "declaredUnitAmount": "1",
        "productMassPerDeclaredUnit": "1",
        "pcfExcludingBiogenicUptake": "0.384",
        "pcfIncludingBiogenicUptake": "-1.23",
        "fossilCarbonContent": "0",
        "fossilGhgEmissions": "0.35",
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["GHGP-Product", "PACT-3.0"],
        "exemptedEmissionsPercent": "0",
        "primaryDataShare": "12.9",
    },
}

# -- the population ----------------------------------------------------------------------

OWNER_COMPANIES = [f"urn:pact:company:customcode:bench:company-{k}" for k in range(5)]
OWNER_COMPANY_WEIGHTS = [40, 25, 15, 12, 8]
OTHER_COMPANY = "urn:pact:company:customcode:bench:competitor"
OTHER_SHARE = 0.15  # of the records, owned by a supplier the caller may not see
OWNER_PRODUCTS = 5000
OTHER_PRODUCTS = 1000
HOT_PRODUCT_SHARE = 0.02  # one best-selling product with many versions and variants
CLASSIFICATIONS = [f"urn:pact:productclassification:cas:{1000 + k * 37}" for k in range(10)]
CLASSIFICATION_WEIGHTS = [20, 15, 12, 10, 10, 9, 8, 7, 5, 4]
COUNTRIES = ["CN", "DE", "US", "FR", "TH", "VN", "IN", "BR", "JP", "NL", "IT", "ES"]
SUBDIVISIONS = [
    "CN-GD", "CN-JS", "CN-ZJ", "CN-SD", "CN-SH", "US-TX", "US-CA", "US-IL", "US-LA", "DE-BY",
    "DE-NW", "DE-BW", "TH-10", "TH-20", "VN-SG", "IN-MH", "IN-GJ", "BR-SP", "FR-IDF", "NL-ZH",
]  # fmt: skip
RARE_SUBDIVISION = "CN-HI"  # about one record in 5,000
REGIONS = [
    "Europe", "Eastern Asia", "South-eastern Asia", "Northern America",
    "Western Europe", "Latin America and the Caribbean", "Southern Asia", "Africa",
]  # fmt: skip
FIRST_YEAR, LAST_YEAR = 2018, 2025
SUCCESSOR_SHARE = 0.11  # new versions naming an earlier one in precedingPfIds, which deprecate it


def product_urn(owner: int, number: int) -> str:
    return f"urn:gtin:{owner}{number:013d}"


def moment(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def population(records: int) -> list[dict[str, Any]]:
    """Footprints to sign, oldest reference period first: records reach an exchange roughly
    in the order their periods end, so submission order follows time. About one in ten is a
    new version of the latest Active record of its product, which it deprecates."""
    rng = random.Random(SEED)
    items = []
    latest: dict[str, int] = {}  # product -> index of its latest Active record
    for number in range(records):
        other = rng.random() < OTHER_SHARE
        successor = rng.random() < SUCCESSOR_SHARE
        if other:
            companies = [OTHER_COMPANY]
            products = [product_urn(2, rng.randrange(OTHER_PRODUCTS))]
        else:
            companies = rng.choices(OWNER_COMPANIES, OWNER_COMPANY_WEIGHTS)
            if rng.random() < 0.05:  # a joint venture of two of the companies
                companies = sorted({*companies, rng.choice(OWNER_COMPANIES)})
            if rng.random() < HOT_PRODUCT_SHARE:
                products = [product_urn(1, 0)]
            else:
                products = [product_urn(1, 1 + rng.randrange(OWNER_PRODUCTS - 1))]
            if rng.random() < 0.10:  # sold under a second GTIN too
                products.append(product_urn(1, 1 + rng.randrange(OWNER_PRODUCTS - 1)))
        draw = rng.random()
        classifications = (
            []
            if draw < 0.05
            else rng.choices(CLASSIFICATIONS, CLASSIFICATION_WEIGHTS, k=1 if draw < 0.9 else 2)
        )
        draw = rng.random()
        if number % 5000 == 7:
            geography = {"geographyCountrySubdivision": RARE_SUBDIVISION}
        elif draw < 0.40:
            geography = {"geographyCountry": rng.choice(COUNTRIES)}
        elif draw < 0.75:
            geography = {"geographyCountrySubdivision": rng.choice(SUBDIVISIONS)}
        else:
            geography = {"geographyRegionOrSubregion": rng.choice(REGIONS)}
        year = FIRST_YEAR + (number * (LAST_YEAR - FIRST_YEAR + 1)) // records
        if rng.random() < 0.5:  # a calendar year
            start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
            end = dt.datetime(year, 12, 31, tzinfo=dt.UTC)
        else:  # a quarter
            quarter = rng.randrange(4)
            start = dt.datetime(year, 1 + 3 * quarter, 1, tzinfo=dt.UTC)
            end = (
                dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
                if quarter == 3
                else dt.datetime(year, 4 + 3 * quarter, 1, tzinfo=dt.UTC)
            ) - dt.timedelta(days=1)
        item: dict[str, Any] = {
            "created": moment(end + dt.timedelta(days=rng.randrange(20, 120))),
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "status": "Active",
            "companyIds": companies,
            "productIds": sorted(set(products)),
            "pcf": {
                "referencePeriodStart": moment(start),
                "referencePeriodEnd": moment(end),
                **geography,
            },
            "other": other,
        }
        if classifications:
            item["productClassifications"] = sorted(set(classifications))
        if rng.random() < 0.6:  # an explicit validity period; else three years from the end
            item["validityPeriodStart"] = moment(end)
            item["validityPeriodEnd"] = moment(end + dt.timedelta(days=365 * rng.randint(1, 5)))
        if successor and products[0] in latest:
            preceding = latest[products[0]]
            item["precedingPfIds"] = [items[preceding]["id"]]
            for product in items[preceding]["productIds"]:
                if latest.get(product) == preceding:
                    del latest[product]
        for product in products:
            latest[product] = number
        items.append(item)
    return items


def sign_batch(private_key: bytes, items: Sequence[dict[str, Any]]) -> list[Any]:
    """Envelopes of ``items`` (run in a worker process)."""
    key = LocalKey.from_private_key(private_key)
    envelopes = []
    for item in items:
        fields = {k: v for k, v in item.items() if k != "other"}
        footprint = {
            **TEMPLATE,
            **fields,
            "pcf": {**TEMPLATE["pcf"], **item["pcf"]},
        }
        envelopes.append(key.sign_footprint(footprint))
    return envelopes


# -- the database and its members ----------------------------------------------------------


@contextlib.contextmanager
def database(server_url: str | None, directory: Path) -> Iterator[str]:
    """A fresh migrated database: a SQLite file, or a private database on the server."""
    if not server_url:
        url = f"sqlite:///{directory / 'exchange.db'}"
        upgrade_database(url)
        yield url
        return
    name = f"fx_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Member:
    def __init__(self, app: Flask, name: str, role: Role, company_ids: Sequence[str]) -> None:
        self.key = LocalKey.generate()
        with transaction(app.extensions["exchange.sessions"]) as session:
            organisation = organisations.create_organisation(
                session, name=name, country="TH", roles=[role], company_ids=company_ids
            )
            organisations.register_key(
                session,
                organisation_id=organisation.id,
                public_jwk=self.key.public_jwk(),
            )
            credentials = organisations.create_client(
                session, organisation_id=organisation.id, name="bench"
            )
            token = organisations.issue_token(
                session,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                lifetime=dt.timedelta(hours=12),
            )
            self.principal = organisations.authenticate(session, token.access_token)
        self.id = organisation.id
        self.headers = {"Authorization": f"Bearer {token.access_token}"}


def load(app: Flask, owner: Member, other: Member, records: int, batch: int) -> tuple[float, float]:
    """Sign (in a worker process) and submit the population; seconds of the whole load and of
    the submit calls alone."""
    factory = app.extensions["exchange.sessions"]
    items = population(records)
    batches = [(owner, chunk) for chunk in batches_from(items, False, batch)] + [
        (other, chunk) for chunk in batches_from(items, True, batch)
    ]
    # Interleave the two suppliers' batches so both arrive over the same period, each
    # supplier's in its own order (a predecessor is stored before its successor).
    position = {item["id"]: number for number, item in enumerate(items)}
    batches.sort(key=lambda pair: position[pair[1][0]["id"]])
    started = time.perf_counter()
    submitting = 0.0
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        pending: collections.deque[tuple[Member, Any]] = collections.deque()
        queue = iter(batches)
        stored = 0

        def refill() -> None:
            for member, chunk in queue:
                key = member.key.private_key
                pending.append((member, pool.submit(sign_batch, key, chunk)))
                if len(pending) >= 3:
                    return

        refill()
        while pending:
            member, future = pending.popleft()
            envelopes = future.result()
            refill()
            began = time.perf_counter()
            with transaction(factory) as session:
                outcomes = footprints.submit(
                    session,
                    principal=member.principal,
                    items=envelopes,
                )
                failed = [o.error for o in outcomes if not (o.accepted and o.created)]
                assert not failed, failed[:3]
            submitting += time.perf_counter() - began
            stored += len(envelopes)
    assert stored == records
    return time.perf_counter() - started, submitting


def batches_from(items: list[dict[str, Any]], flag: bool, batch: int) -> list[list[Any]]:
    selected = [item for item in items if item["other"] is flag]
    return [selected[start : start + batch] for start in range(0, len(selected), batch)]


# -- the calls -----------------------------------------------------------------------------


def timed(client: FlaskClient, url: str, headers: dict[str, str], repeat: int) -> list[float]:
    for _ in range(3):  # warm-up: statement cache, page cache
        assert client.get(url, headers=headers).status_code == 200
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return times


def p99(times: Sequence[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


VISIBLE_COUNT = sa.text(
    """
    SELECT count(*) FROM footprint_records r
    WHERE r.owner_id = :me OR r.disclosure = 'public'
       OR EXISTS (SELECT 1 FROM shares s WHERE s.grantee_id = :me AND s.record_id = r.id)
       OR EXISTS (SELECT 1 FROM shares s JOIN footprint_products p ON p.product_id = s.product_id
                  WHERE s.grantee_id = :me AND s.owner_id = r.owner_id AND p.record_id = r.id)
    """
)


def check_walk(app: Flask, member: Member, seen: int) -> None:
    """A walk must meet every record the caller may see, counted here in plain SQL."""
    with app.extensions["exchange.engine"].connect() as connection:
        expected = connection.execute(VISIBLE_COUNT, {"me": member.id}).scalar_one()
    assert seen == expected, f"the walk met {seen:,} records of the {expected:,} visible"


def walk(
    client: FlaskClient, query: str, headers: dict[str, str]
) -> tuple[float, list[float], int]:
    """Every page of ``/3/footprints?{query}``: total seconds, ms of each page, records."""
    url: str | None = f"/3/footprints?{query}"
    pages = []
    seen = 0
    started = time.perf_counter()
    while url is not None:
        began = time.perf_counter()
        response = client.get(url, headers=headers)
        pages.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text[:300]
        seen += len(response.json["data"])
        link = response.headers.get("Link")
        if link is None:
            url = None
        else:
            target = urllib.parse.urlsplit(link[link.index("<") + 1 : link.index(">")])
            url = f"{target.path}?{target.query}"
    return time.perf_counter() - started, pages, seen


def filtered_calls(hot: str, typical: str) -> list[tuple[str, str]]:
    """(label, query) of the filtered ``limit=1`` calls."""
    classification = CLASSIFICATIONS[0]
    company = OWNER_COMPANIES[1]
    return [
        ("productId (one hot product)", f"productId={hot}"),
        ("companyId", f"companyId={company}"),
        ("geography (country CN)", "geography=CN"),
        ("geography (subdivision US-TX)", "geography=US-TX"),
        ("geography (region Europe)", "geography=Europe"),
        ("classification", f"classification={classification}"),
        ("validOn 2025-06-01", "validOn=2025-06-01T00:00:00Z"),
        ("validOn 2020-06-01 (past)", "validOn=2020-06-01T00:00:00Z"),
        ("validAfter 2024-06-30", "validAfter=2024-06-30T00:00:00Z"),
        ("validBefore 2024-01-01", "validBefore=2024-01-01T00:00:00Z"),
        ("status=Deprecated", "status=Deprecated"),
        ("selective: productId (typical)", f"productId={typical}"),
        ("selective: geography CN-HI", f"geography={RARE_SUBDIVISION}"),
        ("selective: validBefore 2021-06-01", "validBefore=2021-06-01T00:00:00Z"),
        ("none: productId unknown", "productId=urn:gtin:9999999999999"),
        ("none: validOn 1990-01-01", "validOn=1990-01-01T00:00:00Z"),
        (
            "AND: company+class+Active+validOn",
            f"companyId={company}&classification={classification}"
            "&status=Active&validOn=2025-06-01T00:00:00Z",
        ),
        (
            "OR: 3 geographies",
            "geography=DE&geography=FR&geography=Western%20Europe",
        ),
    ]


def measure(
    client: FlaskClient, member: Member, calls: list[tuple[str, str]], repeat: int
) -> tuple[list[tuple[str, float, float]], float]:
    base = timed(client, "/3/footprints?limit=1", member.headers, repeat)
    rows = [("baseline: no filter", statistics.median(base), p99(base))]
    for label, query in calls:
        times = timed(client, f"/3/footprints?limit=1&{query}", member.headers, repeat)
        rows.append((label, statistics.median(times), p99(times)))
    return rows, rows[0][1]


def print_table(title: str, rows: list[tuple[str, float, float]], base: float) -> None:
    print(f"\n{title}")
    print(f"{'call':<38} {'p50 ms':>9} {'p99 ms':>9} {'ratio':>7}")
    for label, median, high in rows:
        flag = "  <-- over 3x" if median / base > GOAL_RATIO else ""
        print(f"{label:<38} {median:9.2f} {high:9.2f} {median / base:7.2f}{flag}")


def explain(app: Flask, member: Member, query: str) -> str:
    """The database's plan of the page query the exchange sends for ``query`` (limit=1),
    captured as the driver gets it (EXPLAIN ANALYZE on PostgreSQL)."""
    criteria = criteria_from_query(urllib.parse.parse_qsl(query))
    engine = app.extensions["exchange.engine"]
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))  # statement and parameters as the driver gets them

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with transaction(app.extensions["exchange.sessions"]) as session:
            footprints.list_records(session, member.principal, limit=1, criteria=criteria)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    page_query = next((text, params) for text, params in sent if "ORDER BY" in text)
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + page_query[0], page_query[1]).all()
    return "\n".join(f"    {row[-1] if sqlite else row[0]}" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2500, help="footprints per submit call")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls of each kind")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite file)")
    parser.add_argument("--sqlite-analyze", action="store_true", help="ANALYZE SQLite too")
    parser.add_argument("--no-chain-owner", action="store_true", help="skip the shared view")
    parser.add_argument("--explain", action="store_true", help="plans of every filtered call")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as temporary,
        database(args.database_url, Path(temporary)) as url,
    ):
        app = create_app(
            {"DATABASE_URL": url, "TOKEN_LIFETIME_SECONDS": 12 * 3600},
            instance_path=str(Path(temporary) / "instance"),
        )
        engine = app.extensions["exchange.engine"]
        kind = engine.dialect.name
        owner = Member(app, "Bench supplier", Role.SUPPLIER, OWNER_COMPANIES)
        other = Member(app, "Bench competitor", Role.SUPPLIER, [OTHER_COMPANY])
        chain = Member(app, "Bench chain owner", Role.CHAIN_OWNER, [])

        load_seconds, submit_seconds = load(app, owner, other, args.records, args.batch)
        print(
            f"loaded {args.records:,} signed footprints on {kind} through footprints.submit "
            f"in batches of {args.batch}: {load_seconds:.1f} s "
            f"({args.records / load_seconds:,.0f}/s; submit calls {submit_seconds:.1f} s)"
        )
        with engine.begin() as connection:
            hot = product_urn(1, 0)
            typical = product_urn(1, 1234)
            # The chain owner is given 100 products of the supplier (the hot one not among them).
            shared = [product_urn(1, 1 + k * 49) for k in range(100)]
            counts = {
                name: connection.execute(sa.text(sql)).scalar_one()
                for name, sql in (
                    ("records", "SELECT count(*) FROM footprint_records"),
                    ("product terms", "SELECT count(*) FROM footprint_products"),
                    (
                        "deprecated",
                        "SELECT count(*) FROM footprint_records WHERE status = 'Deprecated'",
                    ),
                )
            }
        with transaction(app.extensions["exchange.sessions"]) as session:
            for product in shared:
                footprints.share(session, owner.principal, grantee_id=chain.id, product_id=product)
        if kind == "postgresql" or args.sqlite_analyze:
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        print(", ".join(f"{name} {count:,}" for name, count in counts.items()))
        analysed = "analysed" if kind == "postgresql" or args.sqlite_analyze else "not analysed"
        print(f"statistics: {analysed}")

        client = app.test_client()
        calls = filtered_calls(hot, typical)
        rows, base = measure(client, owner, calls, args.repeat)
        # How many of the owner's visible records each call's filter matches.
        matched = {}
        for label, query in calls:
            _, _, seen = walk(client, f"limit=1000&{query}", owner.headers)
            matched[label] = seen
        print_table(
            f"{kind}, caller = owner of the records ({args.repeat} calls each after 3 warm-up)",
            rows,
            base,
        )
        print("records matched:", "; ".join(f"{k} {v:,}" for k, v in matched.items()))
        total, pages, seen = walk(client, "limit=1000", owner.headers)
        check_walk(app, owner, seen)
        print(
            f"\nfull walk, limit=1000: {seen:,} records in {len(pages)} pages, "
            f"{total:.2f} s; per page p50 {statistics.median(pages):.1f} ms, "
            f"max {max(pages):.1f} ms"
        )
        filtered = rows[1:]
        worst = max(filtered, key=lambda row: row[1])
        over = [row for row in filtered if row[1] / base > GOAL_RATIO]

        if not args.no_chain_owner:
            chain_calls = [
                calls[0],
                ("productId (a shared product)", f"productId={shared[3]}"),
                *calls[1:],
            ]
            chain_rows, chain_base = measure(client, chain, chain_calls, args.repeat)
            print_table(
                f"{kind}, caller = chain owner seeing 100 products through product shares",
                chain_rows,
                chain_base,
            )
            total, pages, seen = walk(client, "limit=1000", chain.headers)
            check_walk(app, chain, seen)
            print(
                f"chain owner full walk, limit=1000: {seen:,} records in {len(pages)} pages, "
                f"{total:.2f} s; per page p50 {statistics.median(pages):.1f} ms"
            )
            over += [
                (f"chain owner: {label}", median, high)
                for label, median, high in chain_rows[1:]
                if median / chain_base > GOAL_RATIO
            ]

        for label, query in calls if args.explain else []:
            print(f"\nplan of {label} (owner):\n{explain(app, owner, query)}")
        if over:
            print(f"\n{len(over)} filtered calls over {GOAL_RATIO:.0f}x the baseline:")
            for label, median, _ in over:
                print(f"  {label}: {median:.1f} ms")
        worst_plan = next(query for label, query in calls if label == worst[0])
        print(f"\nplan of the worst owner call, {worst[0]}:\n{explain(app, owner, worst_plan)}")
        engine.dispose()

    print(
        f"RESULT base_p50_ms={base:.2f} worst_filter_p50_ms={worst[1]:.2f} "
        f"worst_ratio={worst[1] / base:.2f}"
    )


if __name__ == "__main__":
    main()
