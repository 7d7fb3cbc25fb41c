"""The disclosure regime: requirements, each company's compliance, reminders, the overview.

The regulator defines a requirement by

* **scope** — products of one classification (``category``), and/or these product ids, of
  every company that has such a product, or only of the group's member companies;
* **content** — ``total`` (the PCF), ``by-stage`` (also the four life-cycle stages of the
  trade-data extension, see :mod:`exchange.trade.services`) or ``with-data-quality`` (also
  ``pcf.dqi`` and ``pcf.primaryDataShare``), plus any named ``pcf`` members;
* **manner** — ``public`` (the record's disclosure is public: the registry), ``regulator``
  (disclosed to the regulator, or public), ``customers`` (shared with at least one
  organisation, by record or by product, or public);
* **deadline** — ``annual`` (by a day of the year, inclusive: each year's disclosure must be
  made after the previous year's deadline) or ``after-change`` (within N days of the
  product's newest record, or of the requirement taking effect when that is later).

An *obligation* is one company's product under one requirement (a group member with no
product in scope under an annual requirement has one obligation with no product: it must
disclose something). Its state at ``now``:

* ``met`` — a record of the product meets the content and manner, made in the current cycle
  (annual) or the newest record does (after change);
* ``overdue`` — the deadline passed without that;
* ``due-soon`` — not met and the deadline is within the requirement's warning window;
* ``pending`` — not met, the deadline further off.

A record's disclosure time is when the exchange received it (``received_at``), or for the
``customers`` manner the first share that reaches it if that came later. The exchange keeps
no time of a change of a record's disclosure level, so a record published late counts from
its receipt: a known limit, noted in the README.

Visibility: a company sees its own obligations in full (its own records). The regulator's
overview names a product or record only when a record of it is visible to the regulator
(:func:`~exchange.footprints.services.visible_to`); otherwise the obligation is listed with
its state and deadline but ``redacted``. Every service takes ``now`` so tests set the clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import iso_or_none
from exchange.disclosure.models import (
    ComplianceState,
    ContentLevel,
    DeadlineKind,
    DisclosureGroupMember,
    DisclosureReminder,
    DisclosureRequirement,
    DisclosureState,
    Manner,
)
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.footprints.models import (
    Disclosure,
    FootprintClassification,
    FootprintProduct,
    FootprintRecord,
    Share,
)
from exchange.footprints.services import visible_to
from exchange.jobs.services import enqueue
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal
from exchange.pact import services as pact
from exchange.pact.models import EventEndpoint
from exchange.pact_wire import CarbonFootprint
from exchange.pact_wire.host import Host
from exchange.trade.services import lifecycle_stages

REMINDER_EVENT: Final = "org.footprint-exchange.disclosure.ReminderEvent.1"
REMINDED_STATES: Final = frozenset({ComplianceState.DUE_SOON, ComplianceState.OVERDUE})
NO_PRODUCT: Final = ""
_LEVELS: Final = list(ContentLevel)
# The members a requirement may name in ``fields``: those of PACT v3 CarbonFootprint.
PCF_MEMBERS: Final = frozenset(str(field.alias) for field in CarbonFootprint.model_fields.values())


def _require_regulator(principal: Principal) -> None:
    principal.require_role(Role.REGULATOR, "only the regulator manages disclosure requirements")


# --- requirements -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewRequirement:
    title: str
    basis: str
    content_level: ContentLevel
    manner: Manner
    deadline_kind: DeadlineKind
    category: str | None = None
    product_ids: Sequence[str] = ()
    organisation_ids: Sequence[str] = ()
    fields: Sequence[str] = ()
    annual_month: int | None = None
    annual_day: int | None = None
    within_days: int | None = None
    due_soon_days: int = 30
    effective_from: dt.datetime | None = None


def _annual_errors(month: int | None, day: int | None) -> list[dict[str, str]]:
    if month is None or day is None:
        return [{"field": "deadline.month|day", "message": "an annual deadline needs both"}]
    if not 1 <= month <= 12:
        return [{"field": "deadline.month", "message": "from 1 to 12"}]
    # A day every year has: 29 February is refused, as are 31 April and the like.
    longest = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if not 1 <= day <= longest:
        return [{"field": "deadline.day", "message": f"from 1 to {longest} in month {month}"}]
    return []


def define_requirement(
    session: Session, principal: Principal, new: NewRequirement, *, now: dt.datetime
) -> DisclosureRequirement:
    """The regulator adds a requirement; it binds from ``effective_from`` (default: now)."""
    principal.require_scope("footprints:write")
    _require_regulator(principal)
    errors: list[dict[str, str]] = []
    if not new.title.strip():
        errors.append({"field": "title", "message": "required"})
    if not new.basis.strip():
        errors.append({"field": "basis", "message": "say which rule requires it"})
    if new.category is None and not new.product_ids and not new.organisation_ids:
        errors.append(
            {"field": "scope", "message": "name a category, product ids or a company group"}
        )
    for index, name in enumerate(new.fields):
        if name not in PCF_MEMBERS:
            errors.append({"field": f"content.fields.{index}", "message": "not a PACT pcf member"})
    for index, urn in enumerate(new.product_ids):
        if not urn.lower().startswith("urn:"):
            errors.append({"field": f"scope.productIds.{index}", "message": "a URN"})
    known = set(
        session.scalars(
            sa.select(Organisation.id).where(Organisation.id.in_(sorted(set(new.organisation_ids))))
        )
    )
    for index, organisation_id in enumerate(new.organisation_ids):
        if organisation_id not in known:
            errors.append(
                {"field": f"scope.organisationIds.{index}", "message": "no such organisation"}
            )
    if new.deadline_kind is DeadlineKind.ANNUAL:
        errors += _annual_errors(new.annual_month, new.annual_day)
    elif new.within_days is None or not 1 <= new.within_days <= 3650:
        errors.append({"field": "deadline.withinDays", "message": "from 1 to 3650 days"})
    if not 0 <= new.due_soon_days <= 365:
        errors.append({"field": "deadline.dueSoonDays", "message": "from 0 to 365 days"})
    if errors:
        raise ValidationFailed("the requirement is not valid", details=errors)
    requirement = DisclosureRequirement(
        title=new.title.strip(),
        basis=new.basis.strip(),
        category=new.category.lower() if new.category else None,
        product_ids=sorted({urn.lower() for urn in new.product_ids}),
        content_level=new.content_level,
        fields=list(dict.fromkeys(new.fields)),
        manner=new.manner,
        deadline_kind=new.deadline_kind,
        annual_month=new.annual_month if new.deadline_kind is DeadlineKind.ANNUAL else None,
        annual_day=new.annual_day if new.deadline_kind is DeadlineKind.ANNUAL else None,
        within_days=new.within_days if new.deadline_kind is DeadlineKind.AFTER_CHANGE else None,
        due_soon_days=new.due_soon_days,
        effective_from=new.effective_from or now,
        created_by=principal.organisation_id,
        created_at=now,
        withdrawn_at=None,
        members=[
            DisclosureGroupMember(organisation_id=organisation_id)
            for organisation_id in sorted(set(new.organisation_ids))
        ],
    )
    session.add(requirement)
    session.flush()
    return requirement


def withdraw_requirement(
    session: Session, principal: Principal, requirement_id: int, *, now: dt.datetime
) -> DisclosureRequirement:
    principal.require_scope("footprints:write")
    _require_regulator(principal)
    requirement = get_requirement(session, requirement_id)
    if requirement.withdrawn_at is not None:
        raise Conflict(f"requirement {requirement_id} was withdrawn already")
    requirement.withdrawn_at = now
    session.flush()
    return requirement


def get_requirement(session: Session, requirement_id: int) -> DisclosureRequirement:
    requirement = session.get(DisclosureRequirement, requirement_id)
    if requirement is None:
        raise NotFound(f"no disclosure requirement {requirement_id}")
    return requirement


def list_requirements(session: Session) -> list[DisclosureRequirement]:
    """Every requirement: they are public rules."""
    return list(
        session.scalars(sa.select(DisclosureRequirement).order_by(DisclosureRequirement.id))
    )


def in_force(requirement: DisclosureRequirement, now: dt.datetime) -> bool:
    return requirement.effective_from <= now and (
        requirement.withdrawn_at is None or requirement.withdrawn_at > now
    )


# --- deadlines --------------------------------------------------------------------------------


def annual_deadline(requirement: DisclosureRequirement, year: int) -> dt.datetime:
    """The end of the deadline day of ``year`` (the day itself still counts)."""
    assert requirement.annual_month is not None and requirement.annual_day is not None
    day = dt.datetime(year, requirement.annual_month, requirement.annual_day, tzinfo=dt.UTC)
    return day + dt.timedelta(days=1)


def _annual_cycle(
    requirement: DisclosureRequirement, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """The deadline before the previous one, the previous one, and the next one."""
    year = now.year
    next_due = annual_deadline(requirement, year)
    if next_due <= now:
        year += 1
        next_due = annual_deadline(requirement, year)
    return (
        annual_deadline(requirement, year - 2),
        annual_deadline(requirement, year - 1),
        next_due,
    )


# --- compliance -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A record of an obligation's product, checked against the requirement."""

    record: FootprintRecord
    disclosed_at: dt.datetime
    missing: list[dict[str, str]]

    @property
    def qualifies(self) -> bool:
        return not self.missing


