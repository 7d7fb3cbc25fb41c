"""Abuse resistance: rate limits shared across workers, the portal's sign-in lockout and
the security headers of every answer. ``install(app)`` wires it all into the app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

from exchange.db import make_engine
from exchange.security.services import (
    DatabaseCounter,
    Limiter,
    Rate,
    counter_table,
    redis_counter,
)


def settings_from_environment() -> dict[str, Any]:
    """Defaults sized for real use (well above any one legitimate client), each an env var."""
    return {
        # "0" turns the request limits off (the sign-in lockout stays).
        "RATE_LIMITS": os.environ.get("EXCHANGE_RATE_LIMITS", "1") not in {"0", "off", "no"},
        # POST /auth/token: every request per client address, and wrong secrets per client
        # id named (the right secret is never refused by others' failures).
        "RATE_LIMIT_TOKEN": Rate.parse(os.environ.get("EXCHANGE_RATE_LIMIT_TOKEN", "300/60")),
        "RATE_LIMIT_TOKEN_CLIENT": Rate.parse(
            os.environ.get("EXCHANGE_RATE_LIMIT_TOKEN_CLIENT", "60/60")
        ),
        # Label, record and log verification, per client address (shoppers behind one
        # carrier NAT share an address: keep this generous).
        "RATE_LIMIT_VERIFY": Rate.parse(os.environ.get("EXCHANGE_RATE_LIMIT_VERIFY", "6000/60")),
        # Portal sign-in: failures per account, and per client address, in a window.
        "LOGIN_LOCKOUT_ACCOUNT": Rate.parse(
            os.environ.get("EXCHANGE_LOGIN_LOCKOUT_ACCOUNT", "5/900")
        ),
        "LOGIN_LOCKOUT_ADDRESS": Rate.parse(
            os.environ.get("EXCHANGE_LOGIN_LOCKOUT_ADDRESS", "50/900")
        ),
        # Counters in Redis instead of the database.
        "REDIS_URL": os.environ.get("EXCHANGE_REDIS_URL") or None,
        # Namespace of the counters' keys, for several exchanges on one Redis.
        "REDIS_PREFIX": os.environ.get("EXCHANGE_REDIS_PREFIX", "fx:rate:"),
        # Seconds to connect to Redis and for each command. Redis answers in a millisecond;
        # a limited request waits this long at most before its 503 when Redis is away.
        "REDIS_TIMEOUT": os.environ.get("EXCHANGE_REDIS_TIMEOUT", "1"),
        # Proxies whose X-Forwarded-For names the client (as gunicorn's forwarded_allow_ips).
        "TRUSTED_PROXIES": frozenset(
            part.strip()
            for part in os.environ.get("EXCHANGE_FORWARDED_ALLOW_IPS", "127.0.0.1").split(",")
            if part.strip()
        ),
    }


_RATES = (
    "RATE_LIMIT_TOKEN",
    "RATE_LIMIT_TOKEN_CLIENT",
    "RATE_LIMIT_VERIFY",
    "LOGIN_LOCKOUT_ACCOUNT",
    "LOGIN_LOCKOUT_ADDRESS",
)


def _counter_engine(app: Flask) -> Engine:
    """PostgreSQL: the exchange's database. SQLite: a file of its own beside it.

    SQLite has one write lock per file, and label verification is built to never take the
    exchange's (exchange.db.reader): counting its requests in the same file would make every
    scan queue behind each submission. The counters are scratch data, so their file is made
    here rather than by a migration; every worker on the machine opens the same one.
    """
    engine: Engine = app.extensions["exchange.engine"]
    if engine.dialect.name != "sqlite":
        return engine
    counters = make_engine(f"sqlite:///{Path(app.instance_path) / 'rate-limits.db'}")
    counter_table().create(counters, checkfirst=True)
    app.extensions["exchange.engines"].append(counters)
    return counters


def _seconds(value: str | float) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"EXCHANGE_REDIS_TIMEOUT is a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 60:
        raise ValueError(f"EXCHANGE_REDIS_TIMEOUT is from 0 to 60 seconds, not {value!r}")
    return seconds


def install(app: Flask) -> None:
    """Settings (test_config given to create_app wins), the shared limiter, the hooks."""
    from exchange.security import views
    from exchange.security.cli import security_cli

    for name, value in settings_from_environment().items():
        app.config.setdefault(name, value)
    for name in _RATES:
        if isinstance(app.config[name], str):
            app.config[name] = Rate.parse(app.config[name])
    app.config["REDIS_TIMEOUT"] = _seconds(app.config["REDIS_TIMEOUT"])
    redis_url = app.config["REDIS_URL"]
    counter = (
        redis_counter(redis_url, app.config["REDIS_PREFIX"], timeout=app.config["REDIS_TIMEOUT"])
        if redis_url
        else DatabaseCounter(_counter_engine(app))
    )
    app.extensions["exchange.limiter"] = Limiter(counter)
    views.register(app)
    app.cli.add_command(security_cli)
