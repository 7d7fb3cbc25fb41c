"""What the fuzz tests share: the schemathesis checks, the per-role runs, and the hostile
pass that corrupts one part of each generated request."""

from __future__ import annotations

import base64
import dataclasses
import http.cookiejar
from collections.abc import Callable
from typing import Any, Final

import hypothesis
import hypothesis.errors
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Small and derandomised: the same cases every run. The supplier and the anonymous caller
# send every operation's EXAMPLES cases; the chain-owner and the regulator, the first
# ROLE_EXAMPLES of the operations that read a token.
EXAMPLES = 8
ROLE_EXAMPLES = 6
# The hostile pass: the supplier's token (or none, drawn), this many requests an operation.
HOSTILE_EXAMPLES = 2


def keep_alive_session() -> requests.Session:
    """One connection for a caller's thousands of requests (a new one for each cost more CPU,
    on both sides, than most of the requests themselves); no cookies kept, so that each
    request still goes as a stranger's would, with only the headers it is given."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who sends a generated request: the headers it adds (its bearer token, or none) and the
    path parameters it knows (its record, organisation and key), put in place of the
    generated ones."""

    name: str
    headers: dict[str, str]
    known: dict[str, Any]
    # The chain-owner's and the regulator's passes cover the operations whose answer depends
    # on the caller, with the first ROLE_EXAMPLES cases; the supplier's and the anonymous
    # caller's, every operation with all EXAMPLES.
    only_token_readers: bool = False


def _fuzz(
    operation: Any,
    session: requests.Session,
    base_url: str,
    callers: list[Caller],
    mode: GenerationMode,
    found: dict[tuple[str, str, str], str],
) -> None:
    """One Hypothesis run of ``operation`` in ``mode``: each case is generated once and sent as
    every caller (the generation, not the requests, was most of the fuzz's CPU). A caller's
    first failure per operation and mode goes into ``found``; the run goes on for the
    others."""
    cases_drawn = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        nonlocal cases_drawn
        cases_drawn += 1
        generated = case.path_parameters
        for caller in callers:
            key = (caller.name, operation.label, mode.value)
            if key in found or (caller.only_token_readers and cases_drawn > ROLE_EXAMPLES):
                continue
            if generated:
                case.path_parameters = generated | {
                    name: value for name, value in caller.known.items() if name in generated
                }
            try:
                response = case.call(
                    base_url=base_url, session=session, headers=caller.headers, timeout=30
                )
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # recorded; the test fails on it
                found[key] = f"[{caller.name}] {operation.label} ({mode.value}):\n{exc}"
        case.path_parameters = generated

    run()


_HOSTILE_WORDS: Final = (
    "\x00",
    "a\x00b",
    "\x01\x08\x1b\x7f",
    "9" * 4301,
    "-" + "1" * 5000,
    "1e400",
    "%00",
    "caf\u00e9",
    "",
)
# Latin-1 without CR, LF or leading white space: what requests sends in a header at all.
_HEADER_TEXT: Final = st.one_of(
    st.sampled_from(_HOSTILE_WORDS),
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=12),
).map(str.lstrip)
_URL_TEXT: Final = st.one_of(
    st.sampled_from([*_HOSTILE_WORDS, "\u202e\u4e2d"]),
    st.text(st.characters(codec="utf-8"), max_size=12),
)
_JSON_VALUES: Final = ("9" * 4301, "-" + "8" * 6000, "1e400", "NaN", '"\\u0000"', '"x"')
_CONTENT_TYPES: Final = (
    "application/json",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/cloudevents+json; charset=utf-8",
)


@st.composite
def _hostile_body(draw: st.DrawFn) -> tuple[bytes, str]:
    value = draw(st.sampled_from(_JSON_VALUES))
    name = draw(st.sampled_from(["text", "jwk", "footprint", "items", "reason", "name"]))
    second = name if draw(st.booleans()) else "signature"  # the same name twice, or not
    document = f'{{"{name}": {value}, "{second}": {value}}}'
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    raw = document.encode(encoding)
    if draw(st.booleans()):
        raw += b"\xff\xfe\xc3"  # bytes that are no UTF-8
    return raw, draw(st.sampled_from(_CONTENT_TYPES))


