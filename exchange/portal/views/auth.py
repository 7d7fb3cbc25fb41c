"""Sign-in, sign-out, the language switch and the home page."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from exchange.errors import Unauthenticated
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
    try:
        user = services.sign_in(db(), email=form_text("email", 320), password=form_text("password"))
    except Unauthenticated:
        flash(i18n.translate("Unknown e-mail or wrong password.", g.lang), "error")
        return render("login.html", 401, next=target, email=form_text("email", 320))
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
