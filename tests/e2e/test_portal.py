"""The portal in a real headless Chromium (Debian's), against a real server: one walk per
role, each signing in, doing its task and seeing the result, with screenshots kept under
``test-artefacts/portal`` (git-ignored; EXCHANGE_TEST_ARTEFACTS moves it).

Pages run under a strict CSP, so any inline script or style would show up as a console
error; every walk asserts there were none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from exchange.client.keys import LocalKey
from exchange.organisations.models import Role
from tests.e2e.conftest import NEEDS_CHROMIUM, artefacts
from tests.e2e.test_label_page import issue
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY, GTIN
from tests.portal.helpers import PASSWORD, add_user

pytestmark = [
    pytest.mark.e2e,
    NEEDS_CHROMIUM,
]

ARTEFACTS = artefacts("portal")


class Walk:
    """One browser context: its page, its console errors, its numbered screenshots."""

    def __init__(self, browser: Browser, base: str, name: str, **options: object) -> None:
        self.context: BrowserContext = browser.new_context(
            accept_downloads=True,
            locale="en-GB",
            **options,  # type: ignore[arg-type]
        )
        self.page: Page = self.context.new_page()
        self.base = base
        self.name = name
        self.errors: list[str] = []
        self.shots = 0
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def fits_its_width(self) -> bool:
        """Whether the page as displayed never scrolls sideways: measured once it has loaded
        (after a form's navigation an element can be found before the page's stylesheet
        applies; a loaded PostgreSQL pass measured the unstyled table once)."""
        self.page.wait_for_load_state("load")
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))

    def shot(self, label: str) -> None:
        self.shots += 1
        path = ARTEFACTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def sign_in(self, email: str) -> None:
        self.go("/portal/login")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.shot("sign-in")
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/portal/$"))

    def flash(self) -> str:
        return str(self.page.text_content(".flash"))

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


def generate_browser_key(walk: Walk) -> str:
    walk.go("/portal/keys")
    walk.page.wait_for_selector("#browser-key:not([hidden])")
    walk.page.click("#generate-key")
    walk.page.wait_for_selector("tr[data-kid]")
    assert walk.flash() == "Key registered."
    walk.page.wait_for_selector("#browser-key[data-kid]:not([data-kid=''])")
    kid = str(walk.page.get_attribute("tr[data-kid]", "data-kid"))
    assert kid in str(walk.page.text_content("#browser-key-state"))
    return kid


def sign_in_browser(walk: Walk) -> None:
    """On a draft page: sign the server's bytes with the browser's key and submit."""
    walk.page.wait_for_url(re.compile(r".*/portal/drafts/[0-9a-f-]+$"))
    walk.page.wait_for_selector("#browser-sign:not([disabled])")
    walk.shot("draft")
    walk.page.click("#browser-sign")


def upload_by_form(walk: Walk, name: str) -> None:
    walk.go("/portal/upload")
    walk.page.fill("#productName", name)
    walk.page.fill("#productId", f"urn:gtin:{GTIN}")
    walk.page.fill("#classification", CATEGORY)
    walk.page.fill("#declaredAmount", "2")
    walk.page.fill("#pcfExcludingBiogenicUptake", "-17.2")
    walk.page.fill("#pcfIncludingBiogenicUptake", "-18.44")
    walk.page.fill("#fossilGhgEmissions", "1.5")
    walk.page.fill("#biogenicCO2Uptake", "-19.94")
    walk.page.fill("#referenceYear", "2025")
    walk.shot("upload")
    walk.page.click("#upload-form button[type=submit]")


def test_supplier_signs_in_the_browser_backs_up_and_restores_the_key(
    app: Flask, browser: Browser, live_server: str, tmp_path: Path
) -> None:
    supplier = add_member(app, Role.SUPPLIER, register_key=False)
    email = add_user(app, supplier, "coop@wenchang.example")
    walk = Walk(browser, live_server, "supplier")
    walk.sign_in(email)
    kid = generate_browser_key(walk)
    with walk.page.expect_download() as download:
        walk.page.click("#backup-key")
    backup = tmp_path / "browser-key.jwk.json"
    download.value.save_as(backup)
    # The backup is a key file the CLI can use, and holds the key the exchange registered.
    assert LocalKey.load(backup).kid == kid
    walk.shot("keys")

    upload_by_form(walk, "Baisha green tea")
    sign_in_browser(walk)
    walk.page.wait_for_url(re.compile(r".*/portal/records/[0-9a-f-]+$"))
    assert walk.page.text_content("#record-status") == "Active"
    assert walk.page.text_content("#record-value") == "-18.44 kg CO₂e / 2 kilogram"
    assert kid in str(walk.page.text_content("main"))
    walk.shot("record")
    first_record = str(walk.page.text_content("#record-id"))
    walk.close()

    # Another browser (a new laptop): restore the key from the backup, correct the record.
    again = Walk(browser, live_server, "supplier-restored")
    again.sign_in(email)
    again.go("/portal/keys")
    again.page.wait_for_selector("#browser-key:not([hidden])")
    again.page.set_input_files("#restore-key", str(backup))
    again.page.wait_for_selector(f"#browser-key[data-kid='{kid}']")
    again.shot("restored")
    again.go(f"/portal/upload?preceding={first_record}")
    again.page.fill("#productName", "Baisha green tea")
    again.page.fill("#productId", f"urn:gtin:{GTIN}")
    again.page.fill("#declaredAmount", "2")
    again.page.fill("#pcfExcludingBiogenicUptake", "-17")
    again.page.fill("#pcfIncludingBiogenicUptake", "-18.2")
    again.page.fill("#fossilGhgEmissions", "1.5")
    again.page.fill("#referenceYear", "2025")
    again.page.click("#upload-form button[type=submit]")
    sign_in_browser(again)
    again.page.wait_for_url(re.compile(r".*/portal/records/[0-9a-f-]+$"))
    assert again.page.text_content("#record-status") == "Active"
    again.go(f"/portal/records/{first_record}")
    assert str(again.page.text_content("#record-status")).startswith("Deprecated")
    again.shot("deprecated")
    again.close()


def _import_factors(app: Flask, regulator: Member) -> None:
    rows = [
        "code,name,value,unit,region,year,gwpSet,scope,source,licence,category,kind",
        "E2E-PET,PET bottle,2.5,kg,CN,2023,AR6,life-cycle,test,CC-BY-4.0,packaging,product",
        "E2E-GRID,Hainan grid,0.3648,kWh,CN-HI,2023,AR6,combustion,test,CC-BY-4.0,"
        "electricity,activity",
    ]
    response = app.test_client().post(
        "/api/v1/factors/import",
        data="\n".join(rows) + "\n",
        content_type="text/csv",
        headers=regulator.headers,
    )
    assert response.status_code == 200, response.get_json()


def test_chain_owner_models_a_product_and_asks_for_missing_data(
    app: Flask, browser: Browser, live_server: str
) -> None:
    brand = add_member(app, Role.CHAIN_OWNER)
    supplier = add_member(app, Role.SUPPLIER)
    _import_factors(app, add_member(app, Role.REGULATOR))
    walk = Walk(browser, live_server, "chain-owner")
    walk.sign_in(add_user(app, brand, "brand@drinks.example"))
    walk.go("/portal/products")
    walk.page.fill("#code", "CW-330")
    walk.page.fill("#name", "Coconut water 330 ml")
    walk.page.click("#product-form button[type=submit]")
    walk.page.wait_for_url(re.compile(r".*/portal/products/[0-9a-f-]+$"))
    walk.page.fill("#label-1", "PET bottle")
    walk.page.fill("#quantity-1", "0.05")
    walk.page.fill("#unit-1", "kg")
    walk.page.fill("#supplierId-1", supplier.organisation_id)
    walk.page.fill("#supplierProduct-1", "urn:gtin:06901234500011")
    walk.page.fill("#factorCode-1", "E2E-PET")
    walk.page.select_option("#category-2", "electricity")
    walk.page.fill("#label-2", "Filling line")
    walk.page.fill("#quantity-2", "0.2")
    walk.page.fill("#unit-2", "kWh")
    walk.page.fill("#factorCode-2", "E2E-GRID")
    walk.page.click("#add-line")  # the editor's script adds a row; it stays empty
    assert walk.page.locator("#bom tbody tr").count() == 4
    walk.shot("bom")
    walk.page.click("#save-bom")
    walk.page.wait_for_selector(".flash")
    assert walk.flash() == "Bill of materials saved."
    walk.page.click("#compute")
    walk.page.wait_for_selector("#total")
    # 0.05 kg x 2.5 + 0.2 kWh x 0.3648 = 0.19796, shown as a label would print it.
    assert walk.page.text_content("#total") == "0.198 kg CO₂e"
    assert walk.page.locator("#breakdown svg").count() == 3
    assert walk.page.locator("#graph svg rect").count() == 3
    # The wide editor scrolls inside its box; the page itself never scrolls sideways.
    assert walk.fits_its_width()
    walk.shot("computed")
    walk.page.click("#request-missing")
    walk.page.wait_for_selector(".flash")
    assert walk.flash() == "Requests sent."
    walk.shot("requested")
    incoming = app.test_client().get(
        "/api/v1/requests?direction=incoming", headers=supplier.headers
    )
    assert [item["status"] for item in incoming.get_json()["data"]] == ["open"]
    walk.close()


def test_certification_body_certifies_labels_and_suspends(
    app: Flask, browser: Browser, live_server: str
) -> None:
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY, register_key=False)
    supplier = add_member(app, Role.SUPPLIER)
    api = app.test_client()
    api.post(
        f"/api/v1/accreditations/{body.organisation_id}",
        json={"status": "granted", "reason": "audit"},
        headers=regulator.headers,
    )
    footprint = supplier.footprint(productIds=[f"urn:gtin:{GTIN}"])
    footprint["productClassifications"] = [CATEGORY]
    footprint.pop("precedingPfIds", None)
    api.post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    api.post(
        "/api/v1/shares",
        json={"organisationId": body.organisation_id, "recordId": footprint["id"]},
        headers=supplier.headers,
    )
    walk = Walk(browser, live_server, "certification-body")
    walk.sign_in(add_user(app, body, "auditor@cert.example"))
    generate_browser_key(walk)
    walk.go("/portal/certification")
    walk.shot("certification")
    walk.page.click(f"[data-record='{footprint['id']}'] button[type=submit]")
    sign_in_browser(walk)
    walk.page.wait_for_url(re.compile(r".*/portal/registry/\d+$"))
    assert walk.page.text_content("#certificate-status") == "active"
    walk.page.fill("#lot", "LOT2026A")
    walk.page.click("#issue-label")
    walk.page.wait_for_selector("#labels img")
    label_id = walk.page.get_attribute("#labels li", "data-label")
    walk.shot("label")
    sheet = walk.page.request.get(f"{live_server}/portal/labels/{label_id}.pdf")
    assert sheet.ok and sheet.body().startswith(b"%PDF")
    walk.page.fill("#reason-suspend", "complaint under review")
    walk.page.click("#action-suspend")
    walk.page.wait_for_selector(".flash")
    assert walk.page.text_content("#certificate-status") == "suspended"
    walk.shot("suspended")
    walk.close()


def test_regulator_reviews_accredits_grades_in_chinese(
    app: Flask, browser: Browser, live_server: str
) -> None:
    # Something to show: a certified, graded product and a public record.
    issue(app, live_server)
    supplier = add_member(app, Role.SUPPLIER)
    footprint = supplier.footprint()
    api = app.test_client()
    api.post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    api.put(
        f"/api/v1/footprints/{footprint['id']}/disclosure",
        json={"disclosure": "public"},
        headers=supplier.headers,
    )
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY)
    walk = Walk(browser, live_server, "regulator")
    walk.sign_in(add_user(app, regulator, "analyst@deeh.example"))
    walk.go("/portal/regulator")
    assert int(str(walk.page.text_content("#log-size"))) > 5
    assert "size" in str(walk.page.text_content("#checkpoint"))
    for chart in ("#chart-category svg", "#chart-region svg", "#chart-grades svg"):
        assert walk.page.is_visible(chart), chart
    walk.shot("dashboard")
    walk.go("/portal/regulator/accreditation")
    card = f"[data-body='{body.organisation_id}']"
    walk.page.select_option(f"{card} select", "granted")
    walk.page.fill(f"{card} input[name=reason]", "on-site audit passed")
    walk.page.click(f"{card} button[type=submit]")
    walk.page.wait_for_selector(".flash")
    assert walk.page.text_content(f"#status-{body.organisation_id}") == "granted"
    walk.go("/portal/regulator/grading")
    walk.page.fill("#category", CATEGORY)
    walk.page.fill("#benchmark", "10")
    walk.page.click("#scheme-form button[type=submit]")
    walk.page.wait_for_selector("#schemes")
    # The category by name; its code is in the cell's tooltip.
    assert "Tea" in str(walk.page.text_content("#schemes"))
    assert walk.page.locator(f'#schemes td[title="{CATEGORY}"]').count() >= 1
    # Mutual recognition: onboard a partner, draft an agreement and grant it, all by page.
    walk.go("/portal/regulator/partners")
    walk.page.fill("#partner-name", "Lao Carbon Footprint Programme")
    walk.page.fill("#partner-country", "LA")
    walk.page.fill("#partner-operator", "Ministry of Natural Resources and Environment")
    walk.page.fill("#partner-url", "https://pcf.partner.example")
    walk.page.fill("#partner-jwks", json.dumps({"keys": [LocalKey.generate().public_jwk()]}))
    walk.page.click("#partner-form button[type=submit]")
    walk.page.wait_for_selector(".flash")
    assert "Lao Carbon Footprint Programme" in str(walk.page.text_content("#partners"))
    walk.go("/portal/regulator/agreements")
    walk.page.fill("#agreement-title", "Hainan-Laos mutual recognition")
    walk.page.fill("#agreement-scope", CATEGORY)
    walk.page.fill("#agreement-standards", "ISO14067")
    walk.page.fill("#agreement-dqr", "3.5")
    walk.page.fill("#agreement-from", "2025-01-01")
    walk.page.fill("#agreement-until", "2030-01-01")
    walk.page.fill("#agreement-language", "lo")
    walk.page.fill("#agreement-zh", "双方认可对方的产品碳足迹。")
    walk.page.fill("#agreement-en", "Each party recognises the other's footprints.")
    walk.page.fill("#agreement-partner-text", "ທັງສອງຝ່າຍຮັບຮູ້.")
    walk.shot("agreement-form")
    walk.page.click("#agreement-form button[type=submit]")
    walk.page.wait_for_selector("[data-agreement]")
    card = "[data-agreement]"
    assert "draft" in str(walk.page.text_content(f"{card} .badge"))
    walk.page.select_option(f"{card} select", "granted")
    walk.page.fill(f"{card} input[name=reason]", "signed in Vientiane")
    walk.page.click(f"{card} button[type=submit]")
    walk.page.wait_for_selector(".flash")
    assert walk.page.text_content(f"{card} .badge") == "granted"
    assert "signed in Vientiane" in str(walk.page.text_content(f"{card} .history"))
    walk.shot("agreement-granted")
    walk.go("/portal/agreements")
    assert "Hainan-Laos" in str(walk.page.text_content("#agreements-in-force"))
    walk.shot("agreements-in-force")
    walk.go("/portal/regulator/grading")
    walk.page.click("#lang-switch")
    walk.page.wait_for_selector("html[lang='zh-CN']")
    assert "分级方案" in str(walk.page.text_content("h1"))
    walk.shot("grading-zh")
    walk.go("/portal/regulator")
    assert "统计看板" in str(walk.page.text_content("h1"))
    walk.close()


def test_public_registry_and_label_check_on_a_phone(
    app: Flask, browser: Browser, live_server: str
) -> None:
    label, _body, _as_body = issue(app, live_server)
    walk = Walk(browser, live_server, "public", viewport={"width": 390, "height": 844})
    walk.go("/portal/registry?q=Baisha")
    assert walk.page.locator("#registry tbody tr").count() == 1
    assert walk.page.text_content("#registry td.grade") == "1"
    # Nothing is wider than the phone's screen.
    assert walk.fits_its_width()
    walk.shot("registry")
    walk.go("/portal/verify")
    walk.page.fill("#text", label["url"])
    walk.page.click("#verify-form button[type=submit]")
    walk.page.wait_for_selector("#verdict")
    assert walk.page.get_attribute("#verdict", "data-verdict") == "valid"
    walk.shot("verified")
    walk.page.fill("#text", label["url"][:-3] + "000")
    walk.page.click("#verify-form button[type=submit]")
    walk.page.wait_for_selector("#verdict[data-verdict='invalid']")
    walk.shot("forged")
    walk.close()
    assert json.dumps(label)  # the label came from the real API
