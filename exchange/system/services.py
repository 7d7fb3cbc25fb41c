"""Schema migrations and health checks."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from exchange.log.models import LogHead

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is an INI parser; a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def log_size(engine: Engine) -> int | None:
    """The transparency log's size, or None when the database does not answer.

    One primary-key read of the log head: as cheap as ``SELECT 1``, and it shows a monitor
    that the schema is there and whether the log still grows.
    """
    try:
        with engine.connect() as connection:
            size = connection.execute(sa.select(LogHead.tree_size).where(LogHead.id == 1)).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    return int(size or 0)
