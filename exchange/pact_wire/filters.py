"""PACT v3 footprint filters: the terms a record is found by, and the criteria a caller gives.

ListFootprints and RequestCreatedEvent share one filter language: values of one
criterion are alternatives (OR), different criteria must all hold (AND), identifiers
match case-insensitively. A record is indexed by its :class:`FilterTerms`; the database
query and :meth:`Criteria.matches` both read those terms, so a list and a request agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from exchange.pact_wire import ProductFootprint, RequestCreatedData, parse_date_time

STATUSES: Final = ("Active", "Deprecated")
# A footprint without a validity period is valid for three years after its reference period.
DEFAULT_VALIDITY_YEARS: Final = 3


@dataclasses.dataclass(frozen=True, slots=True)
class FilterTerms:
    """What a footprint is found by, lower-cased where matching ignores case."""

    product_ids: frozenset[str]
    company_ids: frozenset[str]
    classifications: frozenset[str]
    geographies: frozenset[str]
    valid_from: dt.datetime
    valid_until: dt.datetime


def _years_later(moment: dt.datetime, years: int) -> dt.datetime:
    if moment.year + years > dt.MAXYEAR:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February into a year without one
        return moment.replace(year=moment.year + years, day=28)


def geographies_of(footprint: ProductFootprint) -> frozenset[str]:
    """The footprint's region, country or subdivision, as given (lower case).

    A subdivision is indexed as itself only; :func:`geography_matches` lets a country find
    it (PACT: the filter returns "all footprints within the specified geography")."""
    pcf = footprint.pcf
    given = (
        pcf.geography_region_or_subregion,
        pcf.geography_country,
        pcf.geography_country_subdivision,
    )
    return frozenset(value.lower() for value in given if value is not None)


def terms_of(footprint: ProductFootprint) -> FilterTerms:
    reference_end = footprint.pcf.reference_period_end
    return FilterTerms(
        product_ids=frozenset(urn.lower() for urn in footprint.product_ids),
        company_ids=frozenset(urn.lower() for urn in footprint.company_ids),
        classifications=frozenset(urn.lower() for urn in footprint.product_classifications or ()),
        geographies=geographies_of(footprint),
        valid_from=(footprint.validity_period_start or reference_end).astimezone(dt.UTC),
        valid_until=(
            footprint.validity_period_end or _years_later(reference_end, DEFAULT_VALIDITY_YEARS)
        ).astimezone(dt.UTC),
    )


# Years whose "on" validity terms are kept: a period of centuries (a data error, or a
# deliberate "forever") would otherwise write a row per year. validOn outside these years is
# answered without the year index, by the record's own dates.
VALIDITY_YEARS: Final = range(1900, 2201)


def validity_years(terms: FilterTerms) -> list[tuple[str, int]]:
    """``(kind, year)`` index terms of a validity period: the year it starts in (``from``),
    ends in (``until``) and each year it covers (``on``), all in UTC."""
    start, end = terms.valid_from.year, terms.valid_until.year
    covered = range(max(start, VALIDITY_YEARS.start), min(end, VALIDITY_YEARS.stop - 1) + 1)
    return [("from", start), ("until", end), *(("on", year) for year in covered)]


_COUNTRY: Final = re.compile(r"[a-z]{2}")


def countries_among(geographies: Iterable[str]) -> list[str]:
    """The values of a geography filter that are ISO 3166-1 alpha-2 country codes: each
    also finds the footprints given by a subdivision of it (``cn`` finds ``cn-hi``)."""
    return sorted(value for value in geographies if _COUNTRY.fullmatch(value))


def countries_of(geographies: Iterable[str]) -> list[str]:
    """The countries a footprint with these geography terms lies in: each two-letter term,
    and the country of each subdivision (``cn`` for ``cn-hi``). A geography filter naming
    country ``c`` matches the footprint exactly when ``c`` is among them
    (:func:`geography_matches`); the country index (FootprintCountry) holds them."""
    found = set()
    for term in geographies:
        country = term.split("-", 1)[0]
        if _COUNTRY.fullmatch(country):
            found.add(country)
    return sorted(found)


def geography_matches(wanted: frozenset[str], present: frozenset[str]) -> bool:
    """Whether a footprint with the ``present`` geography terms lies in one of ``wanted``."""
    if wanted & present:
        return True
    return any(
        term.startswith(country + "-") for country in countries_among(wanted) for term in present
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Criteria:
    """A caller's filter. ``unsatisfiable`` marks a bogus value, which matches nothing."""

    product_ids: frozenset[str] = frozenset()
    company_ids: frozenset[str] = frozenset()
    geographies: frozenset[str] = frozenset()
    classifications: frozenset[str] = frozenset()
    valid_on: dt.datetime | None = None
    valid_after: dt.datetime | None = None
    valid_before: dt.datetime | None = None
    statuses: frozenset[str] = frozenset()
    unsatisfiable: bool = False

    def matches(self, terms: FilterTerms, status: str) -> bool:
        if self.unsatisfiable:
            return False
        alternatives = (
            (self.product_ids, terms.product_ids),
            (self.company_ids, terms.company_ids),
            (self.classifications, terms.classifications),
        )
        if any(wanted and not wanted & present for wanted, present in alternatives):
            return False
        if self.geographies and not geography_matches(self.geographies, terms.geographies):
            return False
        if self.statuses and status.lower() not in self.statuses:
            return False
        if self.valid_on is not None and not (
            terms.valid_from <= self.valid_on <= terms.valid_until
        ):
            return False
        if self.valid_after is not None and not terms.valid_from > self.valid_after:
            return False
        return self.valid_before is None or terms.valid_until < self.valid_before

    def to_json(self) -> dict[str, object]:
        """The criteria as PACT request data (the stored form of a footprint request)."""
        document: dict[str, object] = {}
        for name, values in (
            ("productId", self.product_ids),
            ("companyId", self.company_ids),
            ("geography", self.geographies),
            ("classification", self.classifications),
        ):
            if values:
                document[name] = sorted(values)
        for name, moment in (
            ("validOn", self.valid_on),
            ("validAfter", self.valid_after),
            ("validBefore", self.valid_before),
        ):
            if moment is not None:
                document[name] = moment.isoformat().replace("+00:00", "Z")
        if self.statuses:
            document["status"] = [status.capitalize() for status in sorted(self.statuses)]
        return document


