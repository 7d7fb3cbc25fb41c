"""The one error hierarchy of the exchange and its single JSON error body.

Services raise these domain errors; the app turns every one of them into
``{"code": ..., "message": ..., "details": [...]}`` with the matching HTTP status.
Codes include PACT's own (BadRequest, AccessDenied, NotFound, TokenExpired,
NotImplemented, InternalError) so a PACT client understands them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class ExchangeError(Exception):
    """Base of every error the exchange reports to a caller."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BadRequest"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = details or []

    def to_body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(ExchangeError):
    """The request cannot be understood (malformed JSON, wrong content type, bad parameter)."""


class ValidationFailed(BadRequest):
    """The payload breaks the schema or a domain rule; ``details`` lists each field."""


class SignatureInvalid(BadRequest):
    """A signature does not verify, or its key may not sign this object at that time."""

    code = "SignatureInvalid"


class Unauthenticated(ExchangeError):
    """No credentials, or a token that is forged, unknown or revoked.

    PACT has no code of its own for this: its conformance tests expect ``BadRequest``
    (``AccessDenied`` means a valid caller without permission, answered 403).
    """

    status = 401
    code = "BadRequest"


class TokenExpired(Unauthenticated):
    code = "TokenExpired"


class AccessDenied(ExchangeError):
    status = 403
    code = "AccessDenied"


class NotFound(ExchangeError):
    status = 404
    code = "NotFound"


class Conflict(ExchangeError):
    """The request contradicts what is stored (an id reused, a predecessor deprecated)."""

    status = 409
    code = "Conflict"


class Unprocessable(ExchangeError):
    """Well-formed, but what it claims does not hold (a consistency proof that fails)."""

    status = 422
    code = "Unprocessable"


class PayloadTooLarge(ExchangeError):
    status = 413
    code = "PayloadTooLarge"


class RetryLater(ExchangeError):
    """A refusal that time lifts: ``retry_after`` seconds, sent as the Retry-After header."""

    def __init__(
        self, message: str, *, retry_after: int, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, retry_after)


class TooManyRequests(RetryLater):
    """Over a rate limit; ``retry_after`` seconds until the caller may try again."""

    status = 429
    code = "TooManyRequests"


class ServiceUnavailable(RetryLater):
    """A passing outage of a store the request depends on (the database connection was lost,
    the rate-limit counters in Redis do not answer): nothing was done, and the same request
    may succeed after ``retry_after`` seconds."""

    status = 503
    code = "ServiceUnavailable"


class UnsupportedMediaType(ExchangeError):
    status = 415
    code = "UnsupportedMediaType"


class NotImplementedByExchange(ExchangeError):
    status = 400
    code = "NotImplemented"


def field_errors(error: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Each pydantic error as ``{"field": "a.b.0", "message": ...}``: the ``details`` of a
    :class:`ValidationFailed` for a body a wire model refused."""
    return [
        {
            "field": ".".join(
                [prefix, *map(str, item["loc"])] if prefix else map(str, item["loc"])
            ),
            "message": item["msg"],
        }
        for item in error.errors(include_url=False)
    ]
