"""Every portal page, and the label page, as a person reads it: in a real Chromium, in
English and in Chinese, one load per page and language, with a screenshot of each kept under
``test-artefacts/pages/<lang>/`` (git-ignored; EXCHANGE_TEST_ARTEFACTS moves it).

One programme is set up once for the module (a regulator, a certification body, a tea
cooperative, a juice company; records, a certificate and its label, a request, obligations,
a product with its bill of materials, a site) over the module's one server, and every test
only reads it. What each page is checked for is what a person would notice: names and not
codes (no ``urn:pact:productclassification:...``, no ``cn-hi``), the figures the label
prints, the menus opening from the keyboard, the language kept after signing in, no
console errors under the strict content security policy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from sqlalchemy.engine import Engine

from exchange.client.labels import certificate_document, sign_certificate
from exchange.db import transaction
from exchange.organisations.models import Organisation, Role
from tests.conftest import empty_all_tables
from tests.e2e.conftest import NEEDS_CHROMIUM, LiveServer, artefacts
from tests.e2e.test_label_page import client_of, page_url, verdict_of
from tests.factories import Member, add_member
from tests.portal.helpers import PASSWORD, add_user
from tests.shared_app import build_app

pytestmark = [
    pytest.mark.e2e,
    NEEDS_CHROMIUM,
]

ARTEFACTS = artefacts("pages")
LOCALES = {"en": "en-GB", "zh": "zh-CN"}
TEA = "urn:pact:productclassification:hainan:tea"
COFFEE = "urn:pact:productclassification:hainan:coffee"
DRINK = "urn:pact:productclassification:un-cpc:2449"
TEA_GTIN = "09506000134352"
# A figure with more digits than anyone reads: the label prints 0.297.
TEA_VALUE = "0.29696969697"
TEA_ON_LABEL = "0.297"
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclasses.dataclass
class Programme:
    base: str
    label_url: str
    certificate: int
    tea_record: str
    site_id: str
    product_id: str
    users: dict[str, str]  # role -> e-mail


def _push(base: str, member: Member, footprint: dict[str, Any]) -> None:
    response = requests.post(
        f"{base}/api/v1/footprints",
        json=member.key.sign_footprint(footprint),
        headers=member.headers,
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


def _call(base: str, member: Member, method: str, path: str, **options: Any) -> Any:
    headers = {**member.headers, **options.pop("headers", {})}
    response = requests.request(method, f"{base}{path}", headers=headers, timeout=30, **options)
    assert response.status_code < 300, (path, response.status_code, response.text[:800])
    return response.json() if response.content else None


def _footprint(
    member: Member, name: str, gtin: str, category: str, value: str, region: str
) -> dict[str, Any]:
    footprint = member.footprint(
        id=str(uuid.uuid4()), productIds=[f"urn:gtin:{gtin}"], productNameCompany=name
    )
    footprint.pop("precedingPfIds", None)
    footprint["productClassifications"] = [category]
    footprint["pcf"]["declaredUnitAmount"] = "1"
    footprint["pcf"]["pcfIncludingBiogenicUptake"] = value
    footprint["pcf"]["geographyCountrySubdivision"] = region
    return footprint


def _rename(app: Flask, member: Member, name: str) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(
            sa.update(Organisation)
            .where(Organisation.id == member.organisation_id)
            .values(name=name)
        )


FACTORS = (
    "code,name,value,unit,region,year,gwpSet,scope,source,licence,category,kind\n"
    "PAGES-PET,PET bottle,2.5,kg,CN,2023,AR6,life-cycle,test,CC-BY-4.0,packaging,product\n"
    "PAGES-GRID,Hainan grid,0.3648,kWh,CN-HI,2023,AR6,combustion,test,CC-BY-4.0,"
    "electricity,activity\n"
)


def _set_up(app: Flask, base: str) -> Programme:
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY)
    cooperative = add_member(app, Role.SUPPLIER)
    brand = add_member(app, Role.CHAIN_OWNER)
    for member, name in (
        (regulator, "Hainan Department of Ecology and Environment 海南省生态环境厅"),
        (body, "Hainan Quality Certification Centre 海南质量认证中心"),
        (cooperative, "Baisha Tea Cooperative 白沙茶叶合作社"),
        (brand, "Haikou Juice Company 海口果汁公司"),
    ):
        _rename(app, member, name)
    users = {
        "regulator": add_user(app, regulator, "regulator@pages.example"),
        "body": add_user(app, body, "body@pages.example"),
        "supplier": add_user(app, cooperative, "coop@pages.example"),
        "chain-owner": add_user(app, brand, "brand@pages.example"),
    }
    # The regulator: an accredited body, a grading scheme, factors, two obligations.
    _call(
        base,
        regulator,
        "POST",
        f"/api/v1/accreditations/{body.organisation_id}",
        json={"status": "granted", "reason": "accredited after audit"},
    )
    _call(
        base,
        regulator,
        "POST",
        "/api/v1/grading-schemes",
        json={
            "category": TEA,
            "method": "benchmark-ratio",
            "unit": "kilogram",
            "parameters": {"benchmark": "1", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
        },
    )
    _call(
        base,
        regulator,
        "POST",
        "/api/v1/factors/import",
        data=FACTORS,
        headers={"Content-Type": "text/csv"},
    )
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    for title, category in (("Annual tea disclosure", TEA), ("Annual coffee disclosure", COFFEE)):
        _call(
            base,
            regulator,
            "POST",
            "/api/v1/disclosure/requirements",
            json={
                "title": title,
                "basis": "Hainan product carbon footprint measures, article 20",
                "scope": {"category": category},
                "content": {"level": "total"},
                "manner": "public",
                "deadline": {"kind": "annual", "month": soon.month, "day": min(soon.day, 28)},
                "effectiveFrom": "2025-01-01T00:00:00Z",
            },
        )
    # The cooperative: tea (public, certified), coffee (private), and a site.
    tea = _footprint(cooperative, "Baisha green tea", TEA_GTIN, TEA, TEA_VALUE, "CN-HI")
    coffee = _footprint(cooperative, "Fushan coffee", "06901234500028", COFFEE, "3.2", "CN-HI")
    for footprint in (tea, coffee):
        _push(base, cooperative, footprint)
    _call(
        base,
        cooperative,
        "PUT",
        f"/api/v1/footprints/{tea['id']}/disclosure",
        json={"disclosure": "public"},
    )
    # The juice company: a drink of its own, public, made in Guangdong.
    drink = _footprint(brand, "Coconut water 330 ml", "06901234500035", DRINK, "0.41", "CN-GD")
    _push(base, brand, drink)
    _call(
        base,
        brand,
        "PUT",
        f"/api/v1/footprints/{drink['id']}/disclosure",
        json={"disclosure": "public"},
    )
    site = _call(
        base,
        cooperative,
        "POST",
        "/api/v1/sites",
        json={"kind": "factory", "name": "Baisha tea factory", "region": "CN-HI"},
    )
    # The body certifies the tea, valid for 60 days more (it shows as expiring), and labels it.
    as_body = client_of(base, body)
    client_of(base, cooperative).share(body.organisation_id, record_id=tea["id"])
    issued = dt.datetime.now(dt.UTC)
    document = certificate_document(
        body_id=body.organisation_id,
        record_id=tea["id"],
        footprint=tea,
        gtin=TEA_GTIN,
        category=TEA,
        issued=issued,
        valid_until=issued + dt.timedelta(days=60),
    )
    certificate = as_body.certify(sign_certificate(body.key, document))
    label = as_body.issue_label(certificate["number"], lot="LOT2026A")
    # The juice company asks the cooperative for its footprints, and models a product.
    _call(
        base,
        brand,
        "POST",
        "/api/v1/requests",
        json={
            "supplierId": cooperative.organisation_id,
            # A product the cooperative has no record of yet: the request stays open.
            "criteria": {"productId": ["urn:gtin:06901234500011"]},
        },
    )
    as_brand = client_of(base, brand)
    product = as_brand.define_product(
        {
            "code": "CW-330",
            "name": "Coconut water 330 ml",
            "declaredUnit": "kg",
            "declaredAmount": "1",
            "lines": [
                {
                    "category": "packaging",
                    "label": "PET bottle",
                    "quantity": "0.05",
                    "unit": "kg",
                    "factorCode": "PAGES-PET",
                },
                {
                    "category": "electricity",
                    "label": "Filling line",
                    "quantity": "0.2",
                    "unit": "kWh",
                    "factorCode": "PAGES-GRID",
                },
            ],
        }
    )
    as_brand.compute_product(product["id"])
    return Programme(
        base=base,
        label_url=page_url(base, label["url"]),
        certificate=int(certificate["number"]),
        tea_record=tea["id"],
        site_id=site["id"],
        product_id=product["id"],
        users=users,
    )


@pytest.fixture(scope="module")
def programme(
    module_live_server: LiveServer,
    database_url: str,
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Programme]:
    """The programme every test of this module reads; removed after the module."""
    app = build_app(database_url, tmp_path_factory.mktemp("pages-app") / "instance")
    try:
        yield _set_up(app, module_live_server.base_url)
    finally:
        app.extensions["exchange.engine"].dispose()
        empty_all_tables(engine)


class Reader:
    """One person's browser context in one language: loads, checks and screenshots pages."""

    def __init__(self, browser: Browser, programme: Programme, lang: str, who: str) -> None:
        self.context: BrowserContext = browser.new_context(
            locale=LOCALES[lang], viewport={"width": 1280, "height": 800}
        )
        self.page: Page = self.context.new_page()
        self.programme = programme
        self.lang = lang
        self.who = who
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.directory = ARTEFACTS / lang
        self.directory.mkdir(parents=True, exist_ok=True)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, path: str, name: str) -> str:
        """Load a page once, check what every page owes a reader, screenshot it; its text."""
        response = self.page.goto(self.programme.base + path)
        assert response is not None and response.status == 200, (path, response)
        return self.read(name)

    def read(self, name: str) -> str:
        html_lang = self.page.get_attribute("html", "lang")
        assert html_lang == ("zh-CN" if self.lang == "zh" else "en"), (name, html_lang)
        shown = self.page.inner_text("body")
        assert "urn:pact:productclassification" not in shown, name
        assert not re.search(r"\bcn-[a-z]{2}\b", shown), name
        if self.lang == "zh":
            assert CJK.search(self.page.inner_text("h1")) or CJK.search(shown), name
        self.page.screenshot(path=str(self.directory / f"{self.who}-{name}.png"), full_page=True)
        return shown

    def sign_in(self, email: str) -> str:
        """The sign-in page (read as any page), then the home page it leads to."""
        self.open("/portal/login", "sign-in")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/portal/$"))
        # The language the sign-in page was read in is the portal's after signing in,
        # although every account here was created in English.
        return self.read("home")

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


