"""The exchange's Ed25519 keys, kept in the keys folder, and secrets sealed with them.

The keys folder is the instance folder unless ``EXCHANGE_KEYS_PATH`` names another (a
volume every node of the exchange mounts, or a copy of it on each). The current key is the
file ``exchange-signing-key``; keys it replaced are kept, with the time they were retired,
in ``exchange-retired-keys/<kid>.json``, so that everything they signed (receipts,
checkpoints, labels, trust lists, recognition decisions, bundles) still verifies by its kid
and every secret they sealed still opens. All are readable by their owner only (0600).

Several processes (the workers of a node; the nodes behind a load balancer when they mount
one folder) share it: the first start creates the key with an atomic hard link that only
one can win; a rotation (``exchange keys rotate``) writes the retired copy first and then
replaces the current file atomically, under a lock, and every process notices the new file
at its next use (:class:`Keyring`), so all workers move together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret

from exchange import signing
from exchange.db import iso_or_none

KEY_FILE_NAME = "exchange-signing-key"
RETIRED_DIRECTORY = "exchange-retired-keys"
LOCK_FILE_NAME = ".exchange-keys.lock"


@dataclasses.dataclass(frozen=True, slots=True)
class RetiredKey:
    """A former exchange key: it signed from ``not_before`` (when known) to ``retired_at``."""

    key: signing.KeyPair
    not_before: dt.datetime | None
    retired_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeKey(signing.KeyPair):
    """The current key pair, which signs, with the retired ones, which only verify and open."""

    not_before: dt.datetime | None = None
    retired: tuple[RetiredKey, ...] = ()

    def all_keys(self) -> tuple[signing.KeyPair, ...]:
        """The current key first, then the retired ones, newest first."""
        return (self, *(item.key for item in self.retired))

    def public_keys(self) -> list[bytes]:
        return [key.public_key for key in self.all_keys()]

    def published(self) -> list[dict[str, Any]]:
        """Every key as a JWK with its validity: what JWKS and the trust list publish."""
        current = {
            **signing.public_jwk(self.public_key),
            "kid": self.kid,
            "notBefore": iso_or_none(self.not_before),
            "retiredAt": None,
        }
        return [current] + [
            {
                **signing.public_jwk(item.key.public_key),
                "kid": item.key.kid,
                "notBefore": iso_or_none(item.not_before),
                "retiredAt": iso_or_none(item.retired_at),
            }
            for item in self.retired
        ]


def _check_private(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600)")


def _write_new_file(directory: Path, data: bytes) -> str:
    """A private temporary file in ``directory`` holding ``data``, on disk; its path."""
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".key-")
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return temporary


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _encode_seed(private_key: bytes) -> bytes:
    return signing.b64url_encode(private_key).encode() + b"\n"


def _retired_keys(keys_path: Path) -> tuple[RetiredKey, ...]:
    directory = keys_path / RETIRED_DIRECTORY
    if not directory.is_dir():
        return ()
    found = []
    for path in directory.glob("*.json"):
        _check_private(path)
        document = json.loads(path.read_text())
        key = signing.KeyPair.from_private_key(signing.b64url_decode(document["privateKey"]))
        if key.kid != document["kid"] or path.stem != key.kid:
            raise ValueError(f"{path} does not hold the key its name says")
        not_before = document.get("notBefore")
        found.append(
            RetiredKey(
                key=key,
                not_before=dt.datetime.fromisoformat(not_before) if not_before else None,
                retired_at=dt.datetime.fromisoformat(document["retiredAt"]),
            )
        )
    return tuple(sorted(found, key=lambda item: item.retired_at, reverse=True))


def load_or_create_seed(path: Path) -> tuple[bytes, dt.datetime]:
    """The Ed25519 seed in the private file ``path`` (created with a new key if missing,
    by one process only) and when the file was written."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _write_new_file(path.parent, _encode_seed(signing.generate_private_key()))
        try:
            # Another worker may have created it first; then everyone uses theirs.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    _check_private(path)
    with path.open() as file:
        seed = signing.b64url_decode(file.read().strip())
        written = dt.datetime.fromtimestamp(os.fstat(file.fileno()).st_mtime, dt.UTC)
    return seed, written


