"""Collecting cosignatures: the worker submits our newest checkpoint to each witness.

Each round (:func:`collect`, the ``witness.collect`` job that :func:`schedule_collection`
queues every WITNESS_INTERVAL_SECONDS) signs the checkpoint at the log's current size and
sends it to every active witness that has not cosigned it yet, with the consistency proof
from the size that witness last cosigned (tlog-witness ``add-checkpoint``). A 409 names the
size the witness holds; the submission is then made once more from there.

A returned cosignature is kept only after it verifies under the witness's key over exactly
our checkpoint. A witness that lies (a cosignature that does not verify, none by its key, a
time in the future), reports our log inconsistent (422) or holds a size our log does not
have is recorded as an incident; one that is silent (a timeout, a refused connection, an
error status) only counts a failure on its row. Nothing here holds a database lock or
transaction while it waits for a witness, and no witness's failure stops the round, the
worker or the log: appends never wait for witnesses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from exchange import outbound
from exchange.db import insert_unless_present, transaction, utcnow
from exchange.errors import ValidationFailed
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, enqueue
from exchange.keyring import ExchangeKey
from exchange.log import cosignature, note
from exchange.log import services as log
from exchange.log.schemas import b64
from exchange.witness.models import (
    LogCosignature,
    LogWitness,
    LogWitnessIncident,
    WitnessStatus,
)

logger = logging.getLogger(__name__)

COLLECT_JOB: Final = "witness.collect"
DEFAULT_TIMEOUT: Final = 10.0
MAX_ANSWER_BYTES: Final = 64 * 1024
SIZE_MEDIA_TYPE: Final = "text/x.tlog.size"
_SIZE: Final = re.compile(r"(0|[1-9][0-9]{0,18})\n")


class Outcome:
    """How a submission ended (the values recorded and reported)."""

    COSIGNED = "cosigned"
    SILENT = "silent"  # timeout, connection refused, an answer cut short
    REFUSED = "refused"  # an error status: 403, 404, 400, 5xx (configuration, or its outage)
    LIED = "lied"  # a cosignature that does not verify, or none by its key
    INCONSISTENT = "inconsistent"  # the witness holds a view our log does not extend


# Outcomes worth an incident row: evidence of a lie or of a split view, not a mere outage.
_INCIDENTS: Final = frozenset({Outcome.LIED, Outcome.INCONSISTENT})


@dataclasses.dataclass(frozen=True, slots=True)
class Submitted:
    witness: str
    outcome: str
    tree_size: int
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    id: int
    name: str
    public_key: bytes
    url: str
    cosigned_size: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Ours:
    size: int
    root_hash: bytes
    note: str


def collect(
    sessions: sessionmaker[Session],
    key: ExchangeKey,
    origin: str,
    *,
    http: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    clock: Callable[[], dt.datetime] = utcnow,
) -> list[Submitted]:
    """One round: our current checkpoint to every active witness still lacking it."""
    with transaction(sessions) as session:
        checkpoint = log.ensure_checkpoint(session, key, origin)
        ours = _Ours(checkpoint.tree_size, checkpoint.root_hash, checkpoint.note)
        have = set(
            session.scalars(
                sa.select(LogCosignature.witness_id).where(LogCosignature.tree_size == ours.size)
            )
        )
        targets = [
            _Target(row.id, row.name, row.public_key, row.url, row.cosigned_size)
            for row in session.scalars(
                sa.select(LogWitness)
                .where(LogWitness.status == WitnessStatus.ACTIVE)
                .order_by(LogWitness.name)
            )
            if row.id not in have
        ]
    client = http or requests.Session()
    results = []
    for target in targets:
        try:
            result, line, held = _submit(
                sessions,
                client,
                target,
                ours,
                timeout=timeout,
                allow_private=allow_private,
                clock=clock,
            )
        except Exception as exc:
            # A bug must not cost the other witnesses their round, nor the worker its life.
            logger.exception("witness %s: submission failed unexpectedly", target.name)
            result, line, held = (
                Submitted(target.name, Outcome.SILENT, ours.size, f"{type(exc).__name__}: {exc}"),
                None,
                None,
            )
        _record(sessions, target, ours, result, line, held, clock())
        if result.outcome != Outcome.COSIGNED:
            logger.warning("witness %s: %s (%s)", target.name, result.outcome, result.detail)
        results.append(result)
    return results


def _submit(
    sessions: sessionmaker[Session],
    client: requests.Session,
    target: _Target,
    ours: _Ours,
    *,
    timeout: float,
    allow_private: bool,
    clock: Callable[[], dt.datetime],
) -> tuple[Submitted, str | None, int | None]:
    """Submit to one witness, retrying once from the size a 409 names; the result, the
    cosignature line when there is one, and the size the witness now holds (if known)."""
    try:
        outbound.check_public_host(
            urlsplit(target.url).hostname or "", allow_private=allow_private, must_resolve=True
        )
    except ValidationFailed as exc:
        return Submitted(target.name, Outcome.REFUSED, ours.size, exc.message), None, None
    old = target.cosigned_size
    for _ in range(2):
        if old > ours.size:
            return (
                Submitted(
                    target.name,
                    Outcome.INCONSISTENT,
                    ours.size,
                    f"the witness cosigned size {old} of our log, which has only {ours.size} "
                    "entries: the log was rolled back, or another log uses our origin",
                ),
                None,
                old,
            )
        body = _request_body(sessions, old, ours)
        try:
            response = client.post(
                f"{target.url}/add-checkpoint",
                data=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            try:
                answer = _read_limited(response)
            finally:
                response.close()
        except requests.RequestException as exc:
            return (
                Submitted(target.name, Outcome.SILENT, ours.size, f"{type(exc).__name__}: {exc}"),
                None,
                None,
            )
        status = response.status_code
        if status == 200:
            return _check_answer(target, ours, answer, clock)
        if status == 409 and _media_type(response) == SIZE_MEDIA_TYPE:
            held = _size(answer)
            if held is None:
                return (
                    Submitted(target.name, Outcome.LIED, ours.size, "a 409 without a size"),
                    None,
                    None,
                )
            if held == old:
                break
            old = held
            continue
        if status == 422:
            return (
                Submitted(
                    target.name,
                    Outcome.INCONSISTENT,
                    ours.size,
                    f"the witness refused our checkpoint of size {ours.size} as inconsistent "
                    f"with the one of size {old} it cosigned: {_text(answer)}",
                ),
                None,
                None,
            )
        return (
            Submitted(
                target.name, Outcome.REFUSED, ours.size, f"answered {status}: {_text(answer)}"
            ),
            None,
            None,
        )
    return (
        Submitted(target.name, Outcome.REFUSED, ours.size, f"kept answering 409 (size {old})"),
        None,
        old,
    )


def _request_body(sessions: sessionmaker[Session], old: int, ours: _Ours) -> bytes:
    proof: list[bytes] = []
    if 0 < old < ours.size:
        with sessions() as session:
            proof = log.consistency_proof(session, old, ours.size).proof
    lines = [f"old {old}", *(b64(value) for value in proof)]
    return ("\n".join(lines) + "\n\n" + ours.note).encode("utf-8")


def _check_answer(
    target: _Target, ours: _Ours, answer: bytes, clock: Callable[[], dt.datetime]
) -> tuple[Submitted, str | None, int | None]:
    """Keep the witness's cosignature only if it verifies over exactly our checkpoint."""
    try:
        text = answer.decode("utf-8")
        key = cosignature.VerifierKey(
            target.name, cosignature.COSIGNATURE_ED25519, target.public_key
        )
        _, found = cosignature.verify_cosignatures(ours.note + text, [key], now=clock())
    except (UnicodeDecodeError, note.NoteError) as exc:
        return (
            Submitted(target.name, Outcome.LIED, ours.size, f"a bad cosignature: {exc}"),
            None,
            None,
        )
    if not found:
        return (
            Submitted(target.name, Outcome.LIED, ours.size, "no cosignature by the witness's key"),
            None,
            None,
        )
    return Submitted(target.name, Outcome.COSIGNED, ours.size), found[0].line, ours.size