def _words(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _home_greets_once_and_lists_what_waits(reader: Reader, shown: str, waiting: list[str]) -> None:
    page = reader.page
    assert page.locator("#greeting").count() == 1
    assert shown.count(_words(reader.lang, "Welcome", "您好")) == 1
    items = page.inner_text("#attention")
    for expected in waiting:
        assert expected in items, (expected, items)


def _menus_are_grouped_and_open_from_the_keyboard(reader: Reader) -> None:
    page = reader.page
    groups = page.locator("nav details.menu-group")
    assert 2 <= groups.count() <= 6
    first = groups.first
    assert first.get_attribute("open") is None
    # No more than one row of menu, whatever the language.
    nav = page.locator("nav ul.menu").bounding_box()
    assert nav is not None and nav["height"] < 60, nav
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    assert first.get_attribute("open") is not None
    assert first.locator("ul a").first.is_visible()
    page.keyboard.press("Escape")
    assert first.get_attribute("open") is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_public_pages(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "public")
    shown = reader.open("/portal/", "home")
    assert reader.page.locator("nav details").count() == 0  # a few links need no menus
    # A favicon, and a sign-in page that speaks to people, not to operators.
    icon = reader.page.get_attribute("link[rel=icon]", "href")
    assert icon and requests.get(programme.base + icon, timeout=30).status_code == 200
    shown = reader.open("/portal/login", "sign-in")
    assert "exchange portal" not in shown and "add-user" not in shown
    shown = reader.open("/portal/registry", "registry")
    # The figure the label prints, never the eleven digits stored.
    row = reader.page.inner_text("#registry tbody tr")
    assert f"{TEA_ON_LABEL} kg" in row and TEA_VALUE not in shown
    shown = reader.open(f"/portal/registry/{programme.certificate}", "certificate")
    assert TEA_ON_LABEL in shown and _words(lang, "Tea", "茶叶") in shown
    reader.open("/portal/verify", "verify")
    reader.open("/portal/agreements", "agreements-in-force")
    shown = reader.open(f"/portal/procurement?category={TEA}&grade=5", "procurement")
    assert "Baisha green tea" in shown
    reader.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_label_page_on_a_desktop(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "label")
    reader.page.goto(programme.label_url)
    assert verdict_of(reader.page) == "valid"
    shown = reader.page.inner_text("body")
    assert "phone" not in shown
    assert reader.page.inner_text("#value").strip() == TEA_ON_LABEL
    # Wide screen: the label's facts stand beside the verdict, not far below it.
    verdict = reader.page.locator("#verdict").bounding_box()
    facts = reader.page.locator("#facts").bounding_box()
    assert verdict and facts and facts["x"] > verdict["x"] + verdict["width"]
    assert facts["y"] < verdict["y"] + verdict["height"]
    reader.page.screenshot(path=str(reader.directory / "label-desktop.png"), full_page=True)
    reader.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_supplier_pages(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "supplier")
    shown = reader.sign_in(programme.users["supplier"])
    _home_greets_once_and_lists_what_waits(
        reader,
        shown,
        [
            _words(lang, "Requests for our footprints to answer", "待回复的碳足迹请求"),
            _words(lang, "Our certificates expiring within 90 days", "90 天内到期的本企业证书"),
        ],
    )
    _menus_are_grouped_and_open_from_the_keyboard(reader)
    shown = reader.open("/portal/records", "records")
    assert "Baisha green tea" in shown and "Fushan coffee" in shown
    record = f"/portal/records/{programme.tea_record}"
    shown = reader.open(record, "record")
    assert "Baisha green tea" in shown
    reader.open("/portal/upload", "upload")
    shown = reader.open("/portal/requests", "requests")
    assert "Haikou Juice Company" in shown
    shown = reader.open("/portal/compliance", "compliance")
    assert "Annual coffee disclosure" in shown
    reader.open("/portal/disclosure-report", "disclosure-report")
    shown = reader.open("/portal/sites", "sites")
    assert "Baisha tea factory" in shown and _words(lang, "Hainan", "海南") in shown
    reader.open(f"/portal/sites/{programme.site_id}", "site")
    reader.open(f"{record}/reduction", "reduction")
    reader.open("/portal/keys", "keys")
    reader.open("/portal/password", "password")
    reader.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_chain_owner_pages(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "chain-owner")
    shown = reader.sign_in(programme.users["chain-owner"])
    _home_greets_once_and_lists_what_waits(reader, shown, [])
    _menus_are_grouped_and_open_from_the_keyboard(reader)
    shown = reader.open("/portal/products", "products")
    assert "Coconut water 330 ml" in shown
    figure = reader.page.inner_text("#products tbody td.num")
    # 0.05 kg x 2.5 + 0.2 kWh x 0.3648 = 0.19796: the label's four significant digits.
    assert figure.startswith("0.198 kg"), figure
    shown = reader.open(f"/portal/products/{programme.product_id}", "product")
    assert reader.page.inner_text("#total").startswith("0.198")
    reader.open("/portal/records?view=visible", "records")
    reader.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_certification_body_pages(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "body")
    shown = reader.sign_in(programme.users["body"])
    _home_greets_once_and_lists_what_waits(
        reader,
        shown,
        [
            _words(
                lang,
                "Certificates we issued expiring within 90 days",
                "本机构签发、90 天内到期的证书",
            )
        ],
    )
    _menus_are_grouped_and_open_from_the_keyboard(reader)
    shown = reader.open("/portal/certification", "certification")
    assert "Baisha green tea" in shown
    reader.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_regulator_pages(browser: Browser, programme: Programme, lang: str) -> None:
    reader = Reader(browser, programme, lang, "regulator")
    shown = reader.sign_in(programme.users["regulator"])
    _home_greets_once_and_lists_what_waits(
        reader,
        shown,
        [_words(lang, "Certificates expiring within 90 days", "90 天内到期的证书")],
    )
    _menus_are_grouped_and_open_from_the_keyboard(reader)
    # Sixteen pages behind five menus: every page is one of their items.
    items = reader.page.locator("nav details.menu-group ul a")
    assert items.count() >= 15
    shown = reader.open("/portal/regulator", "dashboard")
    tiles = reader.page.inner_text("#tiles")
    assert re.search(r"\b2\b", reader.page.inner_text("#tile-companies")), tiles
    assert re.search(r"\b3\b", reader.page.inner_text("#tile-records")), tiles
    assert re.search(r"\b1\b", reader.page.inner_text("#tile-certified")), tiles
    assert "50%" in reader.page.inner_text("#tile-compliance"), tiles
    # Charts name categories and regions as people do.
    charts = reader.page.inner_html("#chart-category") + reader.page.inner_html("#chart-region")
    for name in (
        _words(lang, "Tea", "茶叶"),
        _words(lang, "Other non-alcoholic beverages", "其他无酒精饮料"),
        _words(lang, "Hainan", "海南"),
        _words(lang, "Guangdong", "广东"),
    ):
        assert f">{name}<" in charts, name
    assert "urn:pact" not in charts and "CN-HI" not in charts
    assert reader.page.locator("#chart-per-month svg").count() == 1
    reader.open("/portal/regulator/factors", "factors")
    reader.open("/portal/regulator/rules", "rules")
    shown = reader.open("/portal/regulator/grading", "grading")
    assert _words(lang, "Tea", "茶叶") in reader.page.inner_text("main table")
    reader.open("/portal/regulator/accreditation", "accreditation")
    reader.open("/portal/regulator/partners", "partners")
    reader.open("/portal/regulator/agreements", "agreements")
    reader.open("/portal/regulator/recognitions", "recognitions")
    shown = reader.open("/portal/regulator/disclosure", "disclosure")
    assert "Annual tea disclosure" in shown
    reader.close()
