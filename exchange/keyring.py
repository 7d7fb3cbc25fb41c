"""The exchange's own Ed25519 key pair, kept in the instance folder, and secrets sealed with it.

Created on first start with file mode 0600; several workers starting at once agree on
one key because the file is published with an atomic hard link that only one can win.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import nacl.exceptions
import nacl.secret

from exchange import signing

KEY_FILE_NAME = "exchange-signing-key"


# The exchange signs with an ordinary key pair; the name says whose it is.
ExchangeKey = signing.KeyPair


def load_or_create_exchange_key(instance_path: Path) -> ExchangeKey:
    path = instance_path / KEY_FILE_NAME
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=instance_path, prefix=".key-")
        try:
            os.fchmod(descriptor, 0o600)
            os.write(
                descriptor, signing.b64url_encode(signing.generate_private_key()).encode() + b"\n"
            )
            os.fsync(descriptor)
            os.close(descriptor)
            # Another worker may have created it first; then everyone uses theirs.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600)")
    return ExchangeKey.from_private_key(signing.b64url_decode(path.read_text().strip()))


def _sealing_box(key: ExchangeKey) -> nacl.secret.SecretBox:
    # A separate symmetric key derived from the exchange key: whoever holds the instance
    # folder can open what was sealed, a copy of the database alone cannot.
    derived = hashlib.sha256(b"footprint-exchange:sealed-secret:v1\n" + key.private_key).digest()
    return nacl.secret.SecretBox(derived)


def seal_secret(key: ExchangeKey, secret: str) -> str:
    """A secret the exchange must later use in clear (a partner's client secret), encrypted."""
    return signing.b64url_encode(bytes(_sealing_box(key).encrypt(secret.encode("utf-8"))))


def open_secret(key: ExchangeKey, sealed: str) -> str:
    try:
        return _sealing_box(key).decrypt(signing.b64url_decode(sealed)).decode("utf-8")
    except (nacl.exceptions.CryptoError, signing.SigningError) as exc:
        raise SealedSecretError("the secret was sealed with another exchange key") from exc


class SealedSecretError(Exception):
    """A sealed secret cannot be opened with this exchange's key."""
