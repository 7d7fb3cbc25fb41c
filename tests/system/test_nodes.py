"""A node of the exchange (``serve``, ``worker``) starts only with the keys and origin that
signed the log in its database; ``exchange keys init`` makes the keys folder once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from exchange import create_app
from exchange.db import transaction
from exchange.keyring import KEY_FILE_NAME, load_or_create_exchange_key, rotate_exchange_key
from exchange.log.services import ensure_checkpoint
from exchange.system.cli import init_keys_command
from exchange.system.nodes import node_problem
from exchange.witness.keys import WITNESS_KEY_FILE


@pytest.fixture
def other_node(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A second node on the test database, with an instance and keys folder of its own."""
    node = create_app(
        {"DATABASE_URL": database_url, "TESTING": True, "KEYS_PATH": tmp_path / "keys"},
        instance_path=str(tmp_path / "instance"),
    )
    yield node
    node.extensions["exchange.engine"].dispose()


def sign_checkpoint(app: Flask) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        ensure_checkpoint(session, app.extensions["exchange.key"], app.config["EXCHANGE_ORIGIN"])


def problem_of(node: Flask, origin: str | None = None) -> str | None:
    with node.extensions["exchange.sessions"]() as session:
        return node_problem(
            session,
            node.extensions["exchange.keyring"].current(),
            origin or node.config["EXCHANGE_ORIGIN"],
        )


def test_a_new_exchange_takes_any_first_node(app: Flask, other_node: Flask) -> None:
    assert problem_of(other_node) is None
    sign_checkpoint(app)
    assert problem_of(app) is None


def test_a_node_with_a_key_of_its_own_is_refused(app: Flask, other_node: Flask) -> None:
    sign_checkpoint(app)
    problem = problem_of(other_node)
    assert problem is not None
    assert "signed by a key this node does not hold" in problem
    assert other_node.extensions["exchange.key"].kid in problem
    assert "EXCHANGE_KEYS_PATH" in problem


def test_a_node_with_another_origin_is_refused(app: Flask) -> None:
    sign_checkpoint(app)
    problem = problem_of(app, origin="elsewhere.example")
    assert problem is not None and "EXCHANGE_ORIGIN is 'elsewhere.example'" in problem


def test_a_node_given_the_keys_folder_is_taken_and_follows_a_rotation(
    app: Flask, other_node: Flask
) -> None:
    keys = Path(other_node.config["KEYS_PATH"])
    sign_checkpoint(other_node)
    # The first node is given the second's keys folder (a mount or a copy) ...
    shared = create_app(
        {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True, "KEYS_PATH": keys},
        instance_path=str(Path(app.instance_path).parent / "third-instance"),
    )
    try:
        assert problem_of(shared) is None
        # ... and after a rotation by either, a checkpoint by the new key or the retired one
        # is the exchange's.
        rotate_exchange_key(keys)
        assert problem_of(shared) is None
    finally:
        shared.extensions["exchange.engine"].dispose()


def test_the_worker_refuses_to_start_with_other_keys(app: Flask, other_node: Flask) -> None:
    sign_checkpoint(app)
    result = other_node.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 1, result.output
    assert "this worker must not serve this exchange" in result.output
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0


def test_keys_init_makes_the_keys_once_readable_by_their_owner(other_node: Flask) -> None:
    keys = Path(other_node.config["KEYS_PATH"])
    first = other_node.test_cli_runner().invoke(init_keys_command)
    assert first.exit_code == 0, first.output
    kid = load_or_create_exchange_key(keys).kid
    assert f"exchange key {kid}" in first.output
    for name in (KEY_FILE_NAME, WITNESS_KEY_FILE):
        assert (keys / name).stat().st_mode & 0o777 == 0o600
    witness = (keys / WITNESS_KEY_FILE).read_bytes()
    again = other_node.test_cli_runner().invoke(init_keys_command)
    assert again.output == first.output
    assert (keys / WITNESS_KEY_FILE).read_bytes() == witness


def test_a_node_adopting_new_keys_starts_but_never_with_another_origin(
    app: Flask, other_node: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    sign_checkpoint(app)
    key = other_node.extensions["exchange.key"]
    origin = other_node.config["EXCHANGE_ORIGIN"]
    with other_node.extensions["exchange.sessions"]() as session:
        assert node_problem(session, key, origin, adopt_keys=True) is None
        assert node_problem(session, key, "elsewhere.example", adopt_keys=True) is not None
    assert f"from now on it signs with {key.kid}" in caplog.text
