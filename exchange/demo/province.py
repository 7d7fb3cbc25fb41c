"""``exchange demo --scale province``: a whole provincial programme to explore and to load.

Hundreds of companies across Hainan's industries (:mod:`exchange.demo.hainan`), the parks
their factories stand in, several years of signed footprint records, shares with the
chain-owners that buy from them, the chain-owners' derived footprints with confidential
provenance, grading schemes, certificates, partner programmes with recognised records,
disclosure requirements, and a portal user for each role.

Everything goes through the services, as the API would: real Ed25519 signatures checked on
submission, every record, certificate, key and decision in the transparency log, so that
``exchange audit`` holds afterwards. What makes it fast is batching, not shortcuts: one
transaction and one submission per company, keys made once.

Deterministic from the seed: the companies, their codes and keys, the records' ids,
contents and signatures are the same for the same seed (and ``--companies``/``--years``),
whatever day it runs. What the exchange itself decides at the time stays of the time: when
it received a record, organisation ids, certificate dates, derived footprints (their ids
and salts are fresh by design), portal passwords.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import exchange.models  # noqa: F401 (every table registered on Base, for the row counts)
from exchange.aggregation import schemas as aggregation_schemas
from exchange.aggregation import services as aggregation
from exchange.client.keys import LocalKey
from exchange.client.labels import certificate_document, sign_certificate
from exchange.db import Base, transaction, utcnow
from exchange.demo import hainan
from exchange.disclosure import services as disclosure
from exchange.disclosure.models import ContentLevel, DeadlineKind, DisclosureRequirement, Manner
from exchange.factors import services as factors
from exchange.footprints import services as footprints
from exchange.footprints.models import Disclosure
from exchange.keyring import ExchangeKey
from exchange.labels import services as labels
from exchange.labels.gs1 import check_digit
from exchange.labels.models import AccreditationStatus, GradingMethod
from exchange.log.services import ensure_checkpoint
from exchange.mutual_recognition import services as recognition
from exchange.mutual_recognition.schemas import parse_agreement, parse_partner
from exchange.mutual_recognition.services.federation import inbound_of_upload
from exchange.organisations import services as organisations
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal
from exchange.organisations.uscc import ALPHABET, check_character
from exchange.pact import services as pact
from exchange.pact_wire.host import Host
from exchange.partners.models import AgreementStatus
from exchange.portal import services as portal
from exchange.portal.models import PortalUser
from exchange.rules import services as accounting_rules
from exchange.rules.models import RuleStatus
from exchange.sites import services as sites
from exchange.sites.models import SiteKind

DEFAULT_SEED: Final = 23
DEFAULT_COMPANIES: Final = 300
DEFAULT_YEARS: Final = 5
# The newest reference year: fixed, so that a seed gives the same records every day.
LAST_YEAR: Final = 2025
CLIENT: Final = "demo-province"
EMAIL_DOMAIN: Final = "province.demo.footprint.example"


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to generate: ``companies`` companies with ``years`` reference years each."""

    seed: int = DEFAULT_SEED
    companies: int = DEFAULT_COMPANIES
    years: int = DEFAULT_YEARS

    @property
    def first_year(self) -> int:
        return LAST_YEAR - self.years + 1


@dataclasses.dataclass(slots=True)
class Company:
    index: int
    name: str
    uscc: str
    industry: hainan.Industry
    place: tuple[str, str, str]
    products: list[tuple[hainan.ProductKind, str]]  # (kind, GTIN-13)
    chain_owner: bool
    key: LocalKey
    organisation_id: str = ""

    @property
    def company_urn(self) -> str:
        return organisations.company_urn_for_uscc(self.uscc)


