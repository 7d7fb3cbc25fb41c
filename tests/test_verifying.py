"""The verification pool: the same answers as verifying in process, in order, whatever runs them."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator

import pytest

from exchange import signing
from exchange.verifying import Verifier


def _checks(count: int, *, bad: set[int]) -> list[signing.SignatureCheck]:
    key = signing.KeyPair.generate()
    checks = []
    for number in range(count):
        message = f"message {number}".encode()
        value = signing.sign_bytes(message=message, private_key=key.private_key)
        if number in bad:
            message += b" (altered)"
        checks.append(signing.signature_check(message, value, key.public_key))
    return checks


@pytest.fixture
def verifier() -> Iterator[Verifier]:
    pool = Verifier(processes=1, threshold=10, chunk=7)
    try:
        yield pool
    finally:
        pool.close()


def _verify(verifier: Verifier, checks: list[signing.SignatureCheck]) -> list[bool]:
    verification = verifier.batch(len(checks))
    for check in checks:
        verification.add(check)
    return verification.results()


def test_a_large_batch_is_verified_in_the_pool_with_the_answers_in_order(
    verifier: Verifier,
) -> None:
    checks = _checks(40, bad={0, 6, 7, 20, 39})
    assert verifier.start(wait=True)
    answers = _verify(verifier, checks)
    assert answers == signing.signatures_hold(checks)
    assert [index for index, holds in enumerate(answers) if not holds] == [0, 6, 7, 20, 39]


def test_small_batches_and_a_pool_of_no_processes_verify_in_process(verifier: Verifier) -> None:
    checks = _checks(9, bad={4})
    assert _verify(verifier, checks) == signing.signatures_hold(checks)
    assert not verifier.running  # below the threshold, no pool was started
    none = Verifier(processes=0, threshold=1)
    assert not none.start(wait=True)
    assert _verify(none, checks) == signing.signatures_hold(checks)
    assert not none.running


def test_a_batch_while_the_pool_starts_is_verified_in_process(verifier: Verifier) -> None:
    checks = _checks(12, bad={11})
    # The first large batch starts the pool and does not wait for it.
    assert _verify(verifier, checks) == signing.signatures_hold(checks)
    assert verifier.running


def test_a_failed_pool_is_replaced_and_its_work_done_in_process(
    verifier: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    checks = _checks(30, bad={3, 29})
    assert verifier.start(wait=True)
    verification = verifier.batch(len(checks))
    for worker in multiprocessing.active_children():  # the pool's worker dies
        worker.kill()
        worker.join()
    with caplog.at_level(logging.WARNING, logger="exchange.verifying"):
        for check in checks:
            verification.add(check)
        assert verification.results() == signing.signatures_hold(checks)
    assert "verifying in process" in caplog.text
    assert not verifier.running
    assert verifier.start(wait=True)  # a fresh pool
    assert _verify(verifier, checks) == signing.signatures_hold(checks)


def test_malformed_signatures_are_refused_before_the_pool() -> None:
    key = signing.KeyPair.generate()
    with pytest.raises(signing.SigningError, match="64 bytes"):
        signing.signature_check(b"m", signing.b64url_encode(b"short"), key.public_key)
    with pytest.raises(signing.SigningError, match="base64url"):
        signing.signature_check(b"m", "not base64!", key.public_key)
