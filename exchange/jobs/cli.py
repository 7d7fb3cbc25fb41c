"""``exchange worker``: drain the job queue, once or for as long as it runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
import threading
import types
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from exchange.jobs.services import (
    Backoff,
    Handler,
    JobContext,
    Schedule,
    run_due_jobs,
    run_schedules,
)

logger = logging.getLogger(__name__)

# Waits between rounds while the database is unavailable: doubling up to the cap.
OUTAGE_FIRST_WAIT = 0.5
OUTAGE_LONGEST_WAIT = 30.0


def _check_node(check: Callable[[Session], str | None] | None, context: JobContext) -> None:
    """A worker with other keys or another origin than those that signed the exchange's log
    would sign for a second log (trust lists, receipts): it refuses to start. The check is
    exchange.system.nodes, which create_app wires in."""
    if check is None:
        return
    with context.sessions() as session:
        problem = check(session)
    if problem is not None:
        raise click.ClickException(f"this worker must not serve this exchange: {problem}")


@click.command("worker")
@click.option("--once", is_flag=True, help="run every job that is due now, then stop")
@click.option("--poll", default=1.0, show_default=True, help="seconds between looks at the queue")
@click.option("--batch", default=10, show_default=True, help="jobs claimed at a time")
@with_appcontext
def worker_command(once: bool, poll: float, batch: int) -> None:
    """Run queued work (PACT event deliveries, partner syncs on a schedule, ...) with retries;
    survives restarts, and waits out a database that is briefly unavailable."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.keyring"].current(),
        config=app.config,
    )
    handlers: dict[str, Handler] = app.extensions["exchange.job_handlers"]
    schedules: list[Schedule] = app.extensions.get("exchange.schedules", [])
    backoff = Backoff(base=dt.timedelta(seconds=app.config["RETRY_BASE_SECONDS"]))
    lease = dt.timedelta(seconds=app.config["JOB_LEASE_SECONDS"])
    stopping = threading.Event()

    def stop(_signal: int, _frame: types.FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    total = 0
    wait = OUTAGE_FIRST_WAIT
    keyring = app.extensions["exchange.keyring"]
    checked = False
    while not stopping.is_set():
        # A rotation by `exchange keys rotate` reaches a running worker at its next round.
        context = dataclasses.replace(context, exchange_key=keyring.current())
        try:
            if not checked:
                _check_node(app.extensions.get("exchange.node_check"), context)
                checked = True
            run_schedules(context, schedules)
            report = run_due_jobs(context, handlers, limit=batch, backoff=backoff, lease=lease)
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable (restarted, failed over, its connections killed).
            # A job claimed in this round keeps its lease and is run again once it expires;
            # the worker itself waits for the database rather than exiting.
            problem = str(exc.orig or exc).strip().splitlines()[0]
            if once:
                raise click.ClickException(f"the database is unavailable: {problem}") from exc
            logger.error(
                "worker: the database is unavailable (%s); trying again in %.1f s", problem, wait
            )
            stopping.wait(wait)
            wait = min(wait * 2, OUTAGE_LONGEST_WAIT)
            continue
        wait = OUTAGE_FIRST_WAIT
        total += report.claimed
        if report.claimed:
            click.echo(
                f"jobs: {report.done} done, {report.retried} to retry, "
                f"{report.abandoned} abandoned",
                err=True,
            )
            continue
        if once:
            break
        stopping.wait(poll)
    if once:
        click.echo(f"worker: {total} job(s) run", err=True)
