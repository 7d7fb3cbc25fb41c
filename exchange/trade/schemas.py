"""Wire details of the trade exports shared by the JSON answers and the printable pages."""

from __future__ import annotations

from typing import Final

# Printable pages run no script and load nothing; the portal will wrap them in its layout.
PAGE_POLICY: Final = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