def _record(
    sessions: sessionmaker[Session],
    target: _Target,
    ours: _Ours,
    result: Submitted,
    line: str | None,
    held: int | None,
    now: dt.datetime,
) -> None:
    with transaction(sessions) as session:
        witness = session.get(LogWitness, target.id, with_for_update=True)
        if witness is None:
            return
        witness.last_attempt_at = now
        if held is not None and held <= ours.size:
            witness.cosigned_size = held
        if result.outcome == Outcome.COSIGNED and line is not None:
            timestamp = _timestamp_of(line)
            insert_unless_present(
                session,
                LogCosignature.__table__,  # type: ignore[arg-type]
                {
                    "witness_id": target.id,
                    "tree_size": ours.size,
                    "root_hash": ours.root_hash,
                    "timestamp": timestamp,
                    "line": line,
                    "received_at": now,
                },
            )
            witness.last_success_at = now
            witness.last_error = None
            witness.failures = 0
            return
        witness.failures += 1
        witness.last_error = f"{result.outcome}: {result.detail}"[:2000]
        if result.outcome in _INCIDENTS:
            session.add(
                LogWitnessIncident(
                    witness_id=target.id,
                    kind=result.outcome,
                    tree_size=ours.size,
                    detail=result.detail[:4000],
                    occurred_at=now,
                )
            )


