"""One mechanism for what has a status, a history and entries in the transparency log.

Accreditations, certificates, partner programmes, agreements, accounting rules and factor
versions move between statuses; each move is a history row, with the reason a person gave,
and a logged entry. Labels, grading schemes, footprint records, keys and recognitions are
logged without moving. An area declares, next to its tables:

* its statuses' allowed moves, as a :class:`Lifecycle` (``None`` names where a new object
  may start), and checks each move with :meth:`Lifecycle.check`;
* its history table, with the :class:`HistoryRow` columns (id, reason, who decided, when)
  beside its own (what the row is about, its status);
* its log entries, as a :class:`LogKind` on the model: the entry's kind, which column the
  entry's ref names, and the method that turns a row into the entry's bytes.

Services then check the reason a person gives with :func:`reason`, write a history row and
its entry with :func:`record`, and log other rows with :meth:`LogKind.append`, all in the
caller's transaction. ``exchange audit`` rebuilds entries from the same declarations:
:func:`log_sources` collects every :class:`LogKind` of the mapped models, so adding a model
that declares one is all it takes to have its entries audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Mapped,
    Session,
    declared_attr,
    joinedload,
    mapped_column,
    registry,
)

from exchange.db import chunked, utcnow
from exchange.errors import Conflict, ValidationFailed
from exchange.log.services import Source, append_entries

S = TypeVar("S", bound=enum.StrEnum)
M = TypeVar("M")

# --- moves --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S]):
    """The statuses of one kind of object and the moves allowed between them.

    ``moves`` maps each status to the statuses it may move to, in the order they are named
    to a caller; the key ``None`` lists the statuses a new object may start in. A status
    that may move nowhere is final.
    """

    what: str
    """The object with its article ("an agreement"), as a refused move names it."""
    moves: Mapping[S | None, tuple[S, ...]]

    def __post_init__(self) -> None:
        for status, targets in self.moves.items():
            for target in targets:
                if target not in self.moves:
                    raise ValueError(
                        f"{self.what}: {status} may move to {target}, whose moves are undeclared"
                    )

    def targets(self, status: S | None) -> tuple[S, ...]:
        """Where an object of ``status`` may move (``None``: where a new one may start)."""
        return self.moves.get(status, ())

    def sources(self, target: S) -> tuple[S | None, ...]:
        """The statuses from which an object may move to ``target``."""
        return tuple(status for status, targets in self.moves.items() if target in targets)

    def check(self, status: S | None, target: S, *, refusal: str | None = None) -> S:
        """``target`` if an object of ``status`` may move there; else a Conflict (409) with
        ``refusal``, or "<what> cannot go from <status> to <target>"."""
        if target not in self.targets(status):
            before = "none" if status is None else status.value
            raise Conflict(refusal or f"{self.what} cannot go from {before} to {target.value}")
        return target


# --- reasons ------------------------------------------------------------------------------


def reason(
    text: str,
    *,
    column: InstrumentedAttribute[Any],
    field: str = "reason",
    required: bool = True,
    message: str = "give a reason",
) -> str:
    """The reason (or comment) a person gives for a decision, as it is stored: stripped of
    surrounding space, not blank unless optional, and no longer than ``column`` holds.

    One rule for every area: a blank reason is refused with the detail "required", one longer
    than its column with "1 to <n> characters" (an unbounded column has no upper limit).
    """
    given = text.strip()
    if required and not given:
        raise ValidationFailed(message, details=[{"field": field, "message": "required"}])
    limit = getattr(column.property.columns[0].type, "length", None)
    if limit is not None and len(given) > limit:
        raise ValidationFailed(
            message, details=[{"field": field, "message": f"1 to {limit} characters"}]
        )
    return given


# --- log entries --------------------------------------------------------------------------


class LogKind(Generic[M]):
    """How the rows of one model become entries of one kind in the transparency log.

    Declared in the model's class body, after the method that builds an entry's bytes::

        def log_entry(self) -> bytes: ...
        log = LogKind("accreditation", entry=log_entry)

    An entry's ref is the row's ``key`` column, followed by ``/`` and ``suffix(row)`` when a
    row is one of several per key. ``present`` says whether a row has an entry at all (a key
    that was never revoked has no revocation entry); ``load`` names the relationships an
    entry reads, loaded with the rows when the audit rebuilds them.
    """

    def __init__(
        self,
        kind: str,
        *,
        entry: Callable[[M], bytes],
        key: str = "id",
        suffix: Callable[[M], str] | None = None,
        present: Callable[[M], bool] | None = None,
        load: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.entry = entry
        self.key = key
        self.suffix = suffix
        self.present = present
        self.load = tuple(load)
        self.model: type[M] | None = None

    def __set_name__(self, owner: type[M], name: str) -> None:
        self.model = owner

    def ref(self, row: M) -> str:
        """What the entry of ``row`` is named by in the log."""
        key = str(getattr(row, self.key))
        return key if self.suffix is None else f"{key}/{self.suffix(row)}"

    def entries(self, rows: Iterable[M]) -> list[tuple[str, str, bytes]]:
        """``(kind, ref, entry bytes)`` of each row, as the log takes them."""
        return [(self.kind, self.ref(row), self.entry(row)) for row in rows]

    def append(self, session: Session, rows: Sequence[M]) -> list[int]:
        """Append the entries of ``rows``, in order, in the session's transaction; their log
        indexes, also kept in each row's ``log_index`` when its table has one."""
        model = self._model()
        indexes = append_entries(session, self.entries(rows))
        if hasattr(model, "log_index"):
            for row, index in zip(rows, indexes, strict=True):
                setattr(row, "log_index", index)  # noqa: B010 - a column the model may lack
        return indexes

    def rebuild(self, session: Session, refs: Sequence[str]) -> dict[str, bytes]:
        """The entry bytes of ``refs`` rebuilt from the model's table, for the log's audit;
        a ref whose row is gone (or names nothing) is left out."""
        model = self._model()
        column: InstrumentedAttribute[Any] = getattr(model, self.key)
        keys = (ref.rpartition("/")[0] if self.suffix else ref for ref in refs)
        convert = _key_parser(column)
        wanted = set(refs)
        found: dict[str, bytes] = {}
        for chunk in chunked(keys):
            values = [value for value in map(convert, chunk) if value is not None]
            if not values:
                continue
            query = sa.select(model).where(column.in_(values))
            if self.load:
                query = query.options(*(joinedload(getattr(model, name)) for name in self.load))
            for row in session.scalars(query).unique():
                ref = self.ref(row)
                if ref in wanted and (self.present is None or self.present(row)):
                    found[ref] = self.entry(row)
        return found

    def _model(self) -> type[M]:
        if self.model is None:
            raise TypeError(f"the log kind {self.kind!r} is not declared on a model")
        return self.model


