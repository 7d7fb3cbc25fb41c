"""Enqueue deferred work and run it: claim due jobs, run their handlers, retry with backoff.

A job is claimed by leasing it (``locked_until``) in a short transaction of its own, run
outside any transaction, then marked done or rescheduled. A worker that dies mid-job
leaves a lease that expires, so another worker picks the job up again: delivery is at
least once, and each job carries a stable id (a CloudEvent id, say) for receivers to
drop repeats. On PostgreSQL claims skip rows another worker holds; on SQLite the
engine's ``BEGIN IMMEDIATE`` makes claims take turns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import transaction, utcnow
from exchange.jobs.models import Job, JobStatus
from exchange.keyring import ExchangeKey

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE: Final = dt.timedelta(hours=72)
# Long enough for a whole claimed batch of slow peers (10 jobs, two 15 s requests each).
DEFAULT_LEASE: Final = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits base·2ⁿ, capped, times [½, 1)."""

    base: dt.timedelta = dt.timedelta(seconds=10)
    cap: dt.timedelta = dt.timedelta(hours=1)

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> dt.timedelta:
        exponential = self.base * (1 << min(attempts, 30))
        return min(exponential, self.cap) * (0.5 + draw() / 2)


@dataclasses.dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler may use: its own sessions, the exchange key and the settings."""

    sessions: sessionmaker[Session]
    exchange_key: ExchangeKey
    config: Mapping[str, Any]


Handler = Callable[[JobContext, dict[str, Any]], None]
Schedule = Callable[[Session, dt.datetime, Mapping[str, Any]], None]
"""Queues recurring work (a partner sync) when it is due and not queued yet."""


class JobFailed(Exception):
    """A handler's expected failure (a peer that does not answer); the job is retried."""


@dataclasses.dataclass(frozen=True, slots=True)
class RunReport:
    done: int = 0
    retried: int = 0
    abandoned: int = 0

    @property
    def claimed(self) -> int:
        return self.done + self.retried + self.abandoned


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    deadline: dt.timedelta = DEFAULT_DEADLINE,
    now: dt.datetime | None = None,
) -> Job:
    """Add a job to the caller's transaction: it runs only if that transaction commits."""
    moment = now or utcnow()
    job = Job(
        kind=kind,
        payload=payload,
        status=JobStatus.PENDING,
        attempts=0,
        next_attempt_at=moment,
        locked_until=None,
        deadline_at=moment + deadline,
        last_error=None,
        created_at=moment,
        finished_at=None,
    )
    session.add(job)
    session.flush()
    return job


def claim_due(
    session: Session, *, limit: int, now: dt.datetime, lease: dt.timedelta = DEFAULT_LEASE
) -> list[Job]:
    """Lease up to ``limit`` due jobs to the caller until ``now + lease``."""
    query = (
        sa.select(Job)
        .where(
            Job.status == JobStatus.PENDING,
            Job.next_attempt_at <= now,
            sa.or_(Job.locked_until.is_(None), Job.locked_until <= now),
        )
        .order_by(Job.next_attempt_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    jobs = list(session.scalars(query))
    for job in jobs:
        job.locked_until = now + lease
    session.flush()
    return jobs


def record_success(session: Session, job_id: int, *, now: dt.datetime) -> None:
    job = session.get(Job, job_id, with_for_update=True)
    assert job is not None
    job.attempts += 1
    job.status = JobStatus.DONE
    job.finished_at = now
    job.locked_until = None
    job.last_error = None


def record_failure(
    session: Session, job_id: int, *, error: str, now: dt.datetime, backoff: Backoff
) -> JobStatus:
    """Reschedule a failed job, or abandon it when the next try would pass its deadline."""
    job = session.get(Job, job_id, with_for_update=True)
    assert job is not None
    job.attempts += 1
    job.last_error = error[:2000]
    job.locked_until = None
    next_attempt = now + backoff.delay(job.attempts - 1)
    if next_attempt > job.deadline_at:
        job.status = JobStatus.ABANDONED
        job.finished_at = now
    else:
        job.next_attempt_at = next_attempt
    return job.status


# The key of the PostgreSQL advisory lock that one worker at a time holds while it runs the
# schedules (any fixed 64-bit number no other code of the database uses).
SCHEDULES_LOCK: Final = 0x6678_7363_6865_6431  # "fxschsd1"


def run_schedules(
    context: JobContext, schedules: Sequence[Schedule], *, now: dt.datetime | None = None
) -> bool:
    """Let each schedule queue its recurring job, in one short transaction; False when
    another worker was doing it at that moment (this round then leaves it to that one).

    A schedule queues its job when none is pending: with workers on several nodes, two
    rounds at the same moment would each see none and queue one each. On SQLite the
    engine's ``BEGIN IMMEDIATE`` makes the rounds take turns; on PostgreSQL a round first
    takes a transaction-scoped advisory lock, and a worker that does not get it skips.
    """
    if not schedules:
        return True
    with transaction(context.sessions) as session:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            sa.select(sa.func.pg_try_advisory_xact_lock(SCHEDULES_LOCK))
        ):
            return False
        for schedule in schedules:
            schedule(session, now or utcnow(), context.config)
    return True


def run_due_jobs(
    context: JobContext,
    handlers: Mapping[str, Handler],
    *,
    limit: int = 10,
    backoff: Backoff | None = None,
    lease: dt.timedelta = DEFAULT_LEASE,
    clock: Callable[[], dt.datetime] = utcnow,
) -> RunReport:
    """Claim and run one round of due jobs; each ends done, rescheduled or abandoned."""
    backoff = backoff or Backoff()
    with transaction(context.sessions) as session:
        claimed = [
            (job.id, job.kind, dict(job.payload))
            for job in claim_due(session, limit=limit, now=clock(), lease=lease)
        ]
    done = retried = abandoned = 0
    for job_id, kind, payload in claimed:
        handler = handlers.get(kind)
        error: str | None = None
        if handler is None:
            error = f"no handler for jobs of kind {kind!r}"
        else:
            try:
                handler(context, payload)
            except JobFailed as exc:
                error = str(exc)
            except Exception as exc:
                # A bug in a handler must not stop every other delivery; it is logged with
                # its traceback and the job retried, so a fix deployed in time still runs it.
                logger.exception("job %s (%s) failed unexpectedly", job_id, kind)
                error = f"{type(exc).__name__}: {exc}"
        with transaction(context.sessions) as session:
            if error is None:
                record_success(session, job_id, now=clock())
                done += 1
            elif (
                record_failure(session, job_id, error=error, now=clock(), backoff=backoff)
                is JobStatus.ABANDONED
            ):
                logger.warning("job %s (%s) abandoned: %s", job_id, kind, error)
                abandoned += 1
            else:
                retried += 1
    return RunReport(done=done, retried=retried, abandoned=abandoned)