@dataclasses.dataclass(slots=True)
class Summary:
    """What one generation made, and how long it took."""

    plan: Plan
    seconds: float = 0.0
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    sign_ins: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def add(self, name: str, number: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + number


# --- the plan: pure and deterministic ---------------------------------------------------------


def _rng(plan: Plan, *parts: object) -> random.Random:
    """A generator of its own for each thing drawn, so adding one never shifts another."""
    # Not for secrets (keys are made from a hash of the seed): for reproducible figures.
    return random.Random(":".join(str(part) for part in (plan.seed, *parts)))  # noqa: S311


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _key(plan: Plan, uscc: str) -> LocalKey:
    # The company's key is made from the seed, so the same seed signs the same bytes; a demo
    # key, never one to use for real.
    seed = hashlib.sha256(f"footprint-exchange demo province {plan.seed} {uscc}".encode()).digest()
    return LocalKey.from_private_key(seed)


def _base31(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def _uscc(plan: Plan, division: str, index: int) -> str:
    # 91: an enterprise; the place's division code; "MA" and a registration number made
    # from the seed and the company's number. The check character is computed.
    body = "91" + division + "MA" + _base31(plan.seed, 2) + _base31(index, 5)
    return body + check_character(body)


def _gtin(plan: Plan, index: int, item: int) -> str:
    # GS1 China's prefix 69, a company number, an item number; the check digit computed.
    body = f"69{(plan.seed * 7919 + index) % 100000:05d}{item:05d}"
    return body + str(check_digit(body))


def _industry(rng: random.Random) -> hainan.Industry:
    weights = [industry.weight for industry in hainan.INDUSTRIES]
    return rng.choices(hainan.INDUSTRIES, weights=weights)[0]


def plan_companies(plan: Plan) -> list[Company]:
    """The province's companies, the same for the same plan."""
    places = {place[0]: place for place in hainan.PLACES}
    kinds_by_key = {kind.key: kind for industry in hainan.INDUSTRIES for kind in industry.products}
    # What each assembling industry's chain-owners buy from its other companies.
    assembling = {assembly[5]: kinds_by_key[assembly[6][0][0]] for assembly in hainan.ASSEMBLIES}
    companies: list[Company] = []
    names: set[str] = set()
    owners: set[str] = set()
    for index in range(plan.companies):
        rng = _rng(plan, "company", index)
        # The first companies cover every industry twice, so that even a small province has
        # them all, each with a chain-owner and a supplier.
        industry = (
            hainan.INDUSTRIES[index % len(hainan.INDUSTRIES)]
            if index < 2 * len(hainan.INDUSTRIES)
            else _industry(rng)
        )
        place = places[rng.choice(industry.places)]
        # The first company of an industry with assembled products is its chain-owner, and
        # one in twenty of the others besides; the others of the industry grow or make what
        # the chain-owners buy.
        chain_owner = industry.key in assembling and (
            industry.key not in owners or rng.random() < 0.05
        )
        kinds = rng.sample(industry.products, min(len(industry.products), 1 + rng.randrange(3)))
        if chain_owner:
            owners.add(industry.key)
            kind_en, kind_zh = industry.kinds[0]  # a company, not a cooperative
        else:
            kind_en, kind_zh = rng.choice(industry.kinds)
            wanted = assembling.get(industry.key)
            if wanted is not None and wanted not in kinds:
                kinds = [wanted, *kinds[1:]]
        for attempt in range(len(hainan.TRADE_NAMES)):
            trade_en, trade_zh = hainan.TRADE_NAMES[
                (rng.randrange(len(hainan.TRADE_NAMES)) + attempt) % len(hainan.TRADE_NAMES)
            ]
            name = f"{place[0]} {trade_en} {kind_en} {place[1]}{trade_zh}{kind_zh}"
            if name not in names:
                break
        else:
            name = f"{place[0]} {trade_en} {kind_en} No. {index} {place[1]}{trade_zh}{kind_zh}"
        names.add(name)
        uscc = _uscc(plan, place[2], index)
        companies.append(
            Company(
                index=index,
                name=name,
                uscc=uscc,
                industry=industry,
                place=place,
                products=[(kind, _gtin(plan, index, item)) for item, kind in enumerate(kinds)],
                chain_owner=chain_owner,
                key=_key(plan, uscc),
            )
        )
    return companies


def _text(value: Decimal) -> str:
    # Plain notation ("2910", never "2.91E+3"): PACT decimals are written out.
    return format(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN).normalize(), "f")


def _footprint(
    plan: Plan,
    company: Company,
    kind: hainan.ProductKind,
    gtin: str,
    year: int,
    rng: random.Random,
    *,
    fossil: Decimal | None = None,
    preceding: str | None = None,
) -> dict[str, Any]:
    """One year's signed-to-be PACT footprint of a product."""
    low, high = Decimal(kind.low), Decimal(kind.high)
    if fossil is None:
        fossil = low + (high - low) * Decimal(rng.randrange(1001)) / 1000
    uptake = Decimal(kind.uptake) * Decimal(900 + rng.randrange(201)) / 1000
    created = dt.datetime(year + 1, 1, 15, tzinfo=dt.UTC) + dt.timedelta(
        days=rng.randrange(150), seconds=rng.randrange(86400)
    )
    if preceding is not None:
        created += dt.timedelta(days=30 + rng.randrange(60))
    document: dict[str, Any] = {
        "id": _uuid(rng),
        "specVersion": "3.0.3",
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "Active",
        "validityPeriodStart": created.strftime("%Y-%m-%dT00:00:00Z"),
        "validityPeriodEnd": f"{year + 4}-12-31T00:00:00Z",
        "companyName": company.name,
        "companyIds": [company.company_urn],
        "productDescription": f"{kind.name}, {company.place[0]} {company.place[1]}, "
        f"per {kind.amount} {kind.unit}",
        "productIds": [f"urn:gtin:{gtin}"],
        "productClassifications": [kind.category],
        "productNameCompany": kind.name,
        "pcf": {
            "declaredUnitOfMeasurement": kind.unit,
            "declaredUnitAmount": kind.amount,
            "productMassPerDeclaredUnit": kind.mass_kg,
            "referencePeriodStart": f"{year}-01-01T00:00:00Z",
            "referencePeriodEnd": f"{year + 1}-01-01T00:00:00Z",
            "geographyCountrySubdivision": "CN-HI",
            "pcfExcludingBiogenicUptake": _text(fossil),
            "pcfIncludingBiogenicUptake": _text(fossil + uptake),
            "fossilGhgEmissions": _text(fossil),
            "fossilCarbonContent": "0",
            "biogenicCO2Uptake": _text(uptake),
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067", "PACT-3.0"],
            "exemptedEmissionsPercent": "0",
            "primaryDataShare": str(35 + rng.randrange(60)),
        },
    }
    if preceding is not None:
        document["precedingPfIds"] = [preceding]
    return document


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedRecord:
    footprint: dict[str, Any]
    disclosure: Disclosure
    kind: hainan.ProductKind
    gtin: str
    latest: bool  # of the newest reference year, and not corrected since


def plan_records(plan: Plan, company: Company) -> list[PlannedRecord]:
    """A company's records: one a year per product, a correction now and then."""
    rng = _rng(plan, "records", company.index)
    # How open the company is with its newest figures: most publish them.
    openness = rng.choices(
        (Disclosure.PUBLIC, Disclosure.REGULATOR, Disclosure.PRIVATE), weights=(6, 3, 1)
    )[0]
    planned: list[PlannedRecord] = []
    for kind, gtin in company.products:
        for year in range(plan.first_year, LAST_YEAR + 1):
            newest = year == LAST_YEAR
            disclosure = openness if newest else rng.choice((Disclosure.REGULATOR, openness))
            document = _footprint(plan, company, kind, gtin, year, rng)
            corrected = rng.random() < 0.1
            planned.append(
                PlannedRecord(document, disclosure, kind, gtin, newest and not corrected)
            )
            if corrected:
                fossil = (
                    Decimal(document["pcf"]["fossilGhgEmissions"])
                    * Decimal(900 + rng.randrange(150))
                    / 1000
                )
                successor = _footprint(
                    plan, company, kind, gtin, year, rng, fossil=fossil, preceding=document["id"]
                )
                planned.append(PlannedRecord(successor, disclosure, kind, gtin, newest))
    return planned


# --- generating it -----------------------------------------------------------------------------


OnAccepted = Callable[[Session, Sequence[footprints.NewRecord]], None]


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    """What the generator takes from the app: sessions, the exchange key and origin."""

    sessions: sessionmaker[Session]
    key: ExchangeKey
    origin: str
    public_url: str

    @property
    def host(self) -> Host:
        return Host(base_url=self.public_url.rstrip("/"))

    def on_accepted(self) -> OnAccepted:
        """What new records set off before they are logged, as after an API submission:
        requests answered, customers notified, derived footprints linked and bound."""
        host = self.host

        def told(session: Session, created: Sequence[footprints.NewRecord]) -> None:
            pact.records_accepted(session, created, host=host)
            aggregation.records_accepted(session, created)

        return told

    def on_logged(self) -> OnAccepted:
        """What new records set off once logged: derived footprints attested (the
        attestation names the record's log entry, so it comes after it)."""

        def attested(session: Session, created: Sequence[footprints.NewRecord]) -> None:
            aggregation.attest_accepted(session, created, key=self.key, origin=self.origin)

        return attested


def acting(session: Session, organisation_id: str) -> Principal:
    organisation = session.get(Organisation, organisation_id)
    assert organisation is not None
    return Principal.acting_for(organisation, client_id=CLIENT, scopes=organisations.SCOPES)


def _organisation(
    session: Session, *, name: str, uscc: str, roles: Sequence[Role], country: str = "CN"
) -> Organisation:
    existing = session.scalar(sa.select(Organisation).where(Organisation.uscc == uscc))
    if existing is not None:
        return existing
    return organisations.create_organisation(
        session, name=name, country=country, uscc=uscc, roles=roles
    )


def already_generated(sessions: sessionmaker[Session], plan: Plan) -> bool:
    """Whether this plan's province is in the database already (its first company is)."""
    first = plan_companies(dataclasses.replace(plan, companies=1))[0]
    with sessions() as session:
        return (
            session.scalar(sa.select(Organisation.id).where(Organisation.uscc == first.uscc))
            is not None
        )


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            table.name: int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def generate(
    services: Services,
    plan: Plan,
    *,
    regulator_spec: dict[str, Any],
    certifier_spec: dict[str, Any],
    say: Callable[[str], None] = lambda text: None,
) -> Summary:
    """Generate the province into the database; what it made, and how long it took."""
    summary = Summary(plan)
    before = row_counts(services.sessions)
    started = time.perf_counter()
    companies = plan_companies(plan)
    on_accepted = services.on_accepted()
    on_logged = services.on_logged()

    with transaction(services.sessions) as session:
        factors.load_starter(session)
        regulator = _organisation(
            session,
            name=regulator_spec["name"],
            uscc=regulator_spec["uscc"],
            roles=regulator_spec["roles"],
        )
        bodies = [
            _organisation(
                session,
                name=certifier_spec["name"],
                uscc=certifier_spec["uscc"],
                roles=[Role.CERTIFICATION_BODY],
            )
        ] + [
            _organisation(
                session, name=name, uscc=check_uscc(code), roles=[Role.CERTIFICATION_BODY]
            )
            for name, code in hainan.BODIES
        ]
        regulator_id = regulator.id
        body_ids = [body.id for body in bodies]
        body_keys = {body.id: _key(plan, f"body {body.uscc}") for body in bodies}
        official = acting(session, regulator_id)
        for body in bodies:
            if labels.accreditation_status(session, body.id) != AccreditationStatus.GRANTED:
                labels.set_accreditation(
                    session,
                    official,
                    body_id=body.id,
                    status=AccreditationStatus.GRANTED,
                    reason="accredited for product carbon footprint certification",
                )
                summary.add("accreditations")
    with transaction(services.sessions) as session:
        for body_id, key in body_keys.items():
            organisations.register_key(
                session, organisation_id=body_id, public_jwk=key.public_jwk()
            )
    say(f"regulator and {len(body_ids)} accredited certification bodies")

    parks = _parks(services, plan, summary)
    say(f"{len(parks)} industrial parks")

    planned_by_company: dict[int, list[PlannedRecord]] = {}
    for company in companies:
        planned = plan_records(plan, company)
        planned_by_company[company.index] = planned
        with transaction(services.sessions) as session:
            roles = [Role.SUPPLIER, Role.CHAIN_OWNER] if company.chain_owner else [Role.SUPPLIER]
            organisation = _organisation(session, name=company.name, uscc=company.uscc, roles=roles)
            company.organisation_id = organisation.id
            organisations.register_key(
                session, organisation_id=organisation.id, public_jwk=company.key.public_jwk()
            )
            principal = acting(session, organisation.id)
            for level in (Disclosure.PRIVATE, Disclosure.REGULATOR, Disclosure.PUBLIC):
                envelopes = [
                    company.key.sign_footprint(item.footprint)
                    for item in planned
                    if item.disclosure == level
                ]
                if not envelopes:
                    continue
                outcomes = footprints.submit(
                    session,
                    principal=principal,
                    items=envelopes,
                    on_accepted=on_accepted,
                    on_logged=on_logged,
                    disclosure=level,
                )
                refused = [o.error for o in outcomes if not o.accepted]
                if refused:
                    raise RuntimeError(f"{company.name}: a record was refused: {refused[0]}")
                summary.add("records", len(outcomes))
            _factory(session, principal, company, planned, parks, plan, summary)
        summary.add("companies")
        if company.chain_owner:
            summary.add("chain-owners")
    say(f"{summary.counts['companies']} companies, {summary.counts['records']} signed records")

    derived = _chain_owners(services, plan, companies, summary)
    say(f"{summary.counts.get('derived footprints', 0)} derived footprints of chain-owners")
    _grading_and_certificates(
        services, plan, regulator_id, body_keys, companies, planned_by_company, derived, summary
    )
    say(f"{summary.counts.get('certificates', 0)} certificates")
    _partners(services, plan, regulator_id, summary)
    say(f"{summary.counts.get('recognised partner records', 0)} recognised partner records")
    _disclosure(services, regulator_id, summary)
    _rules(services, regulator_id, summary)
    with transaction(services.sessions) as session:
        ensure_checkpoint(session, services.key, services.origin)
    summary.sign_ins = _portal_users(services, regulator_id, body_ids[0], companies, parks)
    summary.seconds = time.perf_counter() - started
    after = row_counts(services.sessions)
    summary.rows = {
        name: after[name] - before.get(name, 0)
        for name in after
        if after[name] != before.get(name, 0)
    }
    return summary


def check_uscc(first_17: str) -> str:
    return first_17 + check_character(first_17)


@dataclasses.dataclass(frozen=True, slots=True)
class Park:
    site_id: str
    owner_id: str
    name: str
    industries: tuple[str, ...]


def _parks(services: Services, plan: Plan, summary: Summary) -> list[Park]:
    parks: list[Park] = []
    with transaction(services.sessions) as session:
        for number, (name_en, name_zh, place, industries) in enumerate(hainan.PARKS):
            division = next(p[2] for p in hainan.PLACES if p[0] == place)
            owner = _organisation(
                session,
                name=f"{name_en} Administration {name_zh}管理局",
                uscc=check_uscc(f"11{division}MB1P{number:05d}"),
                roles=[Role.SUPPLIER],
            )
            principal = acting(session, owner.id)
            existing = [s for s in sites.list_sites(session, principal) if s.owner_id == owner.id]
            site = (
                existing[0]
                if existing
                else sites.register_site(
                    session,
                    principal,
                    sites.NewSite(
                        kind=SiteKind.PARK,
                        name=f"{name_en} {name_zh}",
                        region="CN-HI",
                        location=place,
                    ),
                )
            )
            if not existing:
                summary.add("parks")
            parks.append(Park(site.id, owner.id, site.name, industries))
    return parks


def _factory(
    session: Session,
    principal: Principal,
    company: Company,
    planned: list[PlannedRecord],
    parks: list[Park],
    plan: Plan,
    summary: Summary,
) -> None:
    """The company's factory, in a park of its industry when it has one, and its output."""
    rng = _rng(plan, "factory", company.index)
    fitting = [park for park in parks if company.industry.key in park.industries]
    park = rng.choice(fitting) if fitting and rng.random() < 0.6 else None
    factory = sites.register_site(
        session,
        principal,
        sites.NewSite(
            kind=SiteKind.FACTORY,
            name=f"{company.name[:280]} plant",
            region="CN-HI",
            location=company.place[0],
            park_id=park.site_id if park else None,
        ),
    )
    summary.add("factories")
    for item in planned:
        if not item.latest:
            continue
        year = LAST_YEAR
        sites.record_production(
            session,
            principal,
            factory.id,
            sites.NewProduction(
                record_id=item.footprint["id"],
                period_start=dt.datetime(year, 1, 1, tzinfo=dt.UTC),
                period_end=dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC),
                quantity=Decimal(1000 + rng.randrange(200000)),
            ),
        )
        summary.add("production figures")


