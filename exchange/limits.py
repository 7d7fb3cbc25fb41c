"""Lengths of the text the exchange stores in bounded columns: one source for both sides.

The table models declare their ``String`` columns with these constants and the wire schemas
and services check input against the same constants, so a value the edge accepts fits its
column on SQLite (which would store any length) and on PostgreSQL (which refuses an
over-long value with an error) alike, and a SQLite backup always restores into PostgreSQL.
Lengths count characters (Unicode code points), as both databases do. The README's table of
text limits lists them; ``tests/system/test_text_limits.py`` holds every bounded column to
a 400 at its limit + 1.
"""

from __future__ import annotations

from typing import Final

URN: Final = 300
"""A PACT URN: ``productIds``, ``companyIds`` and ``productClassifications`` of a footprint,
the ``productId`` of a share, an organisation's company ids."""

GEOGRAPHY: Final = 64
"""A footprint's region, country or subdivision (each is also held to its PACT pattern)."""

ORGANISATION_NAME: Final = 300
"""An organisation's name."""

REVOCATION_REASON: Final = 500
"""Why a signing key was revoked."""
