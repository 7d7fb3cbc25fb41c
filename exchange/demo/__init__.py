"""``exchange demo``: a Hainan coconut-water supply chain exchanging signed footprints.

A coconut farm cooperative and a PET-bottle maker sign footprints on "their own machines"
(key files under ``instance/demo``), push them over HTTP to a real gunicorn server, share
them with the juice brand (the chain-owner), which reads and verifies them. The cooperative
then corrects its record, deprecating the old one, and a tampered envelope is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import requests
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from exchange import signing, web
from exchange.client.api import ExchangeAPIError, ExchangeClient
from exchange.client.keys import LocalKey
from exchange.client.labels import certificate_document, sign_certificate
from exchange.db import transaction
from exchange.demo import hainan, province
from exchange.factors import services as factors
from exchange.labels import qr
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations import services as organisations
from exchange.organisations.models import Organisation, Role
from exchange.organisations.uscc import check_character
from exchange.portal import services as portal
from exchange.portal.models import PortalUser
from exchange.system.services import upgrade_database


def _uscc(first_17: str) -> str:
    # Demo companies get well-formed codes: the check character is computed, not made up.
    return first_17 + check_character(first_17)


DRINK_GTIN = "06901234500035"
# UN CPC 2449: other non-alcoholic beverages.
DRINK_CATEGORY = "urn:pact:productclassification:un-cpc:2449"

COMPANIES: dict[str, dict[str, Any]] = {
    "cooperative": {
        "name": "Wenchang Coconut Farmers' Cooperative 文昌椰子种植专业合作社",
        "uscc": _uscc("93469005MA5T00001"),
        "roles": [Role.SUPPLIER],
    },
    "bottler": {
        "name": "Haikou PET Packaging Co., Ltd. 海口聚酯包装有限公司",
        "uscc": _uscc("91460100MA5T00002"),
        "roles": [Role.SUPPLIER],
    },
    "brand": {
        "name": "Hainan Coconut Water Co., Ltd. 海南椰子水有限公司",
        "uscc": _uscc("91460000MA5T00003"),
        "roles": [Role.CHAIN_OWNER, Role.SUPPLIER],
    },
    "certifier": {
        "name": "Hainan Carbon Label Certification Centre 海南碳标识认证中心",
        "uscc": _uscc("12460000MB1D00005"),
        "roles": [Role.CERTIFICATION_BODY],
    },
    "regulator": {
        "name": "Department of Ecology and Environment of Hainan Province 海南省生态环境厅",
        "uscc": _uscc("11460000MB1D00004"),
        "roles": [Role.REGULATOR],
    },
}


def demo_footprint(
    *,
    company_name: str,
    company_ids: list[str],
    product_id: str,
    name: str,
    description: str,
    unit: str,
    amount: str,
    mass_kg: str,
    fossil: str,
    biogenic_uptake: str = "0",
    preceding: str | None = None,
) -> dict[str, Any]:
    """A PACT v3 ProductFootprint of a demo product, in kg CO2e per declared unit."""
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "specVersion": "3.0.3",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "Active",
        "validityPeriodStart": "2026-01-01T00:00:00Z",
        "validityPeriodEnd": "2028-12-31T00:00:00Z",
        "companyName": company_name,
        "companyIds": company_ids,
        "productDescription": description,
        "productIds": [product_id],
        "productNameCompany": name,
        "pcf": {
            "declaredUnitOfMeasurement": unit,
            "declaredUnitAmount": amount,
            "productMassPerDeclaredUnit": mass_kg,
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2025-12-31T00:00:00Z",
            "geographyCountrySubdivision": "CN-HI",
            "pcfExcludingBiogenicUptake": fossil,
            "pcfIncludingBiogenicUptake": str(Decimal(fossil) + Decimal(biogenic_uptake)),
            "fossilGhgEmissions": fossil,
            "fossilCarbonContent": "0",
            "biogenicCO2Uptake": biogenic_uptake,
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067", "PACT-3.0"],
            "exemptedEmissionsPercent": "0",
            "primaryDataShare": "80",
        },
    }
    if preceding:
        document["precedingPfIds"] = [preceding]
    return document


def _organisation(session: Any, slug: str) -> Organisation:
    spec = COMPANIES[slug]
    existing = session.scalar(sa.select(Organisation).where(Organisation.uscc == spec["uscc"]))
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    return organisations.create_organisation(
        session, name=spec["name"], country="CN", uscc=spec["uscc"], roles=spec["roles"]
    )


def _portal_user(
    session: Any, organisation: Organisation, slug: str, earlier: dict[str, Any]
) -> dict[str, str]:
    """A person of the company who signs in to the portal. Passwords are made afresh and
    kept only in the instance folder; a rerun keeps the ones its credentials file holds."""
    email = f"{slug}@demo.footprint.example"
    if session.scalar(sa.select(PortalUser.id).where(PortalUser.email == email)) is not None:
        return dict(
            earlier.get("portal") or {"email": email, "password": "(set by an earlier run)"}
        )
    password = secrets.token_urlsafe(12)
    portal.create_user(
        session,
        organisation_id=organisation.id,
        email=email,
        name=organisation.name,
        password=password,
    )
    return {"email": email, "password": password}


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server(port: int, instance_path: str, database_url: str) -> Iterator[str]:
    """A gunicorn server of this instance on 127.0.0.1:``port`` until the block ends."""
    environment = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": instance_path,
        "EXCHANGE_DATABASE_URL": database_url,
        "EXCHANGE_WORKERS": "2",
        "EXCHANGE_ACCESS_LOG": os.path.join(instance_path, "demo-access.log"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)], env=environment
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a busy machine gunicorn and its workers take a while to import the app.
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise click.ClickException("the server stopped while starting; see above")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise click.ClickException("the server did not start within 180 s")
            time.sleep(0.2)
        yield base_url
    finally:
        # What Ctrl-C in a terminal sends the whole group: gunicorn's quick shutdown. SIGTERM
        # would be its graceful one, which waits up to 30 s for idle keep-alive connections.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve_until_stopped() -> None:
    """Wait for Ctrl-C, or for a plain ``kill`` (SIGTERM), which stops the demo the same way:
    its server is stopped as the block around this ends. A demo started in the background
    ignores SIGINT (the shell sets it so), so SIGTERM is how a script stops it."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    click.echo("\nServing until you press Ctrl-C.")
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(text: str) -> None:
    click.echo(click.style("▸ ", fg="green") + text)


