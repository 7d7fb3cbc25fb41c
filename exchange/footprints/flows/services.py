"""Recording data flows, and the two views of them: the owner's outbound list, the
regulator's aggregate summary.

One small recording service (:func:`record_flows`) is called where a record leaves its
owner: reads over the API and PACT, shares granted and withdrawn, PACT event deliveries
by the outbox, verification bundles and federation transfers. Public records and the
owner's own reads are not transfers and record nothing; a page of reads is one batched
insert, not one per row, and a page with nothing to record costs no query at all.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import chunked, insert_rows, utcnow
from exchange.errors import BadRequest
from exchange.footprints.flows.models import DataFlow, FlowKind, Grant
from exchange.footprints.models import Disclosure, FootprintProduct, FootprintRecord, Share
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal
from exchange.partners.models import Agreement, AgreementStatus, PartnerProgramme

READ_KINDS: Final = frozenset({FlowKind.API_READ, FlowKind.PACT_LIST, FlowKind.PACT_GET})
PERIODS: Final = ("day", "month", "year")


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """Who receives records: an organisation here, possibly standing for a partner programme."""

    organisation_id: str
    regulator: bool = False

    @classmethod
    def of(cls, principal: Principal) -> Recipient:
        return cls(principal.organisation_id, regulator=principal.has_role(Role.REGULATOR))


@dataclasses.dataclass(frozen=True, slots=True)
class _Party:
    country: str | None
    partner_id: str | None
    agreement_id: int | None


# Asked for every page another organisation reads: built once, bound per call.
_PARTY: Final = (
    sa.select(Organisation.country, PartnerProgramme.id, PartnerProgramme.country)
    .outerjoin(PartnerProgramme, PartnerProgramme.organisation_id == Organisation.id)
    .where(Organisation.id == sa.bindparam("organisation_id"))
)
_AGREEMENT_IN_FORCE: Final = (
    sa.select(Agreement.id)
    .where(
        Agreement.partner_id == sa.bindparam("partner_id"),
        Agreement.status == AgreementStatus.GRANTED,
        Agreement.valid_from <= sa.bindparam("now"),
        Agreement.valid_until >= sa.bindparam("now"),
    )
    .order_by(Agreement.id.desc())
    .limit(1)
)
_GRANTED_BY_PRODUCT: Final = (
    sa.select(FootprintProduct.record_id, sa.func.min(Share.id))
    .join(FootprintRecord, FootprintRecord.id == FootprintProduct.record_id)
    .join(
        Share,
        sa.and_(
            Share.product_id == FootprintProduct.product_id,
            Share.owner_id == FootprintRecord.owner_id,
        ),
    )
    .where(
        Share.grantee_id == sa.bindparam("grantee_id"),
        FootprintProduct.record_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .group_by(FootprintProduct.record_id)
)
_GRANTED_BY_RECORD: Final = (
    sa.select(Share.record_id, sa.func.min(Share.id))
    .where(
        Share.grantee_id == sa.bindparam("grantee_id"),
        Share.record_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .group_by(Share.record_id)
)
_FLOWS: Final = cast(sa.Table, DataFlow.__table__)


def _party(session: Session, organisation_id: str, now: dt.datetime) -> _Party:
    """The recipient's country and, when it stands for a partner programme, the partner and
    the agreement in force the transfer falls under (the newest granted one)."""
    row = session.execute(_PARTY, {"organisation_id": organisation_id}).first()
    if row is None:
        return _Party(None, None, None)
    country, partner_id, partner_country = row
    if partner_id is None:
        return _Party(country, None, None)
    agreement_id = session.scalar(_AGREEMENT_IN_FORCE, {"partner_id": partner_id, "now": now})
    return _Party(partner_country, partner_id, agreement_id)


def shares_granting(session: Session, grantee_id: str, record_ids: Sequence[str]) -> dict[str, int]:
    """The share (one by record, else one by product) that lets ``grantee_id`` see each of
    the records ``record_ids``; records it sees by no share are left out."""
    found: dict[str, int] = {}
    for ids in chunked(record_ids):
        parameters = {"grantee_id": grantee_id, "ids": ids}
        by_product = session.execute(_GRANTED_BY_PRODUCT, parameters)
        found.update({record_id: share_id for record_id, share_id in by_product})
        by_record = session.execute(_GRANTED_BY_RECORD, parameters)
        found.update({str(record_id): share_id for record_id, share_id in by_record})
    return found


def transfers(records: Iterable[FootprintRecord], recipient_id: str) -> list[FootprintRecord]:
    """The records whose passing to ``recipient_id`` is a transfer: non-public, not its own."""
    return [
        record
        for record in records
        if record.disclosure != Disclosure.PUBLIC and record.owner_id != recipient_id
    ]


def record_flows(
    session: Session,
    recipient: Recipient,
    records: Iterable[FootprintRecord],
    kind: FlowKind,
    *,
    share_id: int | None = None,
    reference: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Record the passing of ``records`` to ``recipient`` (one insert); how many were recorded.

    The grant of each is looked up (the share, the regulator role, an agreement) unless
    ``share_id`` names it; a refused delivery has none.
    """
    moved = transfers(records, recipient.organisation_id)
    if not moved:
        return 0
    now = now or utcnow()
    party = _party(session, recipient.organisation_id, now)
    shares = (
        {}
        if share_id is not None or kind == FlowKind.PACT_DELIVERY_REFUSED
        else shares_granting(session, recipient.organisation_id, [record.id for record in moved])
    )
    if party.partner_id is not None and kind in READ_KINDS:
        kind = FlowKind.FEDERATION_OUT
    rows: list[dict[str, Any]] = []
    for record in moved:
        grant_share = share_id if share_id is not None else shares.get(record.id)
        if kind == FlowKind.PACT_DELIVERY_REFUSED:
            grant = Grant.NONE
        elif grant_share is not None:
            grant = Grant.SHARE
        elif recipient.regulator and record.disclosure == Disclosure.REGULATOR:
            grant = Grant.REGULATOR
        elif party.agreement_id is not None:
            grant = Grant.AGREEMENT
        else:
            grant = Grant.NONE
        rows.append(
            {
                "kind": kind,
                "record_id": record.id,
                "owner_id": record.owner_id,
                "recipient_id": recipient.organisation_id,
                "partner_id": party.partner_id,
                "country": party.country,
                "grant": grant,
                "share_id": grant_share,
                "agreement_id": party.agreement_id,
                "reference": reference,
                "occurred_at": now,
            }
        )
    insert_rows(session, _FLOWS, rows)
    return len(rows)


