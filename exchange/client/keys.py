"""Local Ed25519 key files of a company (JWK with the private ``d``, file mode 0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from exchange import signing


class LocalKey(signing.KeyPair):
    """A company's own key pair, kept in a file on its machine."""

    __slots__ = ()

    def sign_footprint(self, footprint: dict[str, Any]) -> dict[str, Any]:
        """The signed envelope of a PACT footprint."""
        value = self.sign(context=signing.FOOTPRINT_CONTEXT, payload=footprint)
        return {
            "footprint": footprint,
            "signature": {"alg": signing.ALGORITHM, "kid": self.kid, "value": value},
        }

    def save(self, path: Path) -> None:
        """Write the private JWK readable by its owner only; never overwrite a key."""
        document = {**self.public_jwk(), "d": signing.b64url_encode(self.private_key)}
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")

    @classmethod
    def load(cls, path: Path) -> LocalKey:
        try:
            document = json.loads(path.read_text())
            private_key = signing.b64url_decode(document["d"])
            key = cls.from_private_key(private_key)
        except (OSError, ValueError, KeyError, TypeError, signing.SigningError) as exc:
            raise signing.SigningError(f"{path} is not an Ed25519 private key file: {exc}") from exc
        if document.get("x") != signing.b64url_encode(key.public_key):
            raise signing.SigningError(f"{path}: public and private halves do not match")
        return key