@click.command("demo")
@click.option("--port", default=8000, show_default=True, help="preferred port on 127.0.0.1")
@click.option("--once", is_flag=True, help="run the story and stop, instead of serving on")
@click.option(
    "--scale",
    type=click.Choice(["story", "province"]),
    default="story",
    show_default=True,
    help="story: one supply chain told step by step; province: a whole generated programme",
)
@click.option(
    "--seed",
    type=int,
    default=province.DEFAULT_SEED,
    show_default=True,
    help="province: the same seed makes the same companies, keys and records",
)
@click.option(
    "--companies",
    type=click.IntRange(2 * len(hainan.INDUSTRIES)),
    default=province.DEFAULT_COMPANIES,
    show_default=True,
    help="province: how many companies (at least two of each industry)",
)
@click.option(
    "--years",
    type=click.IntRange(1, 10),
    default=province.DEFAULT_YEARS,
    show_default=True,
    help=f"province: reference years of records, up to {province.LAST_YEAR}",
)
@with_appcontext
def demo_command(port: int, once: bool, scale: str, seed: int, companies: int, years: int) -> None:
    """Run a Hainan coconut-water supply chain on a live exchange (or a whole province)."""
    database_url = current_app.config["DATABASE_URL"]
    upgrade_database(database_url)
    if scale == "province":
        _province(province.Plan(seed=seed, companies=companies, years=years), port, once)
        return
    demo_dir = Path(current_app.instance_path) / "demo"
    demo_dir.mkdir(exist_ok=True)

    credentials_file = demo_dir / "credentials.json"
    earlier = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    credentials: dict[str, dict[str, Any]] = {}
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        for slug in COMPANIES:
            organisation = _organisation(session, slug)
            issued = organisations.create_client(
                session, organisation_id=organisation.id, name="demo"
            )
            credentials[slug] = {
                "organisation_id": organisation.id,
                "name": organisation.name,
                "client_id": issued.client_id,
                "client_secret": issued.client_secret,
                "company_ids": sorted(item.urn for item in organisation.company_ids),
                "portal": _portal_user(session, organisation, slug, earlier.get(slug, {})),
            }
        starter = factors.load_starter(session)
    _say(
        f"the programme's starter factor database: {starter.count('created')} new, "
        f"{starter.count('unchanged')} already there (grid factors, fuels, GWP tables)"
    )
    credentials_file.write_text(json.dumps(credentials, ensure_ascii=False, indent=2))
    credentials_file.chmod(0o600)

    with _server(_free_port(port), current_app.instance_path, database_url) as base_url:
        _say(f"exchange running at {base_url} (gunicorn, 2 workers, {database_url})")
        story = _Story(base_url, credentials, demo_dir)
        story.run()
        _print_tour(base_url, credentials, credentials_file, story)
        if once:
            return
        _serve_until_stopped()


