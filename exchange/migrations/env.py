"""Alembic environment: migrations run online against the configured database URL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from exchange.db import make_engine
from exchange.models import metadata

config = context.config


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    if engine.dialect.name == "sqlite":
        # A batch migration copies a table and drops the old one; with foreign keys on, that
        # drop would cascade deletes into every table referring to it (the pragma cannot be
        # changed inside a transaction, so it is set as each connection opens).
        sa.event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if connection.dialect.name == "sqlite":
                # With the checks off while migrating, prove nothing was left dangling.
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
run_migrations_online()