def _chain_owners(
    services: Services,
    plan: Plan,
    companies: list[Company],
    summary: Summary,
) -> list[tuple[Company, dict[str, Any], str, str]]:
    """Each chain-owner's suppliers share their product with it; it models its product,
    computes it, signs the derived footprint and publishes it. (company, footprint, GTIN,
    category) of each derived footprint."""
    derived: list[tuple[Company, dict[str, Any], str, str]] = []
    on_accepted = services.on_accepted()
    on_logged = services.on_logged()
    for owner in (company for company in companies if company.chain_owner):
        rng = _rng(plan, "assembly", owner.index)
        for number, assembly in enumerate(hainan.ASSEMBLIES):
            code, name, cpc, unit, amount, industry, supplied, activity = assembly
            if industry != owner.industry.key:
                continue
            lines: list[dict[str, Any]] = []
            with transaction(services.sessions) as session:
                for product_key, quantity in supplied:
                    makers = [
                        (company, gtin)
                        for company in companies
                        if company is not owner
                        for kind, gtin in company.products
                        if kind.key == product_key
                    ]
                    if not makers:
                        continue
                    chosen = rng.sample(makers, min(len(makers), 3))
                    # The supply split between them: the first supplier gives the most.
                    shares = [Decimal(6 - 2 * i) for i in range(len(chosen))]
                    for (supplier, gtin), weight in zip(chosen, shares, strict=True):
                        footprints.share(
                            session,
                            acting(session, supplier.organisation_id),
                            grantee_id=owner.organisation_id,
                            product_id=f"urn:gtin:{gtin}",
                        )
                        summary.add("shares")
                        lines.append(
                            {
                                "category": "component",
                                "label": f"{product_key} from {supplier.name.split(' ', 2)[1]}",
                                "quantity": _text(Decimal(quantity) * weight / sum(shares)),
                                "unit": "kg",
                                "supplierId": supplier.organisation_id,
                                "supplierProduct": f"urn:gtin:{gtin}",
                            }
                        )
                if not lines:
                    continue
                lines += [
                    {
                        "category": category,
                        "label": label,
                        "quantity": quantity,
                        "unit": line_unit,
                        "factorCode": factor,
                    }
                    for category, label, quantity, line_unit, factor in activity
                ]
                gtin = _gtin(plan, owner.index, 900 + number)
                principal = acting(session, owner.organisation_id)
                product = aggregation.define_product(
                    session,
                    principal,
                    aggregation_schemas.parse_product(
                        {
                            "code": code,
                            "name": name,
                            "declaredUnit": unit,
                            "declaredAmount": amount,
                            "massPerDeclaredUnit": "1",
                            "productUrn": f"urn:gtin:{gtin}",
                            "lines": lines,
                        }
                    ),
                )
                summary.add("products with a bill of materials")
                aggregation.compute_product(session, principal, product.id)
                draft = aggregation.derived_draft(
                    session, principal, product.id, host=services.host, reference_year=LAST_YEAR
                )
                draft["productClassifications"] = [hainan.CPC + cpc]
            # The draft's openings are committed before the owner signs and submits it.
            with transaction(services.sessions) as session:
                principal = acting(session, owner.organisation_id)
                outcomes = footprints.submit(
                    session,
                    principal=principal,
                    items=[owner.key.sign_footprint(draft)],
                    on_accepted=on_accepted,
                    on_logged=on_logged,
                    disclosure=Disclosure.PUBLIC,
                )
                if not outcomes[0].accepted:
                    raise RuntimeError(
                        f"{owner.name}: derived footprint refused: {outcomes[0].error}"
                    )
                summary.add("derived footprints")
                summary.add("records")
                derived.append((owner, draft, gtin, hainan.CPC + cpc))
    return derived


