"""Which form of a record a reader is served: the document its owner signed, or its
withheld form (:class:`exchange.footprints.models.WithheldForm`).

A record has a withheld form when its signed document holds parts some readers may not
see - a derived footprint signed with its suppliers' lines in clear, before confidential
provenance. The owner, the regulator and a certification body the owner shared the
record itself with (to certify it, which needs the signed bytes) are served the signed
document; every other reader the withheld form. Every path that serves a record's
document to a reader (API, PACT, deliveries, bundles, the portal) asks here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import chunked
from exchange.footprints.models import FootprintRecord, Share, WithheldForm
from exchange.organisations.models import OrganisationRole, Role
from exchange.organisations.principals import Principal


def withheld_forms(session: Session, record_ids: Iterable[str]) -> dict[str, str]:
    """The withheld forms of those of ``record_ids`` that have one."""
    found: dict[str, str] = {}
    for chunk in chunked(sorted(set(record_ids))):
        found.update(
            (record_id, text)
            for record_id, text in session.execute(
                sa.select(WithheldForm.record_id, WithheldForm.footprint_json).where(
                    WithheldForm.record_id.in_(chunk)
                )
            )
        )
    return found


def _certifying(session: Session, viewer_id: str, record_ids: Sequence[str]) -> set[str]:
    """Of ``record_ids``, those shared one by one with ``viewer_id`` when it is a
    certification body."""
    is_body = session.scalar(
        sa.select(OrganisationRole.organisation_id).where(
            OrganisationRole.organisation_id == viewer_id,
            OrganisationRole.role == Role.CERTIFICATION_BODY,
        )
    )
    if is_body is None:
        return set()
    return {
        str(record_id)
        for record_id in session.scalars(
            sa.select(Share.record_id).where(
                Share.grantee_id == viewer_id, Share.record_id.in_(list(record_ids))
            )
        )
    }


def served_footprints(
    session: Session,
    records: Sequence[FootprintRecord],
    *,
    viewer_id: str | None,
    regulator: bool = False,
) -> dict[str, str]:
    """Record id -> the footprint text (RFC 8785) ``viewer_id`` (None: anonymous) is served."""
    served = {record.id: record.footprint_json for record in records}
    if regulator:
        return served
    others = [record.id for record in records if record.owner_id != viewer_id]
    forms = withheld_forms(session, others) if others else {}
    if not forms:
        return served
    certifying = _certifying(session, viewer_id, sorted(forms)) if viewer_id else set()
    for record_id, text in forms.items():
        if record_id not in certifying:
            served[record_id] = text
    return served


def served_to(
    session: Session, records: Sequence[FootprintRecord], viewer: Principal | None
) -> dict[str, str]:
    """:func:`served_footprints` for a caller of the API or the portal."""
    if viewer is None:
        return served_footprints(session, records, viewer_id=None)
    return served_footprints(
        session,
        records,
        viewer_id=viewer.organisation_id,
        regulator=viewer.has_role(Role.REGULATOR),
    )


def is_withheld(session: Session, record: FootprintRecord, viewer: Principal | None) -> bool:
    """Whether ``viewer`` is served ``record``'s withheld form rather than the signed one."""
    return served_to(session, [record], viewer)[record.id] != record.footprint_json
