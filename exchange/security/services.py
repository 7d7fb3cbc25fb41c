"""Rate limits and sign-in lockouts, counted where every worker sees the same numbers.

A limit is ``hits`` per ``seconds`` in fixed windows. Counts live in the database (table
``rate_counters``, one atomic upsert per count on SQLite and PostgreSQL) or, when
EXCHANGE_REDIS_URL is set, in Redis (``INCR`` in a ``MULTI``), so gunicorn workers and
machines share them. Clients are kept only as hashes: no address or e-mail is stored.

For large limits a worker takes a small share of the window's budget at once (a *lease*,
1/50 of the limit) and spends it locally, so a busy public endpoint costs one write per
fifty requests instead of one per request. A worker's unspent lease is lost when the window
ends, so the deployment may refuse up to ``workers * limit / 50`` requests early; it never
lets more than the limit through. Limits under 100 are counted one by one, exactly.

When Redis does not answer, a limited request is refused with 503 (ServiceUnavailable) rather
than let through uncounted; see :class:`RedisCounter`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from exchange.db import reader
from exchange.errors import ServiceUnavailable, TooManyRequests
from exchange.security.models import RateCounter

logger = logging.getLogger("exchange.security")

LEASE_FRACTION = 50
# After Redis fails to answer, a process refuses limited requests at once for this long
# (and tells callers to come back then) instead of trying again on every request.
STORE_RETRY_SECONDS = 5

_Result = TypeVar("_Result")


@dataclasses.dataclass(frozen=True)
class Rate:
    """At most ``hits`` in each window of ``seconds``."""

    hits: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"60/60"``: sixty per minute. Both numbers are positive integers."""
        count, _, seconds = text.strip().partition("/")
        try:
            rate = cls(int(count), int(seconds))
        except ValueError:
            raise ValueError(f"a rate is HITS/SECONDS such as 60/60, not {text!r}") from None
        if rate.hits < 1 or rate.seconds < 1:
            raise ValueError(f"a rate is HITS/SECONDS with both positive, not {text!r}")
        return rate

    def __str__(self) -> str:
        return f"{self.hits}/{self.seconds}"


class Counter(Protocol):
    """Where hits are counted: shared by every worker of the deployment."""

    def add(self, key: str, window: int, seconds: int, amount: int) -> int:
        """Add ``amount`` to the window's count atomically; the new count."""

    def get(self, key: str, window: int) -> int: ...

    def clear(self, key: str, window: int) -> None: ...


def counter_table() -> sa.Table:
    table = RateCounter.__table__
    assert isinstance(table, sa.Table)
    return table


