"""The kinds of id a URL path carries, as Werkzeug route converters that refuse what no id of
their kind can be.

A route names its ids by kind (``/api/v1/footprints/<id:record_id>``,
``/api/v1/keys/<kid:kid>/revoke``, ``/api/v1/labels/<rowid:label_id>``), and the converter
checks the value when the URL is routed, before any view, service or database sees it: a
value too long, too short or of other characters is answered 404, on every method, with the
one JSON error body (the portal shows its own not-found page). Nothing is cut to length: an
id cut down to its column's length could name another, real, record (the first 36
characters of ``<a real id>XYZ`` are that real id).

The lengths are :mod:`exchange.limits`'; an area whose ids follow rules of its own (a rule's
code, a GTIN) declares its converter beside its views with :class:`PathValueConverter`, and
``create_app`` registers every converter before the routes are added. The API description
(:mod:`exchange.apidoc`) states each kind's pattern and lengths from the converter itself.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

import werkzeug.exceptions
from werkzeug.routing import BaseConverter, IntegerConverter

from exchange import limits
from exchange.db import ROW_ID_MAX


class RefusedPathValue(werkzeug.exceptions.NotFound):
    """A path value that no id of its kind can be: it names nothing here (404)."""


class PathValueConverter(BaseConverter):
    """A kind of text id in a URL path: a pattern and a length range; anything else is 404.

    A subclass sets :attr:`pattern` (a regular expression of the whole value), the lengths,
    :attr:`what` (said in the 404's message) and an :attr:`example` (shown in the API
    description, and what tests send where any well-formed id will do).
    """

    pattern: ClassVar[str]
    min_length: ClassVar[int] = 1
    max_length: ClassVar[int]
    what: ClassVar[str]
    example: ClassVar[str]
    _compiled: ClassVar[re.Pattern[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "pattern" in cls.__dict__:
            cls._compiled = re.compile(cls.pattern)

    def accepts(self, value: str) -> bool:
        """Whether ``value`` can be an id of this kind."""
        # The length first: a long value is refused without running the pattern over it.
        return (
            self.min_length <= len(value) <= self.max_length
            and self._compiled.fullmatch(value) is not None
        )

    def to_python(self, value: str) -> str:
        # Raised, not a werkzeug ValidationError: that would make werkzeug answer 405 to a
        # method another rule of the same path takes, instead of 404 for every method.
        if not self.accepts(value):
            raise RefusedPathValue(f"no such resource: {self.what}")
        return value

    def json_schema(self) -> dict[str, Any]:
        """The path parameter's schema in the API description."""
        return {
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "pattern": f"^{self.pattern}$",
            "examples": [self.example],
        }


class IdConverter(PathValueConverter):
    """``<id:...>``: a UUID id (records, products, sites, factors, organisations, partner
    programmes, signing drafts, PACT requests); either case, as the services compare ids
    case-insensitively where PACT asks them to."""

    pattern = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    min_length = limits.ID
    max_length = limits.ID
    what = "an id here is a UUID: 8-4-4-4-12 hexadecimal digits"
    example = "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d10"


class KidConverter(PathValueConverter):
    """``<kid:...>``: a key id, the RFC 7638 thumbprint of an Ed25519 key."""

    pattern = r"[A-Za-z0-9_-]+"
    min_length = limits.KID
    max_length = limits.KID
    what = f"a key id is {limits.KID} base64url characters (an RFC 7638 thumbprint)"
    example = "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw"


class RowIdConverter(IntegerConverter):
    """``<rowid:...>``: an integer key; one beyond :data:`~exchange.db.ROW_ID_MAX` names no
    row."""

    def to_python(self, value: str) -> int:
        # A larger number would overflow the database's integer (a 500 on PostgreSQL). It is
        # a 404 here, for every method: a ValidationError would make werkzeug answer 405 to a
        # PUT or POST when a GET rule shares the path.
        # Digits beyond int()'s limit (4,300) would raise ValueError: a 500.
        if len(value.lstrip("0")) > len(str(ROW_ID_MAX)):
            raise werkzeug.exceptions.NotFound()
        number = int(value)
        if number > ROW_ID_MAX:
            raise werkzeug.exceptions.NotFound()
        return number


CONVERTERS: Final[dict[str, type[BaseConverter]]] = {
    "id": IdConverter,
    "kid": KidConverter,
    "rowid": RowIdConverter,
}
"""The core's converters by the name routes use; areas add their own (see create_app)."""