@dataclasses.dataclass(frozen=True, slots=True)
class Obligation:
    requirement: DisclosureRequirement
    organisation_id: str
    product_id: str | None
    state: ComplianceState
    due_at: dt.datetime | None
    # The record that meets it, else the newest one considered (None: no record at all).
    record_id: str | None
    missing: list[dict[str, str]]

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.requirement.id, self.organisation_id, self.product_id or NO_PRODUCT)


def _content_missing(
    requirement: DisclosureRequirement, footprint: dict[str, Any]
) -> list[dict[str, str]]:
    missing: list[dict[str, str]] = []
    pcf = footprint.get("pcf") or {}
    level = _LEVELS.index(requirement.content_level)
    if level >= _LEVELS.index(ContentLevel.BY_STAGE) and lifecycle_stages(footprint) is None:
        missing.append(
            {
                "field": "extensions[trade-data].lifeCycleStages",
                "message": "the four life-cycle stages (raw materials, production, "
                "distribution, end of life), in kg CO2e",
            }
        )
    if level >= _LEVELS.index(ContentLevel.WITH_DATA_QUALITY):
        for name in ("dqi", "primaryDataShare"):
            if pcf.get(name) is None:
                missing.append({"field": f"pcf.{name}", "message": "data quality is required"})
    for name in requirement.fields:
        if pcf.get(name) is None and f"pcf.{name}" not in {m["field"] for m in missing}:
            missing.append({"field": f"pcf.{name}", "message": "required by this requirement"})
    return missing