class DatabaseCounter:
    """Counts in ``rate_counters``, each change in a short transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads take no write lock on SQLite (see exchange.db.reader).
        self.reader = reader(engine)
        self.table = counter_table()

    def add(self, key: str, window: int, seconds: int, amount: int) -> int:
        now = dt.datetime.now(dt.UTC)
        expires_at = dt.datetime.fromtimestamp((window + 1) * seconds, dt.UTC)
        insert: Any
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = (
            insert(self.table)
            .values(key=key, window=window, hits=amount, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=["key", "window"], set_={"hits": self.table.c.hits + amount}
            )
            .returning(self.table.c.hits)
        )
        with self.engine.begin() as connection:
            hits = int(connection.execute(statement).scalar_one())
            if hits == amount:
                # A new window of some key: sweep the windows that have ended since.
                connection.execute(sa.delete(self.table).where(self.table.c.expires_at < now))
        return hits

    def get(self, key: str, window: int) -> int:
        with self.reader.connect() as connection:
            hits = connection.scalar(
                sa.select(self.table.c.hits).where(
                    self.table.c.key == key, self.table.c.window == window
                )
            )
        return int(hits or 0)

    def clear(self, key: str, window: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(self.table).where(self.table.c.key == key, self.table.c.window <= window)
            )


class RedisCounter:
    """Counts in Redis: one key per limit key and window, expiring with the window.

    When Redis cannot be reached (refused, timed out, wrong password) the limited request is
    refused with ServiceUnavailable, logged at ERROR. It fails closed on purpose: the limits
    are what bound guessing client secrets and portal passwords, and an attacker able to
    make Redis unreachable (or to wait for an outage) must not get unlimited tries. Only the
    limited endpoints are refused; everything else never touches Redis and keeps working.

    After a failure the counter does not try Redis again for ``retry_seconds``: gunicorn's
    sync workers would otherwise each wait out a connect timeout per limited request, and
    with every worker waiting, the endpoints that are not limited would starve too. It also
    keeps an outage to one log line per process every ``retry_seconds``.
    """

    def __init__(
        self,
        client: Any,
        prefix: str = "fx:rate:",
        *,
        retry_seconds: int = STORE_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._down_until = -math.inf

    def add(self, key: str, window: int, seconds: int, amount: int) -> int:
        name = f"{self.prefix}{key}:{window}"

        def increment() -> int:
            pipeline = self.client.pipeline(transaction=True)
            pipeline.incrby(name, amount)
            pipeline.expire(name, seconds + 1)
            hits, _ = pipeline.execute()
            return int(hits)

        return self._call(increment)

    def get(self, key: str, window: int) -> int:
        value = self._call(lambda: self.client.get(f"{self.prefix}{key}:{window}"))
        return int(value or 0)

    def clear(self, key: str, window: int) -> None:
        names = (f"{self.prefix}{key}:{window}", f"{self.prefix}{key}:{window - 1}")
        self._call(lambda: self.client.delete(*names))

    def _call(self, command: Callable[[], _Result]) -> _Result:
        import redis

        left = self._down_until - self.clock()
        if left > 0:
            raise self._unavailable(math.ceil(left))
        try:
            return command()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._down_until = self.clock() + self.retry_seconds
            logger.error(
                "the rate-limit store is unreachable (Redis at %s: %s: %s); rate-limited "
                "requests are refused with 503 for the next %d s",
                self.location(),
                type(exc).__name__,
                self._scrubbed(str(exc)),
                self.retry_seconds,
            )
            raise self._unavailable(self.retry_seconds) from exc

    @staticmethod
    def _unavailable(retry_after: int) -> ServiceUnavailable:
        return ServiceUnavailable(
            "the rate-limit store is unreachable; retry later", retry_after=retry_after
        )

    def location(self) -> str:
        """Where Redis is, for the operators' logs: host, port and database, no credentials."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def _scrubbed(self, text: str) -> str:
        # redis-py names host and port in its errors, not the password; this makes sure.
        password = self.client.connection_pool.connection_kwargs.get("password")
        return text.replace(password, "***") if password else text


def redis_counter(url: str, prefix: str = "fx:rate:", *, timeout: float = 1.0) -> RedisCounter:
    """A counter on the Redis at ``url``; ``timeout`` bounds connecting and each command.

    No retries: a failed command is answered with 503 and Retry-After at once, rather than
    holding the worker while redis-py tries again.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    return RedisCounter(client, prefix)


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int


class Limiter:
    """Decides each hit against a shared :class:`Counter`, with leases for large limits."""

    def __init__(self, counter: Counter, *, clock: Callable[[], float] = time.time) -> None:
        self.counter = counter
        self.clock = clock
        self._lock = threading.Lock()
        # (key, window) -> hits this process has taken from the shared count but not spent.
        self._leases: dict[tuple[str, int], int] = {}

    @staticmethod
    def key(name: str, client: str) -> str:
        return f"{name}:{hashlib.sha256(client.encode('utf-8')).hexdigest()[:40]}"

    def _window(self, rate: Rate) -> tuple[int, int]:
        now = self.clock()
        window = int(now // rate.seconds)
        return window, max(1, math.ceil((window + 1) * rate.seconds - now))

    def hit(self, name: str, client: str, rate: Rate) -> Decision:
        """Count one request of ``client`` under the limit ``name``; may it go ahead?"""
        key = self.key(name, client)
        window, retry_after = self._window(rate)
        with self._lock:
            left = self._leases.get((key, window), 0)
            if left > 0:
                self._leases[(key, window)] = left - 1
                return Decision(True, retry_after)
            lease = max(1, rate.hits // LEASE_FRACTION) if rate.hits >= 100 else 1
            total = self.counter.add(key, window, rate.seconds, lease)
            granted = min(lease, rate.hits - (total - lease))
            if len(self._leases) > 10_000:
                self._leases = {k: v for k, v in self._leases.items() if k[1] >= window}
            if granted <= 0:
                return Decision(False, retry_after)
            self._leases[(key, window)] = granted - 1
            return Decision(True, retry_after)

    def record(self, name: str, client: str, rate: Rate) -> int:
        """Count one event exactly (no lease); the window's count so far."""
        window, _ = self._window(rate)
        return self.counter.add(self.key(name, client), window, rate.seconds, 1)

    def count(self, name: str, client: str, rate: Rate) -> tuple[int, int]:
        """The window's count so far and the seconds until the window ends."""
        window, retry_after = self._window(rate)
        return self.counter.get(self.key(name, client), window), retry_after

    def seconds_left(self, rate: Rate) -> int:
        """Seconds until the current window of ``rate`` ends."""
        return self._window(rate)[1]

    def reset(self, name: str, client: str, rate: Rate) -> None:
        window, _ = self._window(rate)
        key = self.key(name, client)
        with self._lock:
            self._leases.pop((key, window), None)
        self.counter.clear(key, window)


