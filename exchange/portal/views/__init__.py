"""The portal's pages, one module per audience; importing them registers their routes."""

from exchange.portal.views import (
    auth,
    certification,
    chain,
    obligations,
    public,
    recognition,
    records,
    regulator,
    sites,
)
from exchange.portal.views.common import bp

__all__ = [
    "auth",
    "bp",
    "certification",
    "chain",
    "obligations",
    "public",
    "recognition",
    "records",
    "regulator",
    "sites",
]