_MANNER_MESSAGES: Final = {
    Manner.PUBLIC: "publish the record (disclosure: public) for the registry",
    Manner.REGULATOR: "disclose the record to the regulator (disclosure: regulator or public)",
    Manner.CUSTOMERS: "share the record with your customers (or publish it)",
}


def _shared_since(session: Session, records: Sequence[FootprintRecord]) -> dict[str, dt.datetime]:
    """The first share reaching each record (one by one, or by one of its products)."""
    ids = [record.id for record in records]
    if not ids:
        return {}
    first: dict[str, dt.datetime] = {}
    by_record = (
        sa.select(Share.record_id, sa.func.min(Share.created_at))
        .where(Share.record_id.in_(ids))
        .group_by(Share.record_id)
    )
    by_product = (
        sa.select(FootprintProduct.record_id, sa.func.min(Share.created_at))
        .join(Share, Share.product_id == FootprintProduct.product_id)
        .join(FootprintRecord, FootprintRecord.id == FootprintProduct.record_id)
        .where(FootprintProduct.record_id.in_(ids), Share.owner_id == FootprintRecord.owner_id)
        .group_by(FootprintProduct.record_id)
    )
    for query in (by_record, by_product):
        for record_id, moment in session.execute(query):
            if record_id is not None and moment is not None:
                # SQLite's min() over the stored text loses the type; read it back as UTC.
                when = (
                    moment if isinstance(moment, dt.datetime) else dt.datetime.fromisoformat(moment)
                )
                when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
                first[record_id] = min(first.get(record_id, when), when)
    return first


