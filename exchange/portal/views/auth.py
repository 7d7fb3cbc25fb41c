"""Sign-in, sign-out, the language switch and the home page."""

from __future__ import annotations

from typing import Final

from flask import flash, g, make_response, redirect, request, session, url_for
from werkzeug.wrappers import Response

from exchange.errors import TooManyRequests, Unauthenticated, ValidationFailed
from exchange.organisations.models import Role
from exchange.portal import i18n, services
from exchange.portal.security import login_required
from exchange.portal.views.common import (
    LANGUAGE_COOKIE,
    NAVIGATION,
    SESSION_KEY,
    bp,
    db,
    form_text,
    now,
    render,
    safe_next,
    session_policy,
    start_session,
    user,
)
from exchange.security import services as lockouts
from exchange.security import views as security

# What may wait for a person, as the home page lists it: (label, page that deals with it).
ATTENTION: Final[dict[str, tuple[str, str]]] = {
    "requests": ("Requests for our footprints to answer", "portal.requests"),
    "obligations": ("Disclosure obligations due soon or overdue", "portal.compliance"),
    "stale-products": ("Products whose footprint is stale", "portal.products"),
    "own-certificates": ("Our certificates expiring within 90 days", "portal.registry"),
    "issued-certificates": (
        "Certificates we issued expiring within 90 days",
        "portal.certification",
    ),
    "factor-declarations": ("Factor declarations to review", "portal.regulator_factors"),
    "rule-proposals": ("Rule proposals to decide", "portal.regulator_rules"),
    "overdue": ("Overdue disclosure obligations", "portal.regulator_disclosure"),
    "certificates": ("Certificates expiring within 90 days", "portal.regulator_dashboard"),
}


@bp.get("/")
def home() -> tuple[str, int]:
    sections = []
    waiting: list[tuple[str, str, int]] = []
    if g.portal_user is not None:
        for role in Role:
            if g.portal_principal.has_role(role) and role in NAVIGATION:
                sections.append((role, NAVIGATION[role]))
        found = services.attention(db(), g.portal_principal, now=now())
        waiting = [(*ATTENTION[kind], count) for kind, count in found.items()]
    return render("home.html", sections=sections, waiting=waiting)


@bp.get("/login")
def login() -> tuple[str, int]:
    return render("login.html", next=safe_next(request.args.get("next"), ""))


@bp.post("/login")
def login_submit() -> Response | tuple[str, int]:
    target = safe_next(request.form.get("next"), url_for("portal.home"))
    email = form_text("email", 320)
    account, address = email.strip().lower(), security.client_address()
    limiter, lockout = security.limiter(), security.lockout()
    try:
        lockouts.check_sign_in(limiter, lockout, account=account, address=address)
    except TooManyRequests as exc:
        minutes = max(1, -(-exc.retry_after // 60))
        flash(i18n.translate("Too many failed sign-in attempts.", g.lang), "error")
        again = i18n.translate("Try again in {minutes} minutes.", g.lang)
        flash(again.format(minutes=minutes), "error")
        refused = make_response(render("login.html", 429, next=target, email=email))
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    try:
        user = services.sign_in(db(), email=email, password=form_text("password"))
    except Unauthenticated:
        lockouts.sign_in_failed(limiter, lockout, account=account, address=address)
        flash(i18n.translate("Unknown e-mail or wrong password.", g.lang), "error")
        return render("login.html", 401, next=target, email=email)
    lockouts.sign_in_succeeded(limiter, lockout, account=account)
    # The person read the sign-in page in a language (switched to, or their browser's) and
    # signed in in it: the portal stays in that language (it used to switch to the one stored
    # on the account, often the default, right after signing in), and the account remembers
    # it. Only a browser that says nothing gets the account's language.
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen not in services.LANGUAGES:
        chosen = request.accept_languages.best_match(services.LANGUAGES)
    if chosen in services.LANGUAGES:
        user.language = chosen
    services.end_stale_sessions(db(), now=now(), policy=session_policy())
    start_session(user)
    db().commit()
    response = redirect(target, code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, user.language, max_age=365 * 86400, samesite="Lax", httponly=True
    )
    return response


@bp.post("/logout")
def logout() -> Response:
    """Ends the session in the database: a copy of the cookie opens nothing afterwards."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        services.end_session(db(), token)
        db().commit()
    session.clear()
    return redirect(url_for("portal.login"), code=303)


@bp.get("/password")
@login_required
def password() -> tuple[str, int]:
    return render("password.html")


@bp.post("/password")
@login_required
def password_submit() -> Response | tuple[str, int]:
    """Change one's own password; every session of the user ends, this browser gets a new one."""
    new = form_text("new_password", 1000)
    if new != form_text("confirm_password", 1000):
        flash(i18n.translate("The two new passwords differ.", g.lang), "error")
        return render("password.html", 400)
    signed_in = user()
    try:
        services.change_password(db(), signed_in, current=form_text("password", 1000), new=new)
    except Unauthenticated:
        db().rollback()
        # A mistake in the form (400), not a refusal: the person is signed in.
        flash(i18n.translate("The current password is wrong.", g.lang), "error")
        return render("password.html", 400)
    except ValidationFailed:
        db().rollback()
        message = i18n.translate("The new password needs at least {count} characters.", g.lang)
        flash(message.format(count=services.MIN_PASSWORD_LENGTH), "error")
        return render("password.html", 400)
    start_session(signed_in)
    db().commit()
    flash(i18n.translate("Password changed; every other session was signed out.", g.lang), "ok")
    return redirect(url_for("portal.home"), code=303)


@bp.post("/language")
def language() -> Response:
    """Switch between Chinese and English; remembered in a cookie and on the user."""
    chosen = request.form.get("lang", "")
    if chosen not in services.LANGUAGES:
        chosen = "zh"
    if g.portal_user is not None:
        g.portal_user.language = chosen
        db().commit()
    response = redirect(safe_next(request.form.get("next"), url_for("portal.home")), code=303)
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response
