"""PACT filter terms and criteria, with hand-worked validity periods."""

from __future__ import annotations

import datetime as dt
import itertools

from exchange.pact_wire import parse_product_footprint
from exchange.pact_wire.filters import (
    Criteria,
    countries_of,
    criteria_from_json,
    criteria_from_query,
    geography_matches,
    terms_of,
)
from tests.factories import pact_example


def footprint(**changes: object) -> dict[str, object]:
    document = pact_example()
    document.pop("validityPeriodStart")
    document.pop("validityPeriodEnd")
    document.update(changes)
    return document


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_default_validity_is_three_years_from_the_reference_period_end() -> None:
    terms = terms_of(parse_product_footprint(footprint()))
    assert (terms.valid_from, terms.valid_until) == (utc("2024-12-31"), utc("2027-12-31"))


def test_a_leap_day_reference_end_is_valid_until_the_28th() -> None:
    document = footprint()
    document["pcf"] = {**document["pcf"], "referencePeriodEnd": "2024-02-29T12:00:00+08:00"}  # type: ignore[dict-item]
    terms = terms_of(parse_product_footprint(document))
    assert terms.valid_from == dt.datetime(2024, 2, 29, 4, tzinfo=dt.UTC)
    assert terms.valid_until == dt.datetime(2027, 2, 28, 4, tzinfo=dt.UTC)


def test_an_explicit_validity_period_wins() -> None:
    terms = terms_of(
        parse_product_footprint(
            footprint(
                validityPeriodStart="2025-01-01T00:00:00Z", validityPeriodEnd="2026-01-01T00:00:00Z"
            )
        )
    )
    assert (terms.valid_from, terms.valid_until) == (utc("2025-01-01"), utc("2026-01-01"))


def test_query_parameters_ignore_case_and_repeat_as_alternatives() -> None:
    criteria = criteria_from_query(
        [
            ("ProductID", "URN:GTIN:1"),
            ("productId", "urn:gtin:2"),
            ("GEOGRAPHY", "CN"),
            ("validon", "2025-01-01T08:00:00+08:00"),
            ("status", "deprecated"),
            ("x-fx-unknown", "ignored"),
            ("limit", "5"),
        ]
    )
    assert criteria == Criteria(
        product_ids=frozenset({"urn:gtin:1", "urn:gtin:2"}),
        geographies=frozenset({"cn"}),
        valid_on=utc("2025-01-01"),
        statuses=frozenset({"deprecated"}),
    )
    assert criteria_from_json(criteria.to_json()) == criteria


def test_bogus_values_make_criteria_unsatisfiable() -> None:
    terms = terms_of(parse_product_footprint(footprint()))
    for pairs in (
        [("status", "Bogus")],
        [("validAfter", "tomorrow")],
        [("validOn", "2025-01-01T00:00:00Z"), ("validOn", "2026-01-01T00:00:00Z")],
    ):
        criteria = criteria_from_query(pairs)
        assert criteria.unsatisfiable
        assert not criteria.matches(terms, "Active")
    assert criteria_from_query([]).matches(terms, "Active")


def test_an_empty_value_is_no_filter() -> None:
    """``classification=`` (what the official tool sends for a footprint without one)."""
    terms = terms_of(parse_product_footprint(footprint()))
    pairs = [(name, " ") for name in ("productId", "companyId", "geography", "classification")]
    pairs += [(name, "") for name in ("validOn", "validAfter", "validBefore", "status")]
    criteria = criteria_from_query(pairs)
    assert criteria == Criteria()
    assert criteria.matches(terms, "Active")


def test_a_country_holds_its_subdivisions_and_nothing_else() -> None:
    texas = terms_of(parse_product_footprint(footprint()))  # example-1: US-TX
    assert texas.geographies == frozenset({"us-tx"})
    for wanted, found in (
        ("US", True),
        ("us-tx", True),
        ("US-T", False),
        ("U", False),
        ("TX", False),
        ("USA", False),
        ("CN", False),
    ):
        assert criteria_from_query([("geography", wanted)]).matches(texas, "Active") is found
    assert geography_matches(frozenset({"cn", "us"}), frozenset({"us-tx"}))


def test_the_country_index_holds_exactly_what_a_country_filter_matches() -> None:
    # The country index (FootprintCountry) is written from countries_of; a country filter
    # reads it instead of the geography index, so the two must agree on every term.
    terms = ["cn", "cn-hi", "us-tx", "us", "asia", "eastern asia", "c", "cnx", "c1-x", "cn-"]
    for count in range(3):
        for present in itertools.combinations(terms, count):
            held = countries_of(present)
            for country in ("cn", "us", "as", "c1", "ea"):
                wanted = frozenset({country})
                assert (country in held) is geography_matches(wanted, frozenset(present))
    assert countries_of(["cn-hi", "cn", "us-tx", "europe"]) == ["cn", "us"]