def _candidate(
    requirement: DisclosureRequirement,
    record: FootprintRecord,
    shared_since: dict[str, dt.datetime],
    now: dt.datetime,
) -> Candidate:
    missing = _content_missing(requirement, json.loads(record.footprint_json))
    disclosed_at = record.received_at
    manner_met = {
        Manner.PUBLIC: record.disclosure == Disclosure.PUBLIC,
        Manner.REGULATOR: record.disclosure in (Disclosure.PUBLIC, Disclosure.REGULATOR),
        Manner.CUSTOMERS: record.disclosure == Disclosure.PUBLIC
        or shared_since.get(record.id, now + dt.timedelta(microseconds=1)) <= now,
    }[requirement.manner]
    if not manner_met:
        missing.append({"field": "disclosure", "message": _MANNER_MESSAGES[requirement.manner]})
    elif requirement.manner is Manner.CUSTOMERS and record.disclosure != Disclosure.PUBLIC:
        disclosed_at = max(disclosed_at, shared_since[record.id])
    return Candidate(record=record, disclosed_at=disclosed_at, missing=missing)


def _scoped_records(
    session: Session,
    requirement: DisclosureRequirement,
    organisation_ids: Iterable[str] | None,
    now: dt.datetime,
) -> list[tuple[FootprintRecord, str]]:
    """(record, product id) of every record in scope received by ``now``."""
    query = (
        sa.select(FootprintRecord, FootprintProduct.product_id)
        .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
        .where(FootprintRecord.received_at <= now)
        .order_by(FootprintRecord.received_at, FootprintRecord.id)
    )
    members = [member.organisation_id for member in requirement.members]
    if members:
        query = query.where(FootprintRecord.owner_id.in_(members))
    if organisation_ids is not None:
        query = query.where(FootprintRecord.owner_id.in_(sorted(set(organisation_ids))))
    if requirement.category is not None:
        query = query.where(
            sa.exists().where(
                FootprintClassification.record_id == FootprintRecord.id,
                FootprintClassification.classification == requirement.category,
            )
        )
    if requirement.product_ids:
        query = query.where(FootprintProduct.product_id.in_(requirement.product_ids))
    return [(record, product_id) for record, product_id in session.execute(query)]


def _annual_state(
    requirement: DisclosureRequirement, candidates: Sequence[Candidate], now: dt.datetime
) -> tuple[ComplianceState, dt.datetime, Candidate | None]:
    before_previous, previous, next_due = _annual_cycle(requirement, now)
    qualifying = [c for c in candidates if c.qualifies and c.disclosed_at <= now]
    this_cycle = [c for c in qualifying if c.disclosed_at > previous]
    if this_cycle:
        return ComplianceState.MET, next_due, this_cycle[-1]
    previous_bound = previous > requirement.effective_from
    last_cycle = [c for c in qualifying if before_previous < c.disclosed_at <= previous]
    if previous_bound and not last_cycle:
        return ComplianceState.OVERDUE, previous, None
    if next_due - now <= dt.timedelta(days=requirement.due_soon_days):
        return ComplianceState.DUE_SOON, next_due, None
    return ComplianceState.PENDING, next_due, None


def _after_change_state(
    requirement: DisclosureRequirement, candidates: Sequence[Candidate], now: dt.datetime
) -> tuple[ComplianceState, dt.datetime, Candidate | None]:
    assert requirement.within_days is not None
    newest = candidates[-1]
    changed = max(newest.record.received_at, requirement.effective_from)
    due = changed + dt.timedelta(days=requirement.within_days)
    if newest.qualifies and newest.disclosed_at <= now:
        return ComplianceState.MET, due, newest
    if now > due:
        return ComplianceState.OVERDUE, due, None
    if due - now <= dt.timedelta(days=requirement.due_soon_days):
        return ComplianceState.DUE_SOON, due, None
    return ComplianceState.PENDING, due, None


