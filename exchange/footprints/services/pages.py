"""Newest-first pages of the records a caller may see that meet a filter.

A page is read from *runs*: index ranges already in list order (newest first), such as
the records of one product id, of one validity year, or of the caller itself. The runs of
one *source* together hold every record of the page: the runs of one filter criterion
(one per value), or the runs of what the caller may see (its own records, public ones,
shares). A page takes the first rows of each run of one source, checks every other
condition on each of them, and merges the runs. It therefore costs about the page size
per run, plus the candidates the checks turn away, however many records the exchange
holds. The source is the one with the fewest candidates, counted from the same indexes up
to a small cap; a criterion that would take too many runs is not offered, and the caller's
own view (its records, public ones, shares: a handful of runs) always is.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import GenerativeSelect

from exchange.errors import BadRequest
from exchange.footprints.models import (
    TERM_TABLES,
    Disclosure,
    FootprintCountry,
    FootprintGeography,
    FootprintProduct,
    FootprintRecord,
    FootprintValidityYear,
    RecordStatus,
    Share,
)
from exchange.footprints.services.reading import Viewer, product_granted, visible_clause
from exchange.organisations.models import OrganisationRole, Role
from exchange.organisations.principals import Principal
from exchange.pact_wire.filters import VALIDITY_YEARS, Criteria, countries_among

# SQLite allows 500 selects in a compound one; beyond this a source is not used.
MAX_RUNS: Final = 200
# Candidates are counted up to this many per source when choosing where a page starts:
# enough to tell a small source from a large one, cheap enough to count on every call.
COUNT_CAP: Final = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    records: list[FootprintRecord]
    next_cursor: str | None


def encode_cursor(record: FootprintRecord) -> str:
    text = f"{record.received_at.isoformat()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, record_id = text.split("|", 1)
        if "\x00" in record_id:  # PostgreSQL text cannot hold it: a 500 in the query
            raise ValueError("a cursor's record id holds a NUL character")
        position = dt.datetime.fromisoformat(moment)
        if position.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        # A forged 0001-01-01T00:00:00+01:00 has no UTC time (OverflowError).
        position = position.astimezone(dt.UTC)
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise BadRequest("the page cursor is not valid; start again without it") from exc
    return position, record_id


# A position in list order: (received_at, record id), as values or as bind parameters.
_Position = tuple[Any, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Run:
    """Records in list order: ``table`` ordered by ``received_at`` then ``record_id`` where
    ``where`` holds (on an index of ``table``); ``joined`` conditions need the record row."""

    table: Any
    record_id: Any
    received_at: Any
    where: tuple[sa.ColumnElement[bool], ...]
    joined: tuple[sa.ColumnElement[bool], ...] = ()
    # A range over several values may hold a record more than once (two of its products);
    # then the page's limit must count records, not rows.
    repeats: bool = False

    @property
    def is_record_table(self) -> bool:
        return self.table is FootprintRecord

    def base(self) -> sa.Select[Any]:
        query = sa.select(self.record_id.label("id"), self.received_at.label("received_at"))
        if self.repeats:
            query = query.distinct()
        if self.is_record_table:
            return query.where(*self.where)
        return (
            query.select_from(self.table)
            .join(FootprintRecord, FootprintRecord.id == self.record_id)
            .where(*self.where)
        )

    def rows(self) -> sa.Select[Any]:
        """A row per record of the run, read from its index alone (for counting)."""
        return sa.select(sa.literal(1)).select_from(self.table).where(*self.where)


@dataclasses.dataclass(frozen=True, slots=True)
class _Source:
    """Runs that together hold every record the page may show."""

    runs: list[_Run]
    # Conditions the runs already guarantee, which candidates need not be checked against.
    guarantees_visibility: bool = False
    term_table: Any = None


def _term_in(table: Any, term: Any, column: str, values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``term``'s value is one of ``values``; a country's geography also finds its
    subdivisions (``cn`` finds ``cn-hi``), as :func:`geography_matches` says."""
    found: sa.ColumnElement[str] = getattr(term, column)
    clause: sa.ColumnElement[bool] = found == values[0] if len(values) == 1 else found.in_(values)
    if table is not FootprintGeography:
        return clause
    # Country codes are two letters, so the pattern holds no LIKE wildcard.
    prefixes = [found.like(f"{country}-%") for country in countries_among(values)]
    return sa.or_(clause, *prefixes) if prefixes else clause