# --- wrong client secrets ----------------------------------------------------------------

CLIENT_FAILURES = "token-client-failures"


def token_secret_refused(limiter: Limiter, rate: Rate, *, client_id: str, address: str) -> None:
    """Count a token request whose secret was wrong against the client id it named; past
    ``rate``, refuse it with TooManyRequests (429) instead of the usual 401.

    Only wrong secrets are counted, and only after the secret was checked, so the client's
    owner presenting the right secret is never refused for what others sent (the limit per
    address still applies to everyone). Checking first is affordable because a check is
    cheap: one primary-key read and a SHA-256 of the presented secret (client secrets are
    256-bit random values, so they need no slow hash; see exchange.organisations.services), the
    same work a 401 costs. A slow password hash would call for refusing before checking,
    and then the owner would be locked out with the attacker, as portal accounts are.

    What bounds guessing is the per-address limit, and the 2**256 secrets: a wrong secret
    past this limit is still checked (the right one must pass), so this limit turns a flood
    of wrong secrets into 429s and one WARNING line rather than capping the guesses.
    """
    failures = limiter.record(CLIENT_FAILURES, client_id, rate)
    if failures == rate.hits:
        logger.warning(
            "token requests naming client %s with a wrong secret are refused (429) for %d s "
            "after %d wrong secrets; the last came from %s",
            client_id,
            limiter.seconds_left(rate),
            failures,
            address,
        )
    if failures > rate.hits:
        raise TooManyRequests(
            "too many wrong secrets for this client id; retry later",
            retry_after=limiter.seconds_left(rate),
        )


# --- sign-in lockout ---------------------------------------------------------------------

ACCOUNT_FAILURES = "signin-account"
ADDRESS_FAILURES = "signin-address"


@dataclasses.dataclass(frozen=True)
class Lockout:
    """Failed sign-ins allowed per account and per client address in a window."""

    per_account: Rate
    per_address: Rate


def check_sign_in(limiter: Limiter, lockout: Lockout, *, account: str, address: str) -> None:
    """Refuse (TooManyRequests) while the account or the address has failed too often,
    before the password is even looked at: the right one is refused too."""
    for name, client, rate in (
        (ACCOUNT_FAILURES, account, lockout.per_account),
        (ADDRESS_FAILURES, address, lockout.per_address),
    ):
        failures, retry_after = limiter.count(name, client, rate)
        if failures >= rate.hits:
            logger.warning(
                "portal sign-in refused for %s from %s: the %s is locked for %d s more "
                "(%d failed attempts)",
                account,
                address,
                "account" if name == ACCOUNT_FAILURES else "address",
                retry_after,
                failures,
            )
            raise TooManyRequests(
                "too many failed sign-in attempts; try again later", retry_after=retry_after
            )


def sign_in_failed(limiter: Limiter, lockout: Lockout, *, account: str, address: str) -> None:
    account_failures = limiter.record(ACCOUNT_FAILURES, account, lockout.per_account)
    address_failures = limiter.record(ADDRESS_FAILURES, address, lockout.per_address)
    logger.warning(
        "portal sign-in failed for %s from %s (%d of %d for the account, %d of %d for the address)",
        account,
        address,
        account_failures,
        lockout.per_account.hits,
        address_failures,
        lockout.per_address.hits,
    )
    if account_failures == lockout.per_account.hits:
        logger.warning("portal account %s is locked after %d failures", account, account_failures)
    if address_failures == lockout.per_address.hits:
        logger.warning(
            "portal sign-ins from %s are locked after %d failures", address, address_failures
        )


def sign_in_succeeded(limiter: Limiter, lockout: Lockout, *, account: str) -> None:
    """A successful sign-in forgives the account's failures (not the address's: one good
    account must not reset an address that is guessing others' passwords)."""
    limiter.reset(ACCOUNT_FAILURES, account, lockout.per_account)
