"""Staleness: results that used a superseded or revoked input go stale up the tiers, and
their owners are told; the submission hook that starts it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.aggregation.models import BomLine, Product, Result, StaleNotice
from exchange.aggregation.services.common import PROVENANCE_EXTENSION_PREFIX, READ_SCOPE
from exchange.aggregation.services.documents import link_derived
from exchange.db import chunked, utcnow
from exchange.footprints.services import NewRecord
from exchange.log import services as log
from exchange.organisations.principals import Principal

OTHER_COMPONENT_CHANGED: Final = "a component from another organisation changed"


def definition_changed(session: Session, product_ids: Collection[str], reason: str) -> None:
    """A product's own definition changed: its result is dropped, its ancestors go stale."""
    session.execute(sa.delete(Result).where(Result.product_id.in_(sorted(product_ids))))
    parents = set(
        session.scalars(
            sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(sorted(product_ids)))
        )
    )
    if parents:
        mark_products_stale(session, parents, reason)


def mark_products_stale(session: Session, product_ids: Collection[str], reason: str) -> list[str]:
    """These products and every product above them, transitively, go stale.

    Each computed result that was fresh becomes stale and its owner gets a notice. The
    newly stale product ids are returned.
    """
    now = utcnow()
    seen: set[str] = set()
    frontier = set(product_ids)
    while frontier:
        seen |= frontier
        parents: set[str] = set()
        for chunk in chunked(frontier):
            parents.update(
                session.scalars(
                    sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(chunk))
                )
            )
        frontier = parents - seen
    newly: list[tuple[str, str]] = []
    for chunk in chunked(seen):
        # Filtered on ``stale`` here rather than in SQL, where SQLite would pick the
        # ``stale`` index (every fresh row) over the primary key.
        newly += [
            (product_id, owner)
            for product_id, owner, stale in session.execute(
                sa.select(Result.product_id, Product.owner_id, Result.stale)
                .join(Product, Product.id == Result.product_id)
                .where(Result.product_id.in_(chunk))
            )
            if not stale
        ]
    if not newly:
        return []
    # The reason may name inputs only their user may see: another organisation's product
    # higher up learns that a component changed, never which input.
    first_owners: set[str] = set()
    for chunk in chunked(product_ids):
        first_owners.update(
            session.scalars(sa.select(Product.owner_id).where(Product.id.in_(chunk)))
        )
    reasons = {
        product_id: reason if owner in first_owners else OTHER_COMPONENT_CHANGED
        for product_id, owner in newly
    }
    for text_of_reason in sorted(set(reasons.values())):
        ids_with = [product_id for product_id, why in reasons.items() if why == text_of_reason]
        for chunk in chunked(ids_with):
            session.execute(
                sa.update(Result)
                .where(Result.product_id.in_(chunk))
                .values(stale=True, stale_since=now, stale_reason=text_of_reason)
            )
    session.execute(
        sa.insert(StaleNotice),
        [
            {
                "organisation_id": owner,
                "product_id": product_id,
                "reason": reasons[product_id],
                "created_at": now,
            }
            for product_id, owner in sorted(newly)
        ],
    )
    return sorted(reasons)


def mark_inputs_stale(
    session: Session, record_ids: Collection[str], reason: str | None = None
) -> list[str]:
    """Every derived result that used one of these records goes stale, up the tiers.

    Called when a supplier supersedes a record (the submission hook) and when a
    certification body revokes what an input relied on.
    """
    wanted = {record_id.lower() for record_id in record_ids}
    products = _products_using(session, wanted)
    if not products:
        return []
    why = reason or f"input record {', '.join(sorted(wanted))} is no longer valid"
    return mark_products_stale(session, products, why)


def _products_using(session: Session, record_ids: Collection[str]) -> set[str]:
    """The products whose bill of materials resolved a line to one of these records."""
    products: set[str] = set()
    for chunk in chunked(record_ids):
        products.update(
            session.scalars(
                sa.select(BomLine.product_id).where(BomLine.resolved_record_id.in_(chunk))
            )
        )
    return products


def records_accepted(session: Session, created: Sequence[NewRecord]) -> None:
    """Submission hook: superseded inputs make results stale; derived records are linked.

    A few queries per batch, whatever its size: this runs inside every submission, before
    the log head is locked (the records have no log index yet). Before it marks anything
    stale it takes the head's lock all the same: a revocation marks results stale after
    appending to the log, so results are locked after the head everywhere and the two never
    deadlock. A submission that makes nothing stale (nearly every one) reads and locks
    nothing here.
    """
    if not created:
        return
    superseded = sorted(pid for item in created for pid in item.preceding_ids)
    if superseded:
        # Only the record the owner used is named: its successor may not be shared with it.
        reason = f"input record {superseded[0]} was superseded"
        if len(superseded) > 1:
            reason = f"{len(superseded)} input records were superseded ({superseded[0]}, ...)"
        products = _products_using(session, superseded)
        if products:
            log.lock_head(session)
            mark_products_stale(session, products, reason)
    arrived: dict[tuple[str, str], str] = {}
    for item in created:
        if not item.preceding_ids:
            for pid in item.terms.product_ids:
                arrived.setdefault((item.record.owner_id, pid), item.record.id)
    if arrived:
        # Lines that fell back to a factor for want of this supplier's data.
        owners = sorted({owner for owner, _ in arrived})
        waiting: dict[str, str] = {}
        for product_id, supplier_id, supplier_product in session.execute(
            sa.select(BomLine.product_id, BomLine.supplier_id, BomLine.supplier_product).where(
                BomLine.supplier_id.in_(owners),
                BomLine.record_id.is_(None),
                BomLine.resolved_record_id.is_(None),
            )
        ):
            key = (str(supplier_id), str(supplier_product))
            if key in arrived:
                # The line's own product id, never the record: it may not be shared yet.
                waiting.setdefault(product_id, f"new supplier data for {supplier_product}")
        if waiting:
            log.lock_head(session)
        for product_id, reason in sorted(waiting.items()):
            mark_products_stale(session, [product_id], reason)
    for item in created:
        # Cheap test first: only a footprint naming a provenance schema of ours is parsed.
        if PROVENANCE_EXTENSION_PREFIX in item.record.footprint_json:
            link_derived(session, item.record)


def notices(session: Session, principal: Principal, *, limit: int = 100) -> list[StaleNotice]:
    principal.require_scope(READ_SCOPE)
    return list(
        session.scalars(
            sa.select(StaleNotice)
            .where(StaleNotice.organisation_id == principal.organisation_id)
            .order_by(StaleNotice.id.desc())
            .limit(limit)
        )
    )


def stale_products(session: Session, owner_id: str | None = None) -> set[str]:
    query = sa.select(Result.product_id).where(Result.stale.is_(True))
    if owner_id is not None:
        query = query.join(Product, Product.id == Result.product_id).where(
            Product.owner_id == owner_id
        )
    return set(session.scalars(query))
