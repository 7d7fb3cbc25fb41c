"""Sharing records with customers and setting who else may read them."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import limits
from exchange.db import insert_unless_present, utcnow
from exchange.errors import (
    NotFound,
    ValidationFailed,
)
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import FlowKind
from exchange.footprints.models import (
    SHARES,
    Disclosure,
    FootprintRecord,
    Share,
)
from exchange.organisations.models import Organisation
from exchange.organisations.principals import Principal
from exchange.pact_wire import parse_product_footprint
from exchange.pact_wire.filters import FilterTerms, terms_of


def own_record(session: Session, principal: Principal, record_id: str) -> FootprintRecord:
    record = session.get(FootprintRecord, record_id.lower())
    if record is None or record.owner_id != principal.organisation_id:
        raise NotFound(f"you have no footprint {record_id}")
    return record


def grant_record(session: Session, record: FootprintRecord, *, grantee_id: str) -> None:
    """Let ``grantee_id`` read ``record`` (an answered request), unless it can already."""
    if record.disclosure == Disclosure.PUBLIC or record.owner_id == grantee_id:
        return
    existing = session.scalar(
        sa.select(Share.id).where(Share.grantee_id == grantee_id, Share.record_id == record.id)
    )
    if existing is None:
        grant = Share(
            owner_id=record.owner_id,
            grantee_id=grantee_id,
            record_id=record.id,
            product_id=None,
        )
        session.add(grant)
        session.flush()
        flows.record_share(session, grant, FlowKind.SHARE_GRANTED)


def terms_of_record(record: FootprintRecord) -> FilterTerms:
    return terms_of(parse_product_footprint(json.loads(record.footprint_json)))


def share(
    session: Session,
    principal: Principal,
    *,
    grantee_id: str,
    record_id: str | None = None,
    product_id: str | None = None,
) -> Share:
    """Grant one record, or every record of one of the owner's products, to an organisation."""
    principal.require_scope("footprints:write")
    if (record_id is None) == (product_id is None):
        raise ValidationFailed(
            "share either one record or one product",
            details=[{"field": "recordId|productId", "message": "give exactly one"}],
        )
    # Stored lower-cased, which can lengthen it ("İ" lower-cases to two code points).
    if product_id is not None and len(product_id.lower()) > limits.URN:
        raise ValidationFailed(
            f"a product id has at most {limits.URN} characters",
            details=[{"field": "productId", "message": f"at most {limits.URN} characters"}],
        )
    if session.get(Organisation, grantee_id) is None:
        raise NotFound(f"no organisation {grantee_id}")
    if grantee_id == principal.organisation_id:
        raise ValidationFailed("you always see your own records")
    query = sa.select(Share).where(
        Share.owner_id == principal.organisation_id, Share.grantee_id == grantee_id
    )
    if record_id is not None:
        record_id = own_record(session, principal, record_id).id
        query = query.where(Share.record_id == record_id)
    else:
        assert product_id is not None
        product_id = product_id.lower()
        query = query.where(Share.product_id == product_id)
    existing = session.scalar(query)
    if existing is not None:
        return existing
    # A concurrent request making the same grant is waited for (PostgreSQL) and wins: the
    # unique index keeps one grant, which both requests then answer with.
    inserted = insert_unless_present(
        session,
        SHARES,
        {
            "owner_id": principal.organisation_id,
            "grantee_id": grantee_id,
            "record_id": record_id,
            "product_id": product_id,
            "created_at": utcnow(),
        },
    )
    grant = session.scalars(query).one()
    if inserted:
        flows.record_share(session, grant, FlowKind.SHARE_GRANTED)
    return grant


def unshare(session: Session, principal: Principal, *, share_id: int) -> None:
    """Withdraw a share: the grantee's later reads, and deliveries still queued for it,
    find the records no longer shared (the outbox checks again when it delivers)."""
    principal.require_scope("footprints:write")
    # Locked: of concurrent withdrawals one deletes (and is logged), the others then find
    # no grant and are told so, instead of deleting nothing and logging it again.
    grant = session.get(Share, share_id, with_for_update=True, populate_existing=True)
    if grant is None or grant.owner_id != principal.organisation_id:
        raise NotFound(f"you have no share {share_id}")
    flows.record_share(session, grant, FlowKind.SHARE_WITHDRAWN)
    session.delete(grant)
    session.flush()


def shares_of(session: Session, principal: Principal) -> list[Share]:
    principal.require_scope("footprints:read")
    return list(
        session.scalars(
            sa.select(Share).where(Share.owner_id == principal.organisation_id).order_by(Share.id)
        )
    )


def set_disclosure(
    session: Session, principal: Principal, *, record_id: str, disclosure: Disclosure
) -> FootprintRecord:
    """Publish a record, or narrow it again (what was public may have been copied already)."""
    principal.require_scope("footprints:write")
    record = own_record(session, principal, record_id)
    record.disclosure = disclosure
    session.flush()
    return record
