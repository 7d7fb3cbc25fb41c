"""Verifying the signatures of a large batch on the machine's other cores.

An Ed25519 verification costs about as much CPU as everything else the exchange does with
a signed record, and PyNaCl holds the GIL while it runs, so threads cannot share it out.
A :class:`Verifier` (one per app, ``app.extensions["exchange.verifier"]``, built by
``create_app`` from ``EXCHANGE_VERIFY_PROCESSES`` and ``EXCHANGE_VERIFY_PARALLEL_MIN``)
owns a small process pool: a batch of at least ``threshold`` signatures is sent to it in
chunks as the caller prepares them, while the caller goes on parsing and checking the
rest, and the answers are gathered at the end. Smaller batches, a verifier with no
processes, and a pool that is still starting or has failed are verified here, in the
calling process, with the same function: the pool changes where the work runs, never
its outcome.

The pool is started with the ``spawn`` method, so that no lock held by another thread of a
threaded server is copied into it, by the first batch that could use it (not when a server's
worker starts: most workers never see a large batch, and two more processes for each cost
every start). Until it has answered a first task, batches are verified in process.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Final, Protocol

from exchange.signing import SignatureCheck, signatures_hold

logger = logging.getLogger(__name__)

CHUNK: Final = 250
"""Signatures per task at most: each task wakes the pool's feeder threads, which take the
GIL from the caller for up to a switch interval (5 ms), so tasks are few and large."""


def default_processes() -> int:
    """One process fewer than the machine has cores: the caller keeps one busy itself."""
    return max(0, (os.cpu_count() or 1) - 1)


class Verification(Protocol):
    """One batch's signatures, added in order; :meth:`results` says which hold, in order."""

    def add(self, check: SignatureCheck) -> None: ...

    def results(self) -> list[bool]: ...


class _InProcess:
    def __init__(self) -> None:
        self._results: list[bool] = []

    def add(self, check: SignatureCheck) -> None:
        self._results.extend(signatures_hold([check]))

    def results(self) -> list[bool]:
        return self._results


class _Parallel:
    def __init__(self, verifier: Verifier, pool: ProcessPoolExecutor, chunk: int) -> None:
        self._verifier = verifier
        self._pool = pool
        self._chunk = chunk
        self._pending: list[SignatureCheck] = []
        self._sent: list[tuple[Sequence[SignatureCheck], Future[list[bool]] | None]] = []

    def add(self, check: SignatureCheck) -> None:
        # A full chunk is sent once another check follows it: the last one is verified
        # here, while the pool finishes the others, instead of waiting for the pool.
        if len(self._pending) >= self._chunk:
            self._send()
        self._pending.append(check)

    def _send(self) -> None:
        chunk, self._pending = self._pending, []
        try:
            future: Future[list[bool]] | None = self._pool.submit(signatures_hold, chunk)
        except RuntimeError as exc:  # the pool broke or was shut down meanwhile
            self._verifier.failed(self._pool, exc)
            future = None
        self._sent.append((chunk, future))

    def results(self) -> list[bool]:
        last, self._pending = self._pending, []
        verified_here = signatures_hold(last)
        results: list[bool] = []
        for chunk, future in self._sent:
            answer: list[bool] | None = None
            if future is not None:
                try:
                    answer = future.result()
                except Exception as exc:  # a worker died (BrokenProcessPool): verify here
                    self._verifier.failed(self._pool, exc)
            results.extend(answer if answer is not None else signatures_hold(chunk))
        return results + verified_here


class Verifier:
    """Verifies batches of at least ``threshold`` signatures in ``processes`` processes."""

    def __init__(self, *, processes: int, threshold: int, chunk: int = CHUNK) -> None:
        self.processes = processes
        self.threshold = max(1, threshold)
        self.chunk = max(1, chunk)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._probe: Future[list[bool]] | None = None

    def batch(self, size: int) -> Verification:
        """A verification for a batch of ``size`` signatures: in the pool if it is worth it
        and the pool is ready, else in this process."""
        if self.processes < 1 or size < self.threshold:
            return _InProcess()
        pool = self._ready_pool()
        if pool is None:
            return _InProcess()
        # At least two chunks per process, so that each gets work early in the batch.
        chunk = min(self.chunk, max(1, size // (2 * self.processes + 1)))
        return _Parallel(self, pool, chunk)

    @property
    def running(self) -> bool:
        """Whether the pool's processes have been started (and not stopped since)."""
        return self._pool is not None

    def start(self, *, wait: bool = False) -> bool:
        """Start the pool now rather than on the first large batch; with ``wait``, until it
        has answered. Whether it is ready."""
        if self.processes < 1:
            return False
        self._ready_pool()
        probe = self._probe
        if wait and probe is not None:
            concurrent.futures.wait([probe])
        return self._ready_pool() is not None

    def _ready_pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
                )
                self._probe = self._pool.submit(signatures_hold, [])
            pool, probe = self._pool, self._probe
        if probe is None or not probe.done():
            return None
        if probe.exception() is not None:
            self.failed(pool, probe.exception())
            return None
        return pool

    def failed(self, pool: ProcessPoolExecutor, error: BaseException | None) -> None:
        """The pool could not verify (a worker died): drop it; the next batch starts another."""
        with self._lock:
            if self._pool is not pool:
                return
            self._pool, self._probe = None, None
        logger.warning("signature verification pool failed, verifying in process: %r", error)
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the pool's processes (it starts again if another large batch comes)."""
        with self._lock:
            pool, self._pool, self._probe = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