def obligations_of(
    session: Session,
    requirement: DisclosureRequirement,
    *,
    now: dt.datetime,
    organisation_ids: Iterable[str] | None = None,
) -> list[Obligation]:
    """Every obligation of a requirement at ``now`` (of these organisations only, if given)."""
    if not in_force(requirement, now):
        return []
    wanted = None if organisation_ids is None else set(organisation_ids)
    scoped = _scoped_records(session, requirement, wanted, now)
    shared_since = (
        _shared_since(session, [record for record, _p in scoped])
        if requirement.manner is Manner.CUSTOMERS
        else {}
    )
    groups: dict[tuple[str, str], list[Candidate]] = {}
    checked: dict[str, Candidate] = {}
    for record, product_id in scoped:
        if record.id not in checked:
            checked[record.id] = _candidate(requirement, record, shared_since, now)
        groups.setdefault((record.owner_id, product_id), []).append(checked[record.id])
    obligations = []
    for (organisation_id, product_id), candidates in sorted(groups.items()):
        if requirement.deadline_kind is DeadlineKind.ANNUAL:
            state, due, meeting = _annual_state(requirement, candidates, now)
        else:
            state, due, meeting = _after_change_state(requirement, candidates, now)
        shown = meeting or candidates[-1]
        missing = (
            [] if meeting else [{**item, "recordId": shown.record.id} for item in shown.missing]
        )
        if not meeting and not missing:
            # Its records met the requirement in an earlier cycle, not in this one.
            before_previous, previous, _next = _annual_cycle(requirement, now)
            since = before_previous if state is ComplianceState.OVERDUE else previous
            missing = [
                {
                    "field": "record",
                    "message": f"disclose a footprint record for this cycle "
                    f"(received after {since.isoformat()})",
                }
            ]
        obligations.append(
            Obligation(
                requirement=requirement,
                organisation_id=organisation_id,
                product_id=product_id,
                state=state,
                due_at=due,
                record_id=shown.record.id,
                missing=missing,
            )
        )
    # A group member with nothing in scope still owes its annual disclosure.
    if requirement.deadline_kind is DeadlineKind.ANNUAL:
        covered = {organisation_id for organisation_id, _p in groups}
        for member in requirement.members:
            if member.organisation_id in covered or (
                wanted is not None and member.organisation_id not in wanted
            ):
                continue
            state, due, _meeting = _annual_state(requirement, [], now)
            obligations.append(
                Obligation(
                    requirement=requirement,
                    organisation_id=member.organisation_id,
                    product_id=None,
                    state=state,
                    due_at=due,
                    record_id=None,
                    missing=[
                        {
                            "field": "record",
                            "message": "submit a footprint record of a product in scope",
                        }
                    ],
                )
            )
    return obligations


def all_obligations(
    session: Session, *, now: dt.datetime, organisation_ids: Iterable[str] | None = None
) -> list[Obligation]:
    wanted = None if organisation_ids is None else list(organisation_ids)
    found: list[Obligation] = []
    for requirement in list_requirements(session):
        found += obligations_of(session, requirement, now=now, organisation_ids=wanted)
    return found


def my_compliance(session: Session, principal: Principal, *, now: dt.datetime) -> list[Obligation]:
    """What is required of the caller's organisation, product by product, and why."""
    principal.require_scope("footprints:read")
    return all_obligations(session, now=now, organisation_ids=[principal.organisation_id])


@dataclasses.dataclass(frozen=True, slots=True)
class OverviewEntry:
    obligation: Obligation
    organisation_name: str
    # The product and record are not shown: no record of the product is visible to the reader.
    redacted: bool


