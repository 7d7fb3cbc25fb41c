"""Reading records: what a caller may see, and one record.

:mod:`exchange.footprints.services.pages` reads newest-first pages of a filter with the
same rules of visibility.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from exchange.errors import AccessDenied, NotFound
from exchange.footprints.models import Disclosure, FootprintProduct, FootprintRecord, Share
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import key_status, keys_by_kid

# --- who may see what -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads, as much as a page's statement depends on it. ``organisation_id`` is a
    value, or a bind parameter in a statement built once for every viewer of a shape."""

    organisation_id: Any
    regulator: bool
    partner_programme: bool

    @classmethod
    def of(cls, principal: Principal | None) -> Viewer | None:
        if principal is None:
            return None
        return cls(
            principal.organisation_id,
            regulator=principal.has_role(Role.REGULATOR),
            partner_programme=principal.has_role(Role.PARTNER_PROGRAMME),
        )


def product_granted(organisation_id: Any, product: Any) -> sa.ColumnElement[bool]:
    """The record's owner shared ``product`` (a product row of the record, aliased by the
    caller) with the organisation."""
    return (
        sa.exists()
        .where(
            Share.grantee_id == organisation_id,
            Share.owner_id == FootprintRecord.owner_id,
            Share.product_id == product.product_id,
        )
        .correlate_except(Share)
    )


def visible_to(organisation_id: str, *, regulator: bool = False) -> sa.ColumnElement[bool]:
    """The records an organisation may read: its own, public ones, those shared with it (one
    by one or by product), and, for the regulator, those disclosed to the regulator."""
    me = organisation_id
    public = FootprintRecord.disclosure == Disclosure.PUBLIC
    # Its own alias, so that it never correlates with a list driven by the product table;
    # nested so that the record's few products are probed against the grantee's shares,
    # never the other way round.
    product = aliased(FootprintProduct)
    by_product = product_granted(me, product)
    clauses: list[sa.ColumnElement[bool]] = [
        FootprintRecord.owner_id == me,
        public,
        sa.exists().where(Share.grantee_id == me, Share.record_id == FootprintRecord.id),
        sa.exists().where(product.record_id == FootprintRecord.id, by_product),
    ]
    if regulator:
        clauses.append(FootprintRecord.disclosure == Disclosure.REGULATOR)
    return sa.or_(*clauses)


def visible_clause(viewer: Viewer | None) -> sa.ColumnElement[bool]:
    """The records ``viewer`` may read; an anonymous one (None), the public ones."""
    if viewer is None:
        return FootprintRecord.disclosure == Disclosure.PUBLIC
    return visible_to(viewer.organisation_id, regulator=viewer.regulator)


def get_record(session: Session, principal: Principal | None, record_id: str) -> FootprintRecord:
    """A record the caller may see; any other is "not found", never "forbidden"."""
    if principal is not None:
        principal.require_scope("footprints:read")
    record = session.scalar(
        sa.select(FootprintRecord).where(
            FootprintRecord.id == record_id.lower(), visible_clause(Viewer.of(principal))
        )
    )
    if record is None:
        raise NotFound(f"no footprint {record_id}")
    return record


def get_record_or_deny(session: Session, principal: Principal, record_id: str) -> FootprintRecord:
    """As :func:`get_record`, but "forbidden" where the caller already knows the id exists.

    A caller knows a record exists when a record it may see names it as a predecessor
    (PACT ``precedingPfIds``); for any other record it may not see, "not found" gives
    nothing away.
    """
    try:
        return get_record(session, principal, record_id)
    except NotFound:
        successor = sa.select(FootprintRecord.deprecated_by_id).where(
            FootprintRecord.id == record_id.lower()
        )
        known = session.scalar(
            sa.select(FootprintRecord.id).where(
                FootprintRecord.id == successor.scalar_subquery(),
                visible_clause(Viewer.of(principal)),
            )
        )
        if known is not None:
            raise AccessDenied(
                f"footprint {record_id} has not been shared with you; ask its owner"
            ) from None
        raise


def key_statuses_at_receipt(session: Session, records: Sequence[FootprintRecord]) -> dict[str, str]:
    """Each signed record's key status when the exchange received it, by record id.

    "valid" for a signature that stands. "revoked" when its owner revoked the key from a
    time at or before the receipt (a backdated revocation, after a leak): the record is
    still served, but its signature no longer vouches for it.
    """
    keys = keys_by_kid(session, (r.signature_kid for r in records if r.signature_kid))
    return {
        record.id: key_status(keys[record.signature_kid], record.received_at)
        for record in records
        if record.signature_kid in keys
    }