def _term_run(table: Any, column: str, value: str) -> _Run:
    term = aliased(table)
    return _Run(term, term.record_id, term.received_at, (_term_in(table, term, column, [value]),))


def _term_runs(table: Any, column: str, wanted: frozenset[str]) -> list[_Run]:
    """A run per value of a term criterion. A country's geography is read from the country
    index, which holds the records given by the country and those given by one of its
    subdivisions in one list-ordered range (the geography index would need an ``OR ...
    LIKE`` over several ranges, which no index gives in list order: every match sorted)."""
    countries = set(countries_among(wanted)) if table is FootprintGeography else set()
    runs = []
    for value in sorted(wanted):
        if value in countries:
            term = aliased(FootprintCountry)
            runs.append(_Run(term, term.record_id, term.received_at, (term.country == value,)))
        else:
            runs.append(_term_run(table, column, value))
    return runs


def _year_run(kind: str, year: int, criteria: Criteria) -> _Run:
    """A validity year, sifted by the exact period the index carries."""
    term = aliased(FootprintValidityYear)
    where = [term.kind == kind, term.year == year]
    if criteria.valid_on is not None:
        where += [term.valid_from <= criteria.valid_on, term.valid_until >= criteria.valid_on]
    if criteria.valid_after is not None:
        where.append(term.valid_from > criteria.valid_after)
    if criteria.valid_before is not None:
        where.append(term.valid_until < criteria.valid_before)
    return _Run(term, term.record_id, term.received_at, tuple(where))


def _record_run(*where: sa.ColumnElement[bool]) -> _Run:
    return _Run(FootprintRecord, FootprintRecord.id, FootprintRecord.received_at, where)


def _stored_validity_year(session: Session, criteria: Criteria) -> int | None:
    """The earliest year a stored validity ends in (``validBefore``) or the latest one
    starts in (``validAfter``): where the criterion's runs of years stop."""
    if criteria.valid_on is not None or (
        criteria.valid_before is None and criteria.valid_after is None
    ):
        return None
    kind = "until" if criteria.valid_before is not None else "from"
    bound = sa.func.min if kind == "until" else sa.func.max
    return session.scalar(
        sa.select(bound(FootprintValidityYear.year)).where(FootprintValidityYear.kind == kind)
    )


def _validity_source(criteria: Criteria, stored: int | None) -> _Source | None:
    """The runs of the validity years a validOn, validBefore or validAfter needs; ``stored``
    is :func:`_stored_validity_year`."""
    if criteria.valid_on is not None:
        year = criteria.valid_on.year
        return _Source([_year_run("on", year, criteria)]) if year in VALIDITY_YEARS else None
    if criteria.valid_before is None and criteria.valid_after is None:
        return None
    if stored is None:
        return _Source([])
    kind = "until" if criteria.valid_before is not None else "from"
    # A bound on the stroke of a new year excludes that year: "before 2024" is up to 2023.
    instant = dt.timedelta(microseconds=1)
    try:
        if criteria.valid_before is not None:
            years = range(stored, (criteria.valid_before - instant).year + 1)
        else:
            assert criteria.valid_after is not None
            years = range((criteria.valid_after + instant).year, stored + 1)
    except OverflowError:  # before the year 1 or after 9999: nothing is valid there
        return _Source([])
    if len(years) > MAX_RUNS:
        return None
    return _Source([_year_run(kind, year, criteria) for year in years])


