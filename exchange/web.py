"""What every blueprint shares: the request's database session, JSON input and query
parameters, and the rendering of every error as one JSON body.

HTTP plumbing only, below every area: who the caller is (its bearer token read into a
principal) is the organisations area's (:mod:`exchange.organisations.access`)."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, ParamSpec, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException, InternalServerError

from exchange import db, signing
from exchange.errors import (
    AccessDenied,
    BadRequest,
    ExchangeError,
    NotFound,
    PayloadTooLarge,
    RetryLater,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from exchange.keyring import ExchangeKey
from exchange.observability import request_id
from exchange.pact_wire.host import Host
from exchange.routing import RefusedPathValue

_Args = ParamSpec("_Args")


class Hook(Generic[_Args]):
    """A point where an area tells the areas above it that something happened, without
    importing them: the area calls its hook, and ``create_app`` registers who listens
    (:meth:`listen`). Listeners run in the order registered, in the caller's request and
    transaction; an error in one is the request's error.

    For views: a service that tells others of something takes a callable instead (a hook
    is one, so a view passes its hook straight on).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def listen(self, app: Flask, listener: Callable[_Args, object]) -> None:
        hooks: dict[str, list[Callable[..., object]]] = app.extensions.setdefault(
            "exchange.hooks", {}
        )
        hooks.setdefault(self.name, []).append(listener)

    def __call__(self, *args: _Args.args, **kwargs: _Args.kwargs) -> None:
        hooks: dict[str, list[Callable[..., object]]] = current_app.extensions.get(
            "exchange.hooks", {}
        )
        for listener in hooks.get(self.name, ()):
            listener(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"


_View = TypeVar("_View", bound=Callable[..., Any])
_READS_NO_RECOGNITIONS: Final = "_exchange_reads_no_recognitions"


def reads_no_recognitions(view: _View) -> _View:
    """Marks a view whose answer depends on nothing a partner recognition decides (no
    record, no derived footprint, no recognition): the check run before every request that
    ends recognitions whose agreement is out of term (``apply_due_expiries`` of the mutual
    recognition area, which wires it) skips its requests. For hot paths only, such as label
    verification, asked for every scan, where that query was about half of the view's own
    work (issue 22); a view that reads records must not carry it."""
    setattr(view, _READS_NO_RECOGNITIONS, True)
    return view


def marked_reads_no_recognitions(view: Callable[..., Any] | None) -> bool:
    """Whether ``view`` is marked :func:`reads_no_recognitions`."""
    return bool(getattr(view, _READS_NO_RECOGNITIONS, False))


def view_reads_no_recognitions() -> bool:
    """Whether the view answering this request is marked :func:`reads_no_recognitions`."""
    return marked_reads_no_recognitions(current_app.view_functions.get(request.endpoint or ""))


def session() -> Session:
    """The request's session; views commit it, teardown closes it (``db.close_session``:
    what a view left uncommitted is rolled back)."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["exchange.sessions"]
        g.db_session = factory()
    return g.db_session  # type: ignore[no-any-return]


def close_session(exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db.close_session(db_session, failed=exc is not None)


def exchange_key() -> ExchangeKey:
    """The current exchange key, re-read after a rotation by any process."""
    return current_app.extensions["exchange.keyring"].current()  # type: ignore[no-any-return]


_Choice = TypeVar("_Choice", bound=enum.Enum)
# \u0000 after an even number of backslashes (an odd number escapes the backslash itself)
_JSON_NUL: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_UTF8_NAMES: Final = frozenset({"utf-8", "utf8"})


def json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object")
    return body


def choice_field(body: Mapping[str, Any], name: str, kind: type[_Choice]) -> _Choice:
    """A member ``name`` naming one value of ``kind``; a clear error lists them all."""
    try:
        return kind(str(body.get(name)))
    except ValueError as exc:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ValidationFailed(
            f"{name} is one of {allowed}", details=[{"field": name, "message": allowed}]
        ) from exc


def text_field(body: Mapping[str, Any], name: str, default: str = "") -> str:
    """An optional string member ``name``."""
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ValidationFailed(
            f"{name} is a string", details=[{"field": name, "message": "a string"}]
        )
    return value


def pact_host() -> Host:
    """This exchange as PACT peers reach it: the configured public URL, else this request's."""
    configured: str | None = current_app.config.get("PUBLIC_URL")
    return Host(base_url=(configured or request.host_url).rstrip("/"))


def json_body(*, mimetypes: frozenset[str] = frozenset({"application/json"})) -> Any:
    """The request's JSON document, or a clear error for anything else.

    JSON is UTF-8 (RFC 8259 §8.1): another charset is a 415, bytes that are not UTF-8 a
    400. The document is parsed as I-JSON (:func:`exchange.signing.parse_json`), as every
    signed object is: a member name twice in one object, a number no double can hold or
    one of more digits than Python converts is a 400 naming it.
    """
    if request.mimetype not in mimetypes:
        raise UnsupportedMediaType(
            f"send JSON with Content-Type: {' or '.join(sorted(mimetypes))} "
            f"(got {request.mimetype or 'none'!r})"
        )
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower() not in _UTF8_NAMES:
        raise UnsupportedMediaType(
            f"JSON is UTF-8: send charset=utf-8 or no charset (got {charset[:40]!r})"
        )
    raw = request.get_data(cache=False)
    if _JSON_NUL.search(raw):
        raise BadRequest("JSON strings may not hold a NUL character (\\u0000)")
    try:
        return signing.parse_json(raw)
    except signing.JSONRefused as exc:
        raise BadRequest(exc.message, details=exc.details) from exc


def bearer_token() -> str | None:
    """The request's bearer token; None without an Authorization header, else an error."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use Authorization: Bearer <access token>")
    return token.strip()


def time_arg(name: str) -> dt.datetime | None:
    """A query parameter that is an ISO 8601 time with a zone (``Z`` too), as UTC; None
    when absent, else BadRequest, also for a time that has no UTC equivalent."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            f"{name} is an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z",
            details=[{"field": name, "message": "a time with a zone"}],
        )
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        raise BadRequest(
            f"{name} is out of range: years 1 to 9999 in UTC",
            details=[{"field": name, "message": "out of range"}],
        ) from exc