def record_reads(
    session: Session,
    principal: Principal | None,
    records: Iterable[FootprintRecord],
    kind: FlowKind,
    *,
    now: dt.datetime | None = None,
) -> int:
    """A caller read these records (a page, or one); anonymous callers read public ones only."""
    if principal is None:
        return 0
    return record_flows(session, Recipient.of(principal), records, kind, now=now)


def records_of_share(session: Session, grant: Share) -> list[FootprintRecord]:
    """The records a share covers now: its record, or the owner's records of its product."""
    if grant.record_id is not None:
        record = session.get(FootprintRecord, grant.record_id)
        return [] if record is None else [record]
    return list(
        session.scalars(
            sa.select(FootprintRecord)
            .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
            .where(
                FootprintRecord.owner_id == grant.owner_id,
                FootprintProduct.product_id == grant.product_id,
                FootprintRecord.disclosure != Disclosure.PUBLIC,
            )
        )
    )


def record_share(session: Session, grant: Share, kind: FlowKind) -> int:
    """A share was granted or (before it is deleted) withdrawn."""
    return record_flows(
        session,
        Recipient(grant.grantee_id),
        records_of_share(session, grant),
        kind,
        share_id=grant.id,
    )


def record_federation_in(
    session: Session,
    record: FootprintRecord,
    *,
    partner: PartnerProgramme,
    agreement_id: int | None,
    now: dt.datetime | None = None,
) -> int:
    """A partner's non-public record came in under an agreement (the partner owns it)."""
    if record.disclosure == Disclosure.PUBLIC:
        return 0
    session.add(
        DataFlow(
            kind=FlowKind.FEDERATION_IN,
            record_id=record.id,
            owner_id=record.owner_id,
            recipient_id=None,
            partner_id=partner.id,
            country=partner.country,
            grant=Grant.AGREEMENT if agreement_id is not None else Grant.OWNERSHIP,
            share_id=None,
            agreement_id=agreement_id,
            reference=None,
            occurred_at=now or utcnow(),
        )
    )
    session.flush()
    return 1


@dataclasses.dataclass(frozen=True, slots=True)
class Opening:
    """A line of a derived footprint's provenance opened to a reader: the record that is the
    line's input (or the derived record itself, for its owner's own lines), whose it is,
    under which grant, and ``reference`` (the derived record and the line)."""

    record_id: str
    owner_id: str
    grant: Grant
    reference: str
    share_id: int | None = None


def record_openings(
    session: Session,
    recipient: Recipient,
    openings: Sequence[Opening],
    *,
    now: dt.datetime | None = None,
) -> int:
    """Record provenance lines opened to ``recipient`` (one insert); how many were recorded.

    Every opening is a flow, public inputs included: the line carries the chain-owner's
    quantity too. An opening to the line's own owner is not a transfer.
    """
    moved = [item for item in openings if item.owner_id != recipient.organisation_id]
    if not moved:
        return 0
    now = now or utcnow()
    party = _party(session, recipient.organisation_id, now)
    session.execute(
        sa.insert(DataFlow),
        [
            {
                "kind": FlowKind.PROVENANCE_OPENING,
                "record_id": item.record_id,
                "owner_id": item.owner_id,
                "recipient_id": recipient.organisation_id,
                "partner_id": party.partner_id,
                "country": party.country,
                "grant": item.grant,
                "share_id": item.share_id,
                "agreement_id": party.agreement_id,
                "reference": item.reference[:100],
                "occurred_at": now,
            }
            for item in moved
        ],
    )
    return len(moved)


