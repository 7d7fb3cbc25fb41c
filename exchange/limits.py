"""Lengths of the text the exchange stores in bounded columns: one source for both sides.

The table models declare their ``String`` columns with these constants and the wire schemas
and services check input against the same constants, so a value the edge accepts fits its
column on SQLite (which would store any length) and on PostgreSQL (which refuses an
over-long value with an error) alike, and a SQLite backup always restores into PostgreSQL.
Lengths count characters (Unicode code points), as both databases do. The API tour's table
of text limits (docs/api/tour.md) lists them; ``tests/system/test_text_limits.py`` holds
every bounded column to a 400 at its limit + 1.

The ids that URL paths carry have limits here too, which the route converters of
:mod:`exchange.routing` enforce (``tests/system/test_path_ids.py``).
"""

from __future__ import annotations

from typing import Final

URN: Final = 300
"""A PACT URN: ``productIds``, ``companyIds`` and ``productClassifications`` of a footprint,
the ``productId`` of a share, an organisation's company ids."""

GEOGRAPHY: Final = 64
"""A footprint's region, country or subdivision (each is also held to its PACT pattern)."""

COUNTRY: Final = 2
"""An ISO 3166-1 alpha-2 country code, as a footprint's geography names it."""

ORGANISATION_NAME: Final = 300
"""An organisation's name."""

REVOCATION_REASON: Final = 500
"""Why a signing key was revoked."""

# --- ids in URL paths -------------------------------------------------------------------------
# A path id longer or other than its kind can be is refused where the URL is routed (a 404,
# exchange.routing), never cut to this length: a cut id could name another, real, record.

ID: Final = 36
"""A record, product, site, factor, organisation, partner programme, signing draft or PACT
request id: a UUID, 8-4-4-4-12 hexadecimal digits (either case in a URL path)."""

KID: Final = 43
"""A key id: the RFC 7638 SHA-256 thumbprint of an Ed25519 key, 43 base64url characters."""

RULE_CODE: Final = 64
"""An accounting rule's code: a letter or digit, then letters, digits, ".", "_" or "-"."""

GTIN: Final = 14
"""A GTIN in a label's GS1 Digital Link path: the GTIN-14 form, 14 digits with its check
digit."""

LOT: Final = 20
"""A batch/lot number (GS1 AI 10) of a label: 1 to 20 characters of GS1's CSET 82."""
