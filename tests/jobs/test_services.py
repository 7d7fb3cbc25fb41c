"""The job queue: leases, retries with backoff, deadlines, and a worker that survives bugs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from exchange.db import transaction
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import (
    DEFAULT_LEASE,
    Backoff,
    JobContext,
    JobFailed,
    claim_due,
    enqueue,
    run_due_jobs,
    run_schedules,
)

START = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


def context(app: Flask) -> JobContext:
    return JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )


def add_job(app: Flask, kind: str = "test.kind", **payload: Any) -> int:
    with transaction(app.extensions["exchange.sessions"]) as session:
        return enqueue(session, kind=kind, payload=payload, now=START).id


def job(app: Flask, job_id: int) -> Job:
    with transaction(app.extensions["exchange.sessions"]) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def test_backoff_doubles_is_capped_and_jittered_within_half_to_whole() -> None:
    backoff = Backoff(base=dt.timedelta(seconds=10), cap=dt.timedelta(minutes=5))
    assert backoff.delay(0, draw=lambda: 0.0) == dt.timedelta(seconds=5)
    assert backoff.delay(0, draw=lambda: 0.999999) < dt.timedelta(seconds=10)
    assert backoff.delay(3, draw=lambda: 0.0) == dt.timedelta(seconds=40)
    assert backoff.delay(40, draw=lambda: 0.0) == dt.timedelta(minutes=2, seconds=30)


def test_a_leased_job_is_invisible_until_its_lease_ends(app: Flask) -> None:
    job_id = add_job(app)
    sessions = app.extensions["exchange.sessions"]
    with transaction(sessions) as session:
        assert [j.id for j in claim_due(session, limit=5, now=START)] == [job_id]
    almost = START + DEFAULT_LEASE - dt.timedelta(seconds=1)
    with transaction(sessions) as session:
        assert claim_due(session, limit=5, now=almost) == []
    with transaction(sessions) as session:  # the worker died: the job comes back
        assert [j.id for j in claim_due(session, limit=5, now=START + DEFAULT_LEASE)] == [job_id]


def test_failures_are_retried_with_backoff_then_succeed(app: Flask) -> None:
    job_id = add_job(app, value=7)
    clock = Clock()
    calls: list[dict[str, Any]] = []

    def flaky(_context: JobContext, payload: dict[str, Any]) -> None:
        calls.append(payload)
        if len(calls) < 3:
            raise JobFailed("peer did not answer")

    handlers = {"test.kind": flaky}
    backoff = Backoff(base=dt.timedelta(seconds=10))
    report = run_due_jobs(context(app), handlers, backoff=backoff, clock=clock)
    assert (report.done, report.retried) == (0, 1)
    assert job(app, job_id).last_error == "peer did not answer"
    # not due yet: nothing runs
    assert run_due_jobs(context(app), handlers, backoff=backoff, clock=clock).claimed == 0
    clock.now += dt.timedelta(seconds=10)
    assert run_due_jobs(context(app), handlers, backoff=backoff, clock=clock).retried == 1
    clock.now += dt.timedelta(seconds=20)
    assert run_due_jobs(context(app), handlers, backoff=backoff, clock=clock).done == 1
    done = job(app, job_id)
    assert (done.status, done.attempts, done.last_error) == (JobStatus.DONE, 3, None)
    assert calls == [{"value": 7}] * 3


def test_a_job_is_abandoned_when_its_next_try_would_pass_72_hours(app: Flask) -> None:
    job_id = add_job(app)
    clock = Clock()

    def down(_context: JobContext, _payload: dict[str, Any]) -> None:
        raise JobFailed("connection refused")

    backoff = Backoff(base=dt.timedelta(hours=1), cap=dt.timedelta(hours=24))
    runs = 0
    while job(app, job_id).status is JobStatus.PENDING:
        clock.now = job(app, job_id).next_attempt_at
        run_due_jobs(context(app), {"test.kind": down}, backoff=backoff, clock=clock)
        runs += 1
        assert runs < 20
    abandoned = job(app, job_id)
    assert abandoned.status is JobStatus.ABANDONED
    assert abandoned.finished_at is not None
    assert abandoned.finished_at <= START + dt.timedelta(hours=72)
    assert abandoned.attempts == runs


def test_a_handler_bug_or_unknown_kind_is_recorded_and_retried(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    buggy = add_job(app)
    orphan = add_job(app, kind="nobody.handles")

    def broken(_context: JobContext, _payload: dict[str, Any]) -> None:
        raise KeyError("missing")

    report = run_due_jobs(context(app), {"test.kind": broken}, clock=Clock())
    assert report.retried == 2
    assert job(app, buggy).last_error == "KeyError: 'missing'"
    assert job(app, orphan).last_error == "no handler for jobs of kind 'nobody.handles'"
    assert "failed unexpectedly" in caplog.text


def test_workers_on_two_nodes_queue_a_recurring_job_once(app: Flask) -> None:
    """Two workers' schedule rounds at the same moment: the one that finds the other inside
    skips its round, instead of also seeing no pending job and queueing a second."""
    if app.extensions["exchange.engine"].dialect.name != "postgresql":
        pytest.skip("on SQLite the engine's BEGIN IMMEDIATE makes the rounds take turns")
    inside, release = threading.Event(), threading.Event()

    def queue_unless_pending(session: Session, now: dt.datetime, _: Mapping[str, Any]) -> None:
        pending = session.scalar(
            sa.select(Job.id).where(Job.kind == "test.recurring", Job.status == JobStatus.PENDING)
        )
        if pending is None:
            enqueue(session, kind="test.recurring", payload={}, now=now)

    def first_round(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> None:
        queue_unless_pending(session, now, config)
        inside.set()
        assert release.wait(30)

    ran: list[bool] = []
    first = threading.Thread(target=lambda: ran.append(run_schedules(context(app), [first_round])))
    first.start()
    try:
        assert inside.wait(30)
        # The first round holds its transaction (its job not yet committed) ...
        assert run_schedules(context(app), [queue_unless_pending]) is False
    finally:
        release.set()
        first.join(30)
    assert ran == [True]
    # ... and once it committed, the next round finds its job pending.
    assert run_schedules(context(app), [queue_unless_pending]) is True
    with transaction(app.extensions["exchange.sessions"]) as session:
        kinds = session.scalars(sa.select(Job.kind).where(Job.kind == "test.recurring")).all()
    assert kinds == ["test.recurring"]
