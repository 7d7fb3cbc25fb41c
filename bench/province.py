"""Demo-province benchmark: how long generating a province takes, and what it makes.

    python bench/province.py [--companies 300] [--years 5] [--seed 23] [--database URL]

Generates the province of ``exchange demo --scale province`` into a fresh SQLite database
in a temporary instance (or the empty database ``--database`` names) through the services,
with real signatures and log entries, and prints the counts and rows made. Wall time on a
shared machine depends on what else runs; the process's CPU time is printed beside it.

Ends with ``RESULT seconds=… cpu_s=… records=… rows=… records_per_s=…``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--database", default=None, help="an empty database (default: SQLite)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="province-bench-") as instance:
        os.environ["EXCHANGE_INSTANCE_PATH"] = instance
        if arguments.database:
            os.environ["EXCHANGE_DATABASE_URL"] = arguments.database
        # Imported after the environment names the instance: create_app reads it.
        from exchange import create_app, web
        from exchange.demo import COMPANIES, province
        from exchange.system.services import upgrade_database

        app = create_app()
        upgrade_database(app.config["DATABASE_URL"])
        plan = province.Plan(
            seed=arguments.seed, companies=arguments.companies, years=arguments.years
        )
        with app.app_context():
            origin = app.config["EXCHANGE_ORIGIN"]
            services = province.Services(
                sessions=app.extensions["exchange.sessions"],
                key=web.exchange_key(),
                origin=origin,
                public_url=f"https://{origin}",
            )
            cpu = time.process_time()
            summary = province.generate(
                services,
                plan,
                regulator_spec=COMPANIES["regulator"],
                certifier_spec=COMPANIES["certifier"],
                say=print,
            )
            cpu = time.process_time() - cpu
    for name, count in summary.counts.items():
        print(f"{count:>8}  {name}")
    rows = sum(summary.rows.values())
    print(f"{rows:>8}  rows in {len(summary.rows)} tables")
    records = summary.counts.get("records", 0)
    print(
        f"RESULT seconds={summary.seconds:.1f} cpu_s={cpu:.1f} records={records} rows={rows} "
        f"records_per_s={records / summary.seconds:.0f}"
    )


if __name__ == "__main__":
    main()
