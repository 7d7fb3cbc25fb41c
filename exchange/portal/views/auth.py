"""Sign-in, sign-out, the language switch and the home page."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, make_response, redirect, request, session, url_for
from werkzeug.wrappers import Response

from exchange.errors import TooManyRequests, Unauthenticated
from exchange.partners.models import Role
from exchange.portal import i18n, services
from exchange.portal.views.common import (
    LANGUAGE_COOKIE,
    NAVIGATION,
    bp,
    db,
    form_text,
    render,
    safe_next,
)
from exchange.security import services as lockouts
from exchange.security import views as security

SESSION_LIFETIME = dt.timedelta(hours=8)


@bp.get("/")
def home() -> tuple[str, int]:
    sections = []
    if g.portal_user is not None:
        for role in Role:
            if role in g.portal_principal.roles and role in NAVIGATION:
                sections.append((role, NAVIGATION[role]))
    return render("home.html", sections=sections)


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
    # A new session on sign-in: nothing an attacker planted before survives it.
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    response = redirect(target, code=303)
    if LANGUAGE_COOKIE not in request.cookies:
        response.set_cookie(
            LANGUAGE_COOKIE, user.language, max_age=365 * 86400, samesite="Lax", httponly=True
        )
    return response


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("portal.login"), code=303)


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