def _key_parser(column: InstrumentedAttribute[Any]) -> Callable[[str], Any]:
    """Turns a ref's key text into the column's value; None when it cannot be one."""
    try:
        python_type = column.property.columns[0].type.python_type
    except NotImplementedError:  # pragma: no cover - every key column is a str or an int
        python_type = str
    if python_type is int:

        def to_int(text: str) -> int | None:
            return int(text) if text.isascii() and text.isdigit() else None

        return to_int
    return str


def log_kinds(models: registry) -> dict[str, LogKind[Any]]:
    """Every log kind the mapped models declare, by kind; a kind declared twice is an error."""
    found: dict[str, LogKind[Any]] = {}
    for mapper in models.mappers:
        for value in vars(mapper.class_).values():
            if isinstance(value, LogKind):
                if value.kind in found:
                    raise ValueError(f"log kind {value.kind!r} is declared twice")
                found[value.kind] = value
    return found


def log_sources(models: registry) -> dict[str, Source]:
    """What the audit rebuilds each kind of entry with: every declared kind's rows."""
    return {kind: declared.rebuild for kind, declared in log_kinds(models).items()}


# --- history rows -------------------------------------------------------------------------


class HistoryRow:
    """The columns every history table has: the decision's id, the reason given, who decided
    and when. A table adds what its rows are about (the subject's id, the status reached,
    a snapshot) and declares its :class:`LogKind` as ``log``.

    ``reason_length`` is the reason column's length; ``decided_by_optional`` lets the
    exchange itself decide (``decided_by`` None), where a table allows it.
    """

    reason_length: ClassVar[int] = 500
    decided_by_optional: ClassVar[bool] = False
    log: ClassVar[LogKind[Any]]

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True, sort_order=-1)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @declared_attr
    def reason(cls) -> Mapped[str]:
        return mapped_column(sa.String(cls.reason_length))

    @declared_attr
    def decided_by(cls) -> Mapped[str | None]:
        return mapped_column(sa.ForeignKey("organisations.id"), nullable=cls.decided_by_optional)


H = TypeVar("H", bound=HistoryRow)


def record(session: Session, row: H) -> H:
    """Store a history row and append its log entry, in the session's transaction."""
    session.add(row)
    session.flush()
    type(row).log.append(session, [row])
    return row
