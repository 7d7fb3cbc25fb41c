"""The portal blueprint and what every page shares: who is signed in, the language, CSRF,
security headers, navigation, and errors shown as pages rather than JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from exchange import web
from exchange.errors import ExchangeError, RetryLater
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal
from exchange.portal import i18n, names, security, services
from exchange.portal.models import PortalUser

PACKAGE: Final = Path(__file__).resolve().parent.parent
LANGUAGE_COOKIE: Final = "portal_lang"

bp = Blueprint(
    "portal",
    __name__,
    url_prefix="/portal",
    root_path=str(PACKAGE),
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# What each role finds in the menu: (endpoint, label). Labels are translated when shown.
RECORD_ROLES: Final = (Role.SUPPLIER, Role.CHAIN_OWNER)
NAVIGATION: Final[dict[Role, list[tuple[str, str]]]] = {
    Role.SUPPLIER: [
        ("portal.records", "Records"),
        ("portal.upload", "Upload a footprint"),
        ("portal.requests", "Requests"),
        ("portal.compliance", "What is required of us"),
        ("portal.site_list", "Sites and parks"),
    ],
    Role.CHAIN_OWNER: [
        ("portal.products", "Products"),
        ("portal.records", "Records"),
        ("portal.upload", "Upload a footprint"),
        ("portal.compliance", "What is required of us"),
        ("portal.site_list", "Sites and parks"),
    ],
    Role.CERTIFICATION_BODY: [("portal.certification", "Certification")],
    Role.REGULATOR: [
        ("portal.regulator_dashboard", "Dashboard"),
        ("portal.regulator_factors", "Factor declarations"),
        ("portal.regulator_rules", "Rule proposals"),
        ("portal.regulator_grading", "Grading schemes"),
        ("portal.regulator_accreditation", "Accreditation"),
        ("portal.regulator_partners", "Partner programmes"),
        ("portal.regulator_agreements", "Partner agreements"),
        ("portal.regulator_recognitions", "Recognition decisions"),
        ("portal.regulator_disclosure", "Disclosure compliance"),
    ],
}


# Everyone's pages, signed in or not, and each person's own account pages.
PUBLIC_PAGES: Final = [
    ("portal.registry", "Registry"),
    ("portal.verify", "Verify a label"),
    ("portal.agreements_in_force", "Agreements in force"),
    ("portal.procurement", "Green procurement"),
]
ACCOUNT_PAGES: Final = [("portal.keys", "Signing keys"), ("portal.password", "Change password")]

# The menu bar shows a few groups, each opening a short list (a <details> element: the
# keyboard and screen readers work without script). A page a person may use but no group
# names lands under "More", so a page added to NAVIGATION is never lost from the menu.
MENU_GROUPS: Final[list[tuple[str, tuple[str, ...]]]] = [
    ("Footprints", ("portal.products", "portal.records", "portal.upload", "portal.requests")),
    ("Obligations", ("portal.compliance", "portal.site_list")),
    ("Certification", ("portal.certification",)),
    (
        "Oversight",
        (
            "portal.regulator_dashboard",
            "portal.regulator_disclosure",
            "portal.regulator_accreditation",
        ),
    ),
    ("Methods", ("portal.regulator_factors", "portal.regulator_rules", "portal.regulator_grading")),
    (
        "Partners",
        (
            "portal.regulator_partners",
            "portal.regulator_agreements",
            "portal.regulator_recognitions",
        ),
    ),
    ("Public", tuple(endpoint for endpoint, _label in PUBLIC_PAGES)),
    ("Account", tuple(endpoint for endpoint, _label in ACCOUNT_PAGES)),
]


@dataclasses.dataclass(frozen=True, slots=True)
class MenuGroup:
    label: str
    items: list[tuple[str, str]]
    current: bool


def allowed_pages(signed_in: PortalUser | None) -> list[tuple[str, str]]:
    """The pages the person may open, in menu order: their roles', the public, their own."""
    pages: list[tuple[str, str]] = []
    if signed_in is not None:
        for role in Role:
            if g.portal_principal.has_role(role):
                pages += [item for item in NAVIGATION.get(role, []) if item not in pages]
    pages += PUBLIC_PAGES
    if signed_in is not None:
        pages += ACCOUNT_PAGES
    return pages


def menu_groups(pages: list[tuple[str, str]], current: str | None) -> list[MenuGroup]:
    labels = dict(pages)
    grouped: set[str] = set()
    groups: list[MenuGroup] = []
    for label, endpoints in [*MENU_GROUPS, ("More", tuple(labels))]:
        items = [(e, labels[e]) for e in endpoints if e in labels and e not in grouped]
        grouped |= {endpoint for endpoint, _label in items}
        if items:
            groups.append(MenuGroup(label, items, any(e == current for e, _l in items)))
    return groups


def db() -> Session:
    return web.session()


def principal() -> Principal:
    found: Principal = g.portal_principal
    return found


def user() -> PortalUser:
    found: PortalUser = g.portal_user
    return found