def _visibility_source(viewer: Viewer | None, *, owned_only: bool) -> _Source:
    """The runs of what the caller may see: its own, public and shared records."""
    if viewer is None:
        return _Source([_record_run(FootprintRecord.disclosure == Disclosure.PUBLIC)], True)
    me = viewer.organisation_id
    owned = _record_run(FootprintRecord.owner_id == me)
    if owned_only:
        return _Source([owned], True)
    runs = [owned, _record_run(FootprintRecord.disclosure == Disclosure.PUBLIC)]
    if viewer.regulator:
        runs.append(_record_run(FootprintRecord.disclosure == Disclosure.REGULATOR))
    by_record = aliased(Share)
    runs.append(
        _Run(
            by_record,
            by_record.record_id,
            FootprintRecord.received_at,
            (by_record.grantee_id == me, by_record.record_id.is_not(None)),
            repeats=True,  # a successor inherits the grants of each record it replaces
        )
    )
    # Every record of a product shared with the caller, by its owner, in one run: the
    # shared products' index ranges are gathered and sorted, which costs what the caller
    # may see that way (one run per product would cost a query plan per product).
    product = aliased(FootprintProduct)
    shared_products = sa.select(Share.product_id).where(
        Share.grantee_id == me, Share.product_id.is_not(None)
    )
    runs.append(
        _Run(
            product,
            product.record_id,
            product.received_at,
            (product.product_id.in_(shared_products),),
            joined=(product_granted(me, product),),
            repeats=True,
        )
    )
    return _Source(runs, guarantees_visibility=True)


def _candidate_sources(
    viewer: Viewer | None, criteria: Criteria, *, stored_year: int | None, owned_only: bool
) -> list[_Source]:
    """Every source a page may start from, criteria first (they win ties)."""
    sources = [
        _Source(_term_runs(table, column, wanted), term_table=table)
        for table, column, field in TERM_TABLES
        if (wanted := getattr(criteria, field)) and len(wanted) <= MAX_RUNS
    ]
    validity = _validity_source(criteria, stored_year)
    if validity is not None:
        sources.append(validity)
    sources.append(_visibility_source(viewer, owned_only=owned_only))
    return sources


def _count(source: _Source) -> sa.ColumnElement[int]:
    """How many candidates the source holds, up to COUNT_CAP in all: its runs are read one
    after another until COUNT_CAP rows. (Capping each run instead read up to COUNT_CAP rows
    of every one, six validity years' 3,000 for ``validBefore``, to learn only that the
    source is large: the worst filter's cost on PostgreSQL, issue 22.)"""
    if not source.runs:
        return sa.literal(0)
    read: GenerativeSelect = (
        source.runs[0].rows()
        if len(source.runs) == 1
        else sa.union_all(*(run.rows() for run in source.runs))
    )
    inner = read.limit(COUNT_CAP).subquery()
    return sa.select(sa.func.count()).select_from(inner).scalar_subquery()


def _record_clauses(criteria: Criteria) -> list[sa.ColumnElement[bool]]:
    """The filter's conditions on the record row itself: status and the exact validity."""
    clauses: list[sa.ColumnElement[bool]] = []
    if criteria.statuses:
        clauses.append(
            FootprintRecord.status.in_(
                [status for status in RecordStatus if status.value.lower() in criteria.statuses]
            )
        )
    if criteria.valid_on is not None:
        clauses += [
            FootprintRecord.valid_from <= criteria.valid_on,
            FootprintRecord.valid_until >= criteria.valid_on,
        ]
    if criteria.valid_after is not None:
        clauses.append(FootprintRecord.valid_from > criteria.valid_after)
    if criteria.valid_before is not None:
        clauses.append(FootprintRecord.valid_until < criteria.valid_before)
    return clauses


def _term_clauses(criteria: Criteria, skip: Any) -> list[sa.ColumnElement[bool]]:
    """The term criteria as checks on a candidate record, but for the one it came from."""
    clauses: list[sa.ColumnElement[bool]] = []
    for table, column, field in TERM_TABLES:
        wanted: frozenset[str] = getattr(criteria, field)
        if wanted and table is not skip:
            term = aliased(table)
            # Probes the (record_id, value) key of each candidate; an IN over all the
            # matching ids would first gather every one of them.
            clauses.append(
                sa.exists()
                .where(
                    term.record_id == FootprintRecord.id,
                    _term_in(table, term, column, sorted(wanted)),
                )
                .correlate(FootprintRecord)
            )
    return clauses