def _grading_and_certificates(
    services: Services,
    plan: Plan,
    regulator_id: str,
    body_keys: dict[str, LocalKey],
    companies: list[Company],
    planned_by_company: dict[int, list[PlannedRecord]],
    derived: list[tuple[Company, dict[str, Any], str, str]],
    summary: Summary,
) -> None:
    """Grading schemes for every category, then certificates of published records."""
    kinds = {kind.category: kind for industry in hainan.INDUSTRIES for kind in industry.products}
    with transaction(services.sessions) as session:
        official = acting(session, regulator_id)
        for category, kind in sorted(kinds.items()):
            if labels.current_scheme(session, category) is not None:
                continue
            benchmark = (Decimal(kind.low) + Decimal(kind.high)) / 2 / Decimal(kind.amount)
            labels.publish_scheme(
                session,
                official,
                category=category,
                method=GradingMethod.BENCHMARK,
                unit=kind.unit,
                parameters={
                    "benchmark": _text(benchmark),
                    "cutPoints": ["0.6", "0.8", "1.2", "2.0"],
                },
            )
            summary.add("grading schemes")
    rng = _rng(plan, "certificates")
    chosen: list[tuple[str, dict[str, Any], str, str]] = []
    for company in companies:
        for item in planned_by_company[company.index]:
            if item.latest and item.disclosure == Disclosure.PUBLIC and rng.random() < 0.35:
                chosen.append((company.name, item.footprint, item.gtin, item.kind.category))
    chosen += [(owner.name, draft, gtin, category) for owner, draft, gtin, category in derived]
    body_ids = sorted(body_keys)
    now = utcnow()
    by_body: dict[str, list[dict[str, Any]]] = {}
    for number, (_, footprint, gtin, category) in enumerate(chosen):
        body_id = body_ids[number % len(body_ids)]
        issued = now - dt.timedelta(minutes=5)
        # Certificates run two years; these were issued at different times, so some
        # expire soon (what the regulator's dashboard watches).
        valid_until = issued + dt.timedelta(days=15 + rng.randrange(716))
        document = certificate_document(
            body_id=body_id,
            record_id=footprint["id"],
            footprint=footprint,
            gtin=gtin,
            category=category,
            issued=issued,
            valid_until=valid_until,
            certificate_id=_uuid(rng),
        )
        by_body.setdefault(body_id, []).append(sign_certificate(body_keys[body_id], document))
    for body_id, envelopes in by_body.items():
        with transaction(services.sessions) as session:
            principal = acting(session, body_id)
            for envelope in envelopes:
                labels.certify(session, principal, envelope)
                summary.add("certificates")