def overview(
    session: Session,
    principal: Principal,
    *,
    now: dt.datetime,
    requirement_id: int | None = None,
    state: ComplianceState | None = None,
) -> list[OverviewEntry]:
    """The regulator's compliance overview, within what the regulator may see."""
    principal.require_scope("footprints:read")
    _require_regulator(principal)
    if requirement_id is not None:
        obligations = obligations_of(session, get_requirement(session, requirement_id), now=now)
    else:
        obligations = all_obligations(session, now=now)
    if state is not None:
        obligations = [o for o in obligations if o.state is state]
    products = sorted({o.product_id for o in obligations if o.product_id})
    visible_products: set[tuple[str, str]] = set()
    visible_records: set[str] = set()
    if products:
        rows = session.execute(
            sa.select(FootprintRecord.owner_id, FootprintProduct.product_id, FootprintRecord.id)
            .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
            .where(
                FootprintProduct.product_id.in_(products),
                visible_to(principal.organisation_id, regulator=True),
            )
        )
        for owner_id, product_id, record_id in rows:
            visible_products.add((owner_id, product_id))
            visible_records.add(record_id)
    names = dict(
        session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_(sorted({o.organisation_id for o in obligations}))
            )
        ).all()
    )
    entries = []
    for obligation in obligations:
        redacted = obligation.product_id is not None and (
            (obligation.organisation_id, obligation.product_id) not in visible_products
        )
        shown = obligation
        if redacted:
            shown = dataclasses.replace(obligation, product_id=None, record_id=None, missing=[])
        elif obligation.record_id is not None and obligation.record_id not in visible_records:
            # The product is known to the regulator, this record of it is not.
            shown = dataclasses.replace(
                obligation,
                record_id=None,
                missing=[
                    {k: v for k, v in m.items() if k != "recordId"} for m in obligation.missing
                ],
            )
        entries.append(OverviewEntry(shown, names.get(obligation.organisation_id, ""), redacted))
    return entries


# --- reminders --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ReminderReport:
    checked: int
    changed: int
    reminded: int
    events: int


def remind(session: Session, *, now: dt.datetime, host: Host) -> ReminderReport:
    """One reminder pass: store each obligation's state; when it changed to due-soon or
    overdue (or stays so about a new deadline), list a reminder for the company and queue it
    to the company's events endpoint. Running it again at once sends nothing."""
    obligations = all_obligations(session, now=now)
    stored = {
        (state.requirement_id, state.organisation_id, state.product_id): state
        for state in session.scalars(sa.select(DisclosureState))
    }
    endpoints = set(session.scalars(sa.select(EventEndpoint.organisation_id)))
    changed = reminded = events = 0
    for obligation in obligations:
        previous = stored.get(obligation.key)
        if (
            previous is not None
            and previous.state == obligation.state
            and previous.due_at == obligation.due_at
        ):
            continue
        changed += 1
        if previous is None:
            requirement_id, organisation_id, product_id = obligation.key
            previous = DisclosureState(
                requirement_id=requirement_id,
                organisation_id=organisation_id,
                product_id=product_id,
            )
            session.add(previous)
        previous.state = obligation.state
        previous.due_at = obligation.due_at
        previous.changed_at = now
        if obligation.state not in REMINDED_STATES:
            continue
        detail = reminder_detail(obligation)
        event_id = None
        if obligation.organisation_id in endpoints:
            event = pact.new_event(REMINDER_EVENT, detail, host)
            enqueue(
                session,
                kind=pact.DELIVER_EVENT,
                payload={"recipient": obligation.organisation_id, "event": event},
                now=now,
            )
            event_id = event["id"]
            events += 1
        session.add(
            DisclosureReminder(
                requirement_id=obligation.requirement.id,
                organisation_id=obligation.organisation_id,
                product_id=obligation.product_id or NO_PRODUCT,
                state=obligation.state,
                due_at=obligation.due_at,
                detail=detail,
                event_id=event_id,
                created_at=now,
            )
        )
        reminded += 1
    session.flush()
    return ReminderReport(
        checked=len(obligations), changed=changed, reminded=reminded, events=events
    )


def reminder_detail(obligation: Obligation) -> dict[str, Any]:
    """What a reminder says: which requirement, which product, the deadline, what is missing."""
    requirement = obligation.requirement
    return {
        "requirement": requirement.id,
        "title": requirement.title,
        "basis": requirement.basis,
        "state": obligation.state.value,
        "dueAt": iso_or_none(obligation.due_at),
        "productId": obligation.product_id,
        "recordId": obligation.record_id,
        "missing": obligation.missing,
    }


def reminders_of(
    session: Session, principal: Principal, *, limit: int = 100
) -> list[DisclosureReminder]:
    """The caller's reminders, newest first (the portal's list)."""
    principal.require_scope("footprints:read")
    return list(
        session.scalars(
            sa.select(DisclosureReminder)
            .where(DisclosureReminder.organisation_id == principal.organisation_id)
            .order_by(DisclosureReminder.created_at.desc(), DisclosureReminder.id.desc())
            .limit(limit)
        )
    )