def load_or_create_exchange_key(keys_path: Path) -> ExchangeKey:
    seed, written = load_or_create_seed(keys_path / KEY_FILE_NAME)
    current = signing.KeyPair.from_private_key(seed)
    retired = tuple(item for item in _retired_keys(keys_path) if item.key.kid != current.kid)
    return ExchangeKey(
        private_key=current.private_key,
        public_key=current.public_key,
        kid=current.kid,
        not_before=written,
        retired=retired,
    )


@contextlib.contextmanager
def _rotation_lock(keys_path: Path) -> Iterator[None]:
    keys_path.mkdir(parents=True, exist_ok=True)
    with (keys_path / LOCK_FILE_NAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rotate_exchange_key(keys_path: Path, *, now: dt.datetime | None = None) -> ExchangeKey:
    """Retire the current key (kept, to verify and open what it made) and make a new one.

    The retired copy is on disk before the current file is replaced, so a crash in between
    leaves the old key current and also listed as retired, which is harmless.
    """
    with _rotation_lock(keys_path):
        old = load_or_create_exchange_key(keys_path)
        retired_at = now or dt.datetime.now(dt.UTC)
        directory = keys_path / RETIRED_DIRECTORY
        directory.mkdir(mode=0o700, exist_ok=True)
        record = {
            "kid": old.kid,
            "privateKey": signing.b64url_encode(old.private_key),
            "notBefore": iso_or_none(old.not_before),
            "retiredAt": retired_at.isoformat(),
        }
        temporary = _write_new_file(directory, json.dumps(record).encode() + b"\n")
        os.replace(temporary, directory / f"{old.kid}.json")
        _sync_directory(directory)
        temporary = _write_new_file(keys_path, _encode_seed(signing.generate_private_key()))
        os.replace(temporary, keys_path / KEY_FILE_NAME)
        _sync_directory(keys_path)
    return load_or_create_exchange_key(keys_path)


class Keyring:
    """The keys folder's keys as one process sees them, re-read when a rotation (by any
    process) replaced the current key file: one ``stat`` per use."""

    def __init__(self, keys_path: Path) -> None:
        self._keys_path = keys_path
        self._lock = threading.Lock()
        self._key = load_or_create_exchange_key(keys_path)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int, int]:
        found = (self._keys_path / KEY_FILE_NAME).stat()
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def current(self) -> ExchangeKey:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._key = load_or_create_exchange_key(self._keys_path)
                self._stamp = stamp
        return self._key


def _sealing_box(key: signing.KeyPair) -> nacl.secret.SecretBox:
    # A separate symmetric key derived from the exchange key: whoever holds the keys
    # folder can open what was sealed, a copy of the database alone cannot.
    derived = hashlib.sha256(b"footprint-exchange:sealed-secret:v1\n" + key.private_key).digest()
    return nacl.secret.SecretBox(derived)


def seal_secret(key: ExchangeKey, secret: str) -> str:
    """A secret the exchange must later use in clear (a partner's client secret), encrypted."""
    return signing.b64url_encode(bytes(_sealing_box(key).encrypt(secret.encode("utf-8"))))


def open_secret(key: ExchangeKey, sealed: str) -> str:
    """Open with the current key or, for secrets sealed before a rotation, a retired one."""
    try:
        raw = signing.b64url_decode(sealed)
    except signing.SigningError as exc:
        raise SealedSecretError("the secret was sealed with another exchange key") from exc
    for candidate in key.all_keys():
        try:
            return _sealing_box(candidate).decrypt(raw).decode("utf-8")
        except nacl.exceptions.CryptoError:
            continue
    raise SealedSecretError("the secret was sealed with another exchange key")


class SealedSecretError(Exception):
    """A sealed secret cannot be opened with any of this exchange's keys."""