_LIST_PARAMETERS: Final = {
    "productid": "product_ids",
    "companyid": "company_ids",
    "geography": "geographies",
    "classification": "classifications",
}
_MOMENT_PARAMETERS: Final = {
    "validon": "valid_on",
    "validafter": "valid_after",
    "validbefore": "valid_before",
}


def criteria_from_query(pairs: Iterable[tuple[str, str]]) -> Criteria:
    """Criteria from query parameters, whose names match case-insensitively too.

    A value that cannot match anything (a date that is no date, an unknown status) makes
    the criteria unsatisfiable rather than an error: the answer is simply an empty list.
    An empty value (``classification=``) is no filter at all, as PACT's conformance tool
    expects when it builds a filter from a footprint that lacks the field.
    """
    lists: dict[str, set[str]] = {field: set() for field in _LIST_PARAMETERS.values()}
    moments: dict[str, dt.datetime] = {}
    statuses: set[str] = set()
    unsatisfiable = False
    for raw_name, raw_value in pairs:
        name, value = raw_name.lower(), raw_value.strip()
        if not value:
            continue
        if name in _LIST_PARAMETERS:
            lists[_LIST_PARAMETERS[name]].add(value.lower())
        elif name in _MOMENT_PARAMETERS:
            moment = parse_date_time(value)
            field = _MOMENT_PARAMETERS[name]
            if moment is None or (field in moments and moments[field] != moment):
                unsatisfiable = True
            else:
                moments[field] = moment.astimezone(dt.UTC)
        elif name == "status":
            if value.lower() in {status.lower() for status in STATUSES}:
                statuses.add(value.lower())
            else:
                unsatisfiable = True
    return Criteria(
        product_ids=frozenset(lists["product_ids"]),
        company_ids=frozenset(lists["company_ids"]),
        geographies=frozenset(lists["geographies"]),
        classifications=frozenset(lists["classifications"]),
        valid_on=moments.get("valid_on"),
        valid_after=moments.get("valid_after"),
        valid_before=moments.get("valid_before"),
        statuses=frozenset(statuses),
        unsatisfiable=unsatisfiable,
    )


def criteria_from_request(data: RequestCreatedData) -> Criteria:
    def lowered(values: Sequence[str] | None) -> frozenset[str]:
        return frozenset(value.lower() for value in values or ())

    def utc(moment: dt.datetime | None) -> dt.datetime | None:
        return None if moment is None else moment.astimezone(dt.UTC)

    return Criteria(
        product_ids=lowered(data.product_id),
        company_ids=lowered(data.company_id),
        geographies=lowered(data.geography),
        classifications=lowered(data.classification),
        valid_on=utc(data.valid_on),
        valid_after=utc(data.valid_after),
        valid_before=utc(data.valid_before),
        statuses=lowered([data.status] if data.status else None),
    )


def criteria_from_json(document: Mapping[str, object]) -> Criteria:
    """Criteria from their stored form (:meth:`Criteria.to_json`)."""
    pairs: list[tuple[str, str]] = []
    for name, value in document.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(name, str(item)) for item in values]
    return criteria_from_query(pairs)