def render(template: str, code: int = 200, /, **context: Any) -> tuple[str, int]:
    return render_template(f"portal/{template}", **context), code


def done(message: str, endpoint: str, **values: Any) -> Response:
    """Flash a (translated) message and go to another page (post/redirect/get)."""
    flash(i18n.translate(message, g.lang), "ok")
    return redirect(url_for(endpoint, **values), code=303)


def safe_next(target: str | None, default: str) -> str:
    """A redirect target on this site only: a path, never another host."""
    if not target:
        return default
    parts = urlsplit(target)
    # Browsers read "/\host" as "//host": a backslash anywhere is refused too.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(character) < 32 for character in target):
        return default
    return target


def form_text(name: str, limit: int = 20_000) -> str:
    return request.form.get(name, "")[:limit]


def _language() -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in services.LANGUAGES:
        return chosen
    signed_in: PortalUser | None = g.get("portal_user")
    if signed_in is not None and signed_in.language in services.LANGUAGES:
        return signed_in.language
    best = request.accept_languages.best_match(services.LANGUAGES)
    return best or "zh"


SESSION_KEY: Final = "sid"


def now() -> dt.datetime:
    """The time the portal judges sessions at."""
    clock: Callable[[], dt.datetime] = current_app.extensions["exchange.portal.clock"]
    return clock()


def session_policy() -> services.SessionPolicy:
    return services.SessionPolicy(
        idle=dt.timedelta(seconds=current_app.config["PORTAL_SESSION_IDLE_SECONDS"]),
        lifetime=dt.timedelta(seconds=current_app.config["PORTAL_SESSION_LIFETIME_SECONDS"]),
    )


def start_session(user: PortalUser) -> None:
    """A fresh cookie naming a new session of ``user``: nothing planted before survives."""
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = services.start_session(db(), user, now=now())


@bp.before_request
def _load_user() -> None:
    _identify()
    security.check_csrf()


def _identify() -> None:
    """Who is signed in (if anyone) and the language of the page."""
    g.portal_user = None
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        # The database says whether the session still lives: the cookie alone never does
        # (a copy of it outlives sign-out otherwise).
        found = services.session_user(db(), token, now=now(), policy=session_policy())
        db().commit()
        if found is None:
            session.clear()
        else:
            g.portal_user = found
            # The organisation first, held in g: the session's identity map holds objects
            # weakly, so read the other way round the principal's copy was dropped at once
            # and loaded again (three queries, with its roles and ids) on every page.
            g.portal_organisation = db().get(Organisation, found.organisation_id)
            g.portal_principal = services.principal_of(db(), found)
    g.lang = _language()


@bp.after_request
def _headers(response: Response) -> Response:
    return security.add_headers(response)


@bp.app_template_global("_")
def _translate(text: str, **values: Any) -> str:
    translated = i18n.translate(text, g.get("lang", "zh"))
    return translated.format(**values) if values else translated


@bp.app_template_filter("category")
def _category(urn: str) -> str:
    return names.category_name(urn, g.get("lang", "zh"))


@bp.app_template_filter("region")
def _region(code: str) -> str:
    return names.region_name(code, g.get("lang", "zh"))


@bp.app_template_filter("product_code")
def _product_code(urn: str) -> str:
    return names.product_code(urn)


@bp.app_template_filter("figure")
def _figure(value: Any) -> str:
    return names.figure(value)


@bp.context_processor
def _context() -> dict[str, Any]:
    signed_in = g.get("portal_user")
    return {
        "csrf_token": security.csrf_token,
        "current_user": signed_in,
        "organisation": g.get("portal_organisation"),
        "lang": g.get("lang", "zh"),
        "menu_groups": menu_groups(allowed_pages(signed_in), request.endpoint),
        "roles": g.portal_principal.roles if signed_in is not None else frozenset(),
    }


@bp.errorhandler(ExchangeError)
def _domain_error(error: ExchangeError) -> tuple[str, int, dict[str, str]]:
    db().rollback()
    page, status = render("error.html", error.status, error=error)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RetryLater) else {}
    return page, status, headers


@bp.app_errorhandler(NotFound)
def _unrouted(error: NotFound) -> Response:
    """A path that routing found no page for: under the portal, no route matched it or a
    route's converter refused an id in it (exchange.routing), and the portal shows its own
    not-found page, as for a record that is not there; elsewhere the one JSON error body.

    Registered on the app: a path that matched no route belongs to no blueprint, so the
    portal's own handlers and hooks do not run for it; this sets up what they would."""
    if request.blueprint is not None or not (
        request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/")
    ):
        return web.http_error_response(error)
    _identify()
    page = render_template(
        "portal/http_error.html", status=404, description=error.description, **_context()
    )
    return security.add_headers(Response(page, status=404, mimetype="text/html"))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response | tuple[str, int]:
    if error.code == 401:
        flash(i18n.translate("Please sign in first.", g.get("lang", "zh")), "error")
        return redirect(url_for("portal.login", next=request.full_path.rstrip("?")), code=303)
    status = error.code or 500
    return render("http_error.html", status, status=status, description=error.description)
