"""How a recomputation stores its results: the text SQLite keeps for each figure, and the
page cache a whole-graph computation borrows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from exchange import quantities
from exchange.aggregation import engine, services
from exchange.aggregation.engine import NodeResult, Quality
from exchange.aggregation.services.recomputation import _figures
from exchange.db import ExactDecimal

# Stored figures: 12 places, from far below 1e-6 (written in scientific form by str())
# to large, negative, and zero (also the negative zero a tiny negative sum rounds to).
figure = st.one_of(
    st.decimals(min_value=-(10**12), max_value=10**12, places=12, allow_nan=False),
    st.integers(min_value=-(10**6), max_value=10**6).map(lambda n: Decimal(n).scaleb(-12)),
    st.sampled_from([Decimal("-0E-12"), Decimal("0E-12"), Decimal("1E-12"), Decimal("-1E-7")]),
).map(quantities.rounded)
quality = st.builds(
    Quality,
    st.none() | figure,
    st.none() | st.tuples(figure, figure, figure),
    st.none() | figure,
)
results = st.dictionaries(
    st.uuids().map(str),
    st.tuples(st.tuples(figure, figure, figure, figure, figure), quality),
    max_size=8,
)


@given(results)
def test_result_texts_are_what_the_exact_decimal_column_stores(
    drawn: dict[str, tuple[engine.Vector, Quality]],
) -> None:
    column = ExactDecimal()
    dialect = sqlite.dialect()
    computed = {
        product_id: NodeResult(product_id, values, quality)
        for product_id, (values, quality) in drawn.items()
    }
    expected = {
        product_id: tuple(
            column.process_bind_param(value, dialect)
            for value in (*values, q.primary_data_share, *(q.dqr or (None,) * 3), q.coverage)
        )
        for product_id, (values, q) in drawn.items()
    }
    assert dict(_figures(computed, as_text=True)) == expected


def test_a_full_recomputation_gives_sqlite_its_page_cache_back(db_session: Session) -> None:
    connection = db_session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("a SQLite connection setting")
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    assert before != services.recomputation.LARGE_PAGE_CACHE_KIB
    outcome = services.recompute(db_session)
    assert outcome.computed == 0
    assert db_session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one() == before