def _after(run: _Run, position: _Position) -> sa.ColumnElement[bool]:
    """Rows past the position in list order (the ``<=`` lets an index range apply)."""
    moment, last_id = position
    return sa.and_(
        run.received_at <= moment,
        sa.or_(run.received_at < moment, run.record_id < last_id),
    )


def _held_for_a_partner_programme() -> sa.ColumnElement[bool]:
    """The record is owned by a partner programme's organisation here: one we recognised
    from it. A partner programme pulling from us is not served those (its own records among
    them): they are the partner's to vouch for, not ours."""
    return (
        sa.exists()
        .where(
            OrganisationRole.organisation_id == FootprintRecord.owner_id,
            OrganisationRole.role == Role.PARTNER_PROGRAMME,
        )
        .correlate(FootprintRecord)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """What a page's statements depend on. The viewer's id, the position and the limit are
    bound when they run (``viewer``, ``after_moment``, ``after_id``, ``page_limit``)."""

    criteria: Criteria
    signed_in: bool
    regulator: bool
    partner_programme: bool
    owned_only: bool
    after: bool
    stored_year: int | None


class _Plan:
    """A page's statements for one shape, built once: the count that picks the source and
    the page of each source, built when first picked. Building them cost about as much CPU
    as running them (issue 22), and the same filters are asked again and again (a nightly
    pull, a client walking the pages)."""

    def __init__(self, shape: _Shape) -> None:
        self.shape = shape
        self.viewer = (
            Viewer(sa.bindparam("viewer"), shape.regulator, shape.partner_programme)
            if shape.signed_in
            else None
        )
        self.sources = _candidate_sources(
            self.viewer, shape.criteria, stored_year=shape.stored_year, owned_only=shape.owned_only
        )
        self.counts = (
            sa.select(*(_count(source) for source in self.sources))
            if len(self.sources) > 1
            else None
        )
        self._pages: dict[int, sa.Select[FootprintRecord]] = {}

    def cheapest(self, session: Session, parameters: dict[str, Any]) -> int:
        """The source with the fewest candidates; all large ones count alike (COUNT_CAP),
        and a tie goes to the earlier, so a criterion wins over the caller's whole view."""
        if self.counts is None:
            return 0
        sizes = session.execute(self.counts, parameters).one()
        return min(range(len(sizes)), key=lambda index: min(sizes[index], COUNT_CAP))

    def page(self, source: int) -> sa.Select[FootprintRecord]:
        statement = self._pages.get(source)
        if statement is None:
            position: _Position | None = None
            if self.shape.after:
                position = (sa.bindparam("after_moment"), sa.bindparam("after_id"))
            statement = _page_from(
                self.sources[source],
                self.viewer,
                self.shape.criteria,
                after=position,
                limit=sa.bindparam("page_limit", type_=sa.Integer),
                owned_only=self.shape.owned_only,
            )
            # Two threads may build it at once; either statement does.
            self._pages[source] = statement
        return statement


class _KeptPlans:
    """The plans of recent shapes, least recently used first out, within a budget of runs.

    A plan's statements grow with its runs: about 60-100 KiB a run once every source's page
    is built, 150-250 KiB for a plan whose one page is. The runs of the kept plans are held
    to ``budget`` (a few tens of MiB at most), and a plan of more than ``max_runs`` (a filter
    of many values, a run each, rarely asked twice) is planned afresh on every call, so that
    a caller cycling through filters cannot fill a worker's memory."""

    def __init__(self, *, budget: int, max_runs: int) -> None:
        self.budget = budget
        self.max_runs = max_runs
        self._plans: collections.OrderedDict[_Shape, tuple[_Plan, int]] = collections.OrderedDict()
        self._runs = 0
        self._lock = threading.Lock()

    def __call__(self, shape: _Shape) -> _Plan:
        with self._lock:
            kept = self._plans.get(shape)
            if kept is not None:
                self._plans.move_to_end(shape)
                return kept[0]
        plan = _Plan(shape)
        runs = sum(len(source.runs) for source in plan.sources)
        if runs <= self.max_runs:
            with self._lock:
                if shape not in self._plans:  # another thread may have kept it meanwhile
                    self._plans[shape] = (plan, runs)
                    self._runs += runs
                while self._runs > self.budget:
                    _, (_, freed) = self._plans.popitem(last=False)
                    self._runs -= freed
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self._runs = 0


# A pure memo of statements (no data), like the compiled-statement cache beneath it.
_plan: Final = _KeptPlans(budget=256, max_runs=16)


def _page_from(
    source: _Source,
    viewer: Viewer | None,
    criteria: Criteria,
    *,
    after: _Position | None,
    limit: int | sa.BindParameter[int],
    owned_only: bool,
) -> sa.Select[FootprintRecord]:
    """Up to ``limit`` records of the source's runs that meet every other condition, newest
    first: the ids merged from the runs, joined to their records in the same statement."""
    checks = [*_record_clauses(criteria), *_term_clauses(criteria, source.term_table)]
    if not source.guarantees_visibility:
        checks.append(visible_clause(viewer))
        if owned_only and viewer is not None:
            checks.append(FootprintRecord.owner_id == viewer.organisation_id)
    if viewer is not None and viewer.partner_programme:
        checks.append(~_held_for_a_partner_programme())
    pages = []
    for run in source.runs:
        query = (
            run.base()
            .where(*run.joined, *checks)
            .order_by(run.received_at.desc(), run.record_id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(_after(run, after))
        pages.append(query)
    if not pages:
        page = sa.select(FootprintRecord.id, FootprintRecord.received_at).where(sa.false())
    elif len(pages) == 1:
        page = pages[0]
    else:
        merged = sa.union_all(*(sa.select(page.subquery()) for page in pages)).subquery()
        page = (
            sa.select(merged.c.id, merged.c.received_at)
            .group_by(merged.c.id, merged.c.received_at)
            .order_by(merged.c.received_at.desc(), merged.c.id.desc())
            .limit(limit)
        )
    ids = page.subquery()
    return (
        sa.select(FootprintRecord)
        .join(ids, FootprintRecord.id == ids.c.id)
        .order_by(ids.c.received_at.desc(), ids.c.id.desc())
    )


def list_records(
    session: Session,
    principal: Principal | None,
    *,
    limit: int,
    cursor: str | None = None,
    criteria: Criteria | None = None,
    owned_only: bool = False,
) -> Page:
    """Records the caller may see that meet the criteria, newest first, in pages.

    :meth:`Criteria.matches` is the same filter in Python; a test holds the two equal.
    """
    if principal is not None:
        principal.require_scope("footprints:read")
    criteria = criteria or Criteria()
    if criteria.unsatisfiable:
        return Page(records=[], next_cursor=None)
    after = _decode_cursor(cursor) if cursor else None
    viewer = Viewer.of(principal)
    plan = _plan(
        _Shape(
            criteria,
            signed_in=viewer is not None,
            regulator=viewer is not None and viewer.regulator,
            partner_programme=viewer is not None and viewer.partner_programme,
            owned_only=owned_only,
            after=after is not None,
            stored_year=_stored_validity_year(session, criteria),
        )
    )
    parameters: dict[str, Any] = {"page_limit": limit + 1}
    if viewer is not None:
        parameters["viewer"] = viewer.organisation_id
    if after is not None:
        parameters["after_moment"], parameters["after_id"] = after
    page = plan.page(plan.cheapest(session, parameters))
    records = list(session.scalars(page, parameters))
    more = len(records) > limit
    records = records[:limit]
    return Page(records=records, next_cursor=encode_cursor(records[-1]) if more else None)


def matching_records(
    session: Session, principal: Principal, criteria: Criteria, *, limit: int
) -> Sequence[FootprintRecord]:
    """Up to ``limit`` records the caller may see that meet the criteria, newest first."""
    return list_records(session, principal, limit=limit, criteria=criteria).records