def int_arg(name: str, *, minimum: int, maximum: int, message: str) -> int | None:
    """A whole-number query parameter within bounds, None when absent, else BadRequest.

    ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` then refuses.
    """
    text = request.args.get(name)
    if text is None:
        return None
    # More digits than the maximum has would also exceed int()'s limit (a ValueError: 500).
    if (
        not (text.isascii() and text.isdecimal())
        or len(text.lstrip("0")) > len(str(maximum))
        or not minimum <= int(text) <= maximum
    ):
        raise BadRequest(message)
    return int(text)


def page_limit(default: int = 100) -> int:
    maximum: int = current_app.config["PAGE_SIZE_MAX"]
    limit = int_arg(
        "limit", minimum=1, maximum=maximum, message=f"limit must be an integer from 1 to {maximum}"
    )
    return default if limit is None else limit


def error_response(error: ExchangeError) -> Response:
    response = jsonify(error.to_body())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="footprint-exchange"'
    if isinstance(error, RetryLater):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def http_error_response(exc: HTTPException) -> Response:
    """A werkzeug HTTP error (a route that is not there, a refused path id, a body too large)
    as the one JSON error body."""
    status = exc.code or 500
    if status == 404:
        # A path id its route's converter refused says what an id of its kind is.
        refused = isinstance(exc, RefusedPathValue) and exc.description
        error: ExchangeError = NotFound(refused or "no such resource")
    elif status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        error = PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    else:
        error = BadRequest(exc.description or exc.name)
        response = error_response(error)
        response.status_code = status
        if exc.response is None:
            for name, value in exc.get_headers():
                if name.lower() == "allow":
                    response.headers[name] = value
        return response
    return error_response(error)


def _internal_error(_exc: InternalServerError) -> Response:
    # Flask has already logged the original exception with its traceback and this request's
    # id; the caller quotes the id to the operators, who find the traceback by it.
    identifier = request_id()
    response = jsonify(
        {
            "code": "InternalError",
            "message": f"internal error; it has been logged under request id {identifier}",
            "details": [{"requestId": identifier}],
        }
    )
    response.status_code = 500
    return response


def _database_error(exc: DBAPIError) -> Response:
    """A database connection lost in the middle of a request is a 503 that the caller may
    retry: its transaction rolled back (or, lost during the commit itself, committed, and a
    repeated submission is recognised as such). Any other database error is the exchange's fault:
    re-raised, Flask logs it and answers 500 (above)."""
    if not exc.connection_invalidated:
        raise exc
    current_app.logger.warning(
        "request %s: the database connection was lost: %s", request_id(), exc.orig
    )
    return error_response(
        ServiceUnavailable(
            "the database connection was lost while answering; send the request again "
            "(a repeated submission is recognised, not stored twice)",
            retry_after=1,
            details=[{"requestId": request_id()}],
        )
    )


_FORMS: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def refuse_nul_characters() -> Response | None:
    """A NUL in the path, a query parameter, a header, a cookie, HTTP Basic credentials or a
    form field (the portal's) is a 400: PostgreSQL text cannot hold one, so it would
    otherwise reach the database and fail there (a 500). Basic credentials are checked once
    decoded: base64 hides a NUL from the header check."""
    if "\x00" in request.path or any(
        "\x00" in name or "\x00" in value for name, value in request.args.items(multi=True)
    ):
        return error_response(BadRequest("the URL holds a NUL character"))
    if any("\x00" in name or "\x00" in value for name, value in request.headers.items()):
        return error_response(BadRequest("a header holds a NUL character"))
    if any("\x00" in name or "\x00" in value for name, value in request.cookies.items(multi=True)):
        return error_response(BadRequest("a cookie holds a NUL character"))
    authorization = request.authorization
    if authorization is not None and any(
        "\x00" in (value or "")
        for value in (authorization.username, authorization.password, authorization.token)
    ):
        return error_response(BadRequest("the Authorization credentials hold a NUL character"))
    if request.mimetype in _FORMS and any(
        "\x00" in name or "\x00" in value for name, value in request.form.items(multi=True)
    ):
        return error_response(BadRequest("a form field holds a NUL character"))
    return None


def refuse_plain_http() -> Response | None:
    """With REQUIRE_HTTPS, every request must have arrived over TLS (the health check aside)."""
    if not current_app.config["REQUIRE_HTTPS"] or request.scheme == "https":
        return None
    if request.path == "/healthz":
        return None
    error = AccessDenied("this exchange answers over HTTPS only")
    return error_response(error)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ExchangeError, error_response)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, http_error_response)