def _timestamp_of(line: str) -> int:
    _, lines = note.signature_lines("x\n\n" + line)
    return int.from_bytes(lines[0][1][4:12], "big")


def _read_limited(response: requests.Response) -> bytes:
    data = b""
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) > MAX_ANSWER_BYTES:
            raise requests.exceptions.ContentDecodingError("the answer is too long")
    return data


def _media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _size(answer: bytes) -> int | None:
    found = _SIZE.fullmatch(answer.decode("ascii", "replace"))
    return None if found is None else int(found.group(1))


def _text(answer: bytes) -> str:
    return answer.decode("utf-8", "replace").strip()[:300]


# --- the worker's job -----------------------------------------------------------------------


def collect_job(
    context: JobContext, payload: dict[str, Any], *, http: requests.Session | None = None
) -> None:
    """Job handler: one round of submissions; each witness's failure stays on its row."""
    collect(
        context.sessions,
        context.exchange_key,
        str(context.config["EXCHANGE_ORIGIN"]),
        http=http,
        timeout=float(context.config.get("WITNESS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT)),
        allow_private=bool(context.config.get("EVENTS_ALLOW_PRIVATE_HOSTS")),
    )


def schedule_collection(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> None:
    """Queue the next round one interval after the last, when our log has witnesses and no
    round is queued."""
    if (
        session.scalar(
            sa.select(LogWitness.id).where(LogWitness.status == WitnessStatus.ACTIVE).limit(1)
        )
        is None
    ):
        return
    pending = session.scalar(
        sa.select(Job.id).where(Job.kind == COLLECT_JOB, Job.status == JobStatus.PENDING).limit(1)
    )
    if pending is not None:
        return
    last = session.scalar(sa.select(sa.func.max(Job.finished_at)).where(Job.kind == COLLECT_JOB))
    interval = dt.timedelta(seconds=float(config.get("WITNESS_INTERVAL_SECONDS", 60)))
    enqueue(
        session,
        kind=COLLECT_JOB,
        payload={},
        now=max(now, last + interval) if last else now,
        deadline=dt.timedelta(hours=1),
    )