def _partners(services: Services, plan: Plan, regulator_id: str, summary: Summary) -> None:
    """Partner programmes, an agreement with each, and their records decided here."""
    kinds = {kind.key: kind for industry in hainan.INDUSTRIES for kind in industry.products}
    for number, (name, country, operator, language, text, products) in enumerate(hainan.PARTNERS):
        rng = _rng(plan, "partner", number)
        anchor = _key(plan, f"partner {country}")
        with transaction(services.sessions) as session:
            official = acting(session, regulator_id)
            partner = recognition.register_partner(
                session,
                official,
                parse_partner(
                    {
                        "name": name,
                        "country": country,
                        "operator": operator,
                        "contact": f"pcf@{country.lower()}.partner.example",
                        "pactBaseUrl": f"https://pcf.{country.lower()}.partner.example",
                        "jwks": {"keys": [anchor.public_jwk()]},
                        "recognisedDisclosure": "public",
                    }
                ),
                key=services.key,
            )
            summary.add("partner programmes")
            agreement = recognition.create_agreement(
                session,
                official,
                parse_agreement(
                    {
                        "partnerId": partner.id,
                        "title": f"Hainan-{name} mutual recognition of product carbon footprints",
                        "scope": sorted({kinds[key].category for key in products}),
                        "acceptedStandards": ["ISO14067", "GHGP-Product"],
                        "acceptedGwpSets": ["AR5", "AR6"],
                        "minPrimaryDataShare": "20",
                        "maxExemptedShare": "5",
                        "maxReferenceAgeDays": 3650,
                        "requiredVerification": "none",
                        "validFrom": "2025-01-01T00:00:00Z",
                        "validUntil": "2030-12-31T00:00:00Z",
                        "reviewDate": "2028-06-30T00:00:00Z",
                        "texts": {
                            "zh": "双方认可对方项目内经签名、记录在案的产品碳足迹。",
                            "en": "Each party recognises the other's signed and logged "
                            "product carbon footprints.",
                            "partner": {"language": language, "text": text},
                        },
                    }
                ),
            )
            session.flush()
            recognition.set_agreement_status(
                session, official, agreement.id, AgreementStatus.GRANTED, "signed by both parties"
            )
            summary.add("agreements")
            partner_id = partner.id
        with transaction(services.sessions) as session:
            partner = recognition.get_partner(session, partner_id)
            official = acting(session, regulator_id)
            anchors = recognition.valid_anchors(session, partner.id)
            agreements = recognition.list_agreements(session, official, partner_id=partner.id)
            exporter = Company(
                index=10_000 + number,
                name=f"{operator} registered exporters ({country})",
                uscc="",
                industry=hainan.INDUSTRIES[0],
                place=("", "", ""),
                products=[],
                chain_owner=False,
                key=anchor,
            )
            for item in range(4 + plan.companies // 50):
                kind = kinds[products[item % len(products)]]
                document = _footprint(
                    plan, exporter, kind, _gtin(plan, 50_000 + number, item), LAST_YEAR, rng
                )
                document["companyIds"] = [f"urn:uuid:{_uuid(rng)}"]
                document["companyName"] = f"{country} exporter {item + 1}"
                document["productDescription"] = f"{kind.name}, {country}"
                document["pcf"]["geographyCountry"] = country
                del document["pcf"]["geographyCountrySubdivision"]
                if item % 5 == 4:  # below the agreement's floor: refused, with its reason
                    document["pcf"]["primaryDataShare"] = "5"
                inbound = inbound_of_upload(
                    session, partner, {"envelope": anchor.sign_footprint(document)}, item
                )
                decision = recognition.decide(
                    session,
                    partner,
                    inbound,
                    key=services.key,
                    origin=services.origin,
                    anchors=anchors,
                    agreements=agreements,
                    source="upload",
                    on_accepted=services.on_accepted(),
                )
                summary.add(f"{decision.decision.value} partner records")


def _disclosure(services: Services, regulator_id: str, summary: Summary) -> None:
    """The regulator's disclosure duties, which bind every company making such products."""
    duties = (
        disclosure.NewRequirement(
            title="茶叶产品碳足迹年度公开披露 Tea: annual public disclosure",
            basis="海南省产品碳足迹管理办法 (示例条款)",
            content_level=ContentLevel.TOTAL,
            manner=Manner.PUBLIC,
            deadline_kind=DeadlineKind.ANNUAL,
            category=hainan.CPC + "23913",
            annual_month=6,
            annual_day=30,
        ),
        disclosure.NewRequirement(
            title="养殖对虾碳足迹报送 Farmed shrimp: disclosure to the regulator",
            basis="海南省产品碳足迹管理办法 (示例条款)",
            content_level=ContentLevel.WITH_DATA_QUALITY,
            manner=Manner.REGULATOR,
            deadline_kind=DeadlineKind.ANNUAL,
            category=hainan.CPC + "04362",
            annual_month=3,
            annual_day=31,
        ),
        disclosure.NewRequirement(
            title="椰子水碳足迹变更后披露 Coconut water: disclose within 90 days of a change",
            basis="海南省产品碳足迹管理办法 (示例条款)",
            content_level=ContentLevel.TOTAL,
            manner=Manner.CUSTOMERS,
            deadline_kind=DeadlineKind.AFTER_CHANGE,
            category=hainan.CPC + "24490",
            within_days=90,
        ),
    )
    with transaction(services.sessions) as session:
        official = acting(session, regulator_id)
        titles = set(session.scalars(sa.select(DisclosureRequirement.title)))
        now = utcnow()
        for duty in duties:
            if duty.title in titles:
                continue
            disclosure.define_requirement(
                session,
                official,
                dataclasses.replace(duty, effective_from=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
                now=now,
            )
            summary.add("disclosure requirements")


def _rules(services: Services, regulator_id: str, summary: Summary) -> None:
    """Accounting rules listed for some categories; the others wanted in the demand catalogue."""
    with transaction(services.sessions) as session:
        official = acting(session, regulator_id)
        known = {rule.code for rule in accounting_rules.list_rules(session)}
        for code, title, cpc, unit, boundary in hainan.RULES:
            if code in known:
                continue
            accounting_rules.propose(
                session,
                official,
                {
                    "code": code,
                    "title": title,
                    "productClassifications": [hainan.CPC + cpc],
                    "standardBasis": "GB/T 24067-2024",
                    "declaredUnit": unit,
                    "systemBoundary": boundary,
                    "requiredStages": ["raw-material-acquisition", "production"],
                },
            )
            for status in (RuleStatus.ASSESSED, RuleStatus.LISTED):
                accounting_rules.transition(
                    session, official, code, status=status, comment="expert review, 2025"
                )
            summary.add("accounting rules listed")
        wanted = {demand.classification for demand in accounting_rules.list_demands(session)}
        for category, cpc in hainan.DEMANDS:
            if hainan.CPC + cpc in wanted:
                continue
            accounting_rules.add_demand(
                session,
                official,
                {
                    "category": category,
                    "classification": hainan.CPC + cpc,
                    "description": "companies of the province ask for an accounting rule",
                },
            )
            summary.add("rules asked for")


def _portal_users(
    services: Services,
    regulator_id: str,
    body_id: str,
    companies: list[Company],
    parks: list[Park],
) -> dict[str, dict[str, str]]:
    """A person of each role to sign in as; passwords are made afresh, never from the seed."""
    # The coconut-water chain-owner, as in the story, and one of its growers.
    owners = [company for company in companies if company.chain_owner]
    owner = next((c for c in owners if c.industry.key == "coconut"), owners[0])
    supplier = next(
        (c for c in companies if not c.chain_owner and c.industry is owner.industry),
        next(company for company in companies if not company.chain_owner),
    )
    people = {
        "regulator": regulator_id,
        "certification-body": body_id,
        "chain-owner": owner.organisation_id,
        "supplier": supplier.organisation_id,
        "park": parks[0].owner_id,
    }
    sign_ins: dict[str, dict[str, str]] = {}
    with transaction(services.sessions) as session:
        for role, organisation_id in people.items():
            email = f"{role}@{EMAIL_DOMAIN}"
            organisation = session.get(Organisation, organisation_id)
            assert organisation is not None
            password = secrets.token_urlsafe(12)
            user = session.scalar(sa.select(PortalUser).where(PortalUser.email == email))
            if user is None:
                portal.create_user(
                    session,
                    organisation_id=organisation_id,
                    email=email,
                    name=organisation.name[:200],
                    password=password,
                    language="en",
                )
            else:
                portal.set_password(session, user, password)
            sign_ins[role] = {
                "email": email,
                "password": password,
                "organisation": organisation.name,
                "organisation_id": organisation_id,
            }
    return sign_ins