def _hostile_call(
    case: Any, base_url: str, headers: dict[str, str], draw: Callable[[Any], Any]
) -> requests.Response:
    """Send ``case`` with one part made hostile."""
    # A slot the operation has: a body where it takes one, a path parameter where it has one.
    takes_body = case.method.upper() in ("POST", "PUT", "PATCH")
    slots = ["body"] * takes_body + ["path"] * bool(case.path_parameters)
    slot = draw(st.sampled_from([*slots, "query", "header", "basic", "cookie"]))
    if slot == "path" and case.path_parameters:
        name = draw(st.sampled_from(sorted(case.path_parameters)))
        case.path_parameters[name] = draw(_URL_TEXT)
    caller = dict(headers) if draw(st.booleans()) else {}
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=caller)
    kwargs["headers"] = {
        name: value for name, value in kwargs.get("headers", {}).items() if name in caller
    } | {"Content-Type": kwargs.get("headers", {}).get("Content-Type", "application/json")}
    if slot == "query":
        names = [parameter.name for parameter in case.operation.query] or ["cursor"]
        params = dict(kwargs.get("params") or {})
        name, value = draw(st.sampled_from([*names, "cursor", "limit"])), draw(_URL_TEXT)
        if name == "cursor" and draw(st.booleans()):  # base64 of "<time>|<record id>"
            text = f"2026-01-01T00:00:00+00:00|{value}".encode()
            value = base64.urlsafe_b64encode(text).decode().rstrip("=")
        params[name] = value
        kwargs["params"] = params
    elif slot == "header":
        name = draw(st.sampled_from(["X-Request-Id", "Accept", "X-Forwarded-For", "Authorization"]))
        kwargs["headers"][name] = draw(_HEADER_TEXT)
    elif slot == "basic":
        user, password = draw(_HEADER_TEXT), draw(_HEADER_TEXT)
        credentials = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()
        kwargs["headers"]["Authorization"] = f"Basic {credentials}"
    elif slot == "cookie":
        escaped = draw(_HEADER_TEXT).replace("\\", "\\\\").replace('"', '\\"')
        kwargs["headers"]["Cookie"] = f'fx_portal="{escaped}"; fx_language="{escaped}"'
    elif slot == "body":
        raw, content_type = draw(_hostile_body())
        kwargs.pop("json", None)
        kwargs["data"] = raw
        kwargs["headers"]["Content-Type"] = content_type
    return requests.request(**kwargs, timeout=30)


HostileCount = dict[str, int]


def hostile_failures(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    path_parameters: dict[str, Any],
    count: HostileCount,
) -> list[str]:
    known = {
        name: value
        for name, value in path_parameters.items()
        if any(parameter.name == name for parameter in operation.path_parameters)
    }
    found: list[str] = []

    @settings(
        max_examples=HOSTILE_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known or None),
        data=st.data(),
    )
    def run(case: Any, data: st.DataObject) -> None:
        response = _hostile_call(case, base_url, headers, data.draw)
        count["tried"] += 1
        if response.status_code >= 500:
            count["server errors"] += 1
            request = response.request
            found.append(
                f"{operation.label}: {response.status_code} for {request.method} "
                f"{request.url!r:.300} {dict(request.headers)!r:.300} {request.body!r:.200}"
            )

    run()
    return found


def _reads_a_token(operation: Any) -> bool:
    """Whether the operation's answer may depend on who calls it (bearerAuth, required or
    optional). The others read no token (exchange.authentication enforces it), so one
    caller's pass covers them."""
    return any("bearerAuth" in option for option in operation.definition.raw["security"])


def failures_of(
    schema: Any, base_url: str, callers: list[Caller], *, part: int, parts: int
) -> list[str]:
    """The failures of every caller on ``part`` of ``parts`` of the document's operations
    (each part a test of its own, so that they share out over the pytest workers)."""
    found: dict[tuple[str, str, str], str] = {}
    session = keep_alive_session()
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_label)
    for operation in operations[part::parts]:
        reads_a_token = _reads_a_token(operation)
        sent_as = [caller for caller in callers if reads_a_token or not caller.only_token_readers]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, session, base_url, sent_as, mode, found)
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid: no parameters, no body.
                assert mode is GenerationMode.NEGATIVE, operation.label
    return list(found.values())


def _label(operation: Any) -> str:
    return str(operation.label)