# --- the owner's view ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class OutboundQuery:
    record_id: str | None = None
    recipient_id: str | None = None
    kinds: frozenset[FlowKind] = frozenset()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class FlowPage:
    flows: list[DataFlow]
    next_cursor: str | None


def _encode(flow_id: int) -> str:
    return base64.urlsafe_b64encode(str(flow_id).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the page cursor is not valid; start again without it") from exc


def outbound(session: Session, principal: Principal, query: OutboundQuery) -> FlowPage:
    """Flows of the caller's own records, newest first: who received what, when, under what."""
    principal.require_scope("footprints:read")
    where = [DataFlow.owner_id == principal.organisation_id]
    if query.record_id is not None:
        where.append(DataFlow.record_id == query.record_id.lower())
    if query.recipient_id is not None:
        where.append(
            sa.or_(
                DataFlow.recipient_id == query.recipient_id,
                DataFlow.partner_id == query.recipient_id,
            )
        )
    if query.kinds:
        where.append(DataFlow.kind.in_(sorted(query.kinds)))
    if query.since is not None:
        where.append(DataFlow.occurred_at >= query.since)
    if query.until is not None:
        where.append(DataFlow.occurred_at < query.until)
    if query.cursor is not None:
        where.append(DataFlow.id < _decode(query.cursor))
    flows = list(
        session.scalars(
            sa.select(DataFlow).where(*where).order_by(DataFlow.id.desc()).limit(query.limit + 1)
        )
    )
    more = len(flows) > query.limit
    flows = flows[: query.limit]
    return FlowPage(flows, _encode(flows[-1].id) if more else None)


# --- the regulator's view --------------------------------------------------------------


def _period(session: Session, period: str) -> sa.ColumnElement[str]:
    """The UTC day, month or year of a flow as text (2026-11-26, 2026-11, 2026)."""
    length = {"day": 10, "month": 7, "year": 4}[period]
    if session.get_bind().dialect.name == "postgresql":
        pattern = {"day": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}[period]
        return sa.func.to_char(sa.func.timezone("UTC", DataFlow.occurred_at), pattern)
    # SQLite keeps the UTC time as ISO text: its leading characters are the period.
    return sa.func.substr(DataFlow.occurred_at, 1, length)


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    period: str
    since: dt.datetime | None
    until: dt.datetime | None
    by_pair: list[dict[str, Any]]
    by_country: list[dict[str, Any]]


def summary(
    session: Session,
    principal: Principal | None,
    *,
    period: str = "month",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Summary:
    """Counts of flows per company pair, per partner country, per kind and period.

    Counts only: no record ids and no footprint values, so the regulator supervises flows
    without reading the confidential records themselves. ``principal`` None: the operator.
    """
    if principal is not None:
        principal.require_scope("footprints:read")
        principal.require_role(Role.REGULATOR, "the flow summary is for the regulator")
    if period not in PERIODS:
        raise BadRequest(
            "period is day, month or year", details=[{"field": "period", "message": "choice"}]
        )
    where: list[sa.ColumnElement[bool]] = []
    if since is not None:
        where.append(DataFlow.occurred_at >= since)
    if until is not None:
        where.append(DataFlow.occurred_at < until)
    # The period is computed once in a subquery and grouped by name: PostgreSQL would not
    # take two copies of an expression with bound parameters as the same grouping.
    flows = (
        sa.select(
            DataFlow.owner_id,
            DataFlow.recipient_id,
            DataFlow.partner_id,
            DataFlow.country,
            DataFlow.kind,
            _period(session, period).label("period"),
        )
        .where(*where)
        .subquery()
    )
    count = sa.func.count().label("count")
    pair_columns = (flows.c.owner_id, flows.c.recipient_id, flows.c.partner_id, flows.c.kind)
    pairs = session.execute(
        sa.select(*pair_columns, flows.c.period, count)
        .group_by(*pair_columns, flows.c.period)
        .order_by(flows.c.period, *pair_columns)
    )
    by_pair = [
        {
            "owner": owner,
            "recipient": recipient,
            "partner": partner,
            "kind": FlowKind(kind).value,
            "period": str(when),
            "count": int(number),
        }
        for owner, recipient, partner, kind, when, number in pairs
    ]
    country_columns = (flows.c.country, flows.c.partner_id, flows.c.kind)
    countries = session.execute(
        sa.select(*country_columns, flows.c.period, count)
        .group_by(*country_columns, flows.c.period)
        .order_by(flows.c.period, *country_columns)
    )
    by_country = [
        {
            "country": country,
            "partner": partner,
            "kind": FlowKind(kind).value,
            "period": str(when),
            "count": int(number),
        }
        for country, partner, kind, when, number in countries
    ]
    return Summary(period, since, until, by_pair, by_country)