class _Story:
    """The supply chain, told through the public API only, as the companies would use it."""

    def __init__(
        self, base_url: str, credentials: dict[str, dict[str, Any]], demo_dir: Path
    ) -> None:
        self.credentials = credentials
        self.demo_dir = demo_dir
        self.clients = {
            slug: ExchangeClient(
                base_url=base_url, client_id=c["client_id"], client_secret=c["client_secret"]
            )
            for slug, c in credentials.items()
        }
        self.record_ids: dict[str, str] = {}
        self.base_url = base_url
        self.label_page = ""
        self.product_id = ""

    def key_of(self, slug: str) -> LocalKey:
        # The company's own machine: its private key is a file only it holds.
        path = self.demo_dir / f"{slug}.signing-key.jwk.json"
        if path.exists():
            return LocalKey.load(path)
        key = LocalKey.generate()
        key.save(path)
        self.clients[slug].register_key(key.public_jwk())
        _say(f"{self.credentials[slug]['name']} registered signing key {key.kid}")
        return key

    def sign_and_push(self, slug: str, document: dict[str, Any]) -> dict[str, Any]:
        envelope = self.key_of(slug).sign_footprint(document)
        result: dict[str, Any] = self.clients[slug].push(envelope)
        receipt = result["receipt"]["receipt"]
        _say(
            f"{document['productNameCompany']}: {result['status']} record {result['id']}, "
            f"log index {receipt['logIndex']}, tree size {receipt['treeSize']}"
        )
        return result

    def company(self, slug: str) -> tuple[str, list[str]]:
        return self.credentials[slug]["name"], self.credentials[slug]["company_ids"]

    def run(self) -> None:
        brand_id = self.credentials["brand"]["organisation_id"]
        name, ids = self.company("cooperative")
        coconut = demo_footprint(
            company_name=name,
            company_ids=ids,
            product_id="urn:gtin:06901234500011",
            name="Fresh green coconut, Wenchang",
            description="Whole green coconut, farm gate, per kg",
            unit="kilogram",
            amount="1",
            mass_kg="1",
            fossil="0.21",
            biogenic_uptake="-0.35",
        )
        self.record_ids["coconut"] = self.sign_and_push("cooperative", coconut)["id"]
        self.clients["cooperative"].share(brand_id, product_id="urn:gtin:06901234500011")
        _say("the cooperative shares every record of its coconut with the juice brand")

        name, ids = self.company("bottler")
        bottle = demo_footprint(
            company_name=name,
            company_ids=ids,
            product_id="urn:gtin:06901234500028",
            name="PET bottle 330 ml",
            description="Clear PET bottle with cap, 330 ml, per 1000 pieces",
            unit="piece",
            amount="1000",
            mass_kg="18",
            fossil="52.4",
        )
        self.record_ids["bottle"] = self.sign_and_push("bottler", bottle)["id"]
        self.clients["bottler"].share(brand_id, record_id=self.record_ids["bottle"])
        _say("the bottle maker shares its record with the juice brand")

        corrected = {
            **coconut,
            "id": str(uuid.uuid4()),
            "precedingPfIds": [coconut["id"]],
            "pcf": {
                **coconut["pcf"],
                "fossilGhgEmissions": "0.19",
                "pcfExcludingBiogenicUptake": "0.19",
                "pcfIncludingBiogenicUptake": "-0.16",
            },
        }
        self.record_ids["coconut-corrected"] = self.sign_and_push("cooperative", corrected)["id"]
        _say("the cooperative corrected its footprint; the first record is now Deprecated")

        brand = self.clients["brand"]
        for label, record_id in self.record_ids.items():
            envelope = brand.get(record_id)
            self._verify_as_reader(envelope)
            _say(
                f"the juice brand reads {label} ({envelope['exchange']['status']}) "
                "and verifies its signature itself"
            )

        tampered = self.key_of("bottler").sign_footprint(
            demo_footprint(
                company_name=self.company("bottler")[0],
                company_ids=self.company("bottler")[1],
                product_id="urn:gtin:06901234500028",
                name="PET bottle 330 ml",
                description="tampered",
                unit="piece",
                amount="1000",
                mass_kg="18",
                fossil="52.4",
            )
        )
        tampered["footprint"]["pcf"]["fossilGhgEmissions"] = "5.24"
        try:
            self.clients["bottler"].push(tampered)
        except ExchangeAPIError as exc:
            _say(
                f"a tampered envelope is refused: HTTP {exc.status} {exc.body['code']}: "
                f"{exc.body['message']}"
            )
        else:
            raise click.ClickException("a tampered envelope was accepted")

        self._request_in_the_hub(brand_id)

        grid = self.clients["brand"].request(
            "GET", "/api/v1/factors?category=electricity&region=CN-HI&year=2023"
        )["data"]
        for factor in grid:
            _say(
                f"factor database: {factor['name']} = {factor['value']} kg CO2e/{factor['unit']} "
                f"({factor['scope']}, {factor['source'][:40]}...)"
            )

        drink = self._derive_the_drink()
        self._certify_and_label(drink)
        self._verify_as_partner()
        self._partner_programme()
        self._disclosure_duty()

    def _derive_the_drink(self) -> dict[str, Any]:
        """The brand's bill of materials over its suppliers' signed records and approved
        factors, computed; the derived footprint signed on its own machine and published."""
        brand = self.clients["brand"]
        cooperative = self.credentials["cooperative"]["organisation_id"]
        bottler = self.credentials["bottler"]["organisation_id"]
        product = brand.define_product(
            {
                "code": "coconut-water-330",
                "name": "Coconut water 330 ml",
                "declaredUnit": "liter",
                "declaredAmount": "0.33",
                "massPerDeclaredUnit": "0.36",
                "productUrn": f"urn:gtin:{DRINK_GTIN}",
                # Per declared unit, one bottle of 0.33 L.
                "lines": [
                    {
                        "label": "green coconut, Wenchang",
                        "quantity": "0.85",
                        "unit": "kg",
                        "supplierId": cooperative,
                        "supplierProduct": "urn:gtin:06901234500011",
                    },
                    {
                        "category": "packaging",
                        "label": "PET bottle 330 ml",
                        "quantity": "1",
                        "unit": "piece",
                        "supplierId": bottler,
                        "supplierProduct": "urn:gtin:06901234500028",
                    },
                    {
                        "category": "packaging",
                        "label": "PE bottle cap",
                        "quantity": "1",
                        "unit": "piece",
                        "supplierId": bottler,
                        "supplierProduct": "urn:gtin:06901234500042",
                    },
                    {
                        "category": "electricity",
                        "label": "filling line, Hainan grid",
                        "quantity": "0.04",
                        "unit": "kWh",
                        "factorCode": "cn.electricity.hainan.2023",
                    },
                    {
                        "category": "transport",
                        "label": "road freight to Haikou, 30 km",
                        "quantity": "0.0108",
                        "unit": "t·km",
                        "factorCode": "desnz.freight.hgv.average-laden.2025",
                    },
                ],
            }
        )
        self.product_id = product["id"]
        _say(
            f"the juice brand models its coconut water (product {product['id']}): a bill of "
            "materials of the cooperative's coconut, the bottle maker's bottle and cap (their "
            "signed records), and its own electricity and freight (approved factors)"
        )
        computed = brand.compute_product(product["id"])
        pcf = computed["result"]["pcf"]
        _say(
            f"the exchange computes it from the signed inputs: {pcf['pcfExcludingBiogenicUptake']}"
            f" kg CO2e per 0.33 l excluding biogenic uptake ({pcf['total']} including it); "
            f"digest {computed['digest'][:16]}..."
        )
        draft = brand.derived_draft(product["id"], 2025)
        draft["productClassifications"] = [DRINK_CATEGORY]
        result = self.sign_and_push("brand", draft)
        self.record_ids["drink"] = result["id"]
        brand.publish(result["id"])
        view = brand.provenance(result["id"])
        opened = sum(1 for line in view["lines"] if line["opened"])
        _say(
            f"the brand signs the derived footprint on its own machine and publishes it: its "
            f"provenance commits to {len(view['commitments'])} input lines without their "
            f"figures; the brand may open {opened} of them, and the exchange attests it "
            "verified every input and recomputed every total"
        )
        supplier_view = self.clients["bottler"].provenance(result["id"])
        _say(
            "the bottle maker, reading the published footprint, may open "
            f"{sum(1 for line in supplier_view['lines'] if line['opened'])} line(s): its own, "
            "never the cooperative's"
        )
        return dict(draft)

    def _partner_programme(self) -> None:
        """A foreign programme's record recognised under an agreement the regulator grants."""
        regulator = self.clients["regulator"]
        base_url = "https://pcf.th.partner.example"
        path = self.demo_dir / "partner-programme.signing-key.jwk.json"
        anchor = LocalKey.load(path) if path.exists() else LocalKey.generate()
        if not path.exists():
            anchor.save(path)
        partners = regulator.request("GET", "/api/v1/partners")["data"]
        partner = next((p for p in partners if p["pactBaseUrl"] == base_url), None)
        if partner is None:
            partner = regulator.request(
                "POST",
                "/api/v1/partners",
                json={
                    "name": "Thailand Carbon Footprint of Products Programme",
                    "country": "TH",
                    "operator": "Thailand Greenhouse Gas Management Organization",
                    "contact": "pcf@th.partner.example",
                    "pactBaseUrl": base_url,
                    "jwks": {"keys": [anchor.public_jwk()]},
                },
            )
            agreement = regulator.request(
                "POST",
                "/api/v1/agreements",
                json={
                    "partnerId": partner["id"],
                    "title": "Hainan-Thailand mutual recognition of product carbon footprints",
                    "scope": [DRINK_CATEGORY],
                    "acceptedStandards": ["ISO14067"],
                    "acceptedGwpSets": ["AR6"],
                    "minPrimaryDataShare": "20",
                    "maxReferenceAgeDays": 3650,
                    "requiredVerification": "none",
                    "validFrom": "2026-01-01T00:00:00Z",
                    "validUntil": "2030-12-31T00:00:00Z",
                    "texts": {
                        "zh": "双方认可对方项目内经签名、记录在案的产品碳足迹。",
                        "en": "Each party recognises the other's signed and logged product "
                        "carbon footprints.",
                        "partner": {
                            "language": "th",
                            "text": "ทั้งสองฝ่ายยอมรับคาร์บอนฟุตพริ้นท์ของผลิตภัณฑ์ของอีกฝ่าย",
                        },
                    },
                },
            )
            regulator.request(
                "POST",
                f"/api/v1/agreements/{agreement['id']}/status",
                json={"status": "granted", "reason": "signed by both programmes"},
            )
        _say(
            f"the regulator onboards {partner['name']}, pinning its key, and grants an "
            "agreement covering bottled drinks"
        )
        footprint = demo_footprint(
            company_name="Chumphon Coconut Products Co., Ltd.",
            company_ids=[f"urn:uuid:{uuid.uuid4()}"],
            product_id="urn:gtin:08851234000014",
            name="Coconut water 1 L, Chumphon",
            description="Thai coconut water exported to Hainan, per liter",
            unit="liter",
            amount="1",
            mass_kg="1.05",
            fossil="0.41",
            biogenic_uptake="-0.12",
        )
        footprint["productClassifications"] = [DRINK_CATEGORY]
        footprint["pcf"]["geographyCountry"] = "TH"
        del footprint["pcf"]["geographyCountrySubdivision"]
        decided = regulator.request(
            "POST",
            f"/api/v1/partners/{partner['id']}/records",
            json={"items": [{"envelope": anchor.sign_footprint(footprint)}]},
        )["data"][0]
        self.record_ids["partner"] = decided["recordId"]
        _say(
            f"a record handed over by the Thai programme is {decided['decision']} "
            f"({', '.join(r['code'] for r in decided['reasons']) or 'every condition met'}); "
            f"the signed decision is log entry {decided['logIndex']}, and the record is "
            "served here like any other"
        )

    def _disclosure_duty(self) -> None:
        """The regulator's disclosure duty for bottled drinks, and the brand's obligation."""
        regulator = self.clients["regulator"]
        title = "瓶装饮料碳足迹年度公开披露 Bottled drinks: annual public disclosure"
        existing = regulator.request("GET", "/api/v1/disclosure/requirements")["data"]
        if not any(item["title"] == title for item in existing):
            regulator.request(
                "POST",
                "/api/v1/disclosure/requirements",
                json={
                    "title": title,
                    "basis": "海南省产品碳足迹管理办法 (示例条款)",
                    "scope": {"category": DRINK_CATEGORY},
                    "content": {"level": "total"},
                    "manner": "public",
                    "deadline": {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30},
                },
            )
        _say("the regulator requires bottled drinks' footprints to be published yearly by 30 June")
        obligations = self.clients["brand"].request("GET", "/api/v1/disclosure/compliance")["data"]
        for obligation in obligations:
            if obligation["requirement"]["title"] == title:
                _say(
                    f"the juice brand's obligation for {obligation['productId']}: "
                    f"{obligation['state']} (due {obligation['dueAt'][:10]}), by record "
                    f"{obligation['recordId']}"
                )

    def _certify_and_label(self, drink: dict[str, Any]) -> None:
        """Accreditation, a body-signed certificate, a grade, and a label a shopper scans."""
        certifier_id = self.credentials["certifier"]["organisation_id"]
        regulator = self.clients["regulator"]
        try:
            regulator.request(
                "POST",
                f"/api/v1/accreditations/{certifier_id}",
                json={"status": "granted", "reason": "accredited for carbon labels, 2026"},
            )
            _say("the regulator accredits the certification centre")
        except ExchangeAPIError as exc:
            if exc.status != 409:  # accredited by an earlier run of the demo
                raise
            _say("the certification centre is accredited already")
        regulator.request(
            "POST",
            "/api/v1/grading-schemes",
            json={
                "category": DRINK_CATEGORY,
                "method": "benchmark-ratio",
                "unit": "liter",
                "parameters": {"benchmark": "0.45", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
            },
        )
        _say("the regulator sets the grading scheme for bottled drinks: benchmark 0.45 kg/L")
        certificate = self.clients["certifier"].certify(
            sign_certificate(
                self.key_of("certifier"),
                certificate_document(
                    body_id=certifier_id,
                    record_id=drink["id"],
                    footprint=drink,
                    gtin=DRINK_GTIN,
                    category=DRINK_CATEGORY,
                ),
            )
        )
        _say(
            f"the certification centre certifies it: certificate {certificate['number']}, "
            f"{certificate['value']} kg CO2e per {certificate['unit']}, "
            f"grade {certificate['grade']['grade']}"
        )
        label = self.clients["brand"].issue_label(certificate["number"], lot="L2026A")
        verdict = self.clients["brand"].verify_label(label["url"])
        # A label names the programme's own host (https://<EXCHANGE_ORIGIN>/01/...), which no
        # demo serves. The demo's label names the same path and signed query on the demo's
        # own server instead: scanned, it opens this exchange's verification page, which
        # checks the label against the trust list's origin, not the host it came from.
        self.label_page = f"{self.base_url}/{label['url'].split('/', 3)[3]}"
        claims = label["claims"]
        art = qr.LabelArt(
            url=self.label_page, value=claims["value"], unit=claims["unit"], grade=claims["grade"]
        )
        (self.demo_dir / "label.png").write_bytes(qr.png(art))
        _say(
            f"the brand prints a QR label (version {qr.symbol(self.label_page).version}, "
            f"{self.demo_dir / 'label.png'}); the exchange verifies it: {verdict['verdict']}"
        )
        _say(f"scanning the demo's label opens {self.label_page}")

    def _request_in_the_hub(self, brand_id: str) -> None:
        """The brand asks for a footprint the bottle maker has not pushed; pushing answers it."""
        cap_gtin = "urn:gtin:06901234500042"
        bottler_id = self.credentials["bottler"]["organisation_id"]
        asked = self.clients["brand"].request(
            "POST",
            "/api/v1/requests",
            json={
                "supplierId": bottler_id,
                "criteria": {"productId": [cap_gtin]},
                "comment": "bottle caps for the coconut water line",
            },
        )
        _say(
            f"the juice brand requests the bottle maker's cap footprint: request {asked['status']}"
        )
        incoming = self.clients["bottler"].request(
            "GET", "/api/v1/requests?direction=incoming&status=open"
        )["data"]
        _say(f"the bottle maker sees {len(incoming)} open request(s) and answers by pushing")
        name, ids = self.company("bottler")
        cap = demo_footprint(
            company_name=name,
            company_ids=ids,
            product_id=cap_gtin,
            name="PE bottle cap",
            description="HDPE screw cap, per 1000 pieces",
            unit="piece",
            amount="1000",
            mass_kg="2.1",
            fossil="5.3",
        )
        self.record_ids["cap"] = self.sign_and_push("bottler", cap)["id"]
        answered = self.clients["brand"].request("GET", "/api/v1/requests")["data"][0]
        _say(f"the request is now {answered['status']}: {answered['answer']}")
        listed = self.clients["brand"].request("GET", f"/3/footprints?productId={cap_gtin}")
        served = listed["data"][0]
        (extension,) = served["extensions"]
        _say(
            "over PACT (GET /3/footprints?productId=...) the brand gets the cap footprint, "
            f"its signature by key {extension['data']['kid']} in a DataModelExtension"
        )

    def _verify_as_partner(self) -> None:
        """A foreign programme checks the certified drink offline, pinning our key alone."""
        jwks = requests.get(f"{self.base_url}/.well-known/jwks.json", timeout=30).json()
        record_id = self.record_ids["drink"]
        bundle = requests.get(
            f"{self.base_url}/api/v1/footprints/{record_id}/verification", timeout=30
        ).json()
        verdict = verify_bundle(bundle, pinned=jwks)
        if not verdict.ok:
            raise click.ClickException(f"the verification bundle failed: {verdict.problems}")
        _say(
            "a partner programme verifies the coconut water offline from its verification "
            f"bundle alone: signature, log index {verdict.log_index} of {verdict.tree_size}, "
            f"certificates {[status for _, status in verdict.certificates]}"
        )

    def _verify_as_reader(self, envelope: dict[str, Any]) -> None:
        owner = envelope["exchange"]["owner"]
        keys = self.clients["brand"].request("GET", f"/api/v1/organisations/{owner}/jwks.json")
        by_kid = {jwk["kid"]: jwk for jwk in keys["keys"]}
        jwk = by_kid[envelope["signature"]["kid"]]
        signing.verify(
            context=signing.FOOTPRINT_CONTEXT,
            payload=envelope["footprint"],
            signature=envelope["signature"]["value"],
            public_key=signing.public_key_from_jwk({k: jwk[k] for k in ("kty", "crv", "x")}),
        )


def _command_prefix() -> str:
    """How to call this very ``exchange`` from the reader's shell: the script this run used
    (usually ``.venv/bin/exchange``, which is not on PATH until the venv is activated)."""
    script = Path(sys.argv[0])
    if script.name != "exchange":  # run as ``python -m exchange.cli``
        return f"{sys.executable} -m exchange.cli"
    script = script.resolve() if script.parent != Path() else script
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _example_footprint(credentials: dict[str, dict[str, Any]], demo_dir: Path) -> Path:
    """A fresh, unsigned footprint of the cooperative's, ready for ``exchange sign``."""
    cooperative = credentials["cooperative"]
    document = demo_footprint(
        company_name=cooperative["name"],
        company_ids=cooperative["company_ids"],
        product_id="urn:gtin:06901234500011",
        name="Fresh green coconut, Wenchang",
        description="Whole green coconut, farm gate, per kg (your own try)",
        unit="kilogram",
        amount="1",
        mass_kg="1",
        fossil="0.20",
        biogenic_uptake="-0.35",
    )
    path = demo_dir / "footprint.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return path


def _print_tour(
    base_url: str, credentials: dict[str, dict[str, Any]], credentials_file: Path, story: _Story
) -> None:
    cooperative = credentials["cooperative"]
    sign_in = cooperative["portal"]
    exchange = _command_prefix()
    footprint = _example_footprint(credentials, story.demo_dir)
    key = story.demo_dir / "my-key.jwk.json"
    signed = footprint.with_name("footprint.signed.json")
    brand = credentials["brand"]
    brand_env = (
        f"EXCHANGE_URL={base_url} EXCHANGE_CLIENT_ID={brand['client_id']} "
        f"EXCHANGE_CLIENT_SECRET={brand['client_secret']}"
    )
    click.echo(f"""
What to open
  {story.label_page}
      the coconut water label's verification page, as a shopper's phone opens it
  {base_url}/api/v1/footprints/{story.record_ids["drink"]}   the published coconut water record
  {base_url}/api/v1/footprints/{story.record_ids["drink"]}/verification   its verification bundle
  {base_url}/mutual-recognition                               mutual-recognition agreements in force
  {base_url}/.well-known/jwks.json                            the exchange's public key
  {base_url}/api/v1/organisations                             the organisation directory
  {base_url}/.well-known/openid-configuration                 PACT token endpoint discovery
  {base_url}/healthz

The chain-owner's product, as the juice brand (its credentials: "brand" in the file below)
  {brand_env} {exchange} products explain {story.product_id}
  {brand_env} {exchange} products provenance {story.record_ids["drink"]}
  {base_url}/api/v1/footprints/{story.record_ids["partner"]}
      the Thai programme's record, recognised here

The web portal: {base_url}/portal/login
  sign in as the cooperative with {sign_in["email"]} / {sign_in["password"]}
  (every demo company has a portal user: see the "portal" entries of the credentials file)

Commands to try, as the cooperative (credentials of every demo company: {credentials_file})
  export EXCHANGE_URL={base_url}
  export EXCHANGE_CLIENT_ID={cooperative["client_id"]}
  export EXCHANGE_CLIENT_SECRET={cooperative["client_secret"]}
  TOKEN=$(curl -s -u "$EXCHANGE_CLIENT_ID:$EXCHANGE_CLIENT_SECRET" \\
          -d grant_type=client_credentials $EXCHANGE_URL/auth/token \\
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" "$EXCHANGE_URL/api/v1/footprints?owner=me"
  curl -s -H "Authorization: Bearer $TOKEN" "$EXCHANGE_URL/3/footprints?status=Active&limit=2"
  # a new key on your machine (the private half stays in {story.demo_dir}), then its public half
  {exchange} keys generate --out {key}
  {exchange} keys register --key {key}
  # sign the example footprint written for you, and push it
  {exchange} sign {footprint} --key {key} && {exchange} push {signed}
""")


def _province(plan: province.Plan, port: int, once: bool) -> None:
    """Generate the province (unless this database holds it already), print what it made
    and how to sign in as each role, then serve it (unless ``once``)."""
    database_url = current_app.config["DATABASE_URL"]
    demo_dir = Path(current_app.instance_path) / "demo"
    demo_dir.mkdir(exist_ok=True)
    sign_ins_file = demo_dir / "province.json"
    origin = current_app.config["EXCHANGE_ORIGIN"]
    services = province.Services(
        sessions=current_app.extensions["exchange.sessions"],
        key=web.exchange_key(),
        origin=origin,
        public_url=current_app.config.get("PUBLIC_URL") or f"https://{origin}",
    )
    if province.already_generated(services.sessions, plan):
        _say(f"the province of seed {plan.seed} is in {database_url} already: not generated again")
        sign_ins = (
            json.loads(sign_ins_file.read_text())["signIns"] if sign_ins_file.exists() else {}
        )
    else:
        _say(
            f"generating a province of {plan.companies} companies, reference years "
            f"{plan.first_year}-{province.LAST_YEAR}, seed {plan.seed}, into {database_url}"
        )
        summary = province.generate(
            services,
            plan,
            regulator_spec=COMPANIES["regulator"],
            certifier_spec=COMPANIES["certifier"],
            say=_say,
        )
        sign_ins = summary.sign_ins
        sign_ins_file.write_text(
            json.dumps(
                {
                    "seed": plan.seed,
                    "companies": plan.companies,
                    "years": plan.years,
                    "seconds": round(summary.seconds, 2),
                    "counts": summary.counts,
                    "rows": summary.rows,
                    "signIns": sign_ins,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        sign_ins_file.chmod(0o600)
        click.echo(f"\nThe province in {summary.seconds:.1f} s:")
        for name, count in summary.counts.items():
            click.echo(f"  {count:>7}  {name}")
        largest = sorted(summary.rows.items(), key=lambda item: -item[1])[:5]
        click.echo(
            f"  {sum(summary.rows.values()):>7}  rows in {len(summary.rows)} tables "
            f"(most: {', '.join(f'{name} {count}' for name, count in largest)})"
        )
    exchange = _command_prefix()
    click.echo(f"""
Check the transparency log holds every entry it should:
  {exchange} audit
Sign-in details are kept in {sign_ins_file}.""")
    if once:
        _print_sign_ins("<the exchange's address, e.g. after `exchange serve`>", sign_ins)
        return
    with _server(_free_port(port), current_app.instance_path, database_url) as base_url:
        _say(f"exchange running at {base_url} (gunicorn, 2 workers, {database_url})")
        _print_sign_ins(base_url, sign_ins)
        _serve_until_stopped()


def _print_sign_ins(base_url: str, sign_ins: dict[str, dict[str, str]]) -> None:
    click.echo(f"\nThe web portal: {base_url}/portal/login, as each role:")
    for role, person in sign_ins.items():
        click.echo(f"  {role:<19} {person['email']} / {person['password']}")
        click.echo(f"  {'':<19} ({person['organisation']})")
