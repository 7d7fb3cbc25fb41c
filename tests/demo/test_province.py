"""``exchange demo --scale province``: a small province generated through the services.

The plan is pure and deterministic (same seed, same companies, keys, record ids, figures and
signatures); what is stored is exactly what was planned and signed; the promised parts are
there at a small scale (records, chain-owners' derived footprints with attestations,
certificates with grades, recognised partner records, disclosure duties, a portal user per
role); and the transparency log audits clean afterwards.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from exchange import signing
from exchange.aggregation.models import Attestation
from exchange.db import transaction
from exchange.demo import demo_command, hainan, province
from exchange.disclosure.models import DisclosureRequirement
from exchange.footprints.models import Disclosure, FootprintRecord, RecordStatus
from exchange.labels.models import Certificate, Grade
from exchange.organisations.models import Organisation, Role
from exchange.partners.models import Recognition
from exchange.portal import services as portal
from exchange.rules.models import AccountingRule, RuleDemand, RuleStatus
from exchange.sites.models import Site, SiteKind
from tests.portal.helpers import csrf

SMALL = province.Plan(seed=7, companies=14, years=2)


def _planned(plan: province.Plan) -> dict[str, tuple[str, str, str]]:
    """Every planned record: id -> (canonical footprint, signing kid, signature)."""
    planned = {}
    for company in province.plan_companies(plan):
        for item in province.plan_records(plan, company):
            envelope = company.key.sign_footprint(item.footprint)
            planned[item.footprint["id"]] = (
                signing.canonical_json(item.footprint).decode(),
                envelope["signature"]["kid"],
                envelope["signature"]["value"],
            )
    return planned


def test_the_same_seed_plans_the_same_province_and_another_seed_another() -> None:
    first, again = _planned(SMALL), _planned(SMALL)
    assert first == again and len(first) >= 2 * SMALL.companies
    companies = province.plan_companies(SMALL)
    assert [(c.name, c.uscc, c.key.kid) for c in companies] == [
        (c.name, c.uscc, c.key.kid) for c in province.plan_companies(SMALL)
    ]
    other = _planned(dataclasses.replace(SMALL, seed=8))
    assert not set(other) & set(first)
    # Every industry has a chain-owner and a company supplying it, even at this scale.
    assert {c.industry.key for c in companies} == {i.key for i in hainan.INDUSTRIES}
    owners = [c for c in companies if c.chain_owner]
    assert {c.industry.key for c in owners} == {a[5] for a in hainan.ASSEMBLIES}
    # Figures lie in the industry's range, per declared unit; reference years as planned.
    for company in companies:
        for item in province.plan_records(SMALL, company):
            pcf = item.footprint["pcf"]
            fossil = float(pcf["fossilGhgEmissions"])
            assert float(item.kind.low) * 0.9 <= fossil <= float(item.kind.high) * 1.0001
            assert pcf["referencePeriodStart"][:4] in {"2024", "2025"}
            assert item.footprint["productClassifications"] == [item.kind.category]


def test_a_small_province_is_generated_as_planned_and_audits_clean(
    app: Flask, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        demo_command,
        args=[
            "--scale",
            "province",
            "--seed",
            str(SMALL.seed),
            "--companies",
            str(SMALL.companies),
            "--years",
            str(SMALL.years),
            "--once",
        ],
    )
    assert result.exit_code == 0, result.output
    kept = json.loads((Path(app.instance_path) / "demo" / "province.json").read_text())
    counts = kept["counts"]
    assert counts["companies"] == SMALL.companies
    assert kept["rows"]["footprint_records"] >= counts["records"]

    planned = _planned(SMALL)
    factory = app.extensions["exchange.sessions"]
    with factory() as session:
        stored = {
            row.id: (row.footprint_json, row.signature_kid, row.signature)
            for row in session.scalars(
                sa.select(FootprintRecord).where(FootprintRecord.id.in_(sorted(planned)))
            )
        }
        # What is stored is exactly what was planned and signed, byte for byte.
        assert stored == planned
        derived = session.scalars(
            sa.select(FootprintRecord).join(
                Attestation, Attestation.record_id == FootprintRecord.id
            )
        ).all()
        assert len(derived) == counts["derived footprints"] >= 4
        assert all(record.disclosure == Disclosure.PUBLIC for record in derived)
        assert counts["records"] == len(planned) + len(derived)
        # Corrections deprecated what they correct.
        deprecated = session.scalar(
            sa.select(sa.func.count()).where(FootprintRecord.status == RecordStatus.DEPRECATED)
        )
        assert deprecated == sum(
            1
            for company in province.plan_companies(SMALL)
            for item in province.plan_records(SMALL, company)
            if "precedingPfIds" in item.footprint
        )
        certificates = session.scalars(sa.select(Certificate)).all()
        assert len(certificates) == counts["certificates"] > 0
        assert {c.record_id for c in certificates} >= {r.id for r in derived}
        graded = session.scalar(sa.select(sa.func.count(sa.distinct(Grade.certificate_id))))
        assert graded == len(certificates)
        recognised = session.scalar(
            sa.select(sa.func.count()).where(Recognition.decision == "recognised")
        )
        assert recognised == counts["recognised partner records"] > 0
        assert session.scalar(sa.select(sa.func.count()).select_from(DisclosureRequirement)) == 3
        listed = session.scalars(
            sa.select(AccountingRule.code).where(AccountingRule.status == RuleStatus.LISTED)
        ).all()
        assert sorted(listed) == sorted(rule[0] for rule in hainan.RULES)
        wanted = session.scalars(sa.select(RuleDemand.classification)).all()
        assert sorted(wanted) == sorted(hainan.CPC + cpc for _, cpc in hainan.DEMANDS)
        parks = session.scalars(sa.select(Site).where(Site.kind == SiteKind.PARK)).all()
        assert len(parks) == len(hainan.PARKS)
        in_parks = session.scalar(
            sa.select(sa.func.count()).where(Site.park_id.in_([p.id for p in parks]))
        )
        assert in_parks and in_parks > 0

        # A person of each role signs in with the password printed.
        wanted = {
            "regulator": Role.REGULATOR,
            "certification-body": Role.CERTIFICATION_BODY,
            "chain-owner": Role.CHAIN_OWNER,
            "supplier": Role.SUPPLIER,
        }
        for role, person in kept["signIns"].items():
            assert f"{person['email']} / {person['password']}" in result.output
            user = portal.sign_in(session, email=person["email"], password=person["password"])
            organisation = session.get(Organisation, user.organisation_id)
            assert organisation is not None
            if role in wanted:
                assert organisation.has_role(wanted[role]), role
        assert set(wanted) <= set(kept["signIns"])

    # Each role's pages open on the province's data.
    pages = {
        "regulator": [
            "/portal/",
            "/portal/regulator",
            "/portal/regulator/disclosure",
            "/portal/regulator/partners",
            "/portal/regulator/rules",
        ],
        "certification-body": ["/portal/"],
        "chain-owner": ["/portal/", "/portal/products", "/portal/records"],
        "supplier": ["/portal/", "/portal/records", "/portal/sites"],
        "park": ["/portal/", "/portal/sites"],
    }
    for role, paths in pages.items():
        person = kept["signIns"][role]
        client = app.test_client()
        signed = client.post(
            "/portal/login",
            data={
                "email": person["email"],
                "password": person["password"],
                "csrf_token": csrf(client),
            },
        )
        assert signed.status_code == 303, (role, signed.status_code)
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200, (role, path, page.status_code)

    audit = runner.invoke(args=["audit"])
    assert audit.exit_code == 0, audit.output
    assert "audit ok" in audit.output

    # Asked again, the province is there: nothing is generated twice.
    again = runner.invoke(demo_command, args=["--scale", "province", "--seed", "7", "--once"])
    assert again.exit_code == 0, again.output
    assert "not generated again" in again.output
    with transaction(factory) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(FootprintRecord))
            == kept["rows"]["footprint_records"]
        )
